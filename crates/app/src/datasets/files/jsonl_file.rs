//! JSON Lines: one item object per line, the shape of a `POST …/items` item.

use promptrefine_core::DatasetItem;
use promptrefine_core::datasets::ItemContent;
use promptrefine_core::validate::{FieldError, Rule, Violations};
use serde_json::{Map, Value};

use super::{check_item, line_error};
use crate::error::{AppError, Result};

/// Parses JSON Lines: one item object per line; blank lines are skipped.
pub fn parse_jsonl(bytes: &[u8]) -> Result<Vec<ItemContent>> {
    let mut items = Vec::new();
    for (i, raw) in bytes.split(|b| *b == b'\n').enumerate() {
        let line = i as u64 + 1;
        let raw = raw.strip_suffix(b"\r").unwrap_or(raw);
        let text = std::str::from_utf8(raw).map_err(|e| {
            line_error(
                line,
                "line",
                Rule::Characters.as_str(),
                format!("not valid UTF-8 at byte {}", e.valid_up_to() + 1),
            )
        })?;
        if text.trim().is_empty() {
            continue;
        }
        let value: Value = serde_json::from_str(text).map_err(|e| {
            line_error(
                line,
                "line",
                Rule::Format.as_str(),
                format!("not JSON: {e}"),
            )
        })?;
        let item = item_from_json(value).map_err(|e| {
            let mut v = Violations::new();
            v.push(e.field, e.rule, e.message);
            AppError::InvalidImport {
                line,
                violations: v,
            }
        })?;
        check_item(line, &item, false)?;
        items.push(item);
    }
    Ok(items)
}

/// One JSON Lines item: `variables` (strings), optional `expected` (any
/// JSON; null is none) and `metadata` (an object); nothing else.
pub fn item_from_json(value: Value) -> std::result::Result<ItemContent, FieldError> {
    let Value::Object(obj) = value else {
        return Err(FieldError::new(
            "line",
            Rule::Type,
            "an item must be a JSON object",
        ));
    };
    let mut item = ItemContent::default();
    let mut has_variables = false;
    for (key, value) in obj {
        match (key.as_str(), value) {
            ("variables", Value::Object(vars)) => {
                has_variables = true;
                for (name, value) in vars {
                    let Value::String(s) = value else {
                        let quoted = serde_json::to_string(&name).unwrap_or_default();
                        return Err(FieldError::new(
                            format!("variables[{quoted}]"),
                            Rule::Type,
                            "a variable value must be a string",
                        ));
                    };
                    item.variables.insert(name, s);
                }
            }
            ("variables", _) => {
                return Err(FieldError::new(
                    "variables",
                    Rule::Type,
                    "variables must be an object of strings",
                ));
            }
            ("expected", Value::Null) => {}
            ("expected", e) => item.expected = Some(e),
            ("metadata", Value::Object(m)) => item.metadata = m,
            ("metadata", Value::Null) => {}
            ("metadata", _) => {
                return Err(FieldError::new(
                    "metadata",
                    Rule::Type,
                    "metadata must be an object",
                ));
            }
            // The word the JSON body extractor uses for an unknown field.
            (other, _) => {
                return Err(FieldError {
                    field: other.to_string(),
                    rule: "unknown".into(),
                    message: format!("unknown field {other:?}"),
                });
            }
        }
    }
    if !has_variables {
        return Err(FieldError::new(
            "variables",
            Rule::Required,
            "variables is required",
        ));
    }
    Ok(item)
}

pub(super) fn write_jsonl(items: &[DatasetItem]) -> Vec<u8> {
    let mut out = Vec::new();
    for item in items {
        let mut obj = Map::new();
        obj.insert(
            "variables".into(),
            serde_json::to_value(&item.variables).unwrap_or_default(),
        );
        if let Some(e) = &item.expected {
            obj.insert("expected".into(), e.clone());
        }
        if !item.metadata.is_empty() {
            obj.insert("metadata".into(), Value::Object(item.metadata.clone()));
        }
        // A map of JSON values always serializes.
        serde_json::to_writer(&mut out, &obj).unwrap_or_default();
        out.push(b'\n');
    }
    out
}
