//! Wire types of an experiment's scores: its summary, a comparison, a
//! rescore. The statistics' own types (`promptrefine_eval`) go on the wire
//! as they are; what is added here names what was compared.

use promptrefine_app::experiments::scoring::ExperimentComparison;
use promptrefine_core::{Experiment, ExperimentId};
use promptrefine_eval::{Delta, EvaluatorComparison, ItemComparison, Summary};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

/// An experiment with, once it has ended, the summary of its scores.
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ExperimentDetail {
    #[serde(flatten)]
    pub experiment: Experiment,
    /// Per variant: each evaluator's mean with a 95 % interval, pass rates,
    /// consistency over repeats, tokens, cost and latency. Present once the
    /// experiment has ended (`GET …/summary` gives it at any time).
    pub summary: Option<Summary>,
}

/// `POST /api/experiments/reusable`: an experiment body as
/// `POST /api/experiments` takes it, and which of its variants to look for.
#[derive(Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ReusableQuery {
    pub experiment: super::experiments::CreateExperimentBody,
    /// The variant's index in `experiment.variants` (default 0).
    #[serde(default)]
    pub variant: Option<usize>,
}

/// A finished experiment whose variant `variant` ran what was asked for.
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ReusableBody {
    /// `null` when no finished experiment matches.
    pub experiment: Option<Experiment>,
    /// The matching variant's index in `experiment.variants`.
    pub variant: Option<i64>,
}

/// `POST /api/experiments/{id}/rescore`.
#[derive(Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct RescoreBody {
    /// The evaluators to score the stored outputs with; they replace the
    /// experiment's.
    #[schema(value_type = Vec<Object>)]
    pub evaluators: serde_json::Value,
}

/// `GET /api/experiments/compare`: two experiments
/// (`baseline=ID&candidate=ID`, variant 0 of each unless
/// `baselineVariant`/`candidateVariant` say otherwise), or two variants of
/// one (`experiment=ID&baseline=0&candidate=1`).
#[derive(Deserialize, IntoParams)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct CompareQuery {
    /// With `experiment`: a variant number; without: an experiment id.
    pub baseline: Option<String>,
    /// With `experiment`: a variant number; without: an experiment id.
    pub candidate: Option<String>,
    pub experiment: Option<String>,
    pub baseline_variant: Option<i64>,
    pub candidate_variant: Option<i64>,
}

/// One side of a comparison.
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct CompareSideBody {
    pub experiment_id: ExperimentId,
    pub variant: i64,
}

/// One item of a comparison, with an output of each side.
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ComparedItem {
    #[serde(flatten)]
    pub item: ItemComparison,
    /// The baseline's output for this item (its first repeat).
    pub baseline_output: Option<String>,
    pub candidate_output: Option<String>,
}

/// A comparison of a candidate with a baseline.
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ComparisonBody {
    pub baseline: CompareSideBody,
    pub candidate: CompareSideBody,
    /// Both ran the same dataset version; when false only the items they
    /// share are compared (`sharedItems`, `baselineOnly`, `candidateOnly`).
    pub same_dataset_version: bool,
    /// Items with cells on both sides.
    pub shared_items: usize,
    pub baseline_only: Vec<String>,
    pub candidate_only: Vec<String>,
    /// Per evaluator: means, the paired difference and its interval,
    /// McNemar's test and the verdict.
    pub evaluators: Vec<EvaluatorComparison>,
    /// Shared items, by id, with both outputs.
    pub items: Vec<ComparedItem>,
    pub cost_delta: Option<Delta>,
    pub latency_p50_delta: Option<Delta>,
    pub tokens_delta: Option<Delta>,
}

impl From<ExperimentComparison> for ComparisonBody {
    fn from(mut c: ExperimentComparison) -> Self {
        let cmp = c.comparison;
        let items = cmp
            .items
            .into_iter()
            .map(|item| {
                let (baseline_output, candidate_output) =
                    c.outputs.remove(&item.item_id).unwrap_or_default();
                ComparedItem {
                    item,
                    baseline_output,
                    candidate_output,
                }
            })
            .collect();
        ComparisonBody {
            baseline: CompareSideBody {
                experiment_id: c.baseline.experiment,
                variant: c.baseline.variant,
            },
            candidate: CompareSideBody {
                experiment_id: c.candidate.experiment,
                variant: c.candidate.variant,
            },
            same_dataset_version: c.same_dataset_version,
            shared_items: cmp.shared_items,
            baseline_only: cmp.baseline_only,
            candidate_only: cmp.candidate_only,
            evaluators: cmp.evaluators,
            items,
            cost_delta: cmp.cost_delta,
            latency_p50_delta: cmp.latency_p50_delta,
            tokens_delta: cmp.tokens_delta,
        }
    }
}
