//! The prompt page's editor: the fields of a version as saved, or as the
//! user typed them, and how they become a version's content and settings.

use promptrefine_core::template::content_variables;
use promptrefine_core::{
    ChatMessage, Content, ContentPart, ModelSettings, PromptType, Role, Version,
};

use crate::pages::support::{Errors, FormData};

/// The editor's fields, as saved or as the user typed them.
pub(super) struct Editor {
    pub text: String,
    /// Role, text, and the message's other parts as JSON (tool calls, the
    /// call a tool message answers, content parts; "" for a plain message),
    /// carried through the form in a hidden field so saving from the page
    /// never drops them.
    pub messages: Vec<(String, String, String)>,
    pub model: String,
    pub temperature: String,
    pub max_tokens: String,
    pub top_p: String,
    pub stop: String,
    pub note: String,
    pub variables: Vec<String>,
}

impl Editor {
    pub(super) fn of(version: Option<&Version>, kind: PromptType) -> Editor {
        let settings = version.map(|v| v.settings.clone()).unwrap_or_default();
        let (text, mut messages) = match version.map(|v| &v.content) {
            Some(Content::Text(t)) => (t.clone(), vec![]),
            Some(Content::Chat(m)) => (
                String::new(),
                m.iter()
                    .map(|m| (m.role.as_str().to_string(), editable_text(m), extra_of(m)))
                    .collect(),
            ),
            None => (String::new(), vec![]),
        };
        if kind == PromptType::Chat {
            // One blank message to type into (dropped on save when left empty).
            if messages.is_empty() {
                messages.push(("system".into(), String::new(), String::new()));
            }
            messages.push(("user".into(), String::new(), String::new()));
        }
        Editor {
            text,
            messages,
            model: settings.model.unwrap_or_default(),
            temperature: settings
                .temperature
                .map(|t| t.to_string())
                .unwrap_or_default(),
            max_tokens: settings
                .max_tokens
                .map(|t| t.to_string())
                .unwrap_or_default(),
            top_p: settings.top_p.map(|t| t.to_string()).unwrap_or_default(),
            stop: settings.stop.unwrap_or_default().join("\n"),
            note: String::new(),
            variables: version.map(|v| v.variables.clone()).unwrap_or_default(),
        }
    }

    pub(super) fn from_form(form: &FormData, kind: PromptType) -> Editor {
        let mut extras = form.all("message_extra").into_iter();
        let messages: Vec<(String, String, String)> = form
            .all("role")
            .into_iter()
            .zip(form.all("content"))
            .map(|(r, c)| (r, c, extras.next().unwrap_or_default()))
            .collect();
        let mut editor = Editor {
            text: form.get("body").to_string(),
            messages,
            model: form.get("model").to_string(),
            temperature: form.get("temperature").to_string(),
            max_tokens: form.get("max_tokens").to_string(),
            top_p: form.get("top_p").to_string(),
            stop: form.get("stop").to_string(),
            note: form.get("note").to_string(),
            variables: vec![],
        };
        editor.variables = content_variables(&editor.content(kind));
        editor
    }

    pub(super) fn content(&self, kind: PromptType) -> Content {
        match kind {
            PromptType::Text => Content::Text(self.text.clone()),
            PromptType::Chat => Content::Chat(
                self.messages
                    .iter()
                    .filter(|(_, c, extra)| !c.trim().is_empty() || !extra.is_empty())
                    .map(|(r, c, extra)| with_extra(parse_role(r), c, extra))
                    .collect(),
            ),
        }
    }

    /// The settings, or the fields that do not parse.
    pub(super) fn settings(&self, base: &ModelSettings) -> Result<ModelSettings, Errors> {
        let mut errors = Errors::default();
        let mut num = |field: &str, text: &str| -> Option<f64> {
            let text = text.trim();
            if text.is_empty() {
                return None;
            }
            text.parse::<f64>().ok().or_else(|| {
                errors
                    .0
                    .push((format!("settings.{field}"), "must be a number".into()));
                None
            })
        };
        let temperature = num("temperature", &self.temperature);
        let top_p = num("topP", &self.top_p);
        let max_tokens = match self.max_tokens.trim() {
            "" => None,
            t => t.parse::<u32>().ok().or_else(|| {
                errors
                    .0
                    .push(("settings.maxTokens".into(), "must be a whole number".into()));
                None
            }),
        };
        if !errors.is_empty() {
            return Err(errors);
        }
        let stop: Vec<String> = self
            .stop
            .lines()
            .map(str::to_string)
            .filter(|s| !s.is_empty())
            .collect();
        Ok(ModelSettings {
            model: Some(self.model.trim().to_string()).filter(|m| !m.is_empty()),
            temperature,
            max_tokens,
            top_p,
            stop: (!stop.is_empty()).then_some(stop),
            // The fields the form does not show (tools, schemas, penalties,
            // extra …) are kept from the version it was opened on.
            ..base.clone()
        })
    }
}

fn parse_role(r: &str) -> Role {
    match r {
        "system" => Role::System,
        "assistant" => Role::Assistant,
        "developer" => Role::Developer,
        "tool" => Role::Tool,
        _ => Role::User,
    }
}

/// The text the textarea edits: the content, or a message's first text part.
fn editable_text(m: &ChatMessage) -> String {
    match &m.parts {
        None => m.content.clone(),
        Some(parts) => parts
            .iter()
            .find_map(|p| match p {
                ContentPart::Text { text } => Some(text.clone()),
                ContentPart::ImageUrl { .. } => None,
            })
            .unwrap_or_default(),
    }
}

/// What a message holds besides its role and text, as JSON; "" when nothing.
fn extra_of(m: &ChatMessage) -> String {
    let mut extra = serde_json::Map::new();
    if let Some(parts) = &m.parts {
        extra.insert("parts".into(), serde_json::json!(parts));
    }
    if let Some(calls) = &m.tool_calls {
        extra.insert("tool_calls".into(), serde_json::json!(calls));
    }
    if let Some(id) = &m.tool_call_id {
        extra.insert("tool_call_id".into(), serde_json::json!(id));
    }
    if let Some(name) = &m.name {
        extra.insert("name".into(), serde_json::json!(name));
    }
    if extra.is_empty() {
        String::new()
    } else {
        serde_json::Value::Object(extra).to_string()
    }
}

/// A message from the form: the role and text typed, with the parts the
/// hidden field carried (the text replaces the first text part). A hidden
/// field that is not ours is ignored: the message is then plain text.
fn with_extra(role: Role, text: &str, extra: &str) -> ChatMessage {
    let mut m = ChatMessage::new(role, text);
    let Ok(serde_json::Value::Object(extra)) = serde_json::from_str(extra) else {
        return m;
    };
    if let Some(mut parts) = extra
        .get("parts")
        .and_then(|p| serde_json::from_value::<Vec<ContentPart>>(p.clone()).ok())
    {
        match parts
            .iter_mut()
            .find(|p| matches!(p, ContentPart::Text { .. }))
        {
            Some(ContentPart::Text { text: t }) => text.clone_into(t),
            _ if !text.is_empty() => parts.insert(0, ContentPart::Text { text: text.into() }),
            _ => {}
        }
        m.content = String::new();
        m.parts = Some(parts);
    }
    m.tool_calls = extra
        .get("tool_calls")
        .and_then(|c| serde_json::from_value(c.clone()).ok());
    m.tool_call_id = extra
        .get("tool_call_id")
        .and_then(|c| c.as_str())
        .map(str::to_owned);
    m.name = extra
        .get("name")
        .and_then(|c| c.as_str())
        .map(str::to_owned);
    m
}
