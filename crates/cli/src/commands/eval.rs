//! `promptrefine eval`: the gate a team puts in CI before a label moves.
//!
//! It makes one experiment of two variants over the dataset's current
//! version — the baseline (variant 0) and the candidate (variant 1), so both
//! see the same items, settings and evaluators — runs it here (this process
//! joins as an instance; a running server shares the cells), compares the
//! candidate with the baseline and prints a table. Exit codes: 0 when no
//! evaluator's verdict is `worse`, 1 when one is (a regression), 2 on any
//! error (bad arguments, a failed or paused experiment, a file not written).
//!
//! Not yet: reusing a finished baseline experiment, and talking to a server
//! over HTTP (`--url`); it opens the database like the other commands.

use std::fmt::Write as _;
use std::process::ExitCode;

use anyhow::{Context, anyhow, bail};
use promptrefine_app::App;
use promptrefine_app::experiments::CreateExperiment;
use promptrefine_app::experiments::scoring::{CompareSide, ExperimentComparison};
use promptrefine_core::ExperimentStatus;
use promptrefine_eval::{ItemOutcome, Verdict};
use quick_junit::{NonSuccessKind, Report, TestCase, TestCaseStatus, TestSuite};

use super::experiment::{run_here, summary, variant};
use super::serve::run_service;
use crate::cli::EvalArgs;
use crate::config::Config;
use crate::database::open_app;

/// Exit code of an error (the gate could not say).
const ERROR: u8 = 2;

pub async fn run(cfg: &Config, args: &EvalArgs) -> ExitCode {
    match gate(cfg, args).await {
        Ok(regressed) => ExitCode::from(u8::from(regressed)),
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::from(ERROR)
        }
    }
}

/// True when the candidate regressed.
async fn gate(cfg: &Config, args: &EvalArgs) -> anyhow::Result<bool> {
    let evaluators = match &args.evaluators {
        Some(path) => Some(read_evaluators(path)?),
        None => None,
    };
    let app = open_app(cfg).await?.with_runs(run_service(cfg)?);
    let result = run_and_compare(cfg, &app, args, evaluators).await;
    app.store().close().await;
    let compared = result?;
    print!("{}", table(&compared));
    if let Some(path) = &args.json {
        let json = serde_json::json!({
            "experimentId": compared.baseline.experiment,
            "regressed": regressed(&compared),
            "sameDatasetVersion": compared.same_dataset_version,
            "comparison": compared.comparison,
        });
        std::fs::write(path, serde_json::to_string_pretty(&json)?)
            .with_context(|| format!("cannot write {}", path.display()))?;
    }
    if let Some(path) = &args.junit {
        std::fs::write(path, junit(&compared)?)
            .with_context(|| format!("cannot write {}", path.display()))?;
    }
    Ok(regressed(&compared))
}

/// The `[[evaluators]]` of a TOML file, as the JSON the API takes.
fn read_evaluators(path: &std::path::Path) -> anyhow::Result<serde_json::Value> {
    let text =
        std::fs::read_to_string(path).with_context(|| format!("cannot read {}", path.display()))?;
    let doc: toml::Table =
        toml::from_str(&text).with_context(|| format!("{} is not TOML", path.display()))?;
    let list = doc
        .get("evaluators")
        .ok_or_else(|| anyhow!("{} has no [[evaluators]]", path.display()))?;
    Ok(serde_json::to_value(list)?)
}

/// `7` is a version number, anything else a label.
fn variant_spec(text: &str) -> String {
    if !text.is_empty() && text.bytes().all(|b| b.is_ascii_digit()) {
        format!(":{text}")
    } else {
        format!("@{text}")
    }
}

async fn run_and_compare(
    cfg: &Config,
    app: &App,
    args: &EvalArgs,
    evaluators: Option<serde_json::Value>,
) -> anyhow::Result<ExperimentComparison> {
    let prompt = app.prompt_ref(&args.prompt).await.context("--prompt")?;
    let dataset = app.dataset_ref(&args.dataset).await.context("--dataset")?;
    let baseline = variant(app, prompt, &variant_spec(&args.baseline))
        .await
        .context("--baseline")?;
    let candidate = variant(app, prompt, &variant_spec(&args.candidate))
        .await
        .context("--candidate")?;
    let experiment = app
        .create_experiment(CreateExperiment {
            name: Some(format!("eval {} vs {}", args.candidate, args.baseline)),
            prompt_id: prompt,
            dataset_id: dataset,
            dataset_version: None,
            variants: vec![baseline, candidate],
            repeats: args.cells.repeats,
            concurrency: args.cells.concurrency,
            max_cost_usd: args.cells.max_cost,
            evaluators,
        })
        .await
        .map_err(|e| anyhow!("{e}"))?;
    eprintln!(
        "experiment {}: {} cells",
        experiment.id, experiment.progress.total
    );
    let done = run_here(cfg, app, &experiment).await?;
    if done.status != ExperimentStatus::Succeeded {
        bail!("the experiment did not finish: {}", summary(&done));
    }
    app.compare_experiments(
        CompareSide {
            experiment: done.id,
            variant: 0,
        },
        CompareSide {
            experiment: done.id,
            variant: 1,
        },
    )
    .await
    .map_err(|e| anyhow!("{e}"))
}

fn regressed(c: &ExperimentComparison) -> bool {
    c.comparison
        .evaluators
        .iter()
        .any(|e| e.verdict == Verdict::Worse)
}

fn verdict(v: Verdict) -> &'static str {
    match v {
        Verdict::Better => "better",
        Verdict::Worse => "WORSE",
        Verdict::NoDifference => "no difference",
        Verdict::InsufficientData => "insufficient data",
    }
}

fn num(x: Option<f64>) -> String {
    x.map_or("—".into(), |x| format!("{x:.3}"))
}

/// One row per evaluator, then the items that regressed.
fn table(c: &ExperimentComparison) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "{:<24} {:>9} {:>9} {:>8} {:>19} {:>8}  verdict",
        "evaluator", "baseline", "candidate", "diff", "95% interval", "p"
    );
    for e in &c.comparison.evaluators {
        let ci =
            e.ci.map_or("—".into(), |[lo, hi]| format!("[{lo:+.3}, {hi:+.3}]"));
        let p = e.mcnemar.map(|m| m.p).or(e.permutation_p);
        let _ = writeln!(
            out,
            "{:<24} {:>9} {:>9} {:>8} {:>19} {:>8}  {}",
            e.evaluator,
            num(e.baseline_mean),
            num(e.candidate_mean),
            e.diff.map_or("—".into(), |d| format!("{d:+.3}")),
            ci,
            num(p),
            verdict(e.verdict)
        );
    }
    let regressed: Vec<&str> = c
        .comparison
        .items
        .iter()
        .filter(|i| i.outcome == ItemOutcome::Regressed)
        .map(|i| i.item_id.as_str())
        .collect();
    let _ = writeln!(
        out,
        "{} items compared, {} regressed{}",
        c.comparison.shared_items,
        regressed.len(),
        if regressed.is_empty() {
            String::new()
        } else {
            format!(": {}", regressed.join(", "))
        }
    );
    out
}

/// JUnit XML: a test case per evaluator (failed when worse) and one per
/// regressed item, so CI systems list what regressed.
fn junit(c: &ExperimentComparison) -> anyhow::Result<String> {
    let mut suite = TestSuite::new("promptrefine eval");
    for e in &c.comparison.evaluators {
        let status = if e.verdict == Verdict::Worse {
            let mut s = TestCaseStatus::non_success(NonSuccessKind::Failure);
            s.set_message(format!(
                "worse: {} → {} (diff {})",
                num(e.baseline_mean),
                num(e.candidate_mean),
                e.diff.map_or("—".into(), |d| format!("{d:+.3}"))
            ));
            s
        } else {
            TestCaseStatus::success()
        };
        suite.add_test_case(TestCase::new(format!("evaluator {}", e.evaluator), status));
    }
    for item in c
        .comparison
        .items
        .iter()
        .filter(|i| i.outcome == ItemOutcome::Regressed)
    {
        let mut s = TestCaseStatus::non_success(NonSuccessKind::Failure);
        let which: Vec<&str> = item
            .evaluators
            .iter()
            .filter(|e| e.outcome == ItemOutcome::Regressed)
            .map(|e| e.evaluator.as_str())
            .collect();
        s.set_message(format!("regressed on {}", which.join(", ")));
        suite.add_test_case(TestCase::new(format!("item {}", item.item_id), s));
    }
    let mut report = Report::new("promptrefine eval");
    report.add_test_suite(suite);
    Ok(report.to_string()?)
}
