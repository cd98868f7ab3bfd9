//! Validation rules for everything a user can submit.
//!
//! The rules live here, not in the HTTP layer, so the JSON API, the HTML forms
//! and the CLI reject exactly the same input with the same words. Each check
//! pushes into a [`Violations`] instead of returning early: a form should show
//! every problem at once, not one per round trip. The web layer turns a
//! non-empty `Violations` into a 422 whose `details` are the [`FieldError`]s.
//!
//! A [`FieldError`] names the field as the client sent it — camelCase, with
//! dotted paths and indexes for nested values (`settings.topP`,
//! `content[3].content`, `tags[2]`, `variables["user.name"]`) — and the rule
//! it broke, a stable word a client can branch on: `required`, `length`,
//! `characters`, `whitespace`, `format`, `reserved`, `count`, `duplicate`,
//! `size`, `range`, `type` or `oneOf`. The message is for people and may change.
//!
//! Lengths are counted in Unicode scalar values (`char`s) where a person sees
//! the limit, and in UTF-8 bytes where the limit protects storage and
//! providers (bodies and variable values).
//!
//! These functions do not normalise: where a rule says "after trimming", the
//! caller is expected to store the trimmed value.

use std::collections::{BTreeMap, HashSet};
use std::fmt;

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::domain::{Content, ModelSettings, PromptType};
use crate::slug::is_valid_slug;
use crate::template::is_variable_name;

/// The limits the rules enforce, shared with the UI (`maxlength`) and docs.
pub mod limits {
    pub const TITLE_MAX_CHARS: usize = 200;
    pub const SLUG_MAX_CHARS: usize = 100;
    pub const TAGS_MAX: usize = 20;
    pub const TAG_MAX_CHARS: usize = 40;
    /// Total UTF-8 bytes of a body: the template, or all message contents.
    pub const BODY_MAX_BYTES: usize = 256 * 1024;
    pub const CHAT_MESSAGES_MAX: usize = 200;
    pub const NOTE_MAX_CHARS: usize = 2000;
    pub const MODEL_MAX_CHARS: usize = 200;
    pub const STOP_MAX: usize = 4;
    pub const STOP_MAX_CHARS: usize = 200;
    pub const LABEL_MAX_CHARS: usize = 50;
    pub const VARIABLES_MAX: usize = 1000;
    pub const VARIABLE_VALUE_MAX_BYTES: usize = 256 * 1024;
    pub const TOKEN_NAME_MAX_CHARS: usize = 100;
    pub const PASSWORD_MIN_CHARS: usize = 12;
    pub const PASSWORD_MAX_CHARS: usize = 1024;
    pub const EMAIL_MIN_CHARS: usize = 3;
    pub const EMAIL_MAX_CHARS: usize = 254;
    pub const TEMPERATURE_MAX: f64 = 2.0;
    pub const TOP_P_MAX: f64 = 1.0;
    pub const MAX_TOKENS_MAX: u32 = 1_000_000;
    /// Values of `responseFormat.type` that providers understand.
    pub const RESPONSE_FORMAT_TYPES: [&str; 3] = ["text", "json_object", "json_schema"];
    /// A label name that cannot be set because it means "the current version".
    pub const RESERVED_LABEL: &str = "current";
}

use limits::*;

/// One broken rule on one field.
#[derive(Serialize, Deserialize, ToSchema, Clone, Debug, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct FieldError {
    /// Path of the field as the client sent it, e.g. `settings.temperature`.
    pub field: String,
    /// Stable name of the rule, e.g. `length`.
    pub rule: String,
    /// A sentence for people, e.g. `title must be 1–200 characters`.
    pub message: String,
}

/// Every rule an input broke; empty means valid.
#[derive(Default, Debug, Clone, PartialEq)]
pub struct Violations(pub Vec<FieldError>);

impl Violations {
    pub fn new() -> Self {
        Self::default()
    }

    /// Records that `field` broke `rule`.
    pub fn push(
        &mut self,
        field: impl Into<String>,
        rule: impl Into<String>,
        message: impl Into<String>,
    ) {
        self.0.push(FieldError {
            field: field.into(),
            rule: rule.into(),
            message: message.into(),
        });
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    pub fn len(&self) -> usize {
        self.0.len()
    }

    pub fn iter(&self) -> std::slice::Iter<'_, FieldError> {
        self.0.iter()
    }

    /// `Ok(())` if nothing was violated, so checks can end with `?`.
    pub fn into_result(self) -> Result<(), Violations> {
        if self.is_empty() { Ok(()) } else { Err(self) }
    }
}

impl Extend<FieldError> for Violations {
    fn extend<I: IntoIterator<Item = FieldError>>(&mut self, iter: I) {
        self.0.extend(iter);
    }
}

impl IntoIterator for Violations {
    type Item = FieldError;
    type IntoIter = std::vec::IntoIter<FieldError>;

    fn into_iter(self) -> Self::IntoIter {
        self.0.into_iter()
    }
}

impl<'a> IntoIterator for &'a Violations {
    type Item = &'a FieldError;
    type IntoIter = std::slice::Iter<'a, FieldError>;

    fn into_iter(self) -> Self::IntoIter {
        self.0.iter()
    }
}

impl From<Vec<FieldError>> for Violations {
    fn from(errors: Vec<FieldError>) -> Self {
        Self(errors)
    }
}

impl fmt::Display for Violations {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("invalid input")?;
        for (i, e) in self.0.iter().enumerate() {
            f.write_str(if i == 0 { ": " } else { "; " })?;
            f.write_str(&e.message)?;
        }
        Ok(())
    }
}

impl std::error::Error for Violations {}

/// `parent.name`, or just `name` when there is no parent.
fn child(parent: &str, name: &str) -> String {
    if parent.is_empty() {
        name.to_owned()
    } else {
        format!("{parent}.{name}")
    }
}

fn item(parent: &str, index: usize) -> String {
    format!("{parent}[{index}]")
}

fn chars(s: &str) -> usize {
    s.chars().count()
}

/// Pushes `length` unless `s` has `min..=max` characters.
fn check_chars(v: &mut Violations, field: &str, s: &str, min: usize, max: usize) {
    let n = chars(s);
    if n < min || n > max {
        v.push(
            field,
            "length",
            format!("{field} must be {min}–{max} characters"),
        );
    }
}

/// Pushes `characters` if `s` contains a control character other than those
/// in `allowed`.
fn check_no_control(v: &mut Violations, field: &str, s: &str, allowed: &[char]) {
    if s.chars().any(|c| c.is_control() && !allowed.contains(&c)) {
        let what = if allowed.is_empty() {
            "control characters or line breaks"
        } else {
            "control characters"
        };
        v.push(
            field,
            "characters",
            format!("{field} must not contain {what}"),
        );
    }
}

/// A prompt title: 1–200 characters after trimming, on one line.
pub fn title(v: &mut Violations, field: &str, s: &str) {
    check_chars(v, field, s.trim(), 1, TITLE_MAX_CHARS);
    check_no_control(v, field, s, &[]);
}

/// A slug: see [`is_valid_slug`].
pub fn slug(v: &mut Violations, field: &str, s: &str) {
    if s.is_empty() || chars(s) > SLUG_MAX_CHARS {
        check_chars(v, field, s, 1, SLUG_MAX_CHARS);
    } else if !is_valid_slug(s) {
        v.push(
            field,
            "format",
            format!(
                "{field} may only contain a–z, 0–9 and '-', and must not start or end with '-'"
            ),
        );
    }
}

/// Tags: at most 20, each 1–40 characters on one line, with no surrounding
/// whitespace and no duplicates.
///
/// Tags are kept exactly as given and compared case-sensitively (`AI` and `ai`
/// are two tags); surrounding whitespace is rejected rather than trimmed so
/// that `ai` and `ai ` cannot both exist.
pub fn tags(v: &mut Violations, field: &str, tags: &[String]) {
    if tags.len() > TAGS_MAX {
        v.push(
            field,
            "count",
            format!("{field} must have at most {TAGS_MAX} tags"),
        );
    }
    let mut seen = HashSet::with_capacity(tags.len());
    for (i, tag) in tags.iter().enumerate() {
        let f = item(field, i);
        check_chars(v, &f, tag.trim(), 1, TAG_MAX_CHARS);
        if !tag.trim().is_empty() && tag.trim() != tag {
            v.push(
                &f,
                "whitespace",
                format!("{f} must not start or end with whitespace"),
            );
        }
        check_no_control(v, &f, tag, &[]);
        if !seen.insert(tag.as_str()) {
            v.push(&f, "duplicate", format!("{f} repeats the tag {tag:?}"));
        }
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
            "type",
            format!(
                "{field} must be {shape}, because this is a {} prompt",
                expected.as_str()
            ),
        );
    }
    let total: usize = match body {
        Content::Text(t) => {
            if t.trim().is_empty() {
                v.push(field, "required", format!("{field} must not be empty"));
            }
            t.len()
        }
        Content::Chat(messages) => {
            if messages.is_empty() || messages.len() > CHAT_MESSAGES_MAX {
                v.push(
                    field,
                    "count",
                    format!("{field} must have 1–{CHAT_MESSAGES_MAX} messages"),
                );
            }
            for (i, m) in messages.iter().enumerate() {
                if m.content.len() > BODY_MAX_BYTES {
                    let f = child(&item(field, i), "content");
                    v.push(
                        &f,
                        "size",
                        format!("{f} must be at most {BODY_MAX_BYTES} bytes"),
                    );
                }
            }
            messages.iter().map(|m| m.content.len()).sum()
        }
    };
    if total > BODY_MAX_BYTES {
        v.push(
            field,
            "size",
            format!("{field} must be at most {BODY_MAX_BYTES} bytes in total"),
        );
    }
}

/// Model settings. Every field is optional; the ones that are set must be in
/// the range providers accept, so a bad value fails on save rather than on
/// every run.
pub fn settings(v: &mut Violations, field: &str, s: &ModelSettings) {
    if let Some(model) = &s.model {
        let f = child(field, "model");
        check_chars(v, &f, model.trim(), 1, MODEL_MAX_CHARS);
        check_no_control(v, &f, model, &[]);
    }
    if let Some(t) = s.temperature {
        check_range(v, &child(field, "temperature"), t, TEMPERATURE_MAX);
    }
    if let Some(p) = s.top_p {
        check_range(v, &child(field, "topP"), p, TOP_P_MAX);
    }
    if s.max_tokens
        .is_some_and(|n| !(1..=MAX_TOKENS_MAX).contains(&n))
    {
        let f = child(field, "maxTokens");
        v.push(
            &f,
            "range",
            format!("{f} must be from 1 to {MAX_TOKENS_MAX}"),
        );
    }
    if let Some(stop) = &s.stop {
        let f = child(field, "stop");
        if stop.len() > STOP_MAX {
            v.push(
                &f,
                "count",
                format!("{f} must have at most {STOP_MAX} sequences"),
            );
        }
        for (i, seq) in stop.iter().enumerate() {
            check_chars(v, &item(&f, i), seq, 1, STOP_MAX_CHARS);
        }
    }
    if let Some(format) = &s.response_format {
        response_format(v, &child(field, "responseFormat"), format);
    }
}

fn check_range(v: &mut Violations, field: &str, x: f64, max: f64) {
    // `contains` is false for NaN, and the infinities are outside any range.
    if !(0.0..=max).contains(&x) {
        v.push(
            field,
            "range",
            format!("{field} must be a number from 0 to {max}"),
        );
    }
}

fn response_format(v: &mut Violations, field: &str, format: &serde_json::Value) {
    let Some(object) = format.as_object() else {
        v.push(
            field,
            "type",
            format!("{field} must be an object such as {{\"type\": \"json_object\"}}"),
        );
        return;
    };
    let ty = object.get("type").and_then(|t| t.as_str());
    if !ty.is_some_and(|t| RESPONSE_FORMAT_TYPES.contains(&t)) {
        let f = child(field, "type");
        v.push(
            &f,
            "oneOf",
            format!("{f} must be one of {}", RESPONSE_FORMAT_TYPES.join(", ")),
        );
    }
}

/// A version note: optional, at most 2000 characters; line breaks and tabs
/// are fine.
pub fn note(v: &mut Violations, field: &str, note: Option<&str>) {
    if let Some(n) = note {
        check_chars(v, field, n, 0, NOTE_MAX_CHARS);
        check_no_control(v, field, n, &['\n', '\r', '\t']);
    }
}

/// A label name: `^[a-z0-9][a-z0-9._-]{0,49}$`, and not `current`, which
/// always means the prompt's current version.
pub fn label_name(v: &mut Violations, field: &str, name: &str) {
    if name.is_empty() || chars(name) > LABEL_MAX_CHARS {
        check_chars(v, field, name, 1, LABEL_MAX_CHARS);
        return;
    }
    let bytes = name.as_bytes();
    let first_ok = bytes[0].is_ascii_lowercase() || bytes[0].is_ascii_digit();
    let rest_ok = bytes[1..]
        .iter()
        .all(|&b| b.is_ascii_lowercase() || b.is_ascii_digit() || b"._-".contains(&b));
    if !(first_ok && rest_ok) {
        v.push(
            field,
            "format",
            format!(
                "{field} may only contain a–z, 0–9, '.', '_' and '-', and must start with a letter or digit"
            ),
        );
    } else if name == RESERVED_LABEL {
        v.push(
            field,
            "reserved",
            format!("{field} cannot be {RESERVED_LABEL:?}, which always means the current version"),
        );
    }
}

/// Values for a run's template variables: at most 1000, each named like a
/// template variable, each value at most 256 KiB.
pub fn variables(v: &mut Violations, field: &str, vars: &BTreeMap<String, String>) {
    if vars.len() > VARIABLES_MAX {
        v.push(
            field,
            "count",
            format!("{field} must have at most {VARIABLES_MAX} entries"),
        );
    }
    for (name, value) in vars {
        // Names may contain dots, so the path quotes them: variables["a.b"].
        let quoted = serde_json::to_string(name).unwrap_or_default();
        let f = format!("{field}[{quoted}]");
        if !is_variable_name(name) {
            v.push(
                &f,
                "format",
                format!(
                    "{f} is not a variable name: use letters, digits, '_' and '.', starting with a letter or '_'"
                ),
            );
        }
        if value.len() > VARIABLE_VALUE_MAX_BYTES {
            v.push(
                &f,
                "size",
                format!("{f} must be at most {VARIABLE_VALUE_MAX_BYTES} bytes"),
            );
        }
    }
}

/// A new password: 12–1024 characters. Nothing else is required: length is
/// what makes a password strong, and composition rules mostly annoy.
/// The message never repeats the password.
pub fn password(v: &mut Violations, field: &str, password: &str) {
    check_chars(v, field, password, PASSWORD_MIN_CHARS, PASSWORD_MAX_CHARS);
}

/// An API token's name: 1–100 characters after trimming, on one line.
pub fn token_name(v: &mut Violations, field: &str, name: &str) {
    check_chars(v, field, name.trim(), 1, TOKEN_NAME_MAX_CHARS);
    check_no_control(v, field, name, &[]);
}

/// An email address, checked pragmatically: 3–254 characters, exactly one
/// `@` with something on both sides, and no whitespace or control characters
/// anywhere. Whether it really receives mail is not ours to decide here.
pub fn email(v: &mut Violations, field: &str, email: &str) {
    let n = chars(email);
    if !(EMAIL_MIN_CHARS..=EMAIL_MAX_CHARS).contains(&n) {
        check_chars(v, field, email, EMAIL_MIN_CHARS, EMAIL_MAX_CHARS);
        return;
    }
    let well_formed = match email.split_once('@') {
        Some((local, domain)) => {
            !local.is_empty()
                && !domain.is_empty()
                && !domain.contains('@')
                && !email.chars().any(|c| c.is_whitespace() || c.is_control())
        }
        None => false,
    };
    if !well_formed {
        v.push(
            field,
            "format",
            format!("{field} must be an email address like name@example.com"),
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::{ChatMessage, Role};

    /// The (field, rule) pairs a check reports.
    fn run(check: impl FnOnce(&mut Violations)) -> Vec<(String, String)> {
        let mut v = Violations::new();
        check(&mut v);
        v.0.into_iter().map(|e| (e.field, e.rule)).collect()
    }

    fn pairs(expected: &[(&str, &str)]) -> Vec<(String, String)> {
        expected
            .iter()
            .map(|(f, r)| (f.to_string(), r.to_string()))
            .collect()
    }

    fn ok(check: impl FnOnce(&mut Violations)) {
        assert_eq!(run(check), pairs(&[]));
    }

    fn fails(check: impl FnOnce(&mut Violations), expected: &[(&str, &str)]) {
        assert_eq!(run(check), pairs(expected));
    }

    fn msg(role: Role, content: &str) -> ChatMessage {
        ChatMessage {
            role,
            content: content.into(),
        }
    }

    fn strings(items: &[&str]) -> Vec<String> {
        items.iter().map(|s| s.to_string()).collect()
    }

    // Violations

    #[test]
    fn empty_violations_are_ok_and_any_violation_is_an_error() {
        assert_eq!(Violations::new().into_result(), Ok(()));
        let mut v = Violations::new();
        v.push("title", "length", "title must be 1–200 characters");
        assert!(!v.is_empty());
        let err = v.clone().into_result().unwrap_err();
        assert_eq!(err, v);
        assert_eq!(err.len(), 1);
    }

    #[test]
    fn violations_extend_with_another_set_in_order() {
        let mut a = Violations::new();
        a.push("a", "r", "first");
        let mut b = Violations::new();
        b.push("b", "r", "second");
        a.extend(b);
        let fields: Vec<_> = a.iter().map(|e| e.field.as_str()).collect();
        assert_eq!(fields, ["a", "b"]);
    }

    #[test]
    fn violations_display_every_message() {
        let mut v = Violations::new();
        v.push("title", "length", "title must be 1–200 characters");
        v.push("slug", "format", "slug is bad");
        assert_eq!(
            v.to_string(),
            "invalid input: title must be 1–200 characters; slug is bad"
        );
        let as_error: &dyn std::error::Error = &v;
        assert!(as_error.to_string().starts_with("invalid input"));
    }

    #[test]
    fn field_errors_serialize_as_field_rule_and_message() {
        let e = FieldError {
            field: "settings.topP".into(),
            rule: "range".into(),
            message: "m".into(),
        };
        assert_eq!(
            serde_json::to_value(&e).unwrap(),
            serde_json::json!({"field": "settings.topP", "rule": "range", "message": "m"})
        );
    }

    // title

    #[test]
    fn titles_of_one_to_two_hundred_characters_are_valid() {
        ok(|v| title(v, "title", "a"));
        ok(|v| title(v, "title", &"é".repeat(200)));
        ok(|v| title(v, "title", &format!("  {}  ", "a".repeat(200))));
    }

    #[test]
    fn empty_blank_and_overlong_titles_are_rejected() {
        for t in ["", "   ", &"a".repeat(201)] {
            fails(|v| title(v, "title", t), &[("title", "length")]);
        }
    }

    #[test]
    fn the_title_message_names_the_limit() {
        let mut v = Violations::new();
        title(&mut v, "title", "");
        assert_eq!(v.0[0].message, "title must be 1–200 characters");
    }

    #[test]
    fn titles_with_control_characters_are_rejected() {
        for t in ["a\nb", "tab\there", "bell\u{7}", "del\u{7f}"] {
            fails(|v| title(v, "title", t), &[("title", "characters")]);
        }
    }

    // slug

    #[test]
    fn slugs_follow_the_slug_rule() {
        ok(|v| slug(v, "slug", "hello-world"));
        ok(|v| slug(v, "slug", &"a".repeat(100)));
        fails(|v| slug(v, "slug", ""), &[("slug", "length")]);
        fails(|v| slug(v, "slug", &"a".repeat(101)), &[("slug", "length")]);
        for s in ["-a", "a-", "Hello", "a b", "café"] {
            fails(|v| slug(v, "slug", s), &[("slug", "format")]);
        }
    }

    // tags

    #[test]
    fn up_to_twenty_distinct_tags_are_valid() {
        ok(|v| tags(v, "tags", &[]));
        let twenty: Vec<String> = (0..20).map(|i| format!("tag{i}")).collect();
        ok(|v| tags(v, "tags", &twenty));
        ok(|v| tags(v, "tags", &strings(&["AI", "ai", "two words"])));
    }

    #[test]
    fn more_than_twenty_tags_are_rejected() {
        let many: Vec<String> = (0..21).map(|i| format!("tag{i}")).collect();
        fails(|v| tags(v, "tags", &many), &[("tags", "count")]);
    }

    #[test]
    fn each_tag_must_be_one_to_forty_characters() {
        ok(|v| tags(v, "tags", &["é".repeat(40)]));
        fails(
            |v| tags(v, "tags", &strings(&["ok", "", &"a".repeat(41), "  "])),
            &[
                ("tags[1]", "length"),
                ("tags[2]", "length"),
                ("tags[3]", "length"),
            ],
        );
    }

    #[test]
    fn duplicate_tags_are_rejected_at_the_repeat() {
        fails(
            |v| tags(v, "tags", &strings(&["a", "b", "a", "a"])),
            &[("tags[2]", "duplicate"), ("tags[3]", "duplicate")],
        );
    }

    #[test]
    fn tags_with_surrounding_whitespace_or_control_characters_are_rejected() {
        fails(
            |v| tags(v, "tags", &strings(&[" a", "b ", "c\nd"])),
            &[
                ("tags[0]", "whitespace"),
                ("tags[1]", "whitespace"),
                ("tags[2]", "characters"),
            ],
        );
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
            response_format: Some(serde_json::json!({"type": "json_schema", "json_schema": {}})),
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
        for t in ["text", "json_object", "json_schema"] {
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

    // label_name

    #[test]
    fn label_names_are_lowercase_words_up_to_fifty_characters() {
        for name in [
            "production",
            "v1.2",
            "a",
            "0",
            "staging_eu-west",
            &"a".repeat(50),
        ] {
            ok(|v| label_name(v, "label", name));
        }
        fails(|v| label_name(v, "label", ""), &[("label", "length")]);
        fails(
            |v| label_name(v, "label", &"a".repeat(51)),
            &[("label", "length")],
        );
        for name in ["Production", "-a", ".a", "_a", "a b", "prod!", "é"] {
            fails(|v| label_name(v, "label", name), &[("label", "format")]);
        }
    }

    #[test]
    fn the_label_current_is_reserved() {
        fails(
            |v| label_name(v, "label", "current"),
            &[("label", "reserved")],
        );
        ok(|v| label_name(v, "label", "current2"));
    }

    // variables

    #[test]
    fn variables_need_template_names_and_bounded_values() {
        let mut vars = BTreeMap::new();
        vars.insert("user.name".to_string(), "Ada".to_string());
        vars.insert("_x".to_string(), "a".repeat(VARIABLE_VALUE_MAX_BYTES));
        ok(|v| variables(v, "variables", &vars));
        vars.insert("not valid".to_string(), String::new());
        vars.insert("big".to_string(), "a".repeat(VARIABLE_VALUE_MAX_BYTES + 1));
        fails(
            |v| variables(v, "variables", &vars),
            &[
                ("variables[\"big\"]", "size"),
                ("variables[\"not valid\"]", "format"),
            ],
        );
    }

    #[test]
    fn at_most_a_thousand_variables_are_accepted() {
        let vars = |n: usize| -> BTreeMap<String, String> {
            (0..n).map(|i| (format!("v{i}"), String::new())).collect()
        };
        ok(|v| variables(v, "variables", &vars(1000)));
        fails(
            |v| variables(v, "variables", &vars(1001)),
            &[("variables", "count")],
        );
    }

    // password

    #[test]
    fn passwords_must_be_twelve_to_1024_characters() {
        ok(|v| password(v, "password", "correcthorse"));
        ok(|v| password(v, "password", &"é".repeat(12)));
        ok(|v| password(v, "password", &"a".repeat(1024)));
        for p in ["", "elevenchars", &"a".repeat(1025)] {
            fails(|v| password(v, "password", p), &[("password", "length")]);
        }
    }

    #[test]
    fn the_password_message_does_not_repeat_the_password() {
        let mut v = Violations::new();
        password(&mut v, "password", "hunter2");
        assert!(!v.0[0].message.contains("hunter2"));
    }

    // token_name

    #[test]
    fn token_names_must_be_one_to_a_hundred_characters() {
        ok(|v| token_name(v, "name", "CI deploy"));
        ok(|v| token_name(v, "name", &"a".repeat(100)));
        for n in ["", "   ", &"a".repeat(101)] {
            fails(|v| token_name(v, "name", n), &[("name", "length")]);
        }
        fails(|v| token_name(v, "name", "a\nb"), &[("name", "characters")]);
    }

    // email

    #[test]
    fn ordinary_email_addresses_are_valid() {
        for e in ["a@b", "ada@example.com", "first.last+tag@sub.example.co.uk"] {
            ok(|v| email(v, "email", e));
        }
        let longest = format!("{}@example.com", "a".repeat(254 - "@example.com".len()));
        ok(|v| email(v, "email", &longest));
    }

    #[test]
    fn email_addresses_must_be_three_to_254_characters() {
        fails(|v| email(v, "email", "a@"), &[("email", "length")]);
        let too_long = format!("{}@example.com", "a".repeat(255 - "@example.com".len()));
        fails(|v| email(v, "email", &too_long), &[("email", "length")]);
    }

    #[test]
    fn malformed_email_addresses_are_rejected() {
        for e in [
            "no-at-sign",
            "@example.com",
            "ada@",
            "a@b@c",
            "ada@exa mple.com",
            "ada @example.com",
            "ada@example.com\n",
        ] {
            fails(|v| email(v, "email", e), &[("email", "format")]);
        }
    }

    // all together

    #[test]
    fn every_violation_of_a_request_is_reported_at_once() {
        let mut v = Violations::new();
        title(&mut v, "title", "");
        slug(&mut v, "slug", "Bad Slug");
        tags(&mut v, "tags", &strings(&["x", "x"]));
        content(
            &mut v,
            "content",
            &Content::Text(String::new()),
            PromptType::Text,
        );
        settings(
            &mut v,
            "settings",
            &ModelSettings {
                temperature: Some(f64::NAN),
                top_p: Some(2.0),
                ..Default::default()
            },
        );
        let fields: Vec<_> = v
            .iter()
            .map(|e| (e.field.as_str(), e.rule.as_str()))
            .collect();
        assert_eq!(
            fields,
            [
                ("title", "length"),
                ("slug", "format"),
                ("tags[1]", "duplicate"),
                ("content", "required"),
                ("settings.temperature", "range"),
                ("settings.topP", "range"),
            ]
        );
        assert_eq!(v.into_result().unwrap_err().len(), 6);
    }
}
