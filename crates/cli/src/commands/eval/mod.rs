//! `promptrefine eval`: the gate a team puts in CI before a label moves.
//!
//! It asks for one experiment of two variants over the dataset's current
//! version — the baseline (variant 0) and the candidate (variant 1), so both
//! see the same items, settings and evaluators. When a finished experiment
//! already ran that baseline exactly (same dataset version, version,
//! provider, model, settings, repeats and evaluators; every cell succeeded),
//! its cells are reused and only the candidate runs (`--fresh` runs both).
//! Then it compares the candidate with the baseline and prints a table.
//!
//! Where it runs: by default this process opens the database and joins as an
//! instance (a running server shares the cells); with `--url` it asks a
//! server over HTTP with the API token in `PROMPTREFINE_TOKEN`, and the
//! server's engine runs the cells ([`local`] and [`remote`], one
//! [`Backend`] each, so both ask the same questions).
//!
//! Exit codes: 0 when no evaluator's verdict is `worse`, 1 when one is (a
//! regression), 2 on any error (bad arguments, a failed or paused
//! experiment, a file not written). The evaluators file may also hold
//! `[thresholds]`: `name = 0.9` asks that the candidate's pass rate for
//! evaluator `name` (its mean score when it has no pass/fail) be at least
//! 0.9; one that does not hold is a regression too.

mod local;
mod remote;
mod report;

use std::collections::BTreeMap;
use std::process::ExitCode;

use anyhow::{Context, anyhow, bail};
use promptrefine_app::experiments::scoring::CompareSide;
use promptrefine_app::experiments::{CreateExperiment, Reusable, VariantSpec};
use promptrefine_core::{Experiment, ExperimentId, ExperimentStatus};
use promptrefine_eval::{Comparison, Summary, Verdict};

use super::experiment::summary as one_line;
use crate::cli::EvalArgs;
use crate::config::Config;
use report::{num, table};

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

/// Where the gate's experiments are made, run and compared.
trait Backend {
    /// The prompt's and the dataset's ids, from what the user typed.
    async fn resolve(&self, prompt: &str, dataset: &str) -> anyhow::Result<(String, String)>;
    /// `7` → that version of `prompt`, anything else a label.
    async fn variant(&self, prompt: &str, text: &str) -> anyhow::Result<VariantSpec>;
    /// The finished experiment that already ran `request.variants[0]`.
    async fn reusable(&self, request: &CreateExperiment) -> anyhow::Result<Option<Reusable>>;
    /// Creates the experiment and waits until it ends (or pauses).
    async fn run(&self, request: CreateExperiment) -> anyhow::Result<Experiment>;
    async fn compare(
        &self,
        baseline: CompareSide,
        candidate: CompareSide,
    ) -> anyhow::Result<Compared>;
    async fn summary(&self, experiment: ExperimentId) -> anyhow::Result<Summary>;
}

/// A comparison as the gate reads it, from either backend.
pub(super) struct Compared {
    pub same_dataset_version: bool,
    pub comparison: Comparison,
}

/// What the gate found: both sides, the comparison, and the candidate's
/// summary (its thresholds).
struct Outcome {
    baseline: CompareSide,
    candidate: CompareSide,
    /// The baseline's cells came from an earlier experiment.
    reused: bool,
    compared: Compared,
    summary: Summary,
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
    let outcome = match &args.url {
        Some(url) => {
            let backend = remote::Remote::new(url)?;
            evaluate(&backend, args, evaluators).await?
        }
        None => {
            let backend = local::Local::open(cfg).await?;
            let outcome = evaluate(&backend, args, evaluators).await;
            backend.close().await;
            outcome?
        }
    };
    let thresholds = check_thresholds(&thresholds, &outcome.summary, outcome.candidate.variant)?;
    let compared = &outcome.compared;
    print!("{}", table(&compared.comparison));
    for t in &thresholds {
        println!(
            "threshold {}: {} ≥ {:.3} {}",
            t.evaluator,
            num(t.got),
            t.min,
            if t.holds() { "holds" } else { "FAILS" }
        );
    }
    let failed = regressed(&compared.comparison) || thresholds.iter().any(|t| !t.holds());
    if let Some(path) = &args.json {
        let side = |s: CompareSide| serde_json::json!({ "experimentId": s.experiment, "variant": s.variant });
        let json = serde_json::json!({
            "experimentId": outcome.candidate.experiment,
            "baseline": side(outcome.baseline),
            "candidate": side(outcome.candidate),
            "baselineReused": outcome.reused,
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
        std::fs::write(path, report::junit(&compared.comparison, &thresholds)?)
            .with_context(|| format!("cannot write {}", path.display()))?;
    }
    Ok(failed)
}

/// The gate's questions, the same for both backends: what to run, whether
/// the baseline already ran, run what is missing, compare.
async fn evaluate(
    backend: &impl Backend,
    args: &EvalArgs,
    evaluators: Option<serde_json::Value>,
) -> anyhow::Result<Outcome> {
    let (prompt, dataset) = backend.resolve(&args.prompt, &args.dataset).await?;
    let baseline = backend
        .variant(&prompt, &args.baseline)
        .await
        .context("--baseline")?;
    let candidate = backend
        .variant(&prompt, &args.candidate)
        .await
        .context("--candidate")?;
    let request = CreateExperiment {
        name: Some(format!("eval {} vs {}", args.candidate, args.baseline)),
        prompt_id: prompt.parse().context("the server's prompt id")?,
        dataset_id: dataset.parse().context("the server's dataset id")?,
        dataset_version: None,
        variants: vec![baseline, candidate],
        repeats: args.cells.repeats,
        concurrency: args.cells.concurrency,
        max_cost_usd: args.cells.max_cost,
        evaluators,
    };
    let reuse = if args.fresh {
        None
    } else {
        backend.reusable(&request).await?
    };
    let (baseline, candidate, reused) = match reuse {
        Some(old) => {
            eprintln!(
                "baseline: reusing variant {} of experiment {} ({} cells, dataset version {})",
                old.variant,
                old.experiment.id,
                old.experiment.progress.total / old.experiment.variants.len().max(1) as i64,
                old.experiment.dataset_version
            );
            let only = CreateExperiment {
                name: Some(format!(
                    "eval {} (baseline {} from {})",
                    args.candidate, args.baseline, old.experiment.id
                )),
                dataset_version: Some(old.experiment.dataset_version),
                variants: vec![request.variants[1].clone()],
                ..request
            };
            let done = ran(backend.run(only).await?)?;
            let baseline = CompareSide {
                experiment: old.experiment.id,
                variant: old.variant,
            };
            (
                baseline,
                CompareSide {
                    experiment: done.id,
                    variant: 0,
                },
                true,
            )
        }
        None => {
            let done = ran(backend.run(request).await?)?;
            (
                CompareSide {
                    experiment: done.id,
                    variant: 0,
                },
                CompareSide {
                    experiment: done.id,
                    variant: 1,
                },
                false,
            )
        }
    };
    let compared = backend.compare(baseline, candidate).await?;
    let summary = backend.summary(candidate.experiment).await?;
    Ok(Outcome {
        baseline,
        candidate,
        reused,
        compared,
        summary,
    })
}

/// The experiment, when it finished; an error saying how it ended if not.
fn ran(done: Experiment) -> anyhow::Result<Experiment> {
    if done.status != ExperimentStatus::Succeeded {
        bail!("the experiment did not finish: {}", one_line(&done));
    }
    Ok(done)
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
    summary: &Summary,
    variant: i64,
) -> anyhow::Result<Vec<Threshold>> {
    let candidate = summary
        .variants
        .iter()
        .find(|v| i64::from(v.variant) == variant);
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

fn regressed(c: &Comparison) -> bool {
    c.evaluators.iter().any(|e| e.verdict == Verdict::Worse)
}
