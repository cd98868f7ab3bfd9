//! Items as files: CSV and JSON Lines, read for an import (all or nothing,
//! one new version) and written for an export (at any version).
//!
//! CSV: the header row names the columns; `expected` is the expected answer,
//! `metadata.KEY` a metadata entry, every other column a variable. JSON
//! Lines: one item per line, `{"variables": {…}, "expected": …, "metadata":
//! {…}}` — the shape of `POST /api/datasets/{id}/items`. A problem is
//! reported with its 1-based line and the column or field it is in.
//!
//! CSV holds text only, so an export writes a non-string expected answer or
//! metadata value as JSON text, which an import reads back as a string; JSON
//! Lines round-trips everything.

use std::collections::{BTreeSet, HashSet};

use promptrefine_core::datasets::ItemContent;
use promptrefine_core::template::is_variable_name;
use promptrefine_core::validate::{FieldError, Rule, Violations, item_content};
use promptrefine_core::{Dataset, DatasetId, DatasetItem};
use serde_json::{Map, Value};

use super::check_version;
use crate::App;
use crate::error::{AppError, OrNotFound, Result};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ImportFormat {
    Csv,
    Jsonl,
}

pub type ExportFormat = ImportFormat;

impl ImportFormat {
    /// `csv`, or `jsonl`/`ndjson`; how the CLI reads a file extension too.
    pub fn parse(text: &str) -> Option<ImportFormat> {
        match text.to_ascii_lowercase().as_str() {
            "csv" => Some(ImportFormat::Csv),
            "jsonl" | "ndjson" => Some(ImportFormat::Jsonl),
            _ => None,
        }
    }
}

/// What an import did.
#[derive(Clone, Debug)]
pub struct Imported {
    pub dataset: Dataset,
    pub imported: u64,
}

/// Rows fetched per page while an export reads a version.
const EXPORT_PAGE: usize = 1000;

impl App {
    /// Reads a whole file and adds its items as one new version.
    /// `progress(done, total)` is told as the rows are written.
    pub async fn import_items(
        &self,
        id: DatasetId,
        format: ImportFormat,
        bytes: &[u8],
        progress: impl FnMut(u64, u64) + Send,
    ) -> Result<Imported> {
        // Refuse an unknown dataset before reading a large file.
        self.get_dataset(id, None).await?;
        let items = match format {
            ImportFormat::Csv => parse_csv(bytes)?,
            ImportFormat::Jsonl => parse_jsonl(bytes)?,
        };
        if items.is_empty() {
            return Err(AppError::invalid(
                "body",
                Rule::Required.as_str(),
                "the file holds no items",
            ));
        }
        let imported = items.len() as u64;
        let added = self
            .store
            .datasets()
            .add_items(id, items, progress)
            .await
            .or_not_found("dataset")?;
        Ok(Imported {
            dataset: added.dataset,
            imported,
        })
    }

    /// Every item at `version` (default: current) as a file.
    pub async fn export_items(
        &self,
        id: DatasetId,
        version: Option<i64>,
        format: ExportFormat,
    ) -> Result<(Dataset, Vec<u8>)> {
        let dataset = self.get_dataset(id, check_version(version)?).await?;
        let mut items = Vec::with_capacity(dataset.item_count.max(0) as usize);
        let mut cursor = None;
        loop {
            // Versions are immutable history, so the pages of one version
            // agree with each other however the dataset changes meanwhile.
            let page = self
                .store
                .datasets()
                .list_items(id, dataset.version, cursor, EXPORT_PAGE)
                .await?;
            cursor = page
                .next_cursor
                .as_deref()
                .and_then(promptrefine_store::IdCursor::decode);
            items.extend(page.items);
            if cursor.is_none() {
                break;
            }
        }
        let bytes = match format {
            ExportFormat::Csv => write_csv(&items)?,
            ExportFormat::Jsonl => write_jsonl(&items),
        };
        Ok((dataset, bytes))
    }
}

fn line_error(line: u64, field: &str, rule: &str, message: impl Into<String>) -> AppError {
    let mut v = Violations::new();
    v.push(field, rule, message.into());
    AppError::InvalidImport {
        line,
        violations: v,
    }
}

enum Column {
    Variable(String),
    Expected,
    Metadata(String),
}

/// Parses a CSV file (a UTF-8 byte order mark is skipped).
pub fn parse_csv(bytes: &[u8]) -> Result<Vec<ItemContent>> {
    let bytes = bytes.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(bytes);
    let mut reader = csv::ReaderBuilder::new().flexible(false).from_reader(bytes);
    let header = reader.byte_headers().map_err(csv_error)?.clone();
    if header.is_empty() || (header.len() == 1 && header[0].is_empty()) {
        return Err(line_error(
            1,
            "header",
            Rule::Required.as_str(),
            "the file has no header row",
        ));
    }
    let mut columns = Vec::with_capacity(header.len());
    let mut seen = HashSet::new();
    for (i, raw) in header.iter().enumerate() {
        let name = std::str::from_utf8(raw)
            .map_err(|_| {
                line_error(
                    1,
                    &format!("column {}", i + 1),
                    Rule::Characters.as_str(),
                    "the header is not valid UTF-8",
                )
            })?
            .trim()
            .to_string();
        let column = if name.is_empty() {
            return Err(line_error(
                1,
                &format!("column {}", i + 1),
                Rule::Required.as_str(),
                format!("column {} has no name", i + 1),
            ));
        } else if name == "expected" {
            Column::Expected
        } else if let Some(key) = name.strip_prefix("metadata.").filter(|k| !k.is_empty()) {
            Column::Metadata(key.to_string())
        } else if is_variable_name(&name) {
            Column::Variable(name.clone())
        } else {
            return Err(line_error(
                1,
                &name,
                Rule::Format.as_str(),
                format!(
                    "{name:?} is not a variable name: use letters, digits, '_' and '.', starting with a letter or '_'"
                ),
            ));
        };
        if !seen.insert(name.clone()) {
            return Err(line_error(
                1,
                &name,
                Rule::Duplicate.as_str(),
                format!("the column {name:?} appears twice"),
            ));
        }
        columns.push((name, column));
    }
    let mut items = Vec::new();
    let mut record = csv::ByteRecord::new();
    while reader.read_byte_record(&mut record).map_err(csv_error)? {
        let line = record.position().map_or(0, |p| p.line());
        let mut item = ItemContent::default();
        for ((name, column), raw) in columns.iter().zip(record.iter()) {
            let text = std::str::from_utf8(raw).map_err(|_| {
                line_error(
                    line,
                    name,
                    Rule::Characters.as_str(),
                    format!("column {name:?} is not valid UTF-8"),
                )
            })?;
            match column {
                Column::Variable(var) => {
                    item.variables.insert(var.clone(), text.to_string());
                }
                Column::Expected if text.is_empty() => {}
                Column::Expected => item.expected = Some(Value::String(text.to_string())),
                Column::Metadata(_) if text.is_empty() => {}
                Column::Metadata(key) => {
                    item.metadata
                        .insert(key.clone(), Value::String(text.to_string()));
                }
            }
        }
        check_item(line, &item, true)?;
        items.push(item);
    }
    Ok(items)
}

/// A CSV reading error as the line (and what) it is about.
fn csv_error(e: csv::Error) -> AppError {
    match e.kind() {
        csv::ErrorKind::UnequalLengths {
            pos,
            expected_len,
            len,
        } => {
            let line = pos.as_ref().map_or(0, |p| p.line());
            line_error(
                line,
                "row",
                Rule::Count.as_str(),
                format!("the row has {len} fields; the header has {expected_len}"),
            )
        }
        _ => AppError::invalid(
            "body",
            Rule::Format.as_str(),
            format!("the CSV cannot be read: {e}"),
        ),
    }
}

/// The item's rules, as an error naming the line; in a CSV the field is
/// the column (`city`, not `variables["city"]`).
fn check_item(line: u64, item: &ItemContent, csv_columns: bool) -> Result<()> {
    let mut v = Violations::new();
    item_content(&mut v, "", item);
    if v.is_empty() {
        return Ok(());
    }
    let violations = v
        .into_iter()
        .map(|e| FieldError {
            field: if csv_columns {
                csv_column(&e.field)
            } else {
                e.field
            },
            ..e
        })
        .collect::<Vec<_>>()
        .into();
    Err(AppError::InvalidImport { line, violations })
}

fn csv_column(field: &str) -> String {
    field
        .strip_prefix("variables[")
        .and_then(|rest| rest.strip_suffix(']'))
        .and_then(|quoted| serde_json::from_str::<String>(quoted).ok())
        .unwrap_or_else(|| {
            if field == "metadata" {
                "metadata.*".into()
            } else {
                field.into()
            }
        })
}

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

fn write_jsonl(items: &[DatasetItem]) -> Vec<u8> {
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

/// Text of a CSV cell: a string as it is, anything else as JSON.
fn cell(value: &Value) -> String {
    match value {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

fn write_csv(items: &[DatasetItem]) -> Result<Vec<u8>> {
    let variables: BTreeSet<&str> = items
        .iter()
        .flat_map(|i| i.variables.keys().map(String::as_str))
        .collect();
    // A variable spelled like a special column would be read back as one.
    if let Some(name) = variables
        .iter()
        .find(|n| **n == "expected" || n.starts_with("metadata."))
    {
        return Err(AppError::invalid(
            "format",
            Rule::OneOf.as_str(),
            format!("the variable {name:?} cannot be a CSV column; export as jsonl"),
        ));
    }
    let has_expected = items.iter().any(|i| i.expected.is_some());
    let metadata: BTreeSet<&str> = items
        .iter()
        .flat_map(|i| i.metadata.keys().map(String::as_str))
        .collect();
    let mut w = csv::Writer::from_writer(Vec::new());
    let mut header: Vec<String> = variables.iter().map(|v| v.to_string()).collect();
    if has_expected {
        header.push("expected".into());
    }
    header.extend(metadata.iter().map(|k| format!("metadata.{k}")));
    let internal = |e: csv::Error| AppError::Internal(format!("writing CSV: {e}"));
    w.write_record(&header).map_err(internal)?;
    for item in items {
        let mut row: Vec<String> = variables
            .iter()
            .map(|v| item.variables.get(*v).cloned().unwrap_or_default())
            .collect();
        if has_expected {
            row.push(item.expected.as_ref().map(cell).unwrap_or_default());
        }
        row.extend(
            metadata
                .iter()
                .map(|k| item.metadata.get(*k).map(cell).unwrap_or_default()),
        );
        w.write_record(&row).map_err(internal)?;
    }
    w.into_inner()
        .map_err(|e| AppError::Internal(format!("writing CSV: {e}")))
}

/// Unit tests of the file formats (no database).
#[cfg(test)]
mod tests;
