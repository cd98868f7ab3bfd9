//! `dataset import NAME FILE`, `dataset export NAME --out FILE` and
//! `dataset list`: datasets as CSV or JSON Lines files, through the app's
//! use cases against the configured database (the same rules as the API).
//!
//! The format comes from the file extension (`.csv`, `.jsonl`, `.ndjson`)
//! or `--format`. An import is one new version, all or nothing; a bar is
//! drawn on a terminal only.

use std::path::Path;
use std::process::ExitCode;

use anyhow::{Context, anyhow, bail};
use promptrefine_app::datasets::{CreateDataset, ImportFormat, ListDatasets};
use promptrefine_app::{App, AppError};
use promptrefine_core::Dataset;

use super::transfer::progress_bar;
use crate::cli::{DatasetExportArgs, DatasetImportArgs};
use crate::config::Config;
use crate::database::open_app;

/// The format named by `--format`, else by the file's extension.
fn format_of(path: &Path, given: Option<&str>) -> anyhow::Result<ImportFormat> {
    let text = match given {
        Some(f) => f.to_string(),
        None => path
            .extension()
            .and_then(|e| e.to_str())
            .map(str::to_string)
            .ok_or_else(|| {
                anyhow!(
                    "{} has no extension; say --format csv or jsonl",
                    path.display()
                )
            })?,
    };
    ImportFormat::parse(&text)
        .ok_or_else(|| anyhow!("unknown format {text:?}: use csv, jsonl or ndjson"))
}

/// An app error as one line a person can act on (a 422 lists its fields).
fn explain(e: AppError) -> anyhow::Error {
    match &e {
        AppError::InvalidImport { line, violations } => {
            let parts: Vec<String> = violations
                .iter()
                .map(|f| format!("{}: {}", f.field, f.message))
                .collect();
            anyhow!("line {line}: {}", parts.join("; "))
        }
        _ => anyhow!(e),
    }
}

pub async fn import(cfg: &Config, args: &DatasetImportArgs) -> anyhow::Result<ExitCode> {
    let format = format_of(&args.file, args.format.as_deref())?;
    let bytes = std::fs::read(&args.file)
        .with_context(|| format!("cannot read {}", args.file.display()))?;
    let app = open_app(cfg).await?;
    let result = import_into(&app, &args.name, format, &bytes).await;
    app.store().close().await;
    let (dataset, imported, created) = result.with_context(|| {
        format!(
            "import of {} failed; nothing was written",
            args.file.display()
        )
    })?;
    println!(
        "imported {imported} items from {} into {:?}{} (now version {}, {} items)",
        args.file.display(),
        dataset.name,
        if created { ", a new dataset" } else { "" },
        dataset.version,
        dataset.item_count
    );
    Ok(ExitCode::SUCCESS)
}

async fn import_into(
    app: &App,
    name: &str,
    format: ImportFormat,
    bytes: &[u8],
) -> anyhow::Result<(Dataset, u64, bool)> {
    let (dataset, created) = match app.dataset_by_name(name).await.map_err(explain)? {
        Some(d) => (d, false),
        None => {
            let d = app
                .create_dataset(CreateDataset {
                    name: name.to_string(),
                    description: None,
                })
                .await
                .map_err(explain)?;
            (d, true)
        }
    };
    let bar = progress_bar("importing");
    let result = app
        .import_items(dataset.id, format, bytes, |done, total| {
            bar.set_length(total);
            bar.set_position(done);
        })
        .await;
    bar.finish_and_clear();
    match result {
        Ok(done) => Ok((done.dataset, done.imported, created)),
        Err(e) => {
            // All or nothing includes the dataset this command created.
            if created {
                let _ = app.delete_dataset(dataset.id).await;
            }
            Err(explain(e))
        }
    }
}

pub async fn export(cfg: &Config, args: &DatasetExportArgs) -> anyhow::Result<ExitCode> {
    let format = format_of(&args.out, args.format.as_deref())?;
    if args.out.exists() {
        bail!(
            "{} already exists; choose another file or remove it",
            args.out.display()
        );
    }
    let app = open_app(cfg).await?;
    let result = async {
        let dataset = app
            .dataset_by_name(&args.name)
            .await
            .map_err(explain)?
            .ok_or_else(|| anyhow!("no dataset named {:?}", args.name))?;
        app.export_items(dataset.id, args.version, format)
            .await
            .map_err(explain)
    }
    .await;
    app.store().close().await;
    let (dataset, bytes) = result?;
    // A temporary beside the target, renamed at the end: a failed export
    // never leaves a file that looks complete.
    let mut partial = super::files::private_temp_beside(&args.out)?;
    std::io::Write::write_all(partial.as_file_mut(), &bytes)
        .with_context(|| format!("cannot write {}", partial.path().display()))?;
    partial
        .persist_noclobber(&args.out)
        .map_err(|e| e.error)
        .with_context(|| format!("cannot move the export to {}", args.out.display()))?;
    println!(
        "exported {} items of {:?} (version {}) to {}",
        dataset.item_count,
        dataset.name,
        dataset.version,
        args.out.display()
    );
    Ok(ExitCode::SUCCESS)
}

pub async fn list(cfg: &Config) -> anyhow::Result<ExitCode> {
    let app = open_app(cfg).await?;
    let mut cursor = None;
    let mut rows = Vec::new();
    let result: anyhow::Result<()> = async {
        loop {
            let page = app
                .list_datasets(ListDatasets {
                    cursor,
                    limit: Some(100),
                    ..Default::default()
                })
                .await
                .map_err(explain)?;
            rows.extend(page.items);
            match page.next_cursor {
                Some(next) => cursor = Some(next),
                None => return Ok(()),
            }
        }
    }
    .await;
    app.store().close().await;
    result?;
    if rows.is_empty() {
        println!("no datasets");
    }
    for d in rows {
        println!(
            "{}\t{}\t{} items\tversion {}",
            d.slug, d.name, d.item_count, d.version
        );
    }
    Ok(ExitCode::SUCCESS)
}
