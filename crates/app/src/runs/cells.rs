//! Runs of experiment cells: planned from the experiment's resolved variant
//! and the item's variables, run without the interactive cap (the engine
//! holds a slot of its own cap) and without a listener for deltas.

use std::time::Duration;

use promptrefine_core::{Experiment, Run, RunId, Variant};
use promptrefine_llm::ChatRequest;
use promptrefine_store::{ClaimedCell, NewRun, RunCell};
use tokio::sync::{OwnedSemaphorePermit, oneshot};

use super::{RunPlan, execute, handle, render};
use crate::App;
use crate::error::{AppError, OrNotFound, Result};

impl App {
    /// Everything the cell's run needs; writes nothing.
    pub(crate) async fn plan_cell(
        &self,
        experiment: &Experiment,
        variant: &Variant,
        cell: &ClaimedCell,
    ) -> Result<RunPlan> {
        let version = match self.engine.version(variant.version_id) {
            Some(v) => v,
            None => {
                let v = std::sync::Arc::new(
                    self.store
                        .versions()
                        .get(variant.version_id)
                        .await
                        .or_not_found("version")?,
                );
                self.engine.keep_version(v.clone());
                v
            }
        };
        let provider = self
            .find_provider(Some(&variant.provider))
            .await?
            .ok_or_else(|| {
                AppError::Internal(format!(
                    "provider {} is not configured on this instance",
                    variant.provider
                ))
            })?;
        let messages = render(
            &version.content,
            &cell.variables,
            self.runs.max_rendered_bytes(),
        )?
        .to_messages();
        Ok(RunPlan {
            prices: self.provider_prices(provider.name()),
            new: NewRun {
                id: RunId::new(),
                prompt_id: experiment.prompt_id,
                version_id: variant.version_id,
                provider: variant.provider.clone(),
                model: variant.model.clone(),
                params: variant.params.clone(),
                variables: cell.variables.clone(),
                input: messages.clone(),
                request_id: None,
                owner: self.instance,
                cell: Some(RunCell {
                    experiment_id: cell.experiment_id,
                    item_id: cell.item_id,
                    variant: cell.variant,
                    repeat: cell.repeat,
                    attempt: cell.attempt,
                }),
                judge_of: None,
                request_body: None,
                replay_of: None,
            },
            request: ChatRequest {
                model: variant.model.clone(),
                messages,
                settings: variant.params.clone(),
                request_id: None,
                stream: true,
                raw_body: None,
            },
            provider,
        })
    }

    /// Runs a planned cell to its end in its own task (like every run: it
    /// is stored whatever happens to the caller) and returns the stored run
    /// with the provider's `Retry-After`, if it sent one.
    pub(crate) async fn run_cell_plan(
        &self,
        plan: RunPlan,
        permit: OwnedSemaphorePermit,
    ) -> Result<(Run, Option<Duration>)> {
        let (started, _started) = oneshot::channel();
        // No one listens to the deltas: dropping the stream makes the feed
        // keep nothing.
        let (feed, events) = handle::feed();
        drop(events);
        let (retry_tx, retry_rx) = oneshot::channel();
        let listeners = execute::Listeners {
            started,
            feed,
            observer: self.observer.clone(),
            retry_after: Some(retry_tx),
        };
        let task = self
            .runs
            .launch(self.store.clone(), plan, permit, listeners);
        let run = task
            .await
            .map_err(|e| AppError::Internal(format!("the run task failed: {e}")))??;
        Ok((run, retry_rx.await.ok()))
    }
}
