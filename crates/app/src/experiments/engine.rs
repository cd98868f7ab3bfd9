//! The experiment engine: every instance runs one. It claims pending cells
//! from the database (any experiment, any replica's), runs each as an
//! ordinary run, and writes each outcome once.
//!
//! ```text
//! loop ─ watch: cancel the runs of cells whose experiment was cancelled
//!      ─ claim up to the free slots of the server-wide cap (store: leases, budget)
//!      ─ per cell (task): provider limiter slot → render → run → outcome
//! writer ─ the outcomes that ended together, in one transaction (finish_cells)
//! listener (PostgreSQL) ─ LISTEN: another replica's cancel, pause, resume
//!                         or new experiment wakes the loop at once
//! ```
//!
//! * The work is in the database, never only here: a cell this process
//!   claimed and did not finish goes back to `pending` when its lease is
//!   gone (`reclaim_cells`, in every instance's sweep), or at once at a
//!   graceful stop (its run is cancelled by the drain and the cell put back).
//! * Cancel reaches the cells in flight here at once on PostgreSQL (the
//!   store's NOTIFY, heard by the listener), and within one poll (250 ms)
//!   anyway: the watch reads the status of the experiments it runs and
//!   cancels their runs, which closes the upstream connections.
//! * Writes per cell are few: a claim takes the cells of a few ended calls
//!   at once (at most one claim per `claim_gap` while cells are ending), and
//!   the outcomes that ended while the last batch was written go in one
//!   transaction with one counter update per experiment.
//! * Interactive runs have their own cap; cells take slots of
//!   `max_in_flight`, a separate cap, so a big experiment never makes the
//!   Run button answer `too_many_runs`.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use promptrefine_core::{
    CellStatus, Experiment, ExperimentId, ExperimentStatus, RunId, RunStatus, Version, VersionId,
};
use promptrefine_store::{CellOutcome, ClaimedCell};
use tokio::sync::{Notify, Semaphore, mpsc};
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;

use super::limiter::Limiter;
use super::scorer::{Scorer, ToScore};
use crate::App;

/// How the engine runs.
#[derive(Clone, Debug)]
pub struct EngineSettings {
    /// Experiment calls in flight at once on this instance, all experiments together.
    pub max_in_flight: usize,
    /// Cells claimed per round.
    pub claim_batch: usize,
    /// How often the engine looks for work and for cancels when nothing woke it.
    pub poll: Duration,
    /// While cells are ending, the least time between two claims: a claim is
    /// a write transaction, so it should take several cells, not one.
    pub claim_gap: Duration,
    /// Attempts at a rate-limited cell before it counts as failed.
    pub max_attempts: i64,
}

impl Default for EngineSettings {
    fn default() -> Self {
        EngineSettings {
            max_in_flight: 64,
            claim_batch: 32,
            poll: Duration::from_millis(250),
            claim_gap: Duration::from_millis(10),
            max_attempts: 5,
        }
    }
}

/// What the engine shares with the rest of the app.
#[derive(Debug, Default)]
pub(crate) struct EngineShared {
    /// Rung when an experiment is created or resumed here, when a batch of
    /// outcomes is written, or when the listener hears a change: claim now.
    pub wake: Notify,
    /// Set by the listener: some experiment changed, watch for cancels now.
    heard: AtomicBool,
    limiters: Mutex<HashMap<String, Arc<Limiter>>>,
    /// Versions the cells render: immutable, so read once, not per cell.
    versions: Mutex<HashMap<VersionId, Arc<Version>>>,
    /// Providers that answered a judge's `response_format` with 400: their
    /// judges are asked without it (see `judges`).
    no_json_schema: Mutex<std::collections::HashSet<String>>,
}

/// Versions kept at most; past it the cache starts again (a long-lived
/// process runs many experiments, each needs a few versions).
const VERSIONS_KEPT: usize = 256;

impl EngineShared {
    pub(crate) fn version(&self, id: VersionId) -> Option<Arc<Version>> {
        self.versions
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get(&id)
            .cloned()
    }

    pub(crate) fn keep_version(&self, version: Arc<Version>) {
        let mut all = self.versions.lock().unwrap_or_else(|e| e.into_inner());
        if all.len() >= VERSIONS_KEPT {
            all.clear();
        }
        all.insert(version.id, version);
    }

    pub(crate) fn refuses_json_schema(&self, provider: &str) -> bool {
        self.no_json_schema
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .contains(provider)
    }

    pub(crate) fn remember_refuses_json_schema(&self, provider: &str) {
        self.no_json_schema
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(provider.to_owned());
    }

    pub(crate) fn limiter(&self, provider: &str, max: usize) -> Arc<Limiter> {
        let mut all = self.limiters.lock().unwrap_or_else(|e| e.into_inner());
        all.entry(provider.to_string())
            .or_insert_with(|| Limiter::new(max))
            .clone()
    }
}

/// Outcomes written per transaction at most.
const OUTCOME_BATCH: usize = 128;

/// The cells in flight here: their experiment and run, for the watch.
type InFlight = Arc<Mutex<HashMap<uuid::Uuid, (ExperimentId, Option<RunId>)>>>;

impl App {
    /// Runs the engine until `stop`; then claims nothing more and waits for
    /// the cells in flight to be written (the caller drains their runs).
    pub async fn run_experiments(&self, settings: EngineSettings, stop: CancellationToken) {
        let cap = Arc::new(Semaphore::new(settings.max_in_flight.max(1)));
        let in_flight: InFlight = Arc::default();
        let mut experiments: HashMap<ExperimentId, Arc<Running>> = HashMap::new();
        let mut tasks = JoinSet::new();
        let (outcomes, rx) = mpsc::channel(OUTCOME_BATCH * 4);
        let writer = tokio::spawn(self.clone().write_outcomes(rx));
        let listener = tokio::spawn(self.clone().listen(stop.clone()));
        let mut last_watch: Option<Instant> = None;
        let mut last_claim = Instant::now();
        loop {
            while tasks.try_join_next().is_some() {}
            let heard = self.engine.heard.swap(false, Ordering::AcqRel);
            if heard || last_watch.is_none_or(|t| t.elapsed() >= settings.poll) {
                self.watch_cancels(&in_flight).await;
                last_watch = Some(Instant::now());
            }
            if stop.is_cancelled() {
                break;
            }
            let free = cap.available_permits().min(settings.claim_batch);
            if free > 0 {
                last_claim = Instant::now();
                match self.claim(free).await {
                    Ok(cells) => {
                        for cell in cells {
                            // A claimed cell that cannot start here goes back at
                            // once: left `running`, it would wait for this
                            // process's lease to end.
                            let Ok(permit) = cap.clone().try_acquire_owned() else {
                                self.put_back(&cell).await;
                                continue;
                            };
                            let Some(experiment) = self
                                .experiment_for(&mut experiments, cell.experiment_id)
                                .await
                            else {
                                self.put_back(&cell).await;
                                continue;
                            };
                            in_flight
                                .lock()
                                .unwrap_or_else(|e| e.into_inner())
                                .insert(cell.id, (cell.experiment_id, None));
                            let (app, settings, in_flight, stop, outcomes, cap) = (
                                self.clone(),
                                settings.clone(),
                                in_flight.clone(),
                                stop.clone(),
                                outcomes.clone(),
                                cap.clone(),
                            );
                            tasks.spawn(async move {
                                let id = cell.id;
                                let slots = Slots {
                                    permit,
                                    cap: &cap,
                                    in_flight: &in_flight,
                                };
                                let outcome = app
                                    .run_cell(experiment, &cell, slots, &settings, &stop)
                                    .await;
                                in_flight
                                    .lock()
                                    .unwrap_or_else(|e| e.into_inner())
                                    .remove(&id);
                                // The writer outlives every task (it ends when
                                // the last sender is gone).
                                let _ = outcomes.send((id, outcome)).await;
                            });
                        }
                    }
                    Err(e) => tracing::warn!(error = %e, "cannot claim experiment cells"),
                }
            }
            tokio::select! {
                () = stop.cancelled() => {}
                () = self.engine.wake.notified() => {}
                () = tokio::time::sleep(settings.poll) => {}
                Some(_) = tasks.join_next(), if !tasks.is_empty() => {
                    // Let a few more cells end before the next claim.
                    tokio::time::sleep_until((last_claim + settings.claim_gap).into()).await;
                }
            }
        }
        while tasks.join_next().await.is_some() {}
        drop(outcomes);
        if writer.await.is_err() {
            tracing::error!(
                "the cell outcome writer panicked; its cells are taken back when this lease ends"
            );
        }
        listener.abort();
    }

    /// Writes cell outcomes as they come, each batch in one transaction:
    /// the outcomes that arrived while the last batch was being written.
    async fn write_outcomes(self, mut rx: mpsc::Receiver<(uuid::Uuid, CellOutcome)>) {
        let mut batch = Vec::with_capacity(OUTCOME_BATCH);
        while rx.recv_many(&mut batch, OUTCOME_BATCH).await > 0 {
            self.finish_cells(&batch).await;
            batch.clear();
            // The cells' experiments have room again.
            self.engine.wake.notify_one();
        }
    }

    /// Writes one batch, retried like a run's outcome: a cell left `running`
    /// by a passing store error would only come back when this process's
    /// lease ends.
    async fn finish_cells(&self, batch: &[(uuid::Uuid, CellOutcome)]) {
        for attempt in 1..=5u32 {
            match self
                .store
                .experiments()
                .finish_cells(self.instance, batch)
                .await
            {
                Ok(finished) => {
                    for ((cell, _), _) in batch.iter().zip(finished.written).filter(|(_, w)| !w) {
                        tracing::warn!(cell = %cell, "a cell was taken back before its outcome was written; discarded");
                    }
                    self.derive_ended(finished.ended);
                    return;
                }
                Err(e) if attempt < 5 => {
                    tracing::warn!(error = %e, attempt, "cannot write cell outcomes; retrying");
                    tokio::time::sleep(Duration::from_millis(200) * 2u32.pow(attempt - 1)).await;
                }
                Err(e) => {
                    tracing::error!(error = %e, cells = batch.len(), "cannot write cell outcomes; the cells are taken back when this lease ends")
                }
            }
        }
    }

    /// On PostgreSQL: hears other instances' changes to experiments and
    /// wakes the loop. A lost listener is made again; meanwhile the loop's
    /// poll is the fallback.
    async fn listen(self, stop: CancellationToken) {
        let mut backoff = Duration::from_millis(500);
        while !stop.is_cancelled() {
            let mut listener = match self.store.listen_experiments().await {
                Ok(Some(l)) => l,
                Ok(None) => return,
                Err(e) => {
                    tracing::warn!(error = %e, "cannot listen for experiment changes; polling");
                    tokio::select! {
                        () = stop.cancelled() => return,
                        () = tokio::time::sleep(backoff) => {}
                    }
                    backoff = (backoff * 2).min(Duration::from_secs(10));
                    continue;
                }
            };
            backoff = Duration::from_millis(500);
            loop {
                let change = tokio::select! {
                    () = stop.cancelled() => return,
                    c = listener.next() => c,
                };
                if let Err(e) = change {
                    tracing::warn!(error = %e, "the experiment listener was lost; polling until it is back");
                    break;
                }
                // A change, or a reconnect after which some may be missed:
                // either way, look again now.
                self.engine.heard.store(true, Ordering::Release);
                self.engine.wake.notify_one();
            }
        }
    }

    /// Claims cells when some experiment has work (a read first, so an idle
    /// instance does not take SQLite's write lock every poll).
    async fn claim(&self, max: usize) -> promptrefine_store::Result<Vec<ClaimedCell>> {
        if !self.store.experiments().has_runnable().await? {
            return Ok(vec![]);
        }
        self.store.experiments().claim(self.instance, max).await
    }

    /// Returns a claimed cell to `pending` without an attempt's outcome.
    async fn put_back(&self, cell: &ClaimedCell) {
        let back = CellOutcome {
            status: CellStatus::Pending,
            run_id: None,
            cost_micro_usd: None,
            scores: None,
        };
        if let Err(e) = self
            .store
            .experiments()
            .finish_cell(cell.id, self.instance, back)
            .await
        {
            tracing::warn!(error = %e, cell = %cell.id, "cannot put a cell back; it is taken back when this lease ends");
        }
    }

    async fn experiment_for(
        &self,
        cache: &mut HashMap<ExperimentId, Arc<Running>>,
        id: ExperimentId,
    ) -> Option<Arc<Running>> {
        if let Some(e) = cache.get(&id) {
            return Some(e.clone());
        }
        match self.store.experiments().get(id).await {
            Ok(experiment) => {
                let specs = super::scoring::stored_evaluators(&experiment);
                // A judge that no longer resolves (its prompt deleted) scores
                // errors; the cells still run.
                let judges = self.resolve_judges(&specs).await.unwrap_or_else(|e| {
                    tracing::warn!(experiment = %id, error = %e, "cannot resolve the experiment's judges");
                    Default::default()
                });
                let e = Arc::new(Running {
                    scorer: Scorer { specs, judges },
                    experiment,
                });
                cache.insert(id, e.clone());
                Some(e)
            }
            Err(e) => {
                tracing::warn!(error = %e, experiment = %id, "cannot read a claimed cell's experiment");
                None
            }
        }
    }

    /// Cancels the runs of cells here whose experiment was cancelled.
    async fn watch_cancels(&self, in_flight: &InFlight) {
        let (ids, runs): (Vec<ExperimentId>, Vec<(ExperimentId, RunId)>) = {
            let all = in_flight.lock().unwrap_or_else(|e| e.into_inner());
            let mut ids: Vec<ExperimentId> = all.values().map(|(e, _)| *e).collect();
            ids.sort();
            ids.dedup();
            let runs = all
                .values()
                .filter_map(|(e, r)| Some((*e, (*r)?)))
                .collect();
            (ids, runs)
        };
        if ids.is_empty() {
            return;
        }
        let statuses = match self.store.experiments().statuses(&ids).await {
            Ok(s) => s,
            Err(e) => {
                tracing::warn!(error = %e, "cannot read the status of running experiments");
                return;
            }
        };
        for (experiment, status) in statuses {
            if status != ExperimentStatus::Cancelled {
                continue;
            }
            for (_, run) in runs.iter().filter(|(e, _)| *e == experiment) {
                self.runs.cancel_local(*run).await;
            }
        }
    }

    /// One attempt at one cell; its outcome (the writer stores it once).
    async fn run_cell(
        &self,
        experiment: Arc<Running>,
        cell: &ClaimedCell,
        slots: Slots<'_>,
        settings: &EngineSettings,
        stop: &CancellationToken,
    ) -> CellOutcome {
        self.attempt_cell(&experiment, cell, slots, settings, stop)
            .await
            .unwrap_or_else(|e| {
                tracing::warn!(error = %e, cell = %cell.id, "an experiment cell failed before its run");
                CellOutcome {
                    status: CellStatus::Failed,
                    run_id: None,
                    cost_micro_usd: None,
                    scores: None,
                }
            })
    }

    async fn attempt_cell(
        &self,
        running: &Running,
        cell: &ClaimedCell,
        slots: Slots<'_>,
        settings: &EngineSettings,
        stop: &CancellationToken,
    ) -> crate::Result<CellOutcome> {
        let Slots {
            permit,
            cap,
            in_flight,
        } = slots;
        let experiment = &running.experiment;
        let variant = experiment
            .variants
            .get(cell.variant as usize)
            .ok_or_else(|| {
                crate::AppError::Internal("a cell names a variant that does not exist".into())
            })?;
        let limiter = self
            .engine
            .limiter(&variant.provider, settings.max_in_flight);
        let slot = limiter.acquire().await;
        let plan = self.plan_cell(experiment, variant, cell).await?;
        // The watch cancels the run in flight of this cell: the cell's,
        // then each judge's.
        let running_now = |run: RunId| {
            if let Some(entry) = in_flight
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .get_mut(&cell.id)
            {
                entry.1 = Some(run);
            }
        };
        running_now(plan.new.id);
        let (run, retry_after) = self.run_cell_plan(plan, permit).await?;
        drop(slot);
        let status = match run.status {
            RunStatus::Succeeded => {
                limiter.succeeded();
                CellStatus::Succeeded
            }
            RunStatus::Failed if run.error_code.as_deref() == Some("rate_limited") => {
                limiter.rate_limited(retry_after);
                if cell.attempt < settings.max_attempts {
                    CellStatus::Pending
                } else {
                    CellStatus::Failed
                }
            }
            // Cancelled by the watch (the experiment was cancelled), or by
            // a graceful stop draining this process: then the cell is put
            // back for the next instance (finish_cell turns it `cancelled`
            // if the experiment was cancelled after all).
            RunStatus::Cancelled if stop.is_cancelled() => CellStatus::Pending,
            RunStatus::Cancelled => CellStatus::Cancelled,
            _ => CellStatus::Failed,
        };
        // Scored as it ends, so results and summaries need no second pass.
        // Judges' calls count against the budget with the cell's own: the
        // cell's reservation covered both.
        let (scores, judge_cost) = if status == CellStatus::Succeeded {
            let scored = self
                .score_output(
                    &running.scorer,
                    &ToScore {
                        output: &run.output,
                        expected: cell.expected.as_ref(),
                        variables: &cell.variables,
                        metadata: cell.metadata.as_ref().and_then(|m| m.as_object()),
                        latency_ms: run.latency_ms,
                        cost_micro_usd: run.cost_micro_usd,
                        run_id: Some(run.id),
                        input: &run.input,
                    },
                    cap,
                    running_now,
                )
                .await;
            (scored.scores, scored.judge_cost_micro_usd)
        } else {
            (None, None)
        };
        let cost_micro_usd = super::judges::add(run.cost_micro_usd, judge_cost);
        Ok(CellOutcome {
            status,
            run_id: Some(run.id),
            cost_micro_usd,
            scores,
        })
    }
}

/// What a cell's task holds: its slot of the engine's cap (given to its
/// run), the cap itself (its judges take slots of it too), and the table
/// of runs in flight (so the watch can cancel them).
struct Slots<'a> {
    permit: tokio::sync::OwnedSemaphorePermit,
    cap: &'a Arc<Semaphore>,
    in_flight: &'a InFlight,
}

/// An experiment this instance runs cells of, with its evaluators parsed once.
pub(crate) struct Running {
    experiment: Experiment,
    scorer: Scorer,
}
