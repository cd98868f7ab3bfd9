//! Bodies of `/api/experiments`.

use std::collections::BTreeMap;

use promptrefine_app::experiments::{CreateExperiment, VariantSpec};
use promptrefine_core::{CellStatus, Experiment, ModelSettings, PromptId, RunId, VersionId};
use promptrefine_store::ResultRow;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

/// One variant: a version (by id or label; default the current version)
/// and overrides.
#[derive(Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct VariantBody {
    #[serde(default)]
    pub version_id: Option<VersionId>,
    #[serde(default)]
    pub label: Option<String>,
    #[serde(default)]
    pub provider: Option<String>,
    #[serde(default)]
    pub model: Option<String>,
    #[serde(default)]
    pub params: Option<ModelSettings>,
    /// A model preset's name: its provider, model and params fill what
    /// `provider`, `model` and `params` leave unset.
    #[serde(default)]
    pub preset: Option<String>,
}

/// `POST /api/experiments` and `POST /api/experiments/estimate`.
#[derive(Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct CreateExperimentBody {
    #[serde(default)]
    pub name: Option<String>,
    pub prompt_id: PromptId,
    pub dataset_id: promptrefine_core::DatasetId,
    /// Default: the dataset's current version.
    #[serde(default)]
    pub dataset_version: Option<i64>,
    /// 1 to 8; default one variant, the current version.
    #[serde(default)]
    pub variants: Vec<VariantBody>,
    /// 1 to 20, default 1.
    #[serde(default)]
    pub repeats: Option<i64>,
    /// Cells of this experiment in flight at once, 1 to 256, default 8.
    #[serde(default)]
    pub concurrency: Option<i64>,
    /// The most it may spend, in USD; it pauses (`pauseReason: "budget"`)
    /// before a call whose worst case would cross it.
    #[serde(default)]
    pub max_cost_usd: Option<f64>,
    /// How each cell's output is scored (`exact_match`, `contains`,
    /// `llm_judge` …; see the README); stored in canonical form.
    #[serde(default)]
    #[schema(value_type = Option<Vec<Object>>)]
    pub evaluators: Option<serde_json::Value>,
}

impl From<CreateExperimentBody> for CreateExperiment {
    fn from(b: CreateExperimentBody) -> Self {
        CreateExperiment {
            name: b.name,
            prompt_id: b.prompt_id,
            dataset_id: b.dataset_id,
            dataset_version: b.dataset_version,
            variants: b
                .variants
                .into_iter()
                .map(|v| VariantSpec {
                    version_id: v.version_id,
                    label: v.label,
                    provider: v.provider,
                    model: v.model,
                    params: v.params,
                    preset: v.preset,
                })
                .collect(),
            repeats: b.repeats,
            concurrency: b.concurrency,
            max_cost_usd: b.max_cost_usd,
            evaluators: b.evaluators,
        }
    }
}

/// `POST /api/experiments/{id}/resume`.
#[derive(Deserialize, ToSchema, Default)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ResumeBody {
    /// A new cap, in USD (to continue after a budget pause).
    #[serde(default)]
    pub max_cost_usd: Option<f64>,
}

#[derive(Deserialize, IntoParams)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
#[into_params(parameter_in = Query, rename_all = "camelCase")]
pub struct ListExperimentsQuery {
    pub prompt_id: Option<String>,
    pub dataset_id: Option<String>,
    pub cursor: Option<String>,
    /// 1–100, default 20.
    pub limit: Option<i64>,
}

#[derive(Deserialize, IntoParams)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
#[into_params(parameter_in = Query, rename_all = "camelCase")]
pub struct ResultsQuery {
    pub cursor: Option<String>,
    /// Items per page, 1–100, default 20.
    pub limit: Option<i64>,
}

#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ExperimentPage {
    pub items: Vec<Experiment>,
    pub next_cursor: Option<String>,
}

/// One cell of a result row.
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct CellResultBody {
    pub variant: i64,
    pub repeat: i64,
    pub run_id: Option<RunId>,
    pub status: CellStatus,
    pub attempts: i64,
    pub output: Option<String>,
    pub total_tokens: Option<i64>,
    pub cost_micro_usd: Option<i64>,
    pub latency_ms: Option<i64>,
    /// One score per evaluator of the experiment, once the cell succeeded
    /// and was scored (empty before, and for an experiment without
    /// evaluators).
    pub scores: Vec<promptrefine_eval::Score>,
}

/// The item as the experiment pinned it.
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ResultItem {
    #[schema(value_type = String, format = Uuid)]
    pub id: uuid::Uuid,
    pub position: i64,
    pub variables: BTreeMap<String, String>,
    #[schema(value_type = Option<Object>)]
    pub expected: Option<serde_json::Value>,
    #[schema(value_type = Option<Object>)]
    pub metadata: Option<serde_json::Value>,
}

#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ResultRowBody {
    pub item: ResultItem,
    pub cells: Vec<CellResultBody>,
}

impl From<ResultRow> for ResultRowBody {
    fn from(r: ResultRow) -> Self {
        ResultRowBody {
            item: ResultItem {
                id: r.item_id,
                position: r.position,
                variables: r.variables,
                expected: r.expected,
                metadata: r.metadata,
            },
            cells: r
                .cells
                .into_iter()
                .map(|c| CellResultBody {
                    variant: c.variant,
                    repeat: c.repeat,
                    run_id: c.run_id,
                    status: c.status,
                    attempts: c.attempts,
                    output: c.output,
                    total_tokens: c.total_tokens,
                    cost_micro_usd: c.cost_micro_usd,
                    latency_ms: c.latency_ms,
                    scores: c
                        .scores
                        .and_then(|s| serde_json::from_value(s).ok())
                        .unwrap_or_default(),
                })
                .collect(),
        }
    }
}

#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ResultsPageBody {
    pub experiment: Experiment,
    pub items: Vec<ResultRowBody>,
    pub next_cursor: Option<String>,
}

#[derive(Serialize, ToSchema)]
pub struct Deleted {
    pub deleted: bool,
}
