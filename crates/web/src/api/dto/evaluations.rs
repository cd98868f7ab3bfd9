//! Wire types of an experiment's scores: its summary, a comparison, a
//! rescore. The statistics' own types (`promptrefine_eval`) go on the wire
//! as they are; what is added here names what was compared.

use promptrefine_app::experiments::scoring::ExperimentComparison;
use promptrefine_core::{Experiment, ExperimentId};
use promptrefine_eval::{Comparison, Summary};
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

/// A comparison of a candidate with a baseline.
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ComparisonBody {
    pub baseline: CompareSideBody,
    pub candidate: CompareSideBody,
    /// Both ran the same dataset version; when false only the items they
    /// share are compared (`sharedItems`, `baselineOnly`, `candidateOnly`).
    pub same_dataset_version: bool,
    #[serde(flatten)]
    pub comparison: Comparison,
}

impl From<ExperimentComparison> for ComparisonBody {
    fn from(c: ExperimentComparison) -> Self {
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
            comparison: c.comparison,
        }
    }
}
