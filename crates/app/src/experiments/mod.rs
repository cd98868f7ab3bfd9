//! Experiments: run prompt versions over a pinned dataset version, durably,
//! on one instance or many, never spending more than allowed.
//!
//! `create_experiment` resolves every variant, reads the dataset's items at
//! the pinned version, renders every (item × variant) once to check it and
//! count its prompt tokens, and stores the experiment with all its cells in
//! one transaction; the [`engine`] of any live instance then runs them. The
//! budget (`maxCostUsd`) is enforced by the store at claim time against each
//! cell's worst case computed here; see `promptrefine_store::experiments`.

pub mod browse;
mod derived;
mod engine;
mod items;
mod judges;
mod limiter;
mod plan;
mod reuse;
mod scorer;
pub mod scoring;
mod verdicts;

pub(crate) use verdicts::VerdictCache;

use promptrefine_core::validate::Violations;
use promptrefine_core::{Experiment, ExperimentId, ModelSettings, PromptId, VersionId};
use promptrefine_store::{Cursor, ExperimentFilter, Page, ResultRow};

use crate::error::{AppError, OrNotFound, Result, check};
use crate::{App, page_limit};

pub use engine::EngineSettings;
pub(crate) use engine::EngineShared;
pub use reuse::Reusable;

/// What evaluators that call out may do on this server.
#[derive(Debug, Default)]
pub struct EvaluationSettings {
    /// Hosts `http` evaluators may call (`EVALUATOR_HTTP_HOSTS`).
    pub http_hosts: Vec<String>,
    /// Built at the first `http` evaluator; `None` inside when no client
    /// could be built (those evaluators then score errors).
    webhook: std::sync::OnceLock<Option<promptrefine_llm::WebhookClient>>,
}

impl EvaluationSettings {
    pub fn new(http_hosts: Vec<String>) -> EvaluationSettings {
        EvaluationSettings {
            http_hosts,
            webhook: std::sync::OnceLock::new(),
        }
    }

    pub(crate) fn webhook(&self) -> Option<&promptrefine_llm::WebhookClient> {
        self.webhook
            .get_or_init(|| match promptrefine_llm::WebhookClient::new() {
                Ok(c) => Some(c),
                Err(e) => {
                    tracing::error!(error = %e, "cannot build the HTTP client of http evaluators");
                    None
                }
            })
            .as_ref()
    }
}

/// Limits of one experiment.
pub mod limits {
    pub const VARIANTS_MAX: usize = 8;
    pub const REPEATS_MAX: i64 = 20;
    pub const CONCURRENCY_MAX: i64 = 256;
    pub const CONCURRENCY_DEFAULT: i64 = 8;
    pub const NAME_MAX_CHARS: usize = 200;
    /// Cells (items × variants × repeats) of one experiment.
    pub const CELLS_MAX: i64 = 1_000_000;
    /// Completion tokens reserved for a call whose settings name no
    /// `max_tokens`: its worst case for the budget.
    pub const RESERVED_COMPLETION_TOKENS: i64 = 1024;
}

/// One variant as asked for: a version (by id, or by label; default the
/// current version), and overrides of its provider, model and settings.
#[derive(Clone, Debug, Default)]
pub struct VariantSpec {
    pub version_id: Option<VersionId>,
    pub label: Option<String>,
    /// A model preset's name: fills what `provider`, `model` and `params`
    /// leave unset.
    pub preset: Option<String>,
    pub provider: Option<String>,
    pub model: Option<String>,
    pub params: Option<ModelSettings>,
}

/// `POST /api/experiments` and `/estimate`, as the API receives it.
#[derive(Clone, Debug, Default)]
pub struct CreateExperiment {
    pub name: Option<String>,
    pub prompt_id: PromptId,
    pub dataset_id: promptrefine_core::DatasetId,
    pub dataset_version: Option<i64>,
    /// Empty: one variant, the current version.
    pub variants: Vec<VariantSpec>,
    pub repeats: Option<i64>,
    pub concurrency: Option<i64>,
    pub max_cost_usd: Option<f64>,
    pub evaluators: Option<serde_json::Value>,
}

/// Filters of the experiment list.
#[derive(Clone, Debug, Default)]
pub struct ListExperiments {
    pub prompt_id: Option<PromptId>,
    pub dataset_id: Option<promptrefine_core::DatasetId>,
    pub cursor: Option<String>,
    pub limit: Option<i64>,
}

/// A page of results (by item) and where the next starts.
#[derive(Clone, Debug)]
pub struct ResultsPage {
    pub experiment: Experiment,
    pub rows: Vec<ResultRow>,
    pub next_cursor: Option<String>,
}

/// A cap in USD → micro-USD, checked: positive and finite.
fn micro_usd(v: &mut Violations, field: &str, usd: Option<f64>) -> Option<i64> {
    let usd = usd?;
    if !usd.is_finite() || usd <= 0.0 || usd > 1_000_000.0 {
        v.push(
            field,
            "range",
            format!("{field} must be more than 0 and at most 1000000"),
        );
        return None;
    }
    Some((usd * 1_000_000.0).floor() as i64)
}

impl App {
    /// Stores an experiment and wakes the engine; `Err` (nothing stored)
    /// when any part of it is invalid.
    pub async fn create_experiment(&self, input: CreateExperiment) -> Result<Experiment> {
        let new = self.plan_experiment(&input).await?;
        let experiment = self.store.experiments().create(&new).await?;
        self.engine.wake.notify_one();
        Ok(experiment)
    }

    /// What `create_experiment` would store and spend, without storing it.
    pub async fn estimate_experiment(
        &self,
        input: CreateExperiment,
    ) -> Result<promptrefine_core::CostEstimate> {
        Ok(self.plan_experiment(&input).await?.estimate)
    }

    pub async fn get_experiment(&self, id: ExperimentId) -> Result<Experiment> {
        self.store
            .experiments()
            .get(id)
            .await
            .or_not_found("experiment")
    }

    /// Newest first.
    pub async fn list_experiments(&self, q: ListExperiments) -> Result<Page<Experiment>> {
        let cursor = match q.cursor.as_deref().filter(|c| !c.is_empty()) {
            None => None,
            Some(c) => Some(Cursor::decode(c).ok_or_else(|| {
                AppError::invalid("cursor", "format", "cursor is not one this server gave out")
            })?),
        };
        let limit = page_limit(q.limit)?;
        let filter = ExperimentFilter {
            prompt_id: q.prompt_id,
            dataset_id: q.dataset_id,
        };
        Ok(self
            .store
            .experiments()
            .list(&filter, cursor, limit)
            .await?)
    }

    /// Results by item (the item as the experiment pinned it), with every cell.
    pub async fn experiment_results(
        &self,
        id: ExperimentId,
        cursor: Option<String>,
        limit: Option<i64>,
    ) -> Result<ResultsPage> {
        let after = match cursor.as_deref().filter(|c| !c.is_empty()) {
            None => None,
            Some(c) => Some(c.parse::<i64>().ok().filter(|n| *n >= 0).ok_or_else(|| {
                AppError::invalid("cursor", "format", "cursor is not one this server gave out")
            })?),
        };
        let limit = page_limit(limit)?;
        let experiment = self.get_experiment(id).await?;
        let (rows, next) = self.store.experiments().results(id, after, limit).await?;
        Ok(ResultsPage {
            experiment,
            rows,
            next_cursor: next.map(|n| n.to_string()),
        })
    }

    /// Pauses a queued or running experiment: cells in flight finish, no
    /// new cell starts. 409 when it is paused already or has ended.
    pub async fn pause_experiment(&self, id: ExperimentId) -> Result<Experiment> {
        let e = self.get_experiment(id).await?;
        if !self.store.experiments().pause(id, "user").await? {
            return Err(state_conflict(&e, "pause"));
        }
        self.get_experiment(id).await
    }

    /// Resumes a paused experiment, optionally with a new cap; only cells
    /// that have not succeeded run again. 409 unless it is paused.
    pub async fn resume_experiment(
        &self,
        id: ExperimentId,
        max_cost_usd: Option<f64>,
    ) -> Result<Experiment> {
        let mut v = Violations::default();
        let cap = micro_usd(&mut v, "maxCostUsd", max_cost_usd);
        check(v)?;
        let e = self.get_experiment(id).await?;
        if let Some(cap) = cap
            && cap < e.cost_micro_usd + e.reserved_micro_usd
        {
            return Err(AppError::invalid(
                "maxCostUsd",
                "range",
                "maxCostUsd is below what the experiment has already spent",
            ));
        }
        if cap.is_some() {
            let calls: Vec<(&str, &str)> = e
                .variants
                .iter()
                .map(|v| (v.provider.as_str(), v.model.as_str()))
                .collect();
            plan::require_prices(self, "maxCostUsd", &calls).await?;
        }
        if !self.store.experiments().resume(id, cap.map(Some)).await? {
            return Err(state_conflict(&e, "resume"));
        }
        self.engine.wake.notify_one();
        self.get_experiment(id).await
    }

    /// Cancels an experiment: pending cells at once, cells in flight within
    /// a poll of the engine running them (their partial output is kept).
    pub async fn cancel_experiment(&self, id: ExperimentId) -> Result<Experiment> {
        let e = self.get_experiment(id).await?;
        if !self.store.experiments().cancel(id).await? {
            return Err(state_conflict(&e, "cancel"));
        }
        self.get_experiment(id).await
    }

    /// Deletes an experiment with its cells and runs. 409 while it runs:
    /// cancel it first, so no instance is writing to it.
    pub async fn delete_experiment(&self, id: ExperimentId) -> Result<()> {
        let e = self.get_experiment(id).await?;
        if !e.status.is_final() && e.progress.running > 0 {
            return Err(AppError::Conflict {
                field: "status",
                message: "the experiment has cells in flight; cancel it first".into(),
            });
        }
        if !self.store.experiments().delete(id).await? {
            return Err(AppError::NotFound("experiment"));
        }
        Ok(())
    }
}

fn state_conflict(e: &Experiment, action: &str) -> AppError {
    AppError::Conflict {
        field: "status",
        message: format!(
            "cannot {action} an experiment that is {}",
            e.status.as_str()
        ),
    }
}
