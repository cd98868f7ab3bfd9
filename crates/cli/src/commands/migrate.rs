//! `migrate up | down [--to N] | status`: schema changes as an explicit,
//! scriptable step (for deployments that set `MIGRATE_ON_START=false`, and
//! for rolling back before running an older binary).

use std::io::{BufRead, IsTerminal, Write};
use std::process::ExitCode;

use anyhow::bail;
use promptrefine_store::migrate;

use crate::config::Config;
use crate::database;

pub async fn up(cfg: &Config) -> anyhow::Result<ExitCode> {
    let store = database::connect(cfg).await?;
    let before = database::schema(&store).await?;
    if !before.unknown_applied.is_empty() {
        bail!("{}", before.summary());
    }
    let pending = before.pending();
    if pending.is_empty() {
        println!("already up to date (version {})", before.current());
    } else {
        for m in &pending {
            println!("applying {} {}", m.version, m.description);
        }
        migrate::up(&store).await?;
        println!(
            "applied {} migration(s); now at version {}",
            pending.len(),
            before.latest_known()
        );
    }
    store.close().await;
    Ok(ExitCode::SUCCESS)
}

pub async fn down(cfg: &Config, to: Option<i64>, yes: bool) -> anyhow::Result<ExitCode> {
    let store = database::connect(cfg).await?;
    let schema = database::schema(&store).await?;
    if !schema.unknown_applied.is_empty() {
        bail!("{}: only that binary can revert them", schema.summary());
    }
    let mut applied: Vec<_> = schema.known.iter().filter(|m| m.applied).collect();
    applied.sort_by_key(|m| m.version);
    let target = match to {
        Some(n) if n < 0 => bail!("invalid --to {n}: expected a version, 0 or more"),
        Some(n) => n,
        // One step back: keep everything below the newest applied migration.
        None => applied.iter().rev().nth(1).map_or(0, |m| m.version),
    };
    let revert: Vec<_> = applied
        .iter()
        .rev()
        .filter(|m| m.version > target)
        .collect();
    if revert.is_empty() {
        println!("nothing to revert (at version {})", schema.current());
        return Ok(ExitCode::SUCCESS);
    }
    for m in &revert {
        println!("reverting {} {}", m.version, m.description);
    }
    // On a terminal, ask: reverting drops tables and their data. Scripts
    // (no terminal) go ahead; they see the list above in their output.
    if !yes && std::io::stdin().is_terminal() && !confirm(revert.len())? {
        println!("cancelled");
        return Ok(ExitCode::FAILURE);
    }
    migrate::down_to(&store, target).await?;
    println!(
        "reverted {} migration(s); now at version {target}",
        revert.len()
    );
    store.close().await;
    Ok(ExitCode::SUCCESS)
}

fn confirm(n: usize) -> anyhow::Result<bool> {
    print!("Revert {n} migration(s)? Data in the dropped tables is lost. [y/N] ");
    std::io::stdout().flush()?;
    let mut answer = String::new();
    std::io::stdin().lock().read_line(&mut answer)?;
    Ok(matches!(
        answer.trim().to_ascii_lowercase().as_str(),
        "y" | "yes"
    ))
}

pub async fn status(cfg: &Config) -> anyhow::Result<ExitCode> {
    let store = database::connect(cfg).await?;
    let schema = database::schema(&store).await?;
    let width = schema
        .known
        .iter()
        .map(|m| m.description.len())
        .max()
        .unwrap_or(0)
        .max("description".len());
    println!("{:<8} {:<width$} applied", "version", "description");
    for m in &schema.known {
        println!(
            "{:<8} {:<width$} {}",
            m.version,
            m.description,
            if m.applied { "yes" } else { "no" }
        );
    }
    for v in &schema.unknown_applied {
        println!("{:<8} {:<width$} yes (unknown to this binary)", v, "?");
    }
    println!("schema: {}", schema.summary());
    store.close().await;
    Ok(ExitCode::SUCCESS)
}
