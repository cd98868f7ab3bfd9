//! `promptrefine eval`: the gate a team puts in CI before a label moves.
//!
//! It makes one experiment of two variants over the dataset's current
//! version — the baseline (variant 0) and the candidate (variant 1), so both
//! see the same items, settings and evaluators — runs it here (this process
//! joins as an instance; a running server shares the cells), compares the
//! candidate with the baseline and prints a table. Exit codes: 0 when no
//! evaluator's verdict is `worse`, 1 when one is (a regression), 2 on any
//! error (bad arguments, a failed or paused experiment, a file not written).
//! The evaluators file may also hold `[thresholds]`: `name = 0.9` asks that
//! the candidate's pass rate for evaluator `name` (its mean score when it
//! has no pass/fail) be at least 0.9; one that does not hold is a
//! regression too.
//!
//! Not yet: reusing a finished baseline experiment, and talking to a server
//! over HTTP (`--url`); it opens the database like the other commands.

use std::collections::BTreeMap;
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
    let file = match &args.evaluators {
        Some(path) => Some(read_evaluators(path)?),
        None => None,
    };
    let (evaluators, thresholds) = match file {
        Some(f) => (Some(f.evaluators), f.thresholds),
        None => (None, BTreeMap::new()),
    };
    // A threshold naming no evaluator is refused before anything is spent.
    if let Some(list) = &evaluators
        && let Ok(specs) = promptrefine_eval::EvaluatorSpec::parse_list(list, "evaluators")
        && let Some(name) = thresholds
            .keys()
            .find(|n| !specs.iter().any(|s| &s.name == *n))
    {
        bail!("thresholds.{name}: no evaluator of that name");
    }
    let app = open_app(cfg)
        .await?
        .with_runs(run_service(cfg)?)
        .with_evaluator_hosts(cfg.evaluator_http_hosts.clone());
    let result = async {
        let compared = run_and_compare(cfg, &app, args, evaluators).await?;
        let summary = app
            .experiment_summary(compared.candidate.experiment)
            .await
            .map_err(|e| anyhow!("{e}"))?;
        anyhow::Ok((compared, summary))
    }
    .await;
    app.store().close().await;
    let (compared, summary) = result?;
    let thresholds = check_thresholds(&thresholds, &summary)?;
    print!("{}", table(&compared));
    for t in &thresholds {
        println!(
            "threshold {}: {} ≥ {:.3} {}",
            t.evaluator,
            num(t.got),
            t.min,
            if t.holds() { "holds" } else { "FAILS" }
        );
    }
    let failed = regressed(&compared) || thresholds.iter().any(|t| !t.holds());
    if let Some(path) = &args.json {
        let json = serde_json::json!({
            "experimentId": compared.baseline.experiment,
            "regressed": failed,
            "thresholds": thresholds.iter().map(|t| serde_json::json!({
                "evaluator": t.evaluator, "min": t.min, "candidate": t.got, "holds": t.holds(),
            })).collect::<Vec<_>>(),
            "sameDatasetVersion": compared.same_dataset_version,
            "comparison": compared.comparison,
        });
        std::fs::write(path, serde_json::to_string_pretty(&json)?)
            .with_context(|| format!("cannot write {}", path.display()))?;
    }
    if let Some(path) = &args.junit {
        std::fs::write(path, junit(&compared, &thresholds)?)
            .with_context(|| format!("cannot write {}", path.display()))?;
    }
    Ok(failed)
}

/// The evaluators file: `[[evaluators]]` as the JSON the API takes, and
/// `[thresholds]` (evaluator name → the least pass rate or mean).
struct EvaluatorsFile {
    evaluators: serde_json::Value,
    thresholds: BTreeMap<String, f64>,
}

fn read_evaluators(path: &std::path::Path) -> anyhow::Result<EvaluatorsFile> {
    let text =
        std::fs::read_to_string(path).with_context(|| format!("cannot read {}", path.display()))?;
    let mut doc: toml::Table =
        toml::from_str(&text).with_context(|| format!("{} is not TOML", path.display()))?;
    let list = doc
        .remove("evaluators")
        .ok_or_else(|| anyhow!("{} has no [[evaluators]]", path.display()))?;
    let mut thresholds = BTreeMap::new();
    if let Some(table) = doc.remove("thresholds") {
        let table = table
            .as_table()
            .ok_or_else(|| anyhow!("{}: [thresholds] must be a table", path.display()))?;
        for (name, value) in table {
            let min = value
                .as_float()
                .or_else(|| value.as_integer().map(|i| i as f64))
                .filter(|v| (0.0..=1.0).contains(v))
                .ok_or_else(|| {
                    anyhow!(
                        "{}: thresholds.{name} must be a number from 0 to 1",
                        path.display()
                    )
                })?;
            thresholds.insert(name.clone(), min);
        }
    }
    if let Some(other) = doc.keys().next() {
        bail!(
            "{}: unknown key {other:?} (expected [[evaluators]] and [thresholds])",
            path.display()
        );
    }
    Ok(EvaluatorsFile {
        evaluators: serde_json::to_value(list)?,
        thresholds,
    })
}

/// A threshold of the candidate's, as checked.
struct Threshold {
    evaluator: String,
    min: f64,
    /// The candidate's pass rate (or mean); `None` when it has no score.
    got: Option<f64>,
}

impl Threshold {
    fn holds(&self) -> bool {
        self.got.is_some_and(|g| g >= self.min)
    }
}

/// Every threshold against the candidate's summary; an unknown evaluator
/// name is an error (a typo must not pass silently).
fn check_thresholds(
    thresholds: &BTreeMap<String, f64>,
    summary: &promptrefine_eval::Summary,
) -> anyhow::Result<Vec<Threshold>> {
    let candidate = summary.variants.iter().find(|v| v.variant == 1);
    thresholds
        .iter()
        .map(|(name, min)| {
            let e = candidate
                .and_then(|v| v.evaluators.iter().find(|e| &e.evaluator == name))
                .ok_or_else(|| anyhow!("thresholds.{name}: no evaluator of that name"))?;
            Ok(Threshold {
                evaluator: name.clone(),
                min: *min,
                got: e.pass_rate.or(e.mean),
            })
        })
        .collect()
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
fn junit(c: &ExperimentComparison, thresholds: &[Threshold]) -> anyhow::Result<String> {
    let mut suite = TestSuite::new("promptrefine eval");
    for t in thresholds {
        let status = if t.holds() {
            TestCaseStatus::success()
        } else {
            let mut s = TestCaseStatus::non_success(NonSuccessKind::Failure);
            s.set_message(format!("{} < {:.3}", num(t.got), t.min));
            s
        };
        suite.add_test_case(TestCase::new(format!("threshold {}", t.evaluator), status));
    }
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
