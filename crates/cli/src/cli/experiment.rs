//! Arguments of `promptrefine experiment …`.

use clap::{Args, Subcommand};

#[derive(Debug, Subcommand)]
pub enum ExperimentCommand {
    /// Start an experiment; with --wait, run it in this process and print
    /// how it ended (exit 1 unless every cell succeeded).
    Run(ExperimentRunArgs),
    /// One line: status, counts and spend.
    Status {
        /// The experiment's id.
        id: String,
    },
}

#[derive(Debug, Args)]
pub struct ExperimentRunArgs {
    /// The prompt: SLUG, SLUG@LABEL or SLUG:VERSION (the default variant).
    #[arg(long, value_name = "SLUG[@LABEL|:VERSION]")]
    pub prompt: String,
    /// The dataset's name, slug or id.
    #[arg(long, value_name = "NAME")]
    pub dataset: String,
    /// The dataset as it was at this version; default: the current one.
    #[arg(long, value_name = "N")]
    pub dataset_version: Option<i64>,
    /// A variant, repeatable: `@LABEL`, `:VERSION` or nothing (the current
    /// version), optionally `+PRESET` (a model preset), optionally `/MODEL`
    /// (e.g. `--variant :6 --variant :7/gpt-4o-mini --variant :7+cold`).
    #[arg(long = "variant", value_name = "SPEC")]
    pub variants: Vec<String>,
    #[command(flatten)]
    pub cells: CellArgs,
    #[arg(long)]
    pub name: Option<String>,
    /// Run it here, with a progress bar, and wait for the end.
    #[arg(long)]
    pub wait: bool,
}

/// How an experiment's cells run: shared by `experiment run` and `eval`.
#[derive(Debug, Args)]
pub struct CellArgs {
    /// Runs of each item per variant (1–20); more repeats, more power.
    #[arg(long, value_name = "N")]
    pub repeats: Option<i64>,
    /// Cells in flight at once (1–256, default 8).
    #[arg(long, value_name = "N")]
    pub concurrency: Option<i64>,
    /// The most it may spend, in USD; it pauses before crossing it.
    #[arg(long, value_name = "USD")]
    pub max_cost: Option<f64>,
}
