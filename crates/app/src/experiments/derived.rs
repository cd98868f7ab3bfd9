//! What an ended experiment's pages and summary read: derived from its
//! cells once, and stored (`experiment_item_facts` and the summary) with
//! the `updated_at` it was derived from, so a rescore makes it stale and
//! it is derived again on the next read.
//!
//! The engine derives an experiment as its last cell ends; a read of one
//! without a fresh derivation (ended before this existed, a crash in
//! between, a rescore) derives it there. Any instance may: the store keeps
//! the first, and a derivation is only ever of one state. Within one
//! instance, one derivation of an experiment runs at a time: the first read
//! after the end (a poller's) waits for the engine's derivation instead of
//! reading every cell a second time beside it.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use promptrefine_core::{Experiment, ExperimentId};
use promptrefine_eval::{Summary, summarize};
use promptrefine_store::CellKey;
use tokio::sync::OwnedMutexGuard;

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
        if !e.status.is_final() {
            return self.derive_results(&e).await;
        }
        if let Some(summary) = self.stored_summary(id).await? {
            return Ok(summary);
        }
        let _turn = self.engine.deriving.turn(id).await;
        // Derived while this waited for its turn (by the engine, mostly).
        if let Some(summary) = self.stored_summary(id).await? {
            return Ok(summary);
        }
        self.derive_results(&e).await
    }

    async fn stored_summary(&self, id: ExperimentId) -> Result<Option<Summary>> {
        let stored = self.store.experiments().derived_summary(id).await?;
        Ok(stored.and_then(|v| serde_json::from_value(v).ok()))
    }

    /// Derives the experiment's facts and summary from its cells (one read
    /// of them); stores them when it has ended. The summary.
    pub(crate) async fn derive_results(&self, e: &Experiment) -> Result<Summary> {
        let repo = self.store.experiments();
        let cells = repo.scored_cells(e.id, false).await?;
        let summary = summarize(&cell_scores(&cells, None), seed_of(e.id));
        let (true, Some(as_of)) = (e.status.is_final(), e.updated_at) else {
            return Ok(summary);
        };
        let keys: Vec<CellKey> = cells.into_iter().map(CellKey::from).collect();
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
                let _turn = app.engine.deriving.turn(id).await;
                let derived = match app.store.experiments().get(id).await {
                    // A read that came first derived it.
                    Ok(_) if matches!(app.stored_summary(id).await, Ok(Some(_))) => Ok(()),
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

/// One turn per experiment at deriving it, on this instance.
#[derive(Debug, Default)]
pub(crate) struct Derivations(Mutex<HashMap<ExperimentId, Arc<tokio::sync::Mutex<()>>>>);

impl Derivations {
    /// Waits for the experiment's turn; it is given up when the answer is
    /// dropped.
    async fn turn(&self, id: ExperimentId) -> Turn<'_> {
        let lock = self.lock().entry(id).or_default().clone();
        Turn {
            guard: Some(lock.lock_owned().await),
            of: self,
            id,
        }
    }

    fn lock(
        &self,
    ) -> std::sync::MutexGuard<'_, HashMap<ExperimentId, Arc<tokio::sync::Mutex<()>>>> {
        self.0.lock().unwrap_or_else(|e| e.into_inner())
    }
}

struct Turn<'a> {
    guard: Option<OwnedMutexGuard<()>>,
    of: &'a Derivations,
    id: ExperimentId,
}

impl Drop for Turn<'_> {
    fn drop(&mut self) {
        drop(self.guard.take());
        let mut all = self.of.lock();
        // No one else holds or waits for it (the clones are taken under
        // this lock): forget it, so the table does not grow.
        if all.get(&self.id).is_some_and(|l| Arc::strong_count(l) == 1) {
            all.remove(&self.id);
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicUsize, Ordering};

    use super::*;

    #[tokio::test]
    async fn one_derivation_of_an_experiment_at_a_time_and_the_table_empties() {
        let all = Arc::new(Derivations::default());
        let (a, b) = (ExperimentId::new(), ExperimentId::new());
        let inside = Arc::new(AtomicUsize::new(0));
        let most = Arc::new(AtomicUsize::new(0));
        let first = all.turn(a).await;
        // Another experiment's turn is not held up by this one's.
        drop(all.turn(b).await);
        let waiter = {
            let (all, inside, most) = (all.clone(), inside.clone(), most.clone());
            tokio::spawn(async move {
                let _turn = all.turn(a).await;
                let now = inside.fetch_add(1, Ordering::SeqCst) + 1;
                most.fetch_max(now, Ordering::SeqCst);
                inside.fetch_sub(1, Ordering::SeqCst);
            })
        };
        tokio::task::yield_now().await;
        inside.fetch_add(1, Ordering::SeqCst);
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        assert!(
            !waiter.is_finished(),
            "a second turn began while the first was held"
        );
        inside.fetch_sub(1, Ordering::SeqCst);
        drop(first);
        waiter.await.unwrap();
        assert_eq!(most.load(Ordering::SeqCst), 1);
        assert!(all.lock().is_empty(), "turns given up are forgotten");
    }
}
