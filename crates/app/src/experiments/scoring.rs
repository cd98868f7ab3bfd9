//! Evaluators in experiments: checked when an experiment is made, run on
//! each cell's output as it ends (the engine), and summarized, compared and
//! rescored on request. The rules and the statistics are
//! `promptrefine_eval`'s; this module feeds it stored cells.
//!
//! Seeds: every summary and comparison is seeded from the experiments' ids,
//! so the same stored data always gives the same numbers.
//!
//! Evaluators that call out (`llm_judge`, `http`) are in `judges` and
//! `scorer`; a rescore calls them too (judges call only the judge).

use std::collections::BTreeMap;

use std::sync::Arc;

use promptrefine_core::validate::{Rule, Violations};
use promptrefine_core::{Experiment, ExperimentId, ExperimentStatus};
use promptrefine_eval::{
    CellScore, CompareOptions, Comparison, EvaluatorKind, EvaluatorSpec, Summary, compare_with,
};
use promptrefine_store::ScoredCell;

use super::judges::Judges;
use super::scorer::{Scorer, ToScore};
use crate::App;
use crate::error::{AppError, OrNotFound, Result};

/// Paired items fewer than this give `insufficient_data`.
pub const MIN_PAIRS: usize = 10;

impl App {
    /// The evaluators of `POST /api/experiments` (or a rescore), checked;
    /// each bad field named under `evaluators`: `http` ones must name an
    /// allowed host, judges must resolve to a prompt version with a model.
    pub(crate) async fn parse_evaluators(
        &self,
        value: Option<&serde_json::Value>,
    ) -> Result<Scorer> {
        let empty = serde_json::Value::Array(vec![]);
        let specs = EvaluatorSpec::parse_list(value.unwrap_or(&empty), "evaluators")
            .map_err(AppError::Invalid)?;
        promptrefine_eval::spec::check_http_allowed(
            &specs,
            &self.evaluation.http_hosts,
            "evaluators",
        )
        .map_err(AppError::Invalid)?;
        let judges = self.resolve_judges(&specs).await?;
        Ok(Scorer {
            specs: pin_judges(specs, &judges),
            judges,
        })
    }
}

/// Each judge as the version it resolved to (prompt id and version id,
/// the label dropped), so the stored evaluators name exactly the judge that
/// scored: a label moved while the experiment runs — or before a replica
/// picks it up, or before a rescore reads it back — changes nothing, and
/// two experiments judged by different versions do not look alike.
fn pin_judges(mut specs: Vec<EvaluatorSpec>, judges: &Judges) -> Vec<EvaluatorSpec> {
    for (i, judge) in judges {
        if let Some(EvaluatorKind::LlmJudge {
            prompt_id,
            label,
            version_id,
            ..
        }) = specs.get_mut(*i).map(|s| &mut s.kind)
        {
            *prompt_id = judge.version.prompt_id.to_string();
            *label = None;
            *version_id = Some(judge.version.id.to_string());
        }
    }
    specs
}

/// The stored evaluators of an experiment, parsed again (they were checked
/// when it was made).
pub(crate) fn stored_evaluators(experiment: &Experiment) -> Vec<EvaluatorSpec> {
    EvaluatorSpec::parse_list(&experiment.evaluators, "evaluators").unwrap_or_else(|e| {
        tracing::warn!(experiment = %experiment.id, error = %e, "stored evaluators do not parse; scoring none");
        vec![]
    })
}

/// The seed of an experiment's statistics: from its id, so it never changes.
pub(super) fn seed_of(id: ExperimentId) -> u64 {
    let bytes = id.0.as_bytes();
    u64::from_le_bytes(bytes[8..16].try_into().unwrap_or_default())
}

/// Stored cells as the statistics read them: succeeded cells only (a failed
/// or cancelled call has no output to score; the progress counts those),
/// with their scores.
pub(super) fn cell_scores(cells: &[ScoredCell], variant: Option<i64>) -> Vec<CellScore> {
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

    /// Scores the stored outputs again with `evaluators` (no call to the
    /// judged model; judges and http evaluators are called), which become
    /// the experiment's; its new summary. What judges spend is added to the
    /// experiment's spend, and a rescore whose judges' worst case would
    /// cross its budget is refused.
    pub async fn rescore_experiment(
        &self,
        id: ExperimentId,
        evaluators: &serde_json::Value,
    ) -> Result<Summary> {
        let scorer = self.parse_evaluators(Some(evaluators)).await?;
        let experiment = self
            .store
            .experiments()
            .get(id)
            .await
            .or_not_found("experiment")?;
        let cells: Vec<ScoredCell> = self
            .store
            .experiments()
            .scored_cells(experiment.id, true)
            .await?
            .into_iter()
            .filter(|c| c.status == promptrefine_core::CellStatus::Succeeded)
            .collect();
        if !scorer.judges.is_empty() {
            self.check_rescore_budget(&experiment, &scorer, &cells)
                .await?;
        }
        let scorer = Arc::new(scorer);
        let scored = self.rescore_cells(scorer.clone(), cells).await;
        let judge_cost: i64 = scored.iter().filter_map(|(_, _, c)| *c).sum();
        let scores: Vec<(uuid::Uuid, serde_json::Value)> =
            scored.into_iter().map(|(id, s, _)| (id, s)).collect();
        self.store
            .experiments()
            .set_scores(id, &EvaluatorSpec::list_to_json(&scorer.specs), &scores)
            .await?;
        if judge_cost > 0 {
            self.store.experiments().add_spend(id, judge_cost).await?;
        }
        self.experiment_summary(id).await
    }

    /// Scores cells with up to [`RESCORE_CONCURRENCY`] at once when
    /// evaluators call out (each in its own task, so a dropped request does
    /// not leave judge runs half-written), one after another otherwise.
    async fn rescore_cells(
        &self,
        scorer: Arc<Scorer>,
        cells: Vec<ScoredCell>,
    ) -> Vec<(uuid::Uuid, serde_json::Value, Option<i64>)> {
        let permits = Arc::new(tokio::sync::Semaphore::new(RESCORE_CONCURRENCY));
        let mut out = Vec::with_capacity(cells.len());
        if !scorer.calls_out() {
            for c in &cells {
                let scored = self
                    .score_output(&scorer, &to_score(c), &permits, |_| {})
                    .await;
                out.push((
                    c.id,
                    scored.scores.unwrap_or_else(|| serde_json::json!([])),
                    None,
                ));
            }
            return out;
        }
        let mut tasks = tokio::task::JoinSet::new();
        let gate = Arc::new(tokio::sync::Semaphore::new(RESCORE_CONCURRENCY));
        for c in cells {
            let Ok(turn) = gate.clone().acquire_owned().await else {
                break;
            };
            let (app, scorer, permits) = (self.clone(), scorer.clone(), permits.clone());
            tasks.spawn(async move {
                let scored = app
                    .score_output(&scorer, &to_score(&c), &permits, |_| {})
                    .await;
                drop(turn);
                (
                    c.id,
                    scored.scores.unwrap_or_else(|| serde_json::json!([])),
                    scored.judge_cost_micro_usd,
                )
            });
        }
        while let Some(done) = tasks.join_next().await {
            match done {
                Ok(row) => out.push(row),
                Err(e) => tracing::error!(error = %e, "a rescore task failed"),
            }
        }
        out
    }

    /// A rescore's judges may not take an experiment past its budget: their
    /// worst case over every cell must fit in what is left of it.
    async fn check_rescore_budget(
        &self,
        experiment: &Experiment,
        scorer: &Scorer,
        cells: &[ScoredCell],
    ) -> Result<()> {
        let Some(cap) = experiment.max_cost_micro_usd else {
            return Ok(());
        };
        // While cells are claimed, the budget moves under the check.
        if matches!(
            experiment.status,
            ExperimentStatus::Queued | ExperimentStatus::Running
        ) {
            return Err(AppError::invalid(
                "evaluators",
                "oneOf",
                "judges cannot rescore a running experiment with a budget: pause it or let it end first",
            ));
        }
        let limit = self.runs.max_rendered_bytes();
        let mut worst: i64 = 0;
        for (i, judge) in &scorer.judges {
            let prices = &*self.prices_for(&judge.provider).await;
            if prices.price(&judge.model).is_none() {
                return Err(AppError::invalid(
                    &format!("evaluators[{i}].promptId"),
                    "oneOf",
                    format!(
                        "the experiment has a budget and the judge's model {} has no price",
                        judge.model
                    ),
                ));
            }
            for c in cells {
                let input = super::judges::input_text(c.input.as_deref().unwrap_or_default());
                let completion = c.output.as_deref().map_or(0, |o| {
                    promptrefine_llm::tokens::text_tokens(&judge.model, o)
                });
                let (w, _) = super::judges::judge_cost(
                    prices,
                    limit,
                    judge,
                    &c.variables,
                    &input,
                    completion,
                )
                .map_err(|_| {
                    AppError::invalid(
                        &format!("evaluators[{i}].promptId"),
                        "required",
                        "the judge prompt uses a variable the items do not have",
                    )
                })?;
                worst += w.unwrap_or(0);
            }
        }
        let left = cap - experiment.cost_micro_usd - experiment.reserved_micro_usd;
        if worst > left {
            return Err(AppError::invalid(
                "evaluators",
                "range",
                format!(
                    "the judges may cost up to ${:.4}, and ${:.4} of the experiment's budget is left; resume with a higher budget first",
                    worst as f64 / 1e6,
                    left.max(0) as f64 / 1e6
                ),
            ));
        }
        Ok(())
    }
}

/// Judge calls of one rescore in flight at once.
const RESCORE_CONCURRENCY: usize = 8;

fn to_score(c: &ScoredCell) -> ToScore<'_> {
    ToScore {
        output: c.output.as_deref().unwrap_or(""),
        expected: c.expected.as_ref(),
        variables: &c.variables,
        metadata: c.metadata.as_ref().and_then(|m| m.as_object()),
        latency_ms: c.latency_ms,
        cost_micro_usd: c.cost_micro_usd,
        run_id: c.run_id,
        input: c.input.as_deref().unwrap_or_default(),
    }
}
