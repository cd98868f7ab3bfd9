//! A version's fields: its body, model settings (with [`ModelName`]), note,
//! and its [`VersionNumber`].

use super::limits::{BODY_MAX_BYTES, CHAT_MESSAGES_MAX, MODEL_MAX_CHARS, NOTE_MAX_CHARS};
use super::rules::{child, item, length, no_control, one_line};
use super::{Rule, Violations};
use crate::domain::{ChatMessage, Content, ContentPart, PromptType, Role};
use crate::template::variables;

const TOOL_CALL_ID_MAX_CHARS: usize = 200;

/// A version's number: 1, 2, 3 … per prompt. Text that is not one (`0`,
/// `-1`, `x`) names no version.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct VersionNumber(i64);

impl VersionNumber {
    pub fn new(n: i64) -> Option<VersionNumber> {
        (n >= 1).then_some(VersionNumber(n))
    }

    /// `12` or `v12`.
    pub fn parse(text: &str) -> Option<VersionNumber> {
        let digits = text.strip_prefix('v').unwrap_or(text);
        digits.parse().ok().and_then(VersionNumber::new)
    }

    pub fn get(self) -> i64 {
        self.0
    }
}

impl std::fmt::Display for VersionNumber {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}", self.0)
    }
}

/// A model name: 1–200 characters after trimming, on one line. Stored
/// trimmed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ModelName(String);

impl ModelName {
    pub fn parse(field: &str, s: &str) -> Result<ModelName, Violations> {
        one_line(field, s, 1, MODEL_MAX_CHARS).or(ModelName(s.trim().to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    pub fn into_string(self) -> String {
        self.0
    }
}

/// A version body for a prompt of type `expected`.
///
/// A text template must not be blank; a chat body must have 1–200 messages.
/// The body's total size is limited, and each message's size too, so the
/// error can point at the message that is too large.
pub fn content(v: &mut Violations, field: &str, body: &Content, expected: PromptType) {
    if body.prompt_type() != expected {
        let shape = match expected {
            PromptType::Text => "a template string",
            PromptType::Chat => "a list of messages",
        };
        v.push(
            field,
            Rule::Type,
            format!(
                "{field} must be {shape}, because this is a {} prompt",
                expected.as_str()
            ),
        );
    }
    let total: usize = match body {
        Content::Text(t) => {
            if t.trim().is_empty() {
                v.push(field, Rule::Required, format!("{field} must not be empty"));
            }
            t.len()
        }
        Content::Chat(messages) => {
            if messages.is_empty() || messages.len() > CHAT_MESSAGES_MAX {
                v.push(
                    field,
                    Rule::Count,
                    format!("{field} must have 1–{CHAT_MESSAGES_MAX} messages"),
                );
            }
            for (i, m) in messages.iter().enumerate() {
                let at = item(field, i);
                if m.text_len() > BODY_MAX_BYTES {
                    let f = child(&at, "content");
                    v.push(
                        &f,
                        Rule::Size,
                        format!("{f} must be at most {BODY_MAX_BYTES} bytes"),
                    );
                }
                message(v, &at, m);
            }
            messages
                .iter()
                .map(|m| {
                    let calls = m
                        .tool_calls
                        .as_ref()
                        .map_or(0, |c| serde_json::to_vec(c).map_or(usize::MAX, |b| b.len()));
                    m.text_len().saturating_add(calls)
                })
                .fold(0usize, usize::saturating_add)
        }
    };
    if total > BODY_MAX_BYTES {
        v.push(
            field,
            Rule::Size,
            format!("{field} must be at most {BODY_MAX_BYTES} bytes in total"),
        );
    }
}

/// The parts of a message that Chat Completions constrains: tool calls only
/// on assistant messages, each `{id, type: "function", function: {name,
/// arguments}}`; a `tool` message answers one by `tool_call_id`; images only
/// from the user, as an `http(s)`/`data:` URL or a `{{variable}}`.
fn message(v: &mut Violations, at: &str, m: &ChatMessage) {
    if let Some(calls) = &m.tool_calls {
        let f = child(at, "tool_calls");
        if m.role != Role::Assistant {
            v.push(
                &f,
                Rule::Reserved,
                format!("{f} may only be on an assistant message"),
            );
        }
        for (j, call) in calls.iter().enumerate() {
            tool_call(v, &item(&f, j), call);
        }
    }
    let id_field = child(at, "tool_call_id");
    match (&m.tool_call_id, m.role == Role::Tool) {
        (None, true) => v.push(
            &id_field,
            Rule::Required,
            format!("{id_field} is required on a tool message"),
        ),
        (Some(_), false) => v.push(
            &id_field,
            Rule::Reserved,
            format!("{id_field} may only be on a tool message"),
        ),
        (Some(id), true) => v.extend(length(&id_field, id, 1, TOOL_CALL_ID_MAX_CHARS)),
        (None, false) => {}
    }
    if let Some(name) = &m.name {
        v.check(one_line(&child(at, "name"), name, 1, MODEL_MAX_CHARS).into_result());
    }
    for (j, part) in m.parts.iter().flatten().enumerate() {
        let ContentPart::ImageUrl { image_url } = part else {
            continue;
        };
        let f = child(&item(&child(at, "content"), j), "image_url");
        if m.role != Role::User {
            v.push(
                &f,
                Rule::Reserved,
                format!("{f} may only be in a user message"),
            );
        }
        let url = image_url.url.trim();
        let templated = !variables(url).is_empty();
        let scheme_ok = ["http://", "https://", "data:"].iter().any(|p| {
            // `get`: a byte index inside a character is no prefix (and no panic).
            url.len() > p.len()
                && url
                    .get(..p.len())
                    .is_some_and(|s| s.eq_ignore_ascii_case(p))
        });
        if !templated && !scheme_ok {
            let u = child(&f, "url");
            v.push(
                &u,
                Rule::Format,
                format!("{u} must be an http(s) or data: URL, or a {{{{variable}}}}"),
            );
        }
        if let Some(d) = &image_url.detail
            && !["auto", "low", "high"].contains(&d.as_str())
        {
            let df = child(&f, "detail");
            v.push(
                &df,
                Rule::OneOf,
                format!("{df} must be one of auto, low, high"),
            );
        }
    }
}

fn tool_call(v: &mut Violations, f: &str, call: &serde_json::Value) {
    let shape = || {
        format!(
            "{f} must be {{\"id\", \"type\": \"function\", \"function\": {{\"name\", \"arguments\"}}}}"
        )
    };
    let Some(o) = call.as_object() else {
        v.push(f, Rule::Type, shape());
        return;
    };
    if o.get("id")
        .and_then(|i| i.as_str())
        .is_none_or(str::is_empty)
    {
        v.push(
            child(f, "id"),
            Rule::Required,
            format!("{f}.id is required"),
        );
    }
    if o.get("type").and_then(|t| t.as_str()) != Some("function") {
        v.push(
            child(f, "type"),
            Rule::OneOf,
            format!("{f}.type must be \"function\""),
        );
    }
    let func = o.get("function").and_then(|x| x.as_object());
    let name_ok = func
        .and_then(|x| x.get("name"))
        .and_then(|n| n.as_str())
        .is_some_and(|n| !n.is_empty());
    if !name_ok {
        v.push(
            format!("{f}.function.name"),
            Rule::Required,
            format!("{f}.function.name is required"),
        );
    }
    if !func
        .and_then(|x| x.get("arguments"))
        .is_some_and(|a| a.is_string())
    {
        v.push(
            format!("{f}.function.arguments"),
            Rule::Type,
            format!("{f}.function.arguments must be a string of JSON"),
        );
    }
}

/// A version note: optional, at most 2000 characters; line breaks and tabs
/// are fine.
pub fn note(v: &mut Violations, field: &str, note: Option<&str>) {
    if let Some(n) = note {
        v.extend(length(field, n, 0, NOTE_MAX_CHARS));
        v.extend(no_control(field, n, &['\n', '\r', '\t']));
    }
}

#[cfg(test)]
mod tests {
    use super::super::limits::BODY_MAX_BYTES;
    use super::super::rules::testing::{fails, msg, ok, strings};
    use super::super::settings::settings;
    use super::*;
    use crate::domain::{ModelSettings, Role};

    #[test]
    fn version_numbers_start_at_one() {
        assert_eq!(VersionNumber::parse("3").map(VersionNumber::get), Some(3));
        assert_eq!(
            VersionNumber::parse("v12").map(VersionNumber::get),
            Some(12)
        );
        for bad in ["0", "-1", "x", "", "v", "1.5"] {
            assert_eq!(VersionNumber::parse(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn a_model_name_is_stored_trimmed() {
        assert_eq!(ModelName::parse("model", " gpt ").unwrap().as_str(), "gpt");
        assert!(ModelName::parse("model", "a\nb").is_err());
    }

    // content

    #[test]
    fn a_text_template_must_not_be_blank() {
        ok(|v| {
            content(
                v,
                "content",
                &Content::Text("Hi {{name}}".into()),
                PromptType::Text,
            )
        });
        for t in ["", " \n\t"] {
            fails(
                |v| content(v, "content", &Content::Text(t.into()), PromptType::Text),
                &[("content", "required")],
            );
        }
    }

    #[test]
    fn a_body_of_the_wrong_type_is_rejected() {
        fails(
            |v| content(v, "content", &Content::Text("hi".into()), PromptType::Chat),
            &[("content", "type")],
        );
        fails(
            |v| {
                content(
                    v,
                    "content",
                    &Content::Chat(vec![msg(Role::User, "hi")]),
                    PromptType::Text,
                )
            },
            &[("content", "type")],
        );
    }

    #[test]
    fn a_text_body_may_be_exactly_the_size_limit() {
        let at_limit = Content::Text("a".repeat(BODY_MAX_BYTES));
        ok(|v| content(v, "content", &at_limit, PromptType::Text));
        let over = Content::Text("a".repeat(BODY_MAX_BYTES + 1));
        fails(
            |v| content(v, "content", &over, PromptType::Text),
            &[("content", "size")],
        );
    }

    #[test]
    fn the_size_limit_counts_bytes_not_characters() {
        // "é" is two bytes in UTF-8.
        let over = Content::Text("é".repeat(BODY_MAX_BYTES / 2 + 1));
        fails(
            |v| content(v, "content", &over, PromptType::Text),
            &[("content", "size")],
        );
    }

    #[test]
    fn a_chat_body_needs_one_to_two_hundred_messages() {
        let chat = |n: usize| Content::Chat(vec![msg(Role::User, "hi"); n]);
        ok(|v| content(v, "content", &chat(1), PromptType::Chat));
        ok(|v| content(v, "content", &chat(200), PromptType::Chat));
        fails(
            |v| content(v, "content", &chat(0), PromptType::Chat),
            &[("content", "count")],
        );
        fails(
            |v| content(v, "content", &chat(201), PromptType::Chat),
            &[("content", "count")],
        );
    }

    #[test]
    fn chat_messages_may_be_empty() {
        let chat = Content::Chat(vec![msg(Role::System, ""), msg(Role::User, "hi")]);
        ok(|v| content(v, "content", &chat, PromptType::Chat));
    }

    #[test]
    fn the_chat_size_limit_applies_to_all_messages_together() {
        let half = "a".repeat(BODY_MAX_BYTES / 2);
        let at_limit = Content::Chat(vec![msg(Role::System, &half), msg(Role::User, &half)]);
        ok(|v| content(v, "content", &at_limit, PromptType::Chat));
        let over = Content::Chat(vec![
            msg(Role::System, &half),
            msg(Role::User, &half),
            msg(Role::User, "a"),
        ]);
        fails(
            |v| content(v, "content", &over, PromptType::Chat),
            &[("content", "size")],
        );
    }

    #[test]
    fn an_oversized_message_is_named_by_its_index() {
        let big = Content::Chat(vec![
            msg(Role::System, "ok"),
            msg(Role::User, &"a".repeat(BODY_MAX_BYTES + 1)),
        ]);
        fails(
            |v| content(v, "content", &big, PromptType::Chat),
            &[("content[1].content", "size"), ("content", "size")],
        );
    }
    /// Found by the API fuzzer: a URL whose fifth byte is inside a
    /// character was sliced there (a panic, a 500).
    #[test]
    fn an_image_url_of_multibyte_characters_is_a_format_error_not_a_panic() {
        let body: Content = serde_json::from_value(serde_json::json!([
            {"role": "user", "content": [{"type": "image_url", "image_url": {"url": "\u{80}\u{10000}"}}]}
        ]))
        .unwrap();
        fails(
            |v| content(v, "content", &body, PromptType::Chat),
            &[("content[0].content[0].image_url.url", "format")],
        );
    }

    #[test]
    fn tool_messages_and_image_parts_follow_chat_completions_rules() {
        let body: Content = serde_json::from_value(serde_json::json!([
            {"role": "user", "content": [
                {"type": "text", "text": "What is in {{what}}?"},
                {"type": "image_url", "image_url": {"url": "{{image}}", "detail": "low"}},
                {"type": "image_url", "image_url": {"url": "https://x.example/a.png"}}
            ]},
            {"role": "assistant", "content": null, "tool_calls": [
                {"id": "call_1", "type": "function", "function": {"name": "f", "arguments": "{}"}}
            ]},
            {"role": "tool", "tool_call_id": "call_1", "content": "42"}
        ]))
        .unwrap();
        ok(|v| content(v, "content", &body, PromptType::Chat));
        let body: Content = serde_json::from_value(serde_json::json!([
            {"role": "user", "content": [{"type": "image_url", "image_url": {"url": "ftp://x", "detail": "max"}}]},
            {"role": "system", "content": "x", "tool_calls": [{"id": "", "type": "fn", "function": {"arguments": {}}}]},
            {"role": "tool", "content": "42"},
            {"role": "user", "content": "x", "tool_call_id": "c"}
        ]))
        .unwrap();
        fails(
            |v| content(v, "content", &body, PromptType::Chat),
            &[
                ("content[0].content[0].image_url.url", "format"),
                ("content[0].content[0].image_url.detail", "oneOf"),
                ("content[1].tool_calls", "reserved"),
                ("content[1].tool_calls[0].id", "required"),
                ("content[1].tool_calls[0].type", "oneOf"),
                ("content[1].tool_calls[0].function.name", "required"),
                ("content[1].tool_calls[0].function.arguments", "type"),
                ("content[2].tool_call_id", "required"),
                ("content[3].tool_call_id", "reserved"),
            ],
        );
    }

    // settings

    #[test]
    fn default_settings_are_valid() {
        ok(|v| settings(v, "settings", &ModelSettings::default()));
    }

    #[test]
    fn settings_at_their_limits_are_valid() {
        let s = ModelSettings {
            model: Some("m".repeat(200)),
            temperature: Some(2.0),
            max_tokens: Some(1_000_000),
            top_p: Some(0.0),
            stop: Some(vec!["a".into(), "s".repeat(200), "c".into(), "d".into()]),
            seed: Some(i64::MIN),
            response_format: Some(
                serde_json::json!({"type": "json_schema", "json_schema": {"name": "n", "schema": {}}}),
            ),
            ..Default::default()
        };
        ok(|v| settings(v, "settings", &s));
        let s = ModelSettings {
            temperature: Some(0.0),
            max_tokens: Some(1),
            top_p: Some(1.0),
            ..Default::default()
        };
        ok(|v| settings(v, "settings", &s));
    }

    #[test]
    fn temperature_must_be_a_finite_number_from_zero_to_two() {
        for t in [-0.01, 2.01, f64::NAN, f64::INFINITY, f64::NEG_INFINITY] {
            let s = ModelSettings {
                temperature: Some(t),
                ..Default::default()
            };
            fails(
                |v| settings(v, "settings", &s),
                &[("settings.temperature", "range")],
            );
        }
    }

    #[test]
    fn top_p_must_be_a_finite_number_from_zero_to_one() {
        for p in [-0.1, 1.01, f64::NAN] {
            let s = ModelSettings {
                top_p: Some(p),
                ..Default::default()
            };
            fails(
                |v| settings(v, "settings", &s),
                &[("settings.topP", "range")],
            );
        }
    }

    #[test]
    fn max_tokens_must_be_from_one_to_a_million() {
        for n in [0, 1_000_001, u32::MAX] {
            let s = ModelSettings {
                max_tokens: Some(n),
                ..Default::default()
            };
            fails(
                |v| settings(v, "settings", &s),
                &[("settings.maxTokens", "range")],
            );
        }
    }

    #[test]
    fn the_model_name_must_be_one_to_two_hundred_characters() {
        for m in ["", "  ", &"m".repeat(201)] {
            let s = ModelSettings {
                model: Some(m.into()),
                ..Default::default()
            };
            fails(
                |v| settings(v, "settings", &s),
                &[("settings.model", "length")],
            );
        }
    }

    #[test]
    fn stop_allows_four_sequences_of_one_to_two_hundred_characters() {
        let s = ModelSettings {
            stop: Some(strings(&["a", "", "c", "d", &"e".repeat(201)])),
            ..Default::default()
        };
        fails(
            |v| settings(v, "settings", &s),
            &[
                ("settings.stop", "count"),
                ("settings.stop[1]", "length"),
                ("settings.stop[4]", "length"),
            ],
        );
    }

    #[test]
    fn response_format_must_be_an_object_with_a_known_type() {
        for t in ["text", "json_object"] {
            let s = ModelSettings {
                response_format: Some(serde_json::json!({ "type": t })),
                ..Default::default()
            };
            ok(|v| settings(v, "settings", &s));
        }
        for bad in [
            serde_json::json!("json_object"),
            serde_json::json!([]),
            serde_json::Value::Null,
        ] {
            let s = ModelSettings {
                response_format: Some(bad),
                ..Default::default()
            };
            fails(
                |v| settings(v, "settings", &s),
                &[("settings.responseFormat", "type")],
            );
        }
        for bad in [
            serde_json::json!({}),
            serde_json::json!({"type": "xml"}),
            serde_json::json!({"type": 1}),
        ] {
            let s = ModelSettings {
                response_format: Some(bad),
                ..Default::default()
            };
            fails(
                |v| settings(v, "settings", &s),
                &[("settings.responseFormat.type", "oneOf")],
            );
        }
    }

    #[test]
    fn settings_fields_have_no_prefix_when_validated_at_the_top_level() {
        let s = ModelSettings {
            temperature: Some(5.0),
            ..Default::default()
        };
        fails(|v| settings(v, "", &s), &[("temperature", "range")]);
    }
    // note

    #[test]
    fn notes_are_optional_and_at_most_two_thousand_characters() {
        ok(|v| note(v, "note", None));
        ok(|v| note(v, "note", Some("")));
        ok(|v| note(v, "note", Some(&"é".repeat(2000))));
        ok(|v| note(v, "note", Some("line one\r\n\tline two")));
        fails(
            |v| note(v, "note", Some(&"a".repeat(2001))),
            &[("note", "length")],
        );
        fails(
            |v| note(v, "note", Some("nul\0")),
            &[("note", "characters")],
        );
    }
}
