//! Line diffs between two versions, shaped for a UI rather than for `patch`.
//!
//! Every line of both sides appears exactly once, tagged equal, inserted or
//! deleted and carrying its 1-based line number on each side it belongs to.
//! That one list can be drawn inline (in order) or side by side (old numbers on
//! the left, new on the right) without the client re-running a diff.
//!
//! Lines are compared without their line endings, so a body saved with `\r\n`
//! and the same body saved with `\n`, or a missing final newline, do not show
//! as changes: they are invisible in an editor and would only be noise.
//!
//! A chat body is diffed as text (one `### role` block per message) so that
//! moving, adding or editing messages reads the same way as editing text.
//! Settings are diffed as pretty JSON for the same reason, and also value by
//! value ([`json_diff`]), so a change deep in a tool's parameter schema is
//! named by its path, and reordering tools or keys is no change.

use std::time::Duration;

use serde::{Deserialize, Serialize};
use similar::{Algorithm, ChangeTag, TextDiff};

use serde_json::Value;

use crate::domain::{ChatMessage, Content, ContentPart, ModelSettings};

/// Past this, the diff algorithm settles for a correct but possibly
/// non-minimal diff, so a huge, wholly rewritten body cannot tie up a worker.
const DIFF_TIMEOUT: Duration = Duration::from_millis(500);

/// What happened to one line.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "lowercase")]
pub enum DiffKind {
    /// In both versions.
    Equal,
    /// Only in the new version.
    Insert,
    /// Only in the old version.
    Delete,
}

/// One line of a diff.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct DiffLine {
    pub kind: DiffKind,
    /// 1-based line number in the old text; `None` for inserted lines.
    pub old_line: Option<u32>,
    /// 1-based line number in the new text; `None` for deleted lines.
    pub new_line: Option<u32>,
    /// The line, without its line ending.
    pub text: String,
}

/// The difference between two versions of a prompt.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct VersionDiff {
    /// The bodies, as rendered by [`content_as_text`].
    pub content: Vec<DiffLine>,
    /// The settings, as rendered by [`settings_as_text`].
    pub settings: Vec<DiffLine>,
    /// The settings compared as JSON, value by value ([`json_diff`]): a
    /// changed tool parameter is one change at its path, whatever the
    /// indentation or key order.
    #[serde(default)]
    pub setting_changes: Vec<JsonChange>,
    /// Whether any line of either diff is not [`DiffKind::Equal`].
    pub changed: bool,
}

/// What happened to one value of a JSON document.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "lowercase")]
pub enum ChangeKind {
    Added,
    Removed,
    Changed,
}

/// One difference between two JSON documents.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct JsonChange {
    /// Where: object keys joined by `.`, array items as `[index]`, and
    /// tools (array items with a `function.name` or `name`) as `[name]`,
    /// so reordering tools is no change: `tools[get_weather].function.parameters.properties.city`.
    pub path: String,
    pub kind: ChangeKind,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "openapi", schema(value_type = Option<Object>))]
    pub old: Option<Value>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "openapi", schema(value_type = Option<Object>))]
    pub new: Option<Value>,
}

/// The value-by-value difference from `old` to `new`, in path order of
/// `old`'s keys, then the added ones. Scalars, and values of different
/// types, are one `changed` each.
pub fn json_diff(old: &Value, new: &Value) -> Vec<JsonChange> {
    let mut out = Vec::new();
    walk("", old, new, &mut out);
    out
}

fn join(path: &str, key: &str) -> String {
    if path.is_empty() {
        key.to_owned()
    } else {
        format!("{path}.{key}")
    }
}

fn walk(path: &str, old: &Value, new: &Value, out: &mut Vec<JsonChange>) {
    match (old, new) {
        (Value::Object(a), Value::Object(b)) => {
            for (k, va) in a {
                let p = join(path, k);
                match b.get(k) {
                    Some(vb) => walk(&p, va, vb, out),
                    None => out.push(removed(p, va)),
                }
            }
            for (k, vb) in b {
                if !a.contains_key(k) {
                    out.push(added(join(path, k), vb));
                }
            }
        }
        (Value::Array(a), Value::Array(b)) => match (named(a), named(b)) {
            (Some(na), Some(nb)) => {
                for (name, va) in &na {
                    let p = format!("{path}[{name}]");
                    match nb.iter().find(|(n, _)| n == name) {
                        Some((_, vb)) => walk(&p, va, vb, out),
                        None => out.push(removed(p, va)),
                    }
                }
                for (name, vb) in &nb {
                    if !na.iter().any(|(n, _)| n == name) {
                        out.push(added(format!("{path}[{name}]"), vb));
                    }
                }
            }
            _ => {
                for i in 0..a.len().max(b.len()) {
                    let p = format!("{path}[{i}]");
                    match (a.get(i), b.get(i)) {
                        (Some(va), Some(vb)) => walk(&p, va, vb, out),
                        (Some(va), None) => out.push(removed(p, va)),
                        (None, Some(vb)) => out.push(added(p, vb)),
                        (None, None) => {}
                    }
                }
            }
        },
        _ if old == new => {}
        _ => out.push(JsonChange {
            path: path.to_owned(),
            kind: ChangeKind::Changed,
            old: Some(old.clone()),
            new: Some(new.clone()),
        }),
    }
}

fn added(path: String, v: &Value) -> JsonChange {
    JsonChange {
        path,
        kind: ChangeKind::Added,
        old: None,
        new: Some(v.clone()),
    }
}

fn removed(path: String, v: &Value) -> JsonChange {
    JsonChange {
        path,
        kind: ChangeKind::Removed,
        old: Some(v.clone()),
        new: None,
    }
}

/// The items by name when every item is an object with a unique
/// `function.name` (tools) or `name`; else `None` (compared by index).
fn named(items: &[Value]) -> Option<Vec<(String, &Value)>> {
    if items.is_empty() {
        return None;
    }
    let mut out: Vec<(String, &Value)> = Vec::with_capacity(items.len());
    for v in items {
        let name = v
            .pointer("/function/name")
            .or_else(|| v.get("name"))
            .and_then(Value::as_str)?;
        if out.iter().any(|(n, _)| n == name) {
            return None;
        }
        out.push((name.to_owned(), v));
    }
    Some(out)
}

/// The line diff from `old` to `new`.
///
/// Lines are listed in reading order; within a changed block the deleted lines
/// come before the inserted ones.
pub fn line_diff(old: &str, new: &str) -> Vec<DiffLine> {
    let old_lines: Vec<&str> = old.lines().collect();
    let new_lines: Vec<&str> = new.lines().collect();
    let diff = TextDiff::configure()
        .algorithm(Algorithm::Patience)
        .timeout(DIFF_TIMEOUT)
        .diff_slices(&old_lines, &new_lines);
    diff.iter_all_changes()
        .map(|change| DiffLine {
            kind: match change.tag() {
                ChangeTag::Equal => DiffKind::Equal,
                ChangeTag::Insert => DiffKind::Insert,
                ChangeTag::Delete => DiffKind::Delete,
            },
            old_line: change.old_index().map(line_number),
            new_line: change.new_index().map(line_number),
            text: change.value().to_owned(),
        })
        .collect()
}

/// A 1-based line number; saturates rather than wraps on absurdly long input.
fn line_number(index: usize) -> u32 {
    u32::try_from(index).map_or(u32::MAX, |i| i.saturating_add(1))
}

/// A body as the text that is diffed: a text prompt as is; a chat prompt as a
/// `### role` header line followed by the content for each message, with a
/// blank line between messages.
pub fn content_as_text(content: &Content) -> String {
    match content {
        Content::Text(t) => t.clone(),
        Content::Chat(messages) => messages
            .iter()
            .map(|m| format!("### {}\n{}", m.role.as_str(), message_as_text(m)))
            .collect::<Vec<_>>()
            .join("\n\n"),
    }
}

/// A message's content as text: the string, or each part on its own line
/// (`[image] URL` for images); then `→ name(arguments)` per tool call and
/// `(answers call ID)` on a tool message. A plain message is its content.
pub fn message_as_text(m: &ChatMessage) -> String {
    let mut lines: Vec<String> = match &m.parts {
        None => vec![m.content.clone()],
        Some(parts) => parts
            .iter()
            .map(|p| match p {
                ContentPart::Text { text } => text.clone(),
                ContentPart::ImageUrl { image_url } => format!("[image] {}", image_url.url),
            })
            .collect(),
    };
    if let Some(id) = &m.tool_call_id {
        lines.insert(0, format!("(answers call {id})"));
    }
    for call in m.tool_calls.iter().flatten() {
        let name = call
            .pointer("/function/name")
            .and_then(Value::as_str)
            .unwrap_or("?");
        let args = call
            .pointer("/function/arguments")
            .and_then(Value::as_str)
            .unwrap_or("");
        let id = call.get("id").and_then(Value::as_str).unwrap_or("");
        lines.push(format!("→ {name}({args}) [{id}]"));
    }
    if m.content.is_empty() && m.parts.is_none() && lines.len() > 1 {
        lines.retain(|l| !l.is_empty());
    }
    lines.join("\n")
}

/// Settings as pretty JSON, with the same camelCase field names the API uses;
/// unset fields are left out.
pub fn settings_as_text(s: &ModelSettings) -> String {
    // Serializing these plain fields cannot fail (serde_json writes non-finite
    // floats as `null`), so the fallback is never used in practice.
    serde_json::to_string_pretty(s).unwrap_or_default()
}

/// The diff between two versions' bodies and settings.
pub fn diff_versions(
    old_content: &Content,
    old_settings: &ModelSettings,
    new_content: &Content,
    new_settings: &ModelSettings,
) -> VersionDiff {
    let content = line_diff(&content_as_text(old_content), &content_as_text(new_content));
    let settings = line_diff(
        &settings_as_text(old_settings),
        &settings_as_text(new_settings),
    );
    let as_json = |s: &ModelSettings| serde_json::to_value(s).unwrap_or(Value::Null);
    let setting_changes = json_diff(&as_json(old_settings), &as_json(new_settings));
    let changed = content
        .iter()
        .chain(&settings)
        .any(|l| l.kind != DiffKind::Equal)
        || !setting_changes.is_empty();
    VersionDiff {
        content,
        settings,
        setting_changes,
        changed,
    }
}

/// Words and the whitespace between them, each run tagged as in both texts,
/// only in the new one or only in the old one, in reading order: two model
/// outputs drawn as one text with insertions and deletions marked. Adjacent
/// pieces of one kind are merged.
pub fn word_diff(old: &str, new: &str) -> Vec<(DiffKind, String)> {
    let diff = TextDiff::configure()
        .algorithm(Algorithm::Patience)
        .timeout(DIFF_TIMEOUT)
        .diff_words(old, new);
    let mut out: Vec<(DiffKind, String)> = Vec::new();
    for change in diff.iter_all_changes() {
        let kind = match change.tag() {
            ChangeTag::Equal => DiffKind::Equal,
            ChangeTag::Insert => DiffKind::Insert,
            ChangeTag::Delete => DiffKind::Delete,
        };
        match out.last_mut() {
            Some((k, text)) if *k == kind => text.push_str(change.value()),
            _ => out.push((kind, change.value().to_string())),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    #[test]
    fn a_word_diff_marks_only_the_changed_words() {
        let d = word_diff("the cat sat down", "the dog sat down");
        let changed: Vec<_> = d.iter().filter(|(k, _)| *k != DiffKind::Equal).collect();
        assert_eq!(
            changed,
            [
                &(DiffKind::Delete, "cat".to_string()),
                &(DiffKind::Insert, "dog".to_string())
            ]
        );
        let old: String = d
            .iter()
            .filter(|(k, _)| *k != DiffKind::Insert)
            .map(|(_, t)| t.as_str())
            .collect();
        let new: String = d
            .iter()
            .filter(|(k, _)| *k != DiffKind::Delete)
            .map(|(_, t)| t.as_str())
            .collect();
        assert_eq!(
            (old.as_str(), new.as_str()),
            ("the cat sat down", "the dog sat down")
        );
        assert!(word_diff("", "").is_empty());
    }
    use super::*;
    use crate::domain::{ChatMessage, Role};

    fn line(kind: DiffKind, old: Option<u32>, new: Option<u32>, text: &str) -> DiffLine {
        DiffLine {
            kind,
            old_line: old,
            new_line: new,
            text: text.into(),
        }
    }

    #[test]
    fn identical_texts_give_only_equal_lines() {
        assert_eq!(
            line_diff("a\nb\n", "a\nb\n"),
            [
                line(DiffKind::Equal, Some(1), Some(1), "a"),
                line(DiffKind::Equal, Some(2), Some(2), "b"),
            ]
        );
    }

    #[test]
    fn a_changed_line_is_a_delete_followed_by_an_insert_with_line_numbers() {
        assert_eq!(
            line_diff("one\ntwo\nthree", "one\nTWO\nthree\nfour"),
            [
                line(DiffKind::Equal, Some(1), Some(1), "one"),
                line(DiffKind::Delete, Some(2), None, "two"),
                line(DiffKind::Insert, None, Some(2), "TWO"),
                line(DiffKind::Equal, Some(3), Some(3), "three"),
                line(DiffKind::Insert, None, Some(4), "four"),
            ]
        );
    }

    #[test]
    fn empty_texts_give_an_empty_diff_and_empty_to_text_inserts_every_line() {
        assert!(line_diff("", "").is_empty());
        assert_eq!(
            line_diff("", "a\n\nb"),
            [
                line(DiffKind::Insert, None, Some(1), "a"),
                line(DiffKind::Insert, None, Some(2), ""),
                line(DiffKind::Insert, None, Some(3), "b"),
            ]
        );
        assert_eq!(
            line_diff("x", ""),
            [line(DiffKind::Delete, Some(1), None, "x")]
        );
    }

    #[test]
    fn line_endings_and_a_missing_final_newline_are_not_changes() {
        let diff = line_diff("a\r\nb\r\n", "a\nb");
        assert!(diff.iter().all(|l| l.kind == DiffKind::Equal), "{diff:?}");
        assert_eq!(diff[0].text, "a");
    }

    #[test]
    fn diff_lines_serialize_in_camel_case_with_lowercase_kinds() {
        let json = serde_json::to_value(line(DiffKind::Insert, None, Some(3), "x")).unwrap();
        assert_eq!(
            json,
            serde_json::json!({"kind": "insert", "oldLine": null, "newLine": 3, "text": "x"})
        );
        let back: DiffLine = serde_json::from_value(json).unwrap();
        assert_eq!(back.kind, DiffKind::Insert);
    }

    #[test]
    fn chat_content_is_shown_as_one_block_per_message() {
        let content = Content::Chat(vec![
            ChatMessage {
                role: Role::System,
                content: "Be brief.".into(),
                ..Default::default()
            },
            ChatMessage {
                role: Role::User,
                content: "Hi\nthere".into(),
                ..Default::default()
            },
        ]);
        assert_eq!(
            content_as_text(&content),
            "### system\nBe brief.\n\n### user\nHi\nthere"
        );
        assert_eq!(content_as_text(&Content::Chat(vec![])), "");
        assert_eq!(content_as_text(&Content::Text("as is\n".into())), "as is\n");
    }

    #[test]
    fn settings_are_shown_as_pretty_camel_case_json_without_unset_fields() {
        let s = ModelSettings {
            model: Some("gpt-4o-mini".into()),
            max_tokens: Some(50),
            ..Default::default()
        };
        assert_eq!(
            settings_as_text(&s),
            "{\n  \"model\": \"gpt-4o-mini\",\n  \"maxTokens\": 50\n}"
        );
        assert_eq!(settings_as_text(&ModelSettings::default()), "{}");
    }

    #[test]
    fn json_diffs_name_the_path_and_match_tools_by_name() {
        let old = serde_json::json!({"tools": [
            {"type": "function", "function": {"name": "a", "parameters": {"properties": {"x": {"type": "string"}}}}},
            {"type": "function", "function": {"name": "b"}}
        ], "seed": 1, "stop": ["x"]});
        let new = serde_json::json!({"tools": [
            {"type": "function", "function": {"name": "c"}},
            {"type": "function", "function": {"name": "a", "parameters": {"properties": {"x": {"type": "integer"}}}}}
        ], "stop": ["x", "y"], "topP": 0.5});
        let got: Vec<(String, ChangeKind)> = json_diff(&old, &new)
            .into_iter()
            .map(|c| (c.path, c.kind))
            .collect();
        assert_eq!(
            got,
            [
                ("seed".to_string(), ChangeKind::Removed),
                ("stop[1]".into(), ChangeKind::Added),
                (
                    "tools[a].function.parameters.properties.x.type".into(),
                    ChangeKind::Changed
                ),
                ("tools[b]".into(), ChangeKind::Removed),
                ("tools[c]".into(), ChangeKind::Added),
                ("topP".into(), ChangeKind::Added),
            ]
        );
        assert!(json_diff(&old, &old).is_empty());
    }

    #[test]
    fn versions_with_the_same_body_and_settings_are_unchanged() {
        let c = Content::Text("Hello {{name}}".into());
        let s = ModelSettings {
            temperature: Some(0.5),
            ..Default::default()
        };
        let d = diff_versions(&c, &s, &c, &s);
        assert!(!d.changed);
        assert_eq!(d.content.len(), 1);
        assert_eq!(d.settings.len(), 3);
    }

    #[test]
    fn a_settings_change_alone_marks_the_versions_changed() {
        let c = Content::Text("Hello".into());
        let old = ModelSettings {
            temperature: Some(0.5),
            ..Default::default()
        };
        let new = ModelSettings {
            temperature: Some(1.0),
            ..Default::default()
        };
        let d = diff_versions(&c, &old, &c, &new);
        assert!(d.changed);
        assert!(d.content.iter().all(|l| l.kind == DiffKind::Equal));
        let changed: Vec<_> = d
            .settings
            .iter()
            .filter(|l| l.kind != DiffKind::Equal)
            .map(|l| (l.kind, l.text.as_str()))
            .collect();
        assert_eq!(
            changed,
            [
                (DiffKind::Delete, "  \"temperature\": 0.5"),
                (DiffKind::Insert, "  \"temperature\": 1.0"),
            ]
        );
    }

    #[test]
    fn switching_from_text_to_chat_diffs_the_rendered_text() {
        let old = Content::Text("Hello".into());
        let new = Content::Chat(vec![ChatMessage {
            role: Role::User,
            content: "Hello".into(),
            ..Default::default()
        }]);
        let s = ModelSettings::default();
        let d = diff_versions(&old, &s, &new, &s);
        assert!(d.changed);
        assert_eq!(
            d.content,
            [
                line(DiffKind::Insert, None, Some(1), "### user"),
                line(DiffKind::Equal, Some(1), Some(2), "Hello"),
            ]
        );
    }

    #[test]
    fn version_diffs_serialize_in_camel_case() {
        let c = Content::Text("a".into());
        let s = ModelSettings::default();
        let json = serde_json::to_value(diff_versions(&c, &s, &c, &s)).unwrap();
        assert_eq!(json["changed"], false);
        assert_eq!(json["content"][0]["oldLine"], 1);
        assert_eq!(json["settings"][0]["text"], "{}");
    }

    mod properties {
        use super::*;
        use proptest::prelude::*;

        /// Texts from a small alphabet of lines, so that diffs have plenty of
        /// equal lines as well as changes.
        fn text() -> impl Strategy<Value = String> {
            let line = prop_oneof!["[abc]", Just(String::new()), "\\PC{0,5}"];
            (
                prop::collection::vec(line, 0..30),
                prop_oneof![Just("\n"), Just("\r\n")],
                any::<bool>(),
            )
                .prop_map(|(lines, ending, trailing)| {
                    let mut t = lines.join(ending);
                    if trailing && !t.is_empty() {
                        t.push_str(ending);
                    }
                    t
                })
        }

        fn side(diff: &[DiffLine], other: DiffKind) -> Vec<&str> {
            diff.iter()
                .filter(|l| l.kind == DiffKind::Equal || l.kind == other)
                .map(|l| l.text.as_str())
                .collect()
        }

        proptest! {
            #[test]
            fn equal_and_inserted_lines_rebuild_the_new_text(old in text(), new in text()) {
                let diff = line_diff(&old, &new);
                prop_assert_eq!(side(&diff, DiffKind::Insert), new.lines().collect::<Vec<_>>());
            }

            #[test]
            fn equal_and_deleted_lines_rebuild_the_old_text(old in text(), new in text()) {
                let diff = line_diff(&old, &new);
                prop_assert_eq!(side(&diff, DiffKind::Delete), old.lines().collect::<Vec<_>>());
            }

            #[test]
            fn line_numbers_count_up_from_one_on_each_side(old in text(), new in text()) {
                let diff = line_diff(&old, &new);
                let olds: Vec<u32> = diff.iter().filter_map(|l| l.old_line).collect();
                let news: Vec<u32> = diff.iter().filter_map(|l| l.new_line).collect();
                prop_assert_eq!(olds, (1..=old.lines().count() as u32).collect::<Vec<_>>());
                prop_assert_eq!(news, (1..=new.lines().count() as u32).collect::<Vec<_>>());
                for l in &diff {
                    let expected = match l.kind {
                        DiffKind::Equal => (true, true),
                        DiffKind::Insert => (false, true),
                        DiffKind::Delete => (true, false),
                    };
                    prop_assert_eq!((l.old_line.is_some(), l.new_line.is_some()), expected);
                }
            }

            #[test]
            fn diffing_any_strings_never_panics(old in any::<String>(), new in any::<String>()) {
                let diff = line_diff(&old, &new);
                prop_assert_eq!(side(&diff, DiffKind::Insert), new.lines().collect::<Vec<_>>());
                prop_assert_eq!(side(&diff, DiffKind::Delete), old.lines().collect::<Vec<_>>());
            }
        }
    }
}
