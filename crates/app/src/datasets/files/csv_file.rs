//! CSV: the header row names the columns (`expected`, `metadata.KEY`,
//! variables); every row is an item.

use std::collections::{BTreeSet, HashSet};

use promptrefine_core::DatasetItem;
use promptrefine_core::datasets::ItemContent;
use promptrefine_core::template::is_variable_name;
use promptrefine_core::validate::Rule;
use serde_json::Value;

use super::{check_item, line_error};
use crate::error::{AppError, Result};

enum Column {
    Variable(String),
    Expected,
    Metadata(String),
}

/// Parses a CSV file (a UTF-8 byte order mark is skipped).
pub fn parse_csv(bytes: &[u8]) -> Result<Vec<ItemContent>> {
    let bytes = bytes.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(bytes);
    let mut reader = csv::ReaderBuilder::new().flexible(false).from_reader(bytes);
    let header = reader
        .byte_headers()
        .map_err(|e| csv_error(bytes, e))?
        .clone();
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
    let mut lines = LineCounter::default();
    while reader
        .read_byte_record(&mut record)
        .map_err(|e| csv_error(bytes, e))?
    {
        let line = record.position().map_or(0, |p| lines.line_at(bytes, p));
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
/// The 1-based line a record's first field is on. The csv crate's own count
/// is one short on CRLF files (what a browser's form sends): there a record
/// "starts" at the previous line's `\n`, so line ends are skipped first.
fn line_at(bytes: &[u8], pos: &csv::Position) -> u64 {
    LineCounter::default().line_at(bytes, pos)
}

/// [`line_at`] for records in file order: counts only the line ends since
/// the last record, so reading a file costs one pass (counting from the
/// start for every record made a 100,000-row import quadratic).
#[derive(Default)]
struct LineCounter {
    /// Bytes before this offset hold `ends` line ends.
    at: usize,
    ends: u64,
}

impl LineCounter {
    fn line_at(&mut self, bytes: &[u8], pos: &csv::Position) -> u64 {
        let mut start = usize::try_from(pos.byte()).map_or(bytes.len(), |b| b.min(bytes.len()));
        while bytes.get(start).is_some_and(|b| matches!(b, b'\r' | b'\n')) {
            start += 1;
        }
        if start < self.at {
            // Not in file order: count from the start again.
            *self = LineCounter::default();
        }
        self.ends += bytes[self.at..start]
            .iter()
            .filter(|&&b| b == b'\n')
            .count() as u64;
        self.at = start;
        self.ends + 1
    }
}

fn csv_error(bytes: &[u8], e: csv::Error) -> AppError {
    match e.kind() {
        csv::ErrorKind::UnequalLengths {
            pos,
            expected_len,
            len,
        } => {
            let line = pos.as_ref().map_or(0, |p| line_at(bytes, p));
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

pub(super) fn csv_column(field: &str) -> String {
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

/// Text of a CSV cell: a string as it is, anything else as JSON.
fn cell(value: &Value) -> String {
    match value {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

pub(super) fn write_csv(items: &[DatasetItem]) -> Result<Vec<u8>> {
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
