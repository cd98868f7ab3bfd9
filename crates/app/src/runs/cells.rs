//! Runs of experiment cells: planned from the experiment's resolved variant
//! and the item's variables, stored as started by the engine (the cells of
//! one claim in one statement), run without the interactive cap (the engine
//! holds a slot of its own cap) and without a listener for deltas.

use std::time::Duration;

use promptrefine_core::{Experiment, Run, RunId};
use promptrefine_llm::ChatRequest;
use promptrefine_store::{ClaimedCell, NewRun, RunCell};
use tokio::sync::{OwnedSemaphorePermit, oneshot};

use super::execute::Unstored;
use super::{RunPlan, execute, handle, render};
use crate::App;
use crate::error::{AppError, OrNotFound, Result};

impl App {
    /// Everything the cell's run needs, its request body included (the
    /// engine stores the run as it starts); writes nothing.
    pub(crate) async fn plan_cell(
        &self,
        experiment: &Experiment,
        cell: &ClaimedCell,
    ) -> Result<RunPlan> {
        let variant = experiment
            .variants
            .get(cell.variant as usize)
            .ok_or_else(|| {
                AppError::Internal("a cell names a variant that does not exist".into())
            })?;
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
        let request = ChatRequest {
            model: variant.model.clone(),
            messages: messages.clone(),
            settings: variant.params.clone(),
            request_id: None,
            stream: true,
            raw_body: None,
        };
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
                input: messages,
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
                request_body: Some(request.body_text()),
                replay_of: None,
            },
            request,
            provider,
        })
    }

    /// Runs a planned cell, already stored as started, to its end in its
    /// own task (it goes on whatever happens to the caller) and answers its
    /// outcome unstored: the engine stores it with the cell's.
    pub(crate) async fn run_cell_plan(
        &self,
        plan: RunPlan,
        permit: OwnedSemaphorePermit,
    ) -> Result<Unstored> {
        self.runs
            .launch_unstored(plan, permit)
            .await
            .map_err(|e| AppError::Internal(format!("the run task failed: {e}")))
    }

    /// Runs a planned judge call in its own task, storing it as it starts
    /// and ends like an interactive run (a judge's run is one per scored
    /// cell, not worth a batch), and answers the stored run with the
    /// provider's `Retry-After`, if it sent one.
    pub(crate) async fn run_judge_plan(
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
