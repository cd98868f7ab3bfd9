//! The Chat Completions JSON: the request we send, and a lenient reading of
//! answers and stream chunks (unknown fields ignored, optional fields
//! optional, `content` as a string or a list of text parts).

use serde::Deserialize;
use serde_json::{Value, json};

use promptrefine_core::{ChatMessage, ToolCall};

use crate::{ChatRequest, Usage};

/// The JSON body of `POST {base}/chat/completions`: the model, the
/// messages, each setting that is set under its wire name (JSON-valued ones
/// verbatim), `extra` merged in, and the stream flags. (A request that
/// carries a `raw_body`, a replay, sends that text instead:
/// [`ChatRequest::body_text`].)
pub(crate) fn request_body(req: &ChatRequest) -> Value {
    let messages: Vec<Value> = req.messages.iter().map(message_json).collect();
    let mut body = json!({ "model": req.model, "messages": messages });
    let s = &req.settings;
    let mut set = |key: &str, v: Option<Value>| {
        if let Some(v) = v {
            body[key] = v;
        }
    };
    set("temperature", s.temperature.map(|t| json!(t)));
    set("max_tokens", s.max_tokens.map(|n| json!(n)));
    set(
        "max_completion_tokens",
        s.max_completion_tokens.map(|n| json!(n)),
    );
    set("top_p", s.top_p.map(|p| json!(p)));
    set("frequency_penalty", s.frequency_penalty.map(|p| json!(p)));
    set("presence_penalty", s.presence_penalty.map(|p| json!(p)));
    set("stop", s.stop.as_ref().map(|stop| json!(stop)));
    set("seed", s.seed.map(|seed| json!(seed)));
    set("logit_bias", s.logit_bias.as_ref().map(|b| json!(b)));
    set("response_format", s.response_format.clone());
    set("tools", s.tools.as_ref().map(|t| json!(t)));
    set("tool_choice", s.tool_choice.clone());
    set(
        "parallel_tool_calls",
        s.parallel_tool_calls.map(Value::Bool),
    );
    set(
        "reasoning_effort",
        s.reasoning_effort.as_ref().map(|e| json!(e)),
    );
    if let (Some(extra), Some(obj)) = (&s.extra, body.as_object_mut()) {
        // Validation keeps `model`, `messages`, `stream` and the named
        // settings out of `extra`; should an unvalidated one get here, what
        // the server sets wins.
        for (k, v) in extra {
            obj.entry(k.clone()).or_insert_with(|| v.clone());
        }
    }
    if req.stream {
        body["stream"] = json!(true);
        body["stream_options"] = json!({ "include_usage": true });
    }
    body
}

/// One message on the wire: its JSON is already the Chat Completions shape
/// (`content` a string, parts or null beside `tool_calls`; `tool_call_id`).
pub(crate) fn message_json(m: &ChatMessage) -> Value {
    serde_json::to_value(m).unwrap_or_else(|_| json!({}))
}

/// A `chat.completion` or a `chat.completion.chunk`: the fields we read.
#[derive(Debug, Deserialize)]
pub(crate) struct WireResponse {
    pub id: Option<String>,
    /// The model as the upstream answered (may differ from the one asked).
    pub model: Option<String>,
    pub system_fingerprint: Option<String>,
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
    /// Whole calls in a `message`; pieces (by `index`) in a `delta`.
    pub tool_calls: Option<Vec<WireToolCall>>,
}

#[derive(Debug, Deserialize)]
pub(crate) struct WireToolCall {
    pub index: Option<usize>,
    pub id: Option<String>,
    pub function: Option<WireFunction>,
}

#[derive(Debug, Deserialize)]
pub(crate) struct WireFunction {
    pub name: Option<String>,
    pub arguments: Option<String>,
}

/// Tool calls put together from their pieces: a call's `id` and `name`
/// come once (usually in its first delta), its `arguments` in pieces to be
/// concatenated; calls are told apart by `index` (their position when a
/// server leaves it out).
#[derive(Debug, Default)]
pub(crate) struct ToolCallParts {
    calls: Vec<(usize, String, String, String)>,
    /// Bytes of arguments so far, for the output cap.
    pub bytes: usize,
}

impl ToolCallParts {
    pub(crate) fn add(&mut self, pieces: &[WireToolCall]) {
        for (pos, piece) in pieces.iter().enumerate() {
            let index = piece.index.unwrap_or(pos);
            let at = match self.calls.iter().position(|c| c.0 == index) {
                Some(at) => at,
                None => {
                    self.calls
                        .push((index, String::new(), String::new(), String::new()));
                    self.calls.len() - 1
                }
            };
            let call = &mut self.calls[at];
            if let Some(id) = piece.id.as_deref().filter(|id| !id.is_empty()) {
                id.clone_into(&mut call.1);
            }
            if let Some(f) = &piece.function {
                if let Some(name) = f.name.as_deref().filter(|n| !n.is_empty()) {
                    // Sent whole once by OpenAI; some servers repeat it.
                    if !call.2.ends_with(name) {
                        call.2.push_str(name);
                    }
                }
                if let Some(args) = &f.arguments {
                    call.3.push_str(args);
                    self.bytes += args.len();
                }
            }
        }
    }

    /// The calls in index order, arguments parsed as JSON where they are.
    pub(crate) fn finish(mut self) -> Vec<ToolCall> {
        self.calls.sort_by_key(|c| c.0);
        self.calls
            .into_iter()
            .map(|(_, id, name, args)| ToolCall {
                id,
                name,
                arguments: serde_json::from_str(&args).unwrap_or(Value::String(args)),
            })
            .collect()
    }
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
                ..Default::default()
            }],
            settings: ModelSettings {
                temperature: Some(0.5),
                stop: Some(vec!["\n".into()]),
                ..Default::default()
            },
            request_id: None,
            stream: false,
            raw_body: None,
        };
        let body = request_body(&req);
        assert_eq!(
            body,
            json!({"model":"m","messages":[{"role":"system","content":"be brief"}],"temperature":0.5,"stop":["\n"]})
        );
    }

    #[test]
    fn every_setting_goes_on_the_wire_under_its_name_and_extra_is_merged() {
        let settings: ModelSettings = serde_json::from_value(json!({
            "maxCompletionTokens": 9, "frequencyPenalty": 0.5, "presencePenalty": -1.0,
            "logitBias": {"42": -100}, "seed": 7, "reasoningEffort": "high",
            "tools": [{"type": "function", "function": {"name": "f", "parameters": {"type": "object"}}}],
            "toolChoice": "required", "parallelToolCalls": false,
            "responseFormat": {"type": "json_object"}, "extra": {"top_k": 3, "model": "not-this"}
        }))
        .unwrap();
        let req = ChatRequest {
            model: "m".into(),
            messages: vec![],
            settings,
            request_id: None,
            stream: true,
            raw_body: None,
        };
        assert_eq!(
            request_body(&req),
            json!({
                "model": "m", "messages": [], "max_completion_tokens": 9, "frequency_penalty": 0.5,
                "presence_penalty": -1.0, "logit_bias": {"42": -100}, "seed": 7, "reasoning_effort": "high",
                "tools": [{"type": "function", "function": {"name": "f", "parameters": {"type": "object"}}}],
                "tool_choice": "required", "parallel_tool_calls": false,
                "response_format": {"type": "json_object"}, "top_k": 3,
                "stream": true, "stream_options": {"include_usage": true}
            })
        );
        let raw = r#"{"model":"x",  "messages":[],"anything":[1]}"#;
        assert_eq!(req.body_text(), request_body(&req).to_string());
        let replay = ChatRequest {
            raw_body: Some(raw.into()),
            ..req
        };
        assert_eq!(replay.body_text(), raw, "sent as stored, byte for byte");
    }

    #[test]
    fn tool_call_pieces_are_joined_by_index() {
        let pieces = |v: Value| -> Vec<WireToolCall> { serde_json::from_value(v).unwrap() };
        let mut parts = ToolCallParts::default();
        parts.add(&pieces(json!([{"index": 1, "id": "b", "type": "function", "function": {"name": "g", "arguments": ""}}])));
        parts.add(&pieces(
            json!([{"index": 0, "id": "a", "function": {"name": "f", "arguments": "{\"x\":"}}]),
        ));
        parts.add(&pieces(json!([{"index": 0, "function": {"arguments": " 1}"}}, {"index": 1, "function": {"arguments": "not json"}}])));
        let calls = parts.finish();
        assert_eq!(
            serde_json::to_value(&calls).unwrap(),
            json!([
                {"id": "a", "name": "f", "arguments": {"x": 1}},
                {"id": "b", "name": "g", "arguments": "not json"}
            ])
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
