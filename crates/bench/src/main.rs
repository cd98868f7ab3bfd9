//! `promptrefine-bench`: measures the real release server against baselines
//! measured in the same run, and writes the table to `docs/benchmarks.md`.
//!
//! ```text
//! cargo run --release -p promptrefine-bench -- [--db sqlite|postgres|both] [--quick] [--experiments-only] [--out FILE]
//! ```
//!
//! It finds (or builds) `promptrefine` next to its own executable, starts the
//! mock upstream (`promptrefine mock-llm`) and, per database, a server on a
//! scratch database that it seeds through the store crate first. Timing is
//! never asserted anywhere; `--smoke` (tiny sizes) only proves every row runs.

mod baseline;
mod datasets;
mod delivery;
mod experiments;
mod llm_runs;
mod load;
mod pages;
mod plan;
mod procs;
mod reads;
mod report;
mod seed;
mod workloads;
mod writes;

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Instant;

use anyhow::{Context, Result};
use clap::{Parser, Subcommand, ValueEnum};

use crate::plan::{Mode, Plan};
use crate::report::{Header, Row};

#[derive(Parser)]
#[command(
    name = "promptrefine-bench",
    about = "Measure PromptRefine against same-run baselines"
)]
struct Args {
    #[command(subcommand)]
    command: Option<Cmd>,
    /// Which database(s) to run every workload on.
    #[arg(long, value_enum, default_value_t = Db::Both)]
    db: Db,
    /// Small sizes and short phases (under two minutes).
    #[arg(long)]
    quick: bool,
    /// Tiny sizes, for the CI smoke test: proves every row runs, measures nothing useful.
    #[arg(long, conflicts_with = "quick")]
    smoke: bool,
    /// Only the experiment rows (E1, and E2 on PostgreSQL): no seeding, no B rows.
    #[arg(long)]
    experiments_only: bool,
    /// Where to write the table (between the bench markers).
    #[arg(long, value_name = "FILE")]
    out: Option<PathBuf>,
    /// The `promptrefine` binary to measure (default: next to this executable).
    #[arg(long, value_name = "FILE")]
    server_bin: Option<PathBuf>,
}

#[derive(Subcommand)]
enum Cmd {
    /// B0's bare axum server (started by the bench itself).
    #[command(hide = true)]
    BaselineServer {
        #[arg(long)]
        bytes: usize,
    },
}

#[derive(Clone, Copy, PartialEq, Eq, ValueEnum)]
enum Db {
    Sqlite,
    Postgres,
    Both,
}

fn main() -> ExitCode {
    let args = Args::parse();
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("a tokio runtime");
    let result = match args.command {
        Some(Cmd::BaselineServer { bytes }) => rt.block_on(baseline::serve(bytes)),
        None => rt.block_on(bench(args)),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("bench: error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

fn workspace_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..")
}

async fn bench(args: Args) -> Result<()> {
    let started = Instant::now();
    let mode = if args.smoke {
        Mode::Smoke
    } else if args.quick {
        Mode::Quick
    } else {
        Mode::Full
    };
    let mut plan = Plan::new(mode);
    plan.experiments_only = args.experiments_only;
    let bin = procs::server_binary(args.server_bin.as_deref())?;
    let out = args
        .out
        .clone()
        .unwrap_or_else(|| workspace_root().join("docs/benchmarks.md"));
    let dbs: &[&'static str] = match args.db {
        Db::Sqlite => &["sqlite"],
        Db::Postgres => &["postgres"],
        Db::Both => &["sqlite", "postgres"],
    };
    eprintln!("bench: {} mode, server {}", mode.name(), bin.display());
    let workdir = tempfile::tempdir().context("cannot make a temporary folder")?;
    let mock = procs::start_mock(&bin, workdir.path()).await?;

    let mut rows: Vec<Row> = Vec::new();
    for &db in dbs {
        eprintln!("bench: {db}: starting");
        match workloads::run_db(&plan, db, &bin, workdir.path(), &mock.base).await {
            Ok(r) => rows.extend(r),
            Err(e) => {
                eprintln!("bench: {db}: {e:#}");
                rows.push(Row::failed(
                    "B0–E2",
                    "every workload",
                    db,
                    &format!("{e:#}"),
                ));
            }
        }
    }
    mock.stop().await;

    let header = Header {
        cores: std::thread::available_parallelism().map_or(1, |n| n.get()),
        cpu: cpu_model(),
        date: time::OffsetDateTime::now_utc()
            .format(&time::format_description::well_known::Rfc3339)
            .unwrap_or_default(),
        revision: git_revision(),
        mode: mode.name(),
        dbs: dbs.join(" + "),
        seconds: started.elapsed().as_secs_f64(),
    };
    let table = report::markdown(&header, &rows);
    println!("{table}");
    report::write(&out, &table)?;
    eprintln!("bench: wrote {}", out.display());
    Ok(())
}

fn cpu_model() -> String {
    std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("model name"))
                .and_then(|l| l.split_once(':'))
                .map(|(_, m)| m.trim().to_owned())
        })
        .unwrap_or_else(|| "unknown CPU".into())
}

/// `git rev-parse --short HEAD`, marked when the tree has uncommitted changes.
fn git_revision() -> String {
    let git = |args: &[&str]| {
        std::process::Command::new("git")
            .args(args)
            .current_dir(workspace_root())
            .output()
            .ok()
            .filter(|o| o.status.success())
            .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_owned())
    };
    let Some(rev) = git(&["rev-parse", "--short", "HEAD"]) else {
        return "unknown".into();
    };
    match git(&["status", "--porcelain", "--untracked-files=no"]) {
        Some(s) if !s.is_empty() => format!("{rev} + uncommitted changes"),
        _ => rev,
    }
}
