//! The Chat Completions JSON: the request we send, and a lenient reading of
//! answers and stream chunks (unknown fields ignored, optional fields
//! optional, `content` as a string or a list of text parts).

use serde::Deserialize;
use serde_json::{Value, json};

use crate::{ChatRequest, Usage};

/// The JSON body of `POST {base}/chat/completions`.
pub(crate) fn request_body(req: &ChatRequest) -> Value {
    let messages: Vec<Value> = req
        .messages
        .iter()
        .map(|m| json!({ "role": m.role.as_str(), "content": m.content }))
        .collect();
    let mut body = json!({ "model": req.model, "messages": messages });
    let s = &req.settings;
    if let Some(t) = s.temperature {
        body["temperature"] = json!(t);
    }
    if let Some(n) = s.max_tokens {
        body["max_tokens"] = json!(n);
    }
    if let Some(p) = s.top_p {
        body["top_p"] = json!(p);
    }
    if let Some(stop) = &s.stop {
        body["stop"] = json!(stop);
    }
    if let Some(seed) = s.seed {
        body["seed"] = json!(seed);
    }
    if let Some(rf) = &s.response_format {
        body["response_format"] = rf.clone();
    }
    if req.stream {
        body["stream"] = json!(true);
        body["stream_options"] = json!({ "include_usage": true });
    }
    body
}

/// A `chat.completion` or a `chat.completion.chunk`: the fields we read.
#[derive(Debug, Deserialize)]
pub(crate) struct WireResponse {
    pub id: Option<String>,
    pub choices: Option<Vec<WireChoice>>,
    pub usage: Option<Value>,
    /// Some servers answer 200 (or send a stream event) with an error object.
    pub error: Option<Value>,
}

#[derive(Debug, Deserialize)]
pub(crate) struct WireChoice {
    pub index: Option<i64>,
    /// Non-streamed.
    pub message: Option<WireMessage>,
    /// Streamed.
    pub delta: Option<WireMessage>,
    pub finish_reason: Option<String>,
    /// The legacy completions shape, which some servers still mix in.
    pub text: Option<String>,
}

#[derive(Debug, Deserialize)]
pub(crate) struct WireMessage {
    pub content: Option<Value>,
    pub refusal: Option<String>,
}

impl WireResponse {
    /// The choice we asked for (we never send `n`): index 0, or the first.
    pub(crate) fn choice(&self) -> Option<&WireChoice> {
        let choices = self.choices.as_deref()?;
        choices
            .iter()
            .find(|c| c.index.unwrap_or(0) == 0)
            .or(choices.first())
    }

    pub(crate) fn usage(&self) -> Option<Usage> {
        usage_from(self.usage.as_ref()?)
    }
}

impl WireChoice {
    /// The text of this choice's message or delta: content, else a refusal,
    /// else the legacy `text`.
    pub(crate) fn text(&self) -> String {
        let msg = self.message.as_ref().or(self.delta.as_ref());
        let content = msg
            .and_then(|m| m.content.as_ref())
            .map(content_text)
            .unwrap_or_default();
        if !content.is_empty() {
            return content;
        }
        if let Some(r) = msg.and_then(|m| m.refusal.as_ref()) {
            return r.clone();
        }
        self.text.clone().unwrap_or_default()
    }
}

/// `content` as a string, or the concatenated `text` of a list of parts.
fn content_text(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        Value::Array(parts) => parts
            .iter()
            .filter_map(|p| p.get("text").and_then(Value::as_str))
            .collect(),
        _ => String::new(),
    }
}

/// Usage when at least one count is there; a missing total is the sum.
fn usage_from(v: &Value) -> Option<Usage> {
    let n = |k: &str| v.get(k).and_then(Value::as_i64);
    let (p, c) = (n("prompt_tokens"), n("completion_tokens"));
    if p.is_none() && c.is_none() {
        return None;
    }
    let (p, c) = (p.unwrap_or(0), c.unwrap_or(0));
    Some(Usage {
        prompt_tokens: p,
        completion_tokens: c,
        total_tokens: n("total_tokens").unwrap_or(p.saturating_add(c)),
    })
}

/// The model ids of a `GET /models` answer.
pub(crate) fn model_ids(body: &[u8]) -> Option<Vec<String>> {
    let v: Value = serde_json::from_slice(body).ok()?;
    let data = v.get("data")?.as_array()?;
    data.iter()
        .map(|m| m.get("id").and_then(Value::as_str).map(str::to_owned))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use promptrefine_core::{ChatMessage, ModelSettings, Role};

    #[test]
    fn only_the_settings_that_are_set_go_on_the_wire() {
        let req = ChatRequest {
            model: "m".into(),
            messages: vec![ChatMessage {
                role: Role::System,
                content: "be brief".into(),
            }],
            settings: ModelSettings {
                temperature: Some(0.5),
                stop: Some(vec!["\n".into()]),
                ..Default::default()
            },
            request_id: None,
            stream: false,
        };
        let body = request_body(&req);
        assert_eq!(
            body,
            json!({"model":"m","messages":[{"role":"system","content":"be brief"}],"temperature":0.5,"stop":["\n"]})
        );
    }

    #[test]
    fn choices_are_read_leniently() {
        let r: WireResponse = serde_json::from_str(
            r#"{"id":"x","choices":[{"index":0,"delta":{"content":[{"type":"text","text":"a"},{"type":"text","text":"b"}]},"extra":1}],"usage":{"prompt_tokens":3,"completion_tokens":2}}"#,
        )
        .unwrap();
        assert_eq!(r.choice().unwrap().text(), "ab");
        assert_eq!(r.usage().unwrap().total_tokens, 5);
        let r: WireResponse = serde_json::from_str(
            r#"{"choices":[{"message":{"content":null,"refusal":"no"}}],"usage":null}"#,
        )
        .unwrap();
        assert_eq!(r.choice().unwrap().text(), "no");
        assert_eq!(r.usage(), None);
    }

    #[test]
    fn model_ids_need_the_list_shape() {
        assert_eq!(
            model_ids(br#"{"object":"list","data":[{"id":"a"},{"id":"b","owned_by":"x"}]}"#),
            Some(vec!["a".into(), "b".into()])
        );
        assert_eq!(model_ids(br#"{"data":[{"name":"a"}]}"#), None);
        assert_eq!(model_ids(b"nope"), None);
    }
}
