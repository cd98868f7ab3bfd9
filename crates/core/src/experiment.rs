//! Experiments: prompt versions run over a pinned dataset version, one cell
//! per (item × variant × repeat), each cell an ordinary run.

use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

use crate::domain::ModelSettings;
use crate::ids::{DatasetId, ExperimentId, PromptId, VersionId};

macro_rules! status_enum {
    ($(#[$doc:meta])* $name:ident { $($variant:ident => $text:literal),+ $(,)? }) => {
        $(#[$doc])*
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
        #[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
        #[serde(rename_all = "lowercase")]
        pub enum $name { $($variant),+ }

        impl $name {
            pub const ALL: &'static [$name] = &[$($name::$variant),+];

            pub fn as_str(self) -> &'static str {
                match self { $($name::$variant => $text),+ }
            }

            pub fn parse(s: &str) -> Option<Self> {
                Self::ALL.iter().copied().find(|v| v.as_str() == s)
            }
        }
    };
}

status_enum!(
    /// `queued` → `running` ⇄ `paused` → `succeeded` | `failed` | `cancelled`.
    ExperimentStatus {
        Queued => "queued",
        Running => "running",
        Paused => "paused",
        Succeeded => "succeeded",
        Failed => "failed",
        Cancelled => "cancelled",
    }
);

impl ExperimentStatus {
    /// Ended: nothing will run any more.
    pub fn is_final(self) -> bool {
        matches!(
            self,
            ExperimentStatus::Succeeded | ExperimentStatus::Failed | ExperimentStatus::Cancelled
        )
    }
}

status_enum!(
    /// One cell's state: `pending` until an instance claims it.
    CellStatus {
        Pending => "pending",
        Running => "running",
        Succeeded => "succeeded",
        Failed => "failed",
        Cancelled => "cancelled",
    }
);

/// One variant as resolved when the experiment was created: what each of
/// its cells runs.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct Variant {
    pub version_id: VersionId,
    pub version_number: i64,
    /// The label it was chosen by, if any (as it pointed at creation).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub label: Option<String>,
    /// The model preset its provider, model and params were taken from, if
    /// any (as it was at creation; a later edit of the preset changes
    /// nothing here).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub preset: Option<String>,
    pub provider: String,
    pub model: String,
    /// The version's settings with the variant's overrides applied.
    pub params: ModelSettings,
}

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct Progress {
    pub total: i64,
    pub pending: i64,
    pub running: i64,
    pub succeeded: i64,
    pub failed: i64,
    pub cancelled: i64,
}

/// What an experiment will cost, before it runs.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct CostEstimate {
    pub cells: i64,
    /// Prompt tokens over every cell, counted with the model's tokenizer
    /// (or the stated approximation).
    pub prompt_tokens: i64,
    /// Prompt tokens at the price, plus an expected completion length;
    /// null when a model has no price.
    pub cost_micro_usd: Option<i64>,
    /// Worst case: prompt tokens plus `max_tokens` (or the reservation
    /// default) for every cell; what the budget reserves.
    pub max_cost_micro_usd: Option<i64>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct Experiment {
    pub id: ExperimentId,
    pub name: String,
    pub prompt_id: PromptId,
    pub dataset_id: DatasetId,
    pub dataset_version: i64,
    pub variants: Vec<Variant>,
    pub repeats: i64,
    pub concurrency: i64,
    pub status: ExperimentStatus,
    /// `budget` when the next reservation would cross the cap; `user`.
    pub pause_reason: Option<String>,
    pub error_code: Option<String>,
    pub error_message: Option<String>,
    pub progress: Progress,
    /// Settled cost of the cells that ended.
    pub cost_micro_usd: i64,
    /// Worst-case cost reserved by the cells in flight.
    pub reserved_micro_usd: i64,
    pub estimate: CostEstimate,
    pub max_cost_micro_usd: Option<i64>,
    /// The evaluators each cell's output is scored with, as stored (the
    /// canonical form of what was asked for; see `promptrefine_eval`).
    #[cfg_attr(feature = "openapi", schema(value_type = Vec<Object>))]
    pub evaluators: serde_json::Value,
    #[serde(with = "time::serde::rfc3339")]
    #[cfg_attr(feature = "openapi", schema(value_type = String, format = DateTime))]
    pub created_at: OffsetDateTime,
    #[serde(with = "time::serde::rfc3339::option")]
    #[cfg_attr(feature = "openapi", schema(value_type = Option<String>, format = DateTime))]
    pub started_at: Option<OffsetDateTime>,
    #[serde(with = "time::serde::rfc3339::option")]
    #[cfg_attr(feature = "openapi", schema(value_type = Option<String>, format = DateTime))]
    pub finished_at: Option<OffsetDateTime>,
    /// When the row last changed (cells ending, a rescore): what caches of
    /// its verdict are keyed on, so every replica sees a rescore at once.
    /// Not in the API answer (`None` when read from one).
    #[serde(skip)]
    pub updated_at: Option<OffsetDateTime>,
}
