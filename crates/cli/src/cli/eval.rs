//! Arguments of `promptrefine eval`: the gate for CI.

use std::path::PathBuf;

use clap::Args;

#[derive(Debug, Args)]
pub struct EvalArgs {
    /// The prompt's slug (or id).
    #[arg(long, value_name = "SLUG")]
    pub prompt: String,
    /// The version under test: a label (`staging`) or a version number (`7`).
    #[arg(long, value_name = "LABEL|VERSION")]
    pub candidate: String,
    /// What it must not be worse than: a label (`production`) or a number.
    #[arg(long, value_name = "LABEL|VERSION")]
    pub baseline: String,
    /// The dataset's name, slug or id (its current version).
    #[arg(long, value_name = "NAME")]
    pub dataset: String,
    /// A TOML file with `[[evaluators]]` tables (`type = "contains"`,
    /// `values = ["refund"]` …; the options of `POST /api/experiments`).
    #[arg(long, value_name = "FILE.toml")]
    pub evaluators: Option<PathBuf>,
    #[command(flatten)]
    pub cells: super::experiment::CellArgs,
    /// Write a JUnit XML report here: one test case per evaluator, and one
    /// per regressed item.
    #[arg(long, value_name = "FILE")]
    pub junit: Option<PathBuf>,
    /// Write the whole comparison as JSON here.
    #[arg(long, value_name = "FILE")]
    pub json: Option<PathBuf>,
    /// Ask this server (`https://promptrefine.example.com`) instead of
    /// opening the database: its engine runs the cells. The API token is
    /// read from `PROMPTREFINE_TOKEN`.
    #[arg(long, value_name = "URL")]
    pub url: Option<String>,
    /// Run the baseline too, even when a finished experiment already ran it
    /// with the same dataset version, settings and evaluators.
    #[arg(long)]
    pub fresh: bool,
}
