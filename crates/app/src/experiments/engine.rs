//! The experiment engine: every instance runs one. It claims pending cells
//! from the database (any experiment, any replica's), runs each as an
//! ordinary run, and writes each outcome once.
//!
//! ```text
//! loop ─ watch: cancel the runs of cells whose experiment was cancelled
//!      ─ as cells end: claim up to the free slots of the server-wide cap
//!        (store: leases, budget, the experiment's concurrency)
//!      ─ plan every claimed cell, store all their runs as `running` in one insert
//!      ─ per cell (task): provider limiter slot → call → outcome (not yet stored)
//! writer ─ the outcomes that ended together, cells and their runs, in one
//!          transaction (finish_cells); then it wakes the loop to claim again
//! listener (PostgreSQL) ─ LISTEN: another replica's cancel, pause, resume
//!                         or new experiment wakes the loop at once
//! ```
//!
//! * The work is in the database, never only here: a cell this process
//!   claimed and did not finish goes back to `pending` when its lease is
//!   gone (`reclaim_cells`, in every instance's sweep), or at once at a
//!   graceful stop (its run is cancelled by the drain and the cell put back).
//!   The run of a cell reclaimed so is ended by the runs' own sweep, like
//!   any run of a dead instance.
//! * Cancel reaches the cells in flight here at once on PostgreSQL (the
//!   store's NOTIFY, heard by the listener), and within one poll (250 ms)
//!   anyway: the watch reads the status of the experiments it runs and
//!   cancels their runs, which closes the upstream connections.
//! * A cell's place frees when its call ends, not when its outcome is
//!   written: the claim is told which of this instance's cells ended and
//!   wait for the writer (`Unwritten`, `claim_beside`), so the next call
//!   starts while the last outcomes are being written.
//! * Claims go before writes: the writer waits while a claim and the start
//!   of its runs are under way (a free slot waiting costs a call's time, an
//!   outcome waiting costs nothing), and a claim takes every free slot, so
//!   a wave of cells that ended together starts again in one claim.
//! * Writes per cell are few, because on SQLite every write waits for the
//!   one writer: a claim takes every place freed while the last claim ran,
//!   their runs start in one insert, and the outcomes that ended while the
//!   last batch was written go in one transaction — the cells, their runs'
//!   outcomes and one counter update per experiment. A run whose row is
//!   already ended (cancelled by its experiment) leaves its cell `cancelled`.
//! * Interactive runs have their own cap; cells take slots of
//!   `max_in_flight`, a separate cap, so a big experiment never makes the
//!   Run button answer `too_many_runs`.

use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use promptrefine_core::{
    CellStatus, Experiment, ExperimentId, ExperimentStatus, Run, RunId, RunStatus, Version,
    VersionId,
};
use promptrefine_store::{CellOutcome, ClaimedCell, NewRun};
use tokio::sync::{Notify, OwnedSemaphorePermit, Semaphore, mpsc};
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;

use super::limiter::Limiter;
use super::scorer::{Scorer, ToScore};
use crate::App;
use crate::runs::{Registered, RunPlan, Unstored};

/// How the engine runs.
#[derive(Clone, Debug)]
pub struct EngineSettings {
    /// Experiment calls in flight at once on this instance, all experiments together.
    pub max_in_flight: usize,
    /// How often the engine looks for work and for cancels when nothing woke it.
    pub poll: Duration,
    /// Attempts at a rate-limited cell before it counts as failed.
    pub max_attempts: i64,
}

impl Default for EngineSettings {
    fn default() -> Self {
        EngineSettings {
            max_in_flight: 64,
            poll: Duration::from_millis(250),
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
    no_json_schema: Mutex<HashSet<String>>,
    /// One derivation of an ended experiment at a time (see `derived`).
    pub(super) deriving: super::derived::Derivations,
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

/// How cells that ended here reach the writer.
#[derive(Clone)]
struct Handoff {
    outcomes: mpsc::Sender<Ended>,
    unwritten: Unwritten,
}

impl Handoff {
    async fn send(&self, ended: Ended) {
        self.unwritten.add(ended.cell);
        // The writer outlives every task (it ends when the last sender is gone).
        let _ = self.outcomes.send(ended).await;
    }
}

/// The cells that ended here and whose outcomes are not written yet. In
/// the database they are still `running`, but their calls are over, so a
/// claim need not count them against their experiment's concurrency
/// (`claim_beside`, which counts only those still `running`, so a cell
/// written meanwhile is not freed twice): without this, a freed place
/// would wait for its outcome's write before the next call could start.
#[derive(Clone, Default)]
struct Unwritten(Arc<Mutex<HashSet<uuid::Uuid>>>);

impl Unwritten {
    fn add(&self, cell: uuid::Uuid) {
        self.lock().insert(cell);
    }

    /// Called by the writer once a batch is written (or could not be).
    fn written(&self, cells: &[(uuid::Uuid, CellOutcome)]) {
        let mut all = self.lock();
        for (cell, _) in cells {
            all.remove(cell);
        }
    }

    fn cells(&self) -> Vec<uuid::Uuid> {
        self.lock().iter().copied().collect()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashSet<uuid::Uuid>> {
        self.0.lock().unwrap_or_else(|e| e.into_inner())
    }
}

impl App {
    /// Runs the engine until `stop`; then claims nothing more and waits for
    /// the cells in flight to be written (the caller drains their runs).
    pub async fn run_experiments(&self, settings: EngineSettings, stop: CancellationToken) {
        let cap = Arc::new(Semaphore::new(settings.max_in_flight.max(1)));
        let in_flight: InFlight = Arc::default();
        let mut experiments: HashMap<ExperimentId, Arc<Running>> = HashMap::new();
        let mut tasks = JoinSet::new();
        let (outcomes, rx) = mpsc::channel(OUTCOME_BATCH * 4);
        let handoff = Handoff {
            outcomes,
            unwritten: Unwritten::default(),
        };
        // Held by a claim and the start of its runs: the writer waits for
        // it, so a wave of ended cells is replaced before it is written (an
        // outcome waiting costs nothing; a free slot waiting costs a call).
        let claiming = Arc::new(tokio::sync::Mutex::new(()));
        let writer = tokio::spawn(self.clone().write_outcomes(
            rx,
            handoff.unwritten.clone(),
            claiming.clone(),
        ));
        let listener = tokio::spawn(self.clone().listen(stop.clone()));
        let mut last_watch: Option<Instant> = None;
        // Claims follow a cell's end (its place is free at once, see
        // `Unwritten`; the cells that end during a claim are taken by the
        // next), wakes (a batch of outcomes written, a new or resumed
        // experiment, another replica's change) and polls.
        //
        // Whether the last claim found cells: then the next needs no read
        // first to know there may be more.
        let mut found = false;
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
            // Every free slot at once: the cells of a wave that ended
            // together start together again in one claim, not in several.
            let free = cap.available_permits();
            let mut more = false;
            if free > 0 {
                let claim_turn = claiming.lock().await;
                match self.claim(free, &handoff.unwritten.cells(), found).await {
                    Ok(cells) => {
                        found = !cells.is_empty();
                        // A full batch: more may be waiting for the free slots.
                        more = cells.len() == free;
                        let (ready, failed) = self
                            .start_cells(cells, &cap, &mut experiments, &in_flight)
                            .await;
                        // Before sending: the writer may be waiting for this
                        // turn, and the channel may be full.
                        drop(claim_turn);
                        for ended in failed {
                            handoff.send(ended).await;
                        }
                        for (experiment, cell, plan, permit) in ready {
                            let (app, settings, in_flight, stop, handoff, cap) = (
                                self.clone(),
                                settings.clone(),
                                in_flight.clone(),
                                stop.clone(),
                                handoff.clone(),
                                cap.clone(),
                            );
                            tasks.spawn(async move {
                                let id = cell.id;
                                let slots = Slots {
                                    permit,
                                    cap: &cap,
                                    in_flight: &in_flight,
                                };
                                let ended = app
                                    .run_cell(experiment, &cell, plan, slots, &settings, &stop)
                                    .await;
                                in_flight
                                    .lock()
                                    .unwrap_or_else(|e| e.into_inner())
                                    .remove(&id);
                                handoff.send(ended).await;
                            });
                        }
                    }
                    Err(e) => tracing::warn!(error = %e, "cannot claim experiment cells"),
                }
            }
            if more && cap.available_permits() > 0 {
                continue;
            }
            tokio::select! {
                () = stop.cancelled() => {}
                () = self.engine.wake.notified() => {}
                () = tokio::time::sleep(settings.poll) => {}
                // A cell ended: its place is free.
                Some(_) = tasks.join_next(), if !tasks.is_empty() => {}
            }
        }
        while tasks.join_next().await.is_some() {}
        drop(handoff);
        if writer.await.is_err() {
            tracing::error!(
                "the cell outcome writer panicked; its cells are taken back when this lease ends"
            );
        }
        listener.abort();
    }

    /// Writes cell outcomes as they come, each batch in one transaction
    /// with their runs' outcomes: the cells that ended while the last batch
    /// was being written.
    async fn write_outcomes(
        self,
        mut rx: mpsc::Receiver<Ended>,
        unwritten: Unwritten,
        claiming: Arc<tokio::sync::Mutex<()>>,
    ) {
        let mut batch = Vec::with_capacity(OUTCOME_BATCH);
        let mut cells = Vec::with_capacity(OUTCOME_BATCH);
        let mut runs = Vec::with_capacity(OUTCOME_BATCH);
        while rx.recv_many(&mut batch, OUTCOME_BATCH).await > 0 {
            // The cells that just ended woke the loop too: let it claim
            // their replacements first.
            tokio::task::yield_now().await;
            drop(claiming.lock().await);
            // What ended meanwhile goes in this batch too.
            while batch.len() < OUTCOME_BATCH
                && let Ok(more) = rx.try_recv()
            {
                batch.push(more);
            }
            for ended in batch.drain(..) {
                cells.push((ended.cell, ended.outcome));
                runs.extend(ended.run);
            }
            let written = self.finish_cells(&cells).await;
            unwritten.written(&cells);
            if !written {
                // The cells come back with this lease; their runs are
                // still worth their own write (a run left `running` by a
                // live instance would stay so).
                for (_, outcome) in &cells {
                    if let (Some(id), Some(run)) = (outcome.run_id, &outcome.run)
                        && let Err(e) = self.store.runs().finish(id, run).await
                    {
                        tracing::error!(error = %e, run = %id, "cannot store a cell's run outcome");
                    }
                }
            }
            cells.clear();
            for (run, registered) in runs.drain(..) {
                if written && let Some(observer) = &self.observer {
                    observer.run_finished(&run);
                }
                // Out of the registry: a cancel waiting on it finds it stored.
                drop(registered);
            }
            // The cells' experiments have room again.
            self.engine.wake.notify_one();
        }
    }

    /// Writes one batch, retried like a run's outcome: a cell left `running`
    /// by a passing store error would only come back when this process's
    /// lease ends. False when it could not be written.
    async fn finish_cells(&self, batch: &[(uuid::Uuid, CellOutcome)]) -> bool {
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
                    return true;
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
        false
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

    /// Claims cells when some experiment has work: a read first, so an idle
    /// instance does not take SQLite's write lock every poll, unless the
    /// last claim `found` cells.
    async fn claim(
        &self,
        max: usize,
        ended: &[uuid::Uuid],
        found: bool,
    ) -> promptrefine_store::Result<Vec<ClaimedCell>> {
        if !found && !self.store.experiments().has_runnable(ended).await? {
            return Ok(vec![]);
        }
        self.store
            .experiments()
            .claim_beside(self.instance, max, ended)
            .await
    }

    /// Returns claimed cells to `pending` without an attempt's outcome.
    async fn put_back(&self, cells: &[uuid::Uuid]) {
        let back: Vec<(uuid::Uuid, CellOutcome)> = cells
            .iter()
            .map(|id| (*id, CellOutcome::without_run(CellStatus::Pending)))
            .collect();
        if let Err(e) = self
            .store
            .experiments()
            .finish_cells(self.instance, &back)
            .await
        {
            tracing::warn!(error = %e, cells = cells.len(), "cannot put cells back; they are taken back when this lease ends");
        }
    }

    /// Plans the cells of one claim and stores their runs as started, in one
    /// statement; answers those ready to run, each with its slot of `cap`.
    /// A cell that cannot start here goes back at once (left `running`, it
    /// would wait for this process's lease to end); one that cannot be
    /// planned (its provider gone) fails: its outcome is answered, for the
    /// caller to hand to the writer.
    async fn start_cells(
        &self,
        cells: Vec<ClaimedCell>,
        cap: &Arc<Semaphore>,
        experiments: &mut HashMap<ExperimentId, Arc<Running>>,
        in_flight: &InFlight,
    ) -> (Vec<Ready>, Vec<Ended>) {
        let mut back = vec![];
        let mut ready = vec![];
        let mut failed = vec![];
        for cell in cells {
            let Ok(permit) = cap.clone().try_acquire_owned() else {
                back.push(cell.id);
                continue;
            };
            let Some(experiment) = self.experiment_for(experiments, cell.experiment_id).await
            else {
                back.push(cell.id);
                continue;
            };
            match self.plan_cell(&experiment.experiment, &cell).await {
                Ok(plan) => ready.push((experiment, cell, plan, permit)),
                Err(e) => {
                    tracing::warn!(error = %e, cell = %cell.id, "an experiment cell failed before its run");
                    failed.push(Ended::without_run(&cell, CellStatus::Failed));
                }
            }
        }
        let news: Vec<NewRun> = ready
            .iter()
            .map(|(_, _, plan, _)| plan.new.clone())
            .collect();
        if let Err(e) = self.store.runs().start_many(&news).await {
            tracing::warn!(error = %e, cells = ready.len(), "cannot store the runs of claimed cells; putting the cells back");
            back.extend(ready.drain(..).map(|(_, cell, _, _)| cell.id));
        }
        if !back.is_empty() {
            self.put_back(&back).await;
        }
        let mut table = in_flight.lock().unwrap_or_else(|e| e.into_inner());
        for (_, cell, plan, _) in &ready {
            // The watch cancels the run in flight of this cell: the cell's,
            // then each judge's.
            table.insert(cell.id, (cell.experiment_id, Some(plan.new.id)));
        }
        (ready, failed)
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

    /// One attempt at one cell, its run stored as started; its outcome (the
    /// writer stores it once).
    async fn run_cell(
        &self,
        experiment: Arc<Running>,
        cell: &ClaimedCell,
        plan: RunPlan,
        slots: Slots<'_>,
        settings: &EngineSettings,
        stop: &CancellationToken,
    ) -> Ended {
        self.attempt_cell(&experiment, cell, plan, slots, settings, stop)
            .await
            .unwrap_or_else(|e| {
                tracing::warn!(error = %e, cell = %cell.id, "an experiment cell's run failed");
                Ended::without_run(cell, CellStatus::Failed)
            })
    }

    async fn attempt_cell(
        &self,
        running: &Running,
        cell: &ClaimedCell,
        plan: RunPlan,
        slots: Slots<'_>,
        settings: &EngineSettings,
        stop: &CancellationToken,
    ) -> crate::Result<Ended> {
        let Slots {
            permit,
            cap,
            in_flight,
        } = slots;
        let limiter = self
            .engine
            .limiter(&plan.new.provider, settings.max_in_flight);
        let slot = limiter.acquire().await;
        // The watch cancels the run in flight of this cell: the cell's
        // (entered as it was started), then each judge's.
        let running_now = |run: RunId| {
            if let Some(entry) = in_flight
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .get_mut(&cell.id)
            {
                entry.1 = Some(run);
            }
        };
        let Unstored {
            run,
            outcome: run_outcome,
            retry_after,
            registered,
        } = self.run_cell_plan(plan, permit).await?;
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
        Ok(Ended {
            cell: cell.id,
            outcome: CellOutcome {
                status,
                run_id: Some(run.id),
                cost_micro_usd,
                scores,
                run: Some(run_outcome),
            },
            run: Some((run, registered)),
        })
    }
}

/// What a cell's task holds: its slot of the engine's cap (given to its
/// run), the cap itself (its judges take slots of it too), and the table
/// of runs in flight (so the watch can cancel them).
struct Slots<'a> {
    permit: OwnedSemaphorePermit,
    cap: &'a Arc<Semaphore>,
    in_flight: &'a InFlight,
}

/// What a cell's task hands the writer: the cell's outcome (with its run's,
/// written in the same transaction), and the run as stored, for the
/// observer, with its place in the run registry (given up once written).
pub(crate) struct Ended {
    cell: uuid::Uuid,
    outcome: CellOutcome,
    run: Option<(Run, Registered)>,
}

impl Ended {
    fn without_run(cell: &ClaimedCell, status: CellStatus) -> Ended {
        Ended {
            cell: cell.id,
            outcome: CellOutcome::without_run(status),
            run: None,
        }
    }
}

/// A claimed cell ready to run: its experiment, its planned (and stored)
/// run, its slot of the engine's cap.
type Ready = (Arc<Running>, ClaimedCell, RunPlan, OwnedSemaphorePermit);

/// An experiment this instance runs cells of, with its evaluators parsed once.
pub(crate) struct Running {
    experiment: Experiment,
    scorer: Scorer,
}
