//! `export --out FILE [--include-secrets]` and `import FILE`: the portable
//! copy that moves a database between SQLite and PostgreSQL. The work is
//! the store's ([`promptrefine_store::transfer`]); this module opens files,
//! draws the progress bar on a terminal and prints one summary line.

use std::fs::File;
use std::io::{BufReader, IsTerminal};
use std::process::ExitCode;

use anyhow::{Context, bail};
use indicatif::{ProgressBar, ProgressStyle};
use promptrefine_store::Store;
use promptrefine_store::transfer::{ExportOptions, Progress};

use super::files;
use crate::cli::{ExportArgs, ImportArgs};
use crate::config::Config;
use crate::database;

pub async fn export(cfg: &Config, args: &ExportArgs) -> anyhow::Result<ExitCode> {
    if args.out.exists() {
        bail!(
            "{} already exists; choose another file or remove it",
            args.out.display()
        );
    }
    let store = current_schema(cfg).await?;
    // Write a fresh temporary beside the target and rename it at the end, so
    // a failed export never leaves a file that looks complete. The file may
    // hold password hashes: readable by its owner only (0600).
    let mut partial = files::private_temp_beside(&args.out)?;
    let bar = progress_bar("exporting");
    let opts = ExportOptions {
        include_secrets: args.include_secrets,
        ..ExportOptions::default()
    };
    let result = store
        .export(partial.as_file_mut(), opts, |p| show(&bar, p))
        .await;
    bar.finish_and_clear();
    store.close().await;
    // On an error the temporary is removed when `partial` drops.
    let counts = result.context("export failed")?;
    partial
        .persist_noclobber(&args.out)
        .map_err(|e| e.error)
        .with_context(|| format!("cannot move the export to {}", args.out.display()))?;
    println!("exported {counts} to {}", args.out.display());
    if !args.include_secrets && counts.users > 0 {
        println!(
            "passwords were not exported: after importing, set one with `promptrefine user set-password EMAIL`"
        );
    }
    Ok(ExitCode::SUCCESS)
}

/// Reads an export into the configured database, applying the migrations
/// first (as `serve` does), so a fresh database needs no `migrate up`.
pub async fn import(cfg: &Config, args: &ImportArgs) -> anyhow::Result<ExitCode> {
    let file =
        File::open(&args.file).with_context(|| format!("cannot open {}", args.file.display()))?;
    let store = database::connect(cfg).await?;
    let store = database::migrated_for_import(store, &cfg.database_url_masked()).await?;
    let bar = progress_bar("importing");
    let result = store.import(BufReader::new(file), |p| show(&bar, p)).await;
    bar.finish_and_clear();
    store.close().await;
    let counts = result.with_context(|| {
        format!(
            "import of {} failed; nothing was written to {}",
            args.file.display(),
            cfg.database_url_masked()
        )
    })?;
    println!(
        "imported {counts} from {} into {}",
        args.file.display(),
        cfg.database_url_masked()
    );
    Ok(ExitCode::SUCCESS)
}

/// Opens the store and refuses a schema that is not exactly this binary's:
/// the file's columns are those of the current schema.
pub(super) async fn current_schema(cfg: &Config) -> anyhow::Result<Store> {
    let store = database::connect(cfg).await?;
    let schema = database::schema(&store).await?;
    if !schema.unknown_applied.is_empty() || !schema.pending().is_empty() {
        store.close().await;
        bail!(
            "the database schema is not current ({}); run `promptrefine migrate up` first",
            schema.summary()
        );
    }
    Ok(store)
}

/// A bar on standard error when it is a terminal; hidden otherwise (logs
/// and scripts get the summary line only).
pub(super) fn progress_bar(verb: &'static str) -> ProgressBar {
    if !std::io::stderr().is_terminal() {
        return ProgressBar::hidden();
    }
    let bar = ProgressBar::new(0);
    bar.set_style(
        ProgressStyle::with_template("{msg} [{bar:40}] {pos}/{len} records ({eta})")
            .expect("a valid template")
            .progress_chars("=> "),
    );
    bar.set_message(verb);
    bar
}

pub(super) fn show(bar: &ProgressBar, p: Progress) {
    bar.set_length(p.total);
    bar.set_position(p.done);
}
