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
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "lowercase")]
pub enum Role {
    System,
    User,
    Assistant,
    Developer,
}

impl Role {
    pub fn as_str(self) -> &'static str {
        match self {
            Role::System => "system",
            Role::User => "user",
            Role::Assistant => "assistant",
            Role::Developer => "developer",
        }
    }
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct ChatMessage {
    pub role: Role,
    pub content: String,
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
            Content::Text(t) => vec![ChatMessage {
                role: Role::User,
                content: t.clone(),
            }],
            Content::Chat(m) => m.clone(),
        }
    }
}

/// Model settings saved with a version; a run may override any of them.
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
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "openapi", schema(value_type = Option<Object>))]
    pub response_format: Option<serde_json::Value>,
}

impl ModelSettings {
    /// These settings with every field that `over` sets replaced by its value.
    pub fn overridden_by(&self, over: &ModelSettings) -> ModelSettings {
        ModelSettings {
            model: over.model.clone().or_else(|| self.model.clone()),
            temperature: over.temperature.or(self.temperature),
            max_tokens: over.max_tokens.or(self.max_tokens),
            top_p: over.top_p.or(self.top_p),
            stop: over.stop.clone().or_else(|| self.stop.clone()),
            seed: over.seed.or(self.seed),
            response_format: over
                .response_format
                .clone()
                .or_else(|| self.response_format.clone()),
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
