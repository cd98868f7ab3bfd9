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
//! metadata value as JSON text, which an import reads back as a string, and
//! a variable an item lacks as an empty cell. Its columns are the variables
//! in name order, then `expected`, then `metadata.*` (items keep variables in
//! a map, so the import's column order is not kept). JSON Lines round-trips
//! everything.

mod csv_file;
mod jsonl_file;

use promptrefine_core::datasets::ItemContent;
use promptrefine_core::validate::{FieldError, Rule, Violations, item_content};
use promptrefine_core::{Dataset, DatasetId};

pub use csv_file::parse_csv;
pub use jsonl_file::{item_from_json, parse_jsonl};

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
        // Off the async workers: a large file is a few hundred ms of CPU.
        let owned = bytes.to_vec();
        let items = tokio::task::spawn_blocking(move || parse_items(format, &owned))
            .await
            .map_err(|e| AppError::Internal(format!("the import's parser stopped: {e}")))??;
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
            ExportFormat::Csv => csv_file::write_csv(&items)?,
            ExportFormat::Jsonl => jsonl_file::write_jsonl(&items),
        };
        Ok((dataset, bytes))
    }
}

/// Reads a whole file as items without saving anything: what an import
/// would add, or the error it would refuse with (the pages' preview step).
pub fn parse_items(format: ImportFormat, bytes: &[u8]) -> Result<Vec<ItemContent>> {
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
    Ok(items)
}

pub(super) fn line_error(
    line: u64,
    field: &str,
    rule: &str,
    message: impl Into<String>,
) -> AppError {
    let mut v = Violations::new();
    v.push(field, rule, message.into());
    AppError::InvalidImport {
        line,
        violations: v,
    }
}

/// The item's rules, as an error naming the line; in a CSV the field is
/// the column (`city`, not `variables["city"]`).
pub(super) fn check_item(line: u64, item: &ItemContent, csv_columns: bool) -> Result<()> {
    let mut v = Violations::new();
    item_content(&mut v, "", item);
    if v.is_empty() {
        return Ok(());
    }
    let violations = v
        .into_iter()
        .map(|e| FieldError {
            field: if csv_columns {
                csv_file::csv_column(&e.field)
            } else {
                e.field
            },
            ..e
        })
        .collect::<Vec<_>>()
        .into();
    Err(AppError::InvalidImport { line, violations })
}

/// Unit tests of the file formats (no database).
#[cfg(test)]
mod tests;
