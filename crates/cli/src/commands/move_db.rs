//! `move --to DATABASE_URL`: `export` then `import` in one step, from the
//! configured database into another (SQLite → PostgreSQL, or a new SQLite
//! file), with the target's migrations applied first. Then the target is
//! read back and its records per table compared with what was exported:
//! the command succeeds only when every count matches.
//!
//! Everything moves, password and token hashes included (it is the same
//! installation in a new place); sessions do not, so people sign in again.
//! The records pass through an anonymous temporary file (`O_TMPFILE` where
//! available, `0600`), gone when the command ends.

use std::io::{BufReader, Seek, SeekFrom};
use std::process::ExitCode;

use anyhow::{Context, anyhow, bail};
use promptrefine_store::StoreOptions;
use promptrefine_store::transfer::{Counts, ExportOptions};
use secrecy::ExposeSecret;

use super::transfer::{current_schema, progress_bar, show};
use crate::cli::MoveArgs;
use crate::config::{Config, parse};
use crate::{database, logging};

pub async fn run(cfg: &Config, args: &MoveArgs) -> anyhow::Result<ExitCode> {
    let to = parse::database_url(&args.to).map_err(|why| anyhow!("invalid --to: {why}"))?;
    if let Some(password) = parse::url_password(&to) {
        logging::register_secret(&password);
    }
    let (from_shown, to_shown) = (cfg.database_url_masked(), parse::mask_url(&to));
    if to == cfg.database_url.expose_secret().trim() {
        bail!("--to names the configured database ({from_shown}); give the new database's URL");
    }
    let source = current_schema(cfg).await?;
    let target = match database::connect_to(&StoreOptions::new(&to), &to_shown).await {
        Ok(t) => database::migrated_for_import(t, &to_shown).await,
        Err(e) => Err(e),
    };
    let target = match target {
        Ok(t) => t,
        Err(e) => {
            source.close().await;
            return Err(e);
        }
    };

    let mut spool = tempfile::tempfile().context("cannot create a temporary file")?;
    let opts = || ExportOptions {
        include_secrets: true,
        ..ExportOptions::default()
    };
    let bar = progress_bar("exporting");
    let exported = source.export(&mut spool, opts(), |p| show(&bar, p)).await;
    bar.finish_and_clear();
    source.close().await;
    let exported = match exported {
        Ok(c) => c,
        Err(e) => {
            target.close().await;
            return Err(e).context("export from the configured database failed");
        }
    };
    spool.seek(SeekFrom::Start(0))?;
    let bar = progress_bar("importing");
    let imported = target
        .import(BufReader::new(&spool), |p| show(&bar, p))
        .await;
    bar.finish_and_clear();
    if let Err(e) = imported {
        target.close().await;
        return Err(e).context(format!(
            "import into {to_shown} failed; nothing was written there"
        ));
    }
    // Read back from the target itself, not the import's own tally.
    let found = target.export(std::io::sink(), opts(), |_| {}).await;
    target.close().await;
    let found = found.context("cannot read the target back")?;

    println!("moved {from_shown} → {to_shown}");
    print!("{}", count_table(&exported, &found));
    if exported != found {
        bail!("the target does not hold every record (see the table); keep using {from_shown}");
    }
    println!("verified: every table holds the same number of records");
    println!(
        "next: point DATABASE_URL at {to_shown} and start the server; everyone signs in again"
    );
    Ok(ExitCode::SUCCESS)
}

/// `table  source  target` lines, one per kind of record.
fn count_table(from: &Counts, to: &Counts) -> String {
    let rows = [
        ("users", from.users, to.users),
        ("prompts", from.prompts, to.prompts),
        ("versions", from.versions, to.versions),
        ("labels", from.labels, to.labels),
        ("runs", from.runs, to.runs),
        ("api_tokens", from.api_tokens, to.api_tokens),
        ("providers", from.providers, to.providers),
        ("presets", from.presets, to.presets),
    ];
    let mut out = format!("  {:<11} {:>9} {:>9}\n", "table", "source", "target");
    for (name, a, b) in rows {
        let mark = if a == b { "" } else { "  MISMATCH" };
        out.push_str(&format!("  {name:<11} {a:>9} {b:>9}{mark}\n"));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_count_table_marks_a_mismatch() {
        let a = Counts {
            users: 1,
            runs: 12,
            ..Counts::default()
        };
        let b = Counts { runs: 11, ..a };
        let table = count_table(&a, &b);
        assert!(
            table.contains("  users               1         1\n"),
            "{table}"
        );
        assert!(
            table.contains("runs               12        11  MISMATCH"),
            "{table}"
        );
        assert!(!count_table(&a, &a).contains("MISMATCH"));
    }
}
