//! What an ended experiment's pages and summary read: derived from its
//! cells once, and stored (`experiment_item_facts` and the summary) with
//! the `updated_at` it was derived from, so a rescore makes it stale and
//! it is derived again on the next read.
//!
//! The engine derives an experiment as its last cell ends; a read of one
//! without a fresh derivation (ended before this existed, a crash in
//! between, a rescore) derives it there. Any instance may: the store keeps
//! the first, and a derivation is only ever of one state.

use promptrefine_core::{Experiment, ExperimentId};
use promptrefine_eval::{Summary, summarize};

use super::browse::facts;
use super::scoring::{cell_scores, seed_of};
use crate::App;
use crate::error::{OrNotFound, Result};

impl App {
    /// The summary of the experiment as it is now: the stored one of an
    /// ended experiment, else computed (and, once ended, stored).
    pub async fn experiment_summary(&self, id: ExperimentId) -> Result<Summary> {
        let e = self
            .store
            .experiments()
            .get(id)
            .await
            .or_not_found("experiment")?;
        if e.status.is_final() {
            let stored = self.store.experiments().derived_summary(id).await?;
            if let Some(summary) = stored.and_then(|v| serde_json::from_value(v).ok()) {
                return Ok(summary);
            }
        }
        self.derive_results(&e).await
    }

    /// Derives the experiment's facts and summary from its cells; stores
    /// them when it has ended. The summary.
    pub(crate) async fn derive_results(&self, e: &Experiment) -> Result<Summary> {
        let repo = self.store.experiments();
        let cells = repo.scored_cells(e.id, false).await?;
        let summary = summarize(&cell_scores(&cells, None), seed_of(e.id));
        let (true, Some(as_of)) = (e.status.is_final(), e.updated_at) else {
            return Ok(summary);
        };
        let keys = repo.result_keys(e.id).await?;
        let item_facts: Vec<_> = keys
            .chunk_by(|a, b| a.position == b.position)
            .map(|cells| facts(cells).stored(cells[0].position))
            .collect();
        let value = serde_json::to_value(&summary).unwrap_or_default();
        repo.store_derived(e.id, as_of, &value, &item_facts).await?;
        Ok(summary)
    }

    /// [`Self::derive_results`] for experiments that just ended here, in
    /// the background: a failure only means the first read derives it.
    pub(crate) fn derive_ended(&self, ended: Vec<ExperimentId>) {
        for id in ended {
            let app = self.clone();
            tokio::spawn(async move {
                let derived = match app.store.experiments().get(id).await {
                    Ok(e) => app.derive_results(&e).await.map(drop),
                    // Deleted meanwhile.
                    Err(promptrefine_store::StoreError::NotFound) => Ok(()),
                    Err(e) => Err(e.into()),
                };
                if let Err(e) = derived {
                    tracing::warn!(experiment = %id, error = %e, "cannot derive an ended experiment's results; its first read will");
                }
            });
        }
    }
}
