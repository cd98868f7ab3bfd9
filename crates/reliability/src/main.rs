//! `promptrefine-reliability`: tries to break the real `promptrefine` binary
//! and writes what happened to `docs/reliability.md`.
//!
//! ```text
//! promptrefine-reliability crash [--db sqlite|postgres|both] [--kills N] [--quick] [--no-pg-restart] [--no-doc]
//! promptrefine-reliability cells [--db sqlite|postgres|both] [--kills N] [--quick] [--no-doc]
//! promptrefine-reliability replicas [--db sqlite|postgres|both] [--no-doc]
//! promptrefine-reliability schemathesis [--quick] [--no-doc]
//! promptrefine-reliability all [--quick]
//! ```
//!
//! It runs the binary as a user would (`promptrefine serve` plus
//! `promptrefine mock-llm`), found next to this executable under `target/`,
//! so what is tested is what ships, not a test harness.

mod api;
mod cells;
mod crash;
mod fuzz;
mod procs;
mod replicas;
mod report;
mod store_check;

use std::process::ExitCode;

use report::Row;

#[derive(Clone, Debug)]
pub struct Args {
    pub command: String,
    pub db: String,
    pub kills: Option<usize>,
    pub quick: bool,
    pub pg_restart: bool,
    pub doc: bool,
}

fn parse() -> anyhow::Result<Args> {
    let mut it = std::env::args().skip(1);
    let mut args = Args {
        command: it.next().unwrap_or_else(|| "crash".into()),
        db: "both".into(),
        kills: None,
        quick: false,
        pg_restart: true,
        doc: true,
    };
    while let Some(a) = it.next() {
        match a.as_str() {
            "--db" => args.db = it.next().unwrap_or_default(),
            "--kills" => args.kills = Some(it.next().unwrap_or_default().parse()?),
            "--quick" => args.quick = true,
            "--no-pg-restart" => args.pg_restart = false,
            "--no-doc" => args.doc = false,
            other => anyhow::bail!("unknown argument {other:?}"),
        }
    }
    anyhow::ensure!(
        matches!(args.db.as_str(), "sqlite" | "postgres" | "both"),
        "--db must be sqlite, postgres or both"
    );
    Ok(args)
}

#[tokio::main]
async fn main() -> ExitCode {
    let args = match parse() {
        Ok(a) => a,
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::from(2);
        }
    };
    let mut rows: Vec<Row> = vec![];
    let result = async {
        if matches!(args.command.as_str(), "crash" | "all") {
            for db in crash::backends(&args.db) {
                rows.push(crash::run(&args, db).await?);
            }
        }
        if matches!(args.command.as_str(), "cells" | "all") {
            for db in crash::backends(&args.db) {
                rows.push(cells::run(&args, db).await?);
            }
        }
        if matches!(args.command.as_str(), "replicas" | "all") {
            for db in crash::backends(&args.db) {
                rows.push(replicas::run(&args, db).await?);
            }
        }
        if matches!(args.command.as_str(), "schemathesis" | "all") {
            rows.push(fuzz::run(&args).await?);
        }
        if !matches!(
            args.command.as_str(),
            "crash" | "cells" | "replicas" | "schemathesis" | "all"
        ) {
            anyhow::bail!(
                "unknown command {:?} (crash, cells, replicas, schemathesis, all)",
                args.command
            );
        }
        Ok(())
    }
    .await;
    report::print(&rows);
    if args.doc
        && !rows.is_empty()
        && let Err(e) = report::write_doc(&rows)
    {
        eprintln!("could not write docs/reliability.md: {e}");
    }
    match result {
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
        Ok(()) if rows.iter().any(|r| !r.passed) => ExitCode::FAILURE,
        Ok(()) => ExitCode::SUCCESS,
    }
}
