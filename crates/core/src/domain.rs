//! Domain records as the API speaks them (camelCase JSON). The store maps its
//! rows into these; the web layer serializes them unchanged.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

use crate::ids::{PromptId, RunId, UserId, VersionId};

/// `text`: one template string. `chat`: a list of role/content messages.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "lowercase")]
pub enum PromptType {
    Text,
    Chat,
}

impl PromptType {
    pub fn as_str(self) -> &'static str {
        match self {
            PromptType::Text => "text",
            PromptType::Chat => "chat",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "text" => Some(PromptType::Text),
            "chat" => Some(PromptType::Chat),
            _ => None,
        }
    }
}

/// The role of one chat message.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "lowercase")]
pub enum Role {
    System,
    #[default]
    User,
    Assistant,
    Developer,
    /// A tool's answer to an assistant's tool call (few-shot tool use).
    Tool,
}

impl Role {
    pub fn as_str(self) -> &'static str {
        match self {
            Role::System => "system",
            Role::User => "user",
            Role::Assistant => "assistant",
            Role::Developer => "developer",
            Role::Tool => "tool",
        }
    }
}

/// One chat message. On the wire it has the Chat Completions shape, so a
/// message copied from a request works as it is: `{role, content}` where
/// `content` is a string or a list of parts, plus `tool_calls` on an
/// assistant message and `tool_call_id` on a `tool` message.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "MessageRepr", into = "MessageRepr")]
pub struct ChatMessage {
    pub role: Role,
    /// The text, when the content is a string (empty when `parts` holds it,
    /// or for an assistant message that only calls tools).
    pub content: String,
    /// Content parts (text with `{{variables}}`, `image_url` whose URL may
    /// be a variable), instead of a string.
    pub parts: Option<Vec<ContentPart>>,
    /// An assistant message's tool calls, as Chat Completions writes them:
    /// `{"id", "type": "function", "function": {"name", "arguments"}}`
    /// (`arguments` a JSON string). Sent verbatim, never rendered.
    pub tool_calls: Option<Vec<serde_json::Value>>,
    /// A `tool` message: the id of the call it answers.
    pub tool_call_id: Option<String>,
    /// The optional participant name.
    pub name: Option<String>,
}

impl ChatMessage {
    /// A message with text content and nothing else.
    pub fn new(role: Role, content: impl Into<String>) -> ChatMessage {
        ChatMessage {
            role,
            content: content.into(),
            ..Default::default()
        }
    }

    /// Every piece of text a template may hold, in order: the content, or
    /// each text part and image URL.
    pub fn texts(&self) -> Vec<&str> {
        match &self.parts {
            None => vec![self.content.as_str()],
            Some(parts) => parts
                .iter()
                .map(|p| match p {
                    ContentPart::Text { text } => text.as_str(),
                    ContentPart::ImageUrl { image_url } => image_url.url.as_str(),
                })
                .collect(),
        }
    }

    /// The bytes of text this message holds (its content or parts).
    pub fn text_len(&self) -> usize {
        self.texts().iter().map(|t| t.len()).sum()
    }
}

// The document shows a message as its JSON shape.
#[cfg(feature = "openapi")]
impl utoipa::PartialSchema for ChatMessage {
    fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
        <MessageRepr as utoipa::PartialSchema>::schema()
    }
}

#[cfg(feature = "openapi")]
impl utoipa::ToSchema for ChatMessage {
    fn name() -> std::borrow::Cow<'static, str> {
        "ChatMessage".into()
    }

    fn schemas(
        schemas: &mut Vec<(
            String,
            utoipa::openapi::RefOr<utoipa::openapi::schema::Schema>,
        )>,
    ) {
        <MessageRepr as utoipa::ToSchema>::schemas(schemas);
    }
}

/// One part of a message's content.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum ContentPart {
    Text { text: String },
    ImageUrl { image_url: ImageUrl },
}

/// An image for a vision model: an `http(s)` URL or a `data:` URL (or a
/// `{{variable}}` that holds one).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct ImageUrl {
    pub url: String,
    /// `auto`, `low` or `high`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub detail: Option<String>,
}

/// A message's content on the wire: a string, or a list of parts.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(untagged)]
pub enum MessageContent {
    Text(String),
    Parts(Vec<ContentPart>),
}

/// [`ChatMessage`] as JSON.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct MessageRepr {
    role: Role,
    /// A string or a list of parts; may be null or absent on an assistant
    /// message with `tool_calls`.
    #[serde(default)]
    content: Option<MessageContent>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "openapi", schema(value_type = Option<Vec<Object>>))]
    tool_calls: Option<Vec<serde_json::Value>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    tool_call_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    name: Option<String>,
}

impl TryFrom<MessageRepr> for ChatMessage {
    type Error = String;

    fn try_from(r: MessageRepr) -> Result<Self, Self::Error> {
        let (content, parts) = match r.content {
            Some(MessageContent::Text(t)) => (t, None),
            Some(MessageContent::Parts(p)) => (String::new(), Some(p)),
            None if r.tool_calls.is_some() => (String::new(), None),
            None => return Err("missing field `content`".into()),
        };
        Ok(ChatMessage {
            role: r.role,
            content,
            parts,
            tool_calls: r.tool_calls,
            tool_call_id: r.tool_call_id,
            name: r.name,
        })
    }
}

impl From<ChatMessage> for MessageRepr {
    fn from(m: ChatMessage) -> Self {
        let content = match m.parts {
            Some(p) => Some(MessageContent::Parts(p)),
            // As Chat Completions writes it: an assistant message that only
            // calls tools has `content: null`.
            None if m.content.is_empty() && m.tool_calls.is_some() => None,
            None => Some(MessageContent::Text(m.content)),
        };
        MessageRepr {
            role: m.role,
            content,
            tool_calls: m.tool_calls,
            tool_call_id: m.tool_call_id,
            name: m.name,
        }
    }
}

/// A tool call in a model's answer, assembled from its stream deltas.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct ToolCall {
    pub id: String,
    pub name: String,
    /// The arguments as JSON; a JSON string holding the text when the
    /// model's text is not valid JSON.
    #[cfg_attr(feature = "openapi", schema(value_type = Object))]
    pub arguments: serde_json::Value,
}

/// A version's body: a template string for `text` prompts, messages for `chat`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(untagged)]
pub enum Content {
    Text(String),
    Chat(Vec<ChatMessage>),
}

impl Content {
    pub fn prompt_type(&self) -> PromptType {
        match self {
            Content::Text(_) => PromptType::Text,
            Content::Chat(_) => PromptType::Chat,
        }
    }

    /// The body as the messages a Chat Completions request carries: a `text`
    /// prompt is sent as one user message.
    pub fn to_messages(&self) -> Vec<ChatMessage> {
        match self {
            Content::Text(t) => vec![ChatMessage::new(Role::User, t.clone())],
            Content::Chat(m) => m.clone(),
        }
    }
}

/// Model settings saved with a version; a run may override any of them.
///
/// Together with the body this is the whole request recipe: every field that
/// is set goes on the wire under its Chat Completions name (`topP` as
/// `top_p`, `tools` as `tools` …, see `promptrefine_llm`), verbatim, and a
/// field that is unset sends nothing. JSON-valued fields (`tools`,
/// `toolChoice`, `responseFormat`, `extra`) are kept as the JSON they were
/// saved as, so nothing in them is dropped or reordered on the way out.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ModelSettings {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub model: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub temperature: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_tokens: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub top_p: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stop: Option<Vec<String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub seed: Option<i64>,
    /// `{"type": "text" | "json_object"}` or `{"type": "json_schema",
    /// "json_schema": {"name", "schema", "strict"?}}`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "openapi", schema(value_type = Option<Object>))]
    pub response_format: Option<serde_json::Value>,
    /// Function tools: `[{"type": "function", "function": {"name",
    /// "description"?, "parameters"? (a JSON Schema), "strict"?}}]`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "openapi", schema(value_type = Option<Vec<Object>>))]
    pub tools: Option<Vec<serde_json::Value>>,
    /// `"none"`, `"auto"`, `"required"` or `{"type": "function",
    /// "function": {"name"}}` naming one of `tools`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "openapi", schema(value_type = Option<Object>))]
    pub tool_choice: Option<serde_json::Value>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub parallel_tool_calls: Option<bool>,
    /// −2 to 2.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub frequency_penalty: Option<f64>,
    /// −2 to 2.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub presence_penalty: Option<f64>,
    /// Token id (as a string of digits) → bias from −100 to 100.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub logit_bias: Option<BTreeMap<String, i64>>,
    /// The newer bound on generated tokens (reasoning included) that
    /// o-series models require instead of `maxTokens`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_completion_tokens: Option<u32>,
    /// `none`, `minimal`, `low`, `medium`, `high` or `xhigh`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reasoning_effort: Option<String>,
    /// Provider-specific parameters, merged into the request body as they
    /// are. May not name `model`, `messages`, `stream`, `stream_options` or a
    /// parameter one of the fields above sends.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "openapi", schema(value_type = Option<Object>))]
    pub extra: Option<serde_json::Map<String, serde_json::Value>>,
}

impl ModelSettings {
    /// These settings with every field that `over` sets replaced by its value.
    pub fn overridden_by(&self, over: &ModelSettings) -> ModelSettings {
        fn pick<T: Clone>(over: &Option<T>, base: &Option<T>) -> Option<T> {
            over.clone().or_else(|| base.clone())
        }
        ModelSettings {
            model: pick(&over.model, &self.model),
            temperature: pick(&over.temperature, &self.temperature),
            max_tokens: pick(&over.max_tokens, &self.max_tokens),
            top_p: pick(&over.top_p, &self.top_p),
            stop: pick(&over.stop, &self.stop),
            seed: pick(&over.seed, &self.seed),
            response_format: pick(&over.response_format, &self.response_format),
            tools: pick(&over.tools, &self.tools),
            tool_choice: pick(&over.tool_choice, &self.tool_choice),
            parallel_tool_calls: pick(&over.parallel_tool_calls, &self.parallel_tool_calls),
            frequency_penalty: pick(&over.frequency_penalty, &self.frequency_penalty),
            presence_penalty: pick(&over.presence_penalty, &self.presence_penalty),
            logit_bias: pick(&over.logit_bias, &self.logit_bias),
            max_completion_tokens: pick(&over.max_completion_tokens, &self.max_completion_tokens),
            reasoning_effort: pick(&over.reasoning_effort, &self.reasoning_effort),
            extra: pick(&over.extra, &self.extra),
        }
    }
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct Prompt {
    pub id: PromptId,
    pub title: String,
    pub slug: String,
    #[serde(rename = "type")]
    pub prompt_type: PromptType,
    pub tags: Vec<String>,
    pub current_version_id: Option<VersionId>,
    #[serde(with = "time::serde::rfc3339")]
    #[cfg_attr(feature = "openapi", schema(value_type = String, format = DateTime))]
    pub created_at: OffsetDateTime,
    #[serde(with = "time::serde::rfc3339")]
    #[cfg_attr(feature = "openapi", schema(value_type = String, format = DateTime))]
    pub updated_at: OffsetDateTime,
}

/// One immutable saved version.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct Version {
    pub id: VersionId,
    pub prompt_id: PromptId,
    /// 1, 2, 3 … per prompt, gapless.
    pub version: i64,
    pub content: Content,
    pub settings: ModelSettings,
    /// The `{{variables}}` found in the content when it was saved.
    pub variables: Vec<String>,
    pub note: Option<String>,
    #[serde(with = "time::serde::rfc3339")]
    #[cfg_attr(feature = "openapi", schema(value_type = String, format = DateTime))]
    pub created_at: OffsetDateTime,
}

/// A named pointer from a prompt to one of its versions (`production`, …).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct Label {
    pub label: String,
    pub version_id: VersionId,
    pub version: i64,
    #[serde(with = "time::serde::rfc3339")]
    #[cfg_attr(feature = "openapi", schema(value_type = String, format = DateTime))]
    pub updated_at: OffsetDateTime,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "lowercase")]
pub enum RunStatus {
    Queued,
    Running,
    Succeeded,
    Failed,
    Cancelled,
    Interrupted,
}

impl RunStatus {
    pub const ALL: [RunStatus; 6] = [
        RunStatus::Queued,
        RunStatus::Running,
        RunStatus::Succeeded,
        RunStatus::Failed,
        RunStatus::Cancelled,
        RunStatus::Interrupted,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            RunStatus::Queued => "queued",
            RunStatus::Running => "running",
            RunStatus::Succeeded => "succeeded",
            RunStatus::Failed => "failed",
            RunStatus::Cancelled => "cancelled",
            RunStatus::Interrupted => "interrupted",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|st| st.as_str() == s)
    }

    /// A run in this status will not change any more.
    pub fn is_final(self) -> bool {
        !matches!(self, RunStatus::Queued | RunStatus::Running)
    }
}

/// One test run, as stored and as the API answers it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct Run {
    pub id: RunId,
    pub prompt_id: PromptId,
    pub version_id: VersionId,
    pub provider: String,
    pub model: String,
    pub params: ModelSettings,
    pub variables: BTreeMap<String, String>,
    /// The rendered messages that were sent.
    pub input: Vec<ChatMessage>,
    pub output: String,
    pub finish_reason: Option<String>,
    pub status: RunStatus,
    pub error_code: Option<String>,
    pub error_message: Option<String>,
    pub prompt_tokens: Option<i64>,
    pub completion_tokens: Option<i64>,
    pub total_tokens: Option<i64>,
    /// The token counts (and the cost from them) are the server's estimate:
    /// the upstream sent no usage. See `promptrefine_llm::tokens`.
    #[serde(default)]
    pub tokens_estimated: bool,
    pub cost_micro_usd: Option<i64>,
    pub latency_ms: Option<i64>,
    pub ttft_ms: Option<i64>,
    pub request_id: Option<String>,
    #[serde(with = "time::serde::rfc3339")]
    #[cfg_attr(feature = "openapi", schema(value_type = String, format = DateTime))]
    pub created_at: OffsetDateTime,
    #[serde(with = "time::serde::rfc3339::option")]
    #[cfg_attr(feature = "openapi", schema(value_type = Option<String>, format = DateTime))]
    pub finished_at: Option<OffsetDateTime>,
    /// Set on a run of an experiment cell: the experiment, the dataset item,
    /// the variant and repeat (indexes from 0) and the attempt (from 1).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub experiment_id: Option<crate::ids::ExperimentId>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "openapi", schema(value_type = Option<String>, format = Uuid))]
    pub item_id: Option<uuid::Uuid>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub variant: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub repeat: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub attempt: Option<i64>,
    /// `judge` for an LLM judge's call on another run (`judge_of`), else `test`.
    #[serde(default)]
    pub kind: RunKind,
    /// The run a judge run judged.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub judge_of: Option<RunId>,
    /// The JSON body sent upstream, exactly as sent (runs from before
    /// migration 0009 have none). The API key is a header, never in it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "openapi", schema(value_type = Option<Object>))]
    pub request_body: Option<serde_json::Value>,
    /// The answer's `id`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub response_id: Option<String>,
    /// The model as the upstream answered (may differ from `model`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub response_model: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub system_fingerprint: Option<String>,
    /// The tool calls of the answer, assembled from the stream.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tool_calls: Option<Vec<ToolCall>>,
    /// The run whose stored request this run sent again.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub replay_of: Option<RunId>,
}

/// What a run is for.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "lowercase")]
pub enum RunKind {
    /// A person's run, or an experiment cell's.
    #[default]
    Test,
    /// An `llm_judge` evaluator's call on the output of another run.
    Judge,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct User {
    pub id: UserId,
    pub email: String,
    #[serde(with = "time::serde::rfc3339")]
    #[cfg_attr(feature = "openapi", schema(value_type = String, format = DateTime))]
    pub created_at: OffsetDateTime,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn content_reads_a_string_as_text_and_a_list_as_chat() {
        let t: Content = serde_json::from_str(r#""Hello {{name}}""#).unwrap();
        assert_eq!(t.prompt_type(), PromptType::Text);
        let c: Content =
            serde_json::from_str(r#"[{"role":"system","content":"Be brief."}]"#).unwrap();
        assert_eq!(c.prompt_type(), PromptType::Chat);
        assert!(serde_json::from_str::<Content>(r#"[{"role":"robot","content":"x"}]"#).is_err());
    }

    #[test]
    fn settings_use_camel_case_and_reject_unknown_fields() {
        let s: ModelSettings =
            serde_json::from_str(r#"{"model":"gpt-4o-mini","maxTokens":50,"topP":0.5}"#).unwrap();
        assert_eq!(s.max_tokens, Some(50));
        let err = serde_json::from_str::<ModelSettings>(r#"{"max_tokens":5}"#).unwrap_err();
        assert!(err.to_string().contains("max_tokens"), "{err}");
    }

    #[test]
    fn overrides_replace_only_the_fields_they_set() {
        let base = ModelSettings {
            model: Some("a".into()),
            temperature: Some(0.2),
            ..Default::default()
        };
        let over = ModelSettings {
            temperature: Some(1.0),
            ..Default::default()
        };
        let merged = base.overridden_by(&over);
        assert_eq!(merged.model.as_deref(), Some("a"));
        assert_eq!(merged.temperature, Some(1.0));
    }

    #[test]
    fn run_status_round_trips_through_text() {
        for s in RunStatus::ALL {
            assert_eq!(RunStatus::parse(s.as_str()), Some(s));
        }
        assert!(!RunStatus::Running.is_final());
        assert!(RunStatus::Interrupted.is_final());
    }
}
