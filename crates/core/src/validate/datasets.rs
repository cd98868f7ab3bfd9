//! A dataset's own fields ([`DatasetName`], its description) and the content
//! of an item (variables, expected answer, metadata).

use serde_json::Value;

use super::limits::{
    DATASET_DESCRIPTION_MAX_CHARS, DATASET_NAME_MAX_CHARS, ITEM_EXPECTED_MAX_BYTES,
    ITEM_METADATA_MAX_BYTES,
};
use super::prompts::SEARCH_MAX_CHARS;
use super::rules::{child, length, no_control, one_line};
use super::{FieldError, Rule, Violations, variables};
use crate::datasets::ItemContent;

/// A dataset name: 1–200 characters on one line, after trimming; unique.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DatasetName(String);

impl DatasetName {
    pub fn parse(field: &str, s: &str) -> Result<DatasetName, Violations> {
        let s = s.trim();
        one_line(field, s, 1, DATASET_NAME_MAX_CHARS).or(DatasetName(s.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    pub fn into_string(self) -> String {
        self.0
    }
}

/// An optional description: at most 2000 characters, line breaks allowed.
/// Trimmed; a blank one is no description.
pub fn dataset_description(field: &str, s: Option<&str>) -> Result<Option<String>, Violations> {
    let Some(s) = s.map(str::trim).filter(|s| !s.is_empty()) else {
        return Ok(None);
    };
    let mut v = Violations::new();
    v.extend(length(field, s, 0, DATASET_DESCRIPTION_MAX_CHARS));
    v.extend(no_control(field, s, &['\n', '\r', '\t']));
    v.or(Some(s.to_owned()))
}

/// The datasets list's `q` filter (the same rule as the prompts list's).
pub fn dataset_filter(q: Option<&str>) -> Result<(), FieldError> {
    match q {
        Some(s) if s.chars().any(char::is_control) => Err(FieldError::new(
            "q",
            Rule::Characters,
            "q must not contain control characters",
        )),
        Some(s) if s.chars().count() > SEARCH_MAX_CHARS => Err(FieldError::new(
            "q",
            Rule::Length,
            format!("q must be at most {SEARCH_MAX_CHARS} characters"),
        )),
        _ => Ok(()),
    }
}

/// An item's content under `prefix` (`items[3]`, or "" for an import line):
/// variables as for a run, the expected answer at most 256 KiB of JSON and
/// the metadata at most 64 KiB. No string anywhere may hold NUL: PostgreSQL
/// refuses it in `jsonb`, and that must be a 422, not a 5xx.
pub fn item_content(v: &mut Violations, prefix: &str, item: &ItemContent) {
    let vars_field = child(prefix, "variables");
    variables(v, &vars_field, &item.variables);
    for (name, value) in &item.variables {
        if value.contains('\0') {
            let quoted = serde_json::to_string(name).unwrap_or_default();
            v.push(
                format!("{vars_field}[{quoted}]"),
                Rule::Characters,
                format!("{vars_field}[{quoted}] must not contain NUL characters"),
            );
        }
    }
    if let Some(expected) = &item.expected {
        json_value(
            v,
            &child(prefix, "expected"),
            expected,
            ITEM_EXPECTED_MAX_BYTES,
        );
    }
    let metadata = Value::Object(item.metadata.clone());
    json_value(
        v,
        &child(prefix, "metadata"),
        &metadata,
        ITEM_METADATA_MAX_BYTES,
    );
}

fn json_value(v: &mut Violations, field: &str, value: &Value, max: usize) {
    let size = serde_json::to_vec(value).map_or(usize::MAX, |b| b.len());
    if size > max {
        v.push(
            field,
            Rule::Size,
            format!("{field} must be at most {max} bytes of JSON"),
        );
    } else if holds_nul(value) {
        v.push(
            field,
            Rule::Characters,
            format!("{field} must not contain NUL characters"),
        );
    }
}

fn holds_nul(value: &Value) -> bool {
    match value {
        Value::String(s) => s.contains('\0'),
        Value::Array(a) => a.iter().any(holds_nul),
        Value::Object(o) => o.iter().any(|(k, v)| k.contains('\0') || holds_nul(v)),
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::super::rules::testing::{fails, ok};
    use super::*;
    use serde_json::json;

    fn content(vars: &[(&str, &str)], expected: Option<Value>, metadata: Value) -> ItemContent {
        ItemContent {
            variables: vars
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
            expected,
            metadata: metadata.as_object().cloned().unwrap_or_default(),
        }
    }

    #[test]
    fn dataset_names_are_one_line_titles_stored_trimmed() {
        assert_eq!(
            DatasetName::parse("name", "  Golden set ")
                .unwrap()
                .as_str(),
            "Golden set"
        );
        for bad in ["", "  ", "a\nb"] {
            assert!(DatasetName::parse("name", bad).is_err(), "{bad:?}");
        }
        assert!(DatasetName::parse("name", &"a".repeat(201)).is_err());
    }

    #[test]
    fn a_blank_description_is_none_and_a_long_one_is_refused() {
        assert_eq!(dataset_description("description", Some("  ")), Ok(None));
        assert_eq!(
            dataset_description("description", Some(" two\nlines ")),
            Ok(Some("two\nlines".into()))
        );
        assert!(dataset_description("description", Some(&"a".repeat(2001))).is_err());
        assert!(dataset_description("description", Some("nul\0")).is_err());
    }

    #[test]
    fn item_content_names_each_broken_part_under_its_prefix() {
        ok(|v| {
            item_content(
                v,
                "items[0]",
                &content(&[("city", "Paris")], Some(json!("ok")), json!({"k": 1})),
            )
        });
        fails(
            |v| {
                item_content(
                    v,
                    "items[2]",
                    &content(
                        &[("bad name", "x"), ("nul", "a\0b")],
                        Some(json!({ "deep": ["\u{0}"] })),
                        json!({ "big": "x".repeat(ITEM_METADATA_MAX_BYTES) }),
                    ),
                )
            },
            &[
                ("items[2].variables[\"bad name\"]", "format"),
                ("items[2].variables[\"nul\"]", "characters"),
                ("items[2].expected", "characters"),
                ("items[2].metadata", "size"),
            ],
        );
        fails(
            |v| {
                item_content(
                    v,
                    "",
                    &content(
                        &[],
                        Some(json!("e".repeat(ITEM_EXPECTED_MAX_BYTES))),
                        json!({}),
                    ),
                )
            },
            &[("expected", "size")],
        );
    }

    #[test]
    fn the_search_filter_refuses_control_characters_and_long_text() {
        assert!(dataset_filter(Some("golden")).is_ok());
        assert_eq!(dataset_filter(Some("a\0")).unwrap_err().rule, "characters");
        assert_eq!(
            dataset_filter(Some(&"a".repeat(201))).unwrap_err().rule,
            "length"
        );
    }
}
