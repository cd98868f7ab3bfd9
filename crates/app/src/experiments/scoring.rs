//! Evaluators in experiments: checked when an experiment is made, run on
//! each cell's output as it ends (the engine), and summarized, compared and
//! rescored on request. The rules and the statistics are
//! `promptrefine_eval`'s; this module feeds it stored cells.
//!
//! Seeds: every summary and comparison is seeded from the experiments' ids,
//! so the same stored data always gives the same numbers.
//!
//! Not yet here: `llm_judge` and `http` evaluators are refused (422) until
//! their calls are wired through the run service and the rate limiter.

use std::collections::BTreeMap;

use promptrefine_core::validate::{Rule, Violations};
use promptrefine_core::{Experiment, ExperimentId};
use promptrefine_eval::{
    CellScore, CompareOptions, Comparison, EvaluatorSpec, Sample, Score, Summary, compare_with,
    summarize,
};
use promptrefine_store::ScoredCell;

use crate::App;
use crate::error::{AppError, OrNotFound, Result};

/// Paired items fewer than this give `insufficient_data`.
pub const MIN_PAIRS: usize = 10;

/// The evaluators of `POST /api/experiments` (or a rescore), checked; each
/// bad field named under `evaluators`.
pub(crate) fn parse_evaluators(value: Option<&serde_json::Value>) -> Result<Vec<EvaluatorSpec>> {
    let empty = serde_json::Value::Array(vec![]);
    let specs = EvaluatorSpec::parse_list(value.unwrap_or(&empty), "evaluators")
        .map_err(AppError::Invalid)?;
    let mut v = Violations::new();
    for (i, spec) in specs.iter().enumerate() {
        if !spec.is_deterministic() {
            v.push(
                format!("evaluators[{i}].type"),
                Rule::OneOf,
                format!(
                    "{} evaluators are not available yet; use a deterministic one",
                    spec.type_name()
                ),
            );
        }
    }
    v.into_result().map_err(AppError::Invalid)?;
    Ok(specs)
}

/// The stored evaluators of an experiment, parsed again (they were checked
/// when it was made).
pub(crate) fn stored_evaluators(experiment: &Experiment) -> Vec<EvaluatorSpec> {
    EvaluatorSpec::parse_list(&experiment.evaluators, "evaluators").unwrap_or_else(|e| {
        tracing::warn!(experiment = %experiment.id, error = %e, "stored evaluators do not parse; scoring none");
        vec![]
    })
}

/// What a cell's evaluators read.
pub(crate) struct CellOutput<'a> {
    pub output: &'a str,
    pub expected: Option<&'a serde_json::Value>,
    pub variables: &'a BTreeMap<String, String>,
    pub latency_ms: Option<i64>,
    pub cost_micro_usd: Option<i64>,
}

/// Every evaluator on one output: the stored JSON array of scores, or
/// `None` when there are no evaluators.
pub(crate) fn score_cell(
    specs: &[EvaluatorSpec],
    cell: &CellOutput<'_>,
) -> Option<serde_json::Value> {
    if specs.is_empty() {
        return None;
    }
    let mut sample = Sample::new(cell.output).with_variables(cell.variables);
    if let Some(e) = cell.expected {
        sample = sample.with_expected(e);
    }
    if let Some(ms) = cell.latency_ms {
        sample = sample.with_latency_ms(ms.max(0) as u64);
    }
    if let Some(micro) = cell.cost_micro_usd {
        sample = sample.with_cost_usd(micro as f64 / 1e6);
    }
    let scores: Vec<Score> = specs
        .iter()
        .map(|s| promptrefine_eval::score(s, &sample))
        .collect();
    serde_json::to_value(scores).ok()
}

/// The seed of an experiment's statistics: from its id, so it never changes.
fn seed_of(id: ExperimentId) -> u64 {
    let bytes = id.0.as_bytes();
    u64::from_le_bytes(bytes[8..16].try_into().unwrap_or_default())
}

/// Stored cells as the statistics read them: succeeded cells only (a failed
/// or cancelled call has no output to score; the progress counts those),
/// with their scores.
fn cell_scores(cells: &[ScoredCell], variant: Option<i64>) -> Vec<CellScore> {
    cells
        .iter()
        .filter(|c| c.status == promptrefine_core::CellStatus::Succeeded)
        .filter(|c| variant.is_none_or(|v| c.variant == v))
        .map(|c| CellScore {
            item_id: c.item_id.to_string(),
            variant: c.variant.max(0) as u32,
            repeat: c.repeat.max(0) as u32,
            scores: c
                .scores
                .clone()
                .and_then(|s| serde_json::from_value(s).ok())
                .unwrap_or_default(),
            cost_usd: c.cost_micro_usd.map(|m| m as f64 / 1e6),
            latency_ms: c.latency_ms.map(|m| m.max(0) as u64),
            tokens: c.total_tokens.map(|t| t.max(0) as u64),
        })
        .collect()
}

/// One side of a comparison: an experiment and one of its variants.
#[derive(Clone, Copy, Debug)]
pub struct CompareSide {
    pub experiment: ExperimentId,
    pub variant: i64,
}

/// A comparison, with what it compared.
#[derive(Clone, Debug)]
pub struct ExperimentComparison {
    pub baseline: CompareSide,
    pub candidate: CompareSide,
    /// Both sides ran the same dataset version; when not, only the items
    /// they share are compared.
    pub same_dataset_version: bool,
    pub comparison: Comparison,
    /// Per item id: an output of each side (its first repeat's), to show
    /// beside the item's outcome.
    pub outputs: BTreeMap<String, (Option<String>, Option<String>)>,
}

impl App {
    /// Per variant: each evaluator's mean with its interval, pass rates,
    /// repeats' consistency, tokens, cost and latency, over the cells ended
    /// so far.
    pub async fn experiment_summary(&self, id: ExperimentId) -> Result<Summary> {
        self.store
            .experiments()
            .get(id)
            .await
            .or_not_found("experiment")?;
        let cells = self.store.experiments().scored_cells(id, false).await?;
        Ok(summarize(&cell_scores(&cells, None), seed_of(id)))
    }

    /// Compares a candidate with a baseline (two experiments, or two
    /// variants of one), per evaluator and per item, with verdicts.
    pub async fn compare_experiments(
        &self,
        baseline: CompareSide,
        candidate: CompareSide,
    ) -> Result<ExperimentComparison> {
        type Side = (Experiment, Vec<CellScore>, BTreeMap<String, String>);
        let side = async |s: CompareSide, field: &str| -> Result<Side> {
            let e = self
                .store
                .experiments()
                .get(s.experiment)
                .await
                .or_not_found("experiment")?;
            if s.variant < 0 || s.variant as usize >= e.variants.len() {
                let mut v = Violations::new();
                v.push(
                    field,
                    Rule::Range,
                    format!("the experiment has {} variant(s)", e.variants.len()),
                );
                return Err(AppError::Invalid(v));
            }
            let cells = self.store.experiments().scored_cells(e.id, true).await?;
            let scores = cell_scores(&cells, Some(s.variant));
            let mut outputs = BTreeMap::new();
            for cell in cells.into_iter().filter(|c| c.variant == s.variant) {
                if let Some(out) = cell.output {
                    outputs.entry(cell.item_id.to_string()).or_insert(out);
                }
            }
            Ok((e, scores, outputs))
        };
        let (b, b_cells, mut b_out) = side(baseline, "baselineVariant").await?;
        let (c, c_cells, mut c_out) = side(candidate, "candidateVariant").await?;
        let options = CompareOptions {
            seed: seed_of(baseline.experiment) ^ seed_of(candidate.experiment).rotate_left(1),
            min_pairs: MIN_PAIRS,
            ..CompareOptions::default()
        };
        let comparison = compare_with(&b_cells, &c_cells, &options);
        let outputs = comparison
            .items
            .iter()
            .map(|i| {
                let id = i.item_id.clone();
                let pair = (b_out.remove(&id), c_out.remove(&id));
                (id, pair)
            })
            .collect();
        Ok(ExperimentComparison {
            baseline,
            candidate,
            same_dataset_version: b.dataset_id == c.dataset_id
                && b.dataset_version == c.dataset_version,
            comparison,
            outputs,
        })
    }

    /// Scores the stored outputs again with `evaluators` (no model call),
    /// which become the experiment's; its new summary.
    pub async fn rescore_experiment(
        &self,
        id: ExperimentId,
        evaluators: &serde_json::Value,
    ) -> Result<Summary> {
        let specs = parse_evaluators(Some(evaluators))?;
        let experiment = self
            .store
            .experiments()
            .get(id)
            .await
            .or_not_found("experiment")?;
        let cells = self
            .store
            .experiments()
            .scored_cells(experiment.id, true)
            .await?;
        let scores: Vec<(uuid::Uuid, serde_json::Value)> = cells
            .iter()
            .filter(|c| c.status == promptrefine_core::CellStatus::Succeeded)
            .map(|c| {
                let value = score_cell(
                    &specs,
                    &CellOutput {
                        output: c.output.as_deref().unwrap_or(""),
                        expected: c.expected.as_ref(),
                        variables: &c.variables,
                        latency_ms: c.latency_ms,
                        cost_micro_usd: c.cost_micro_usd,
                    },
                )
                .unwrap_or(serde_json::Value::Array(vec![]));
                (c.id, value)
            })
            .collect();
        self.store
            .experiments()
            .set_scores(id, &EvaluatorSpec::list_to_json(&specs), &scores)
            .await?;
        self.experiment_summary(id).await
    }
}
