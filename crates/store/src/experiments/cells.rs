//! Cells: claimed in batches by any live instance, finished exactly once by
//! their owner, and taken back when the owner's lease is gone.
//!
//! * **Claim** locks a few runnable experiments (on PostgreSQL `for update`,
//!   in id order like every other writer of experiment rows; SQLite's single
//!   writer serialises claims anyway), takes up to `concurrency - running`
//!   pending cells of each in item order, and reserves each cell's
//!   worst-case cost. A claimer's own cells whose calls have ended but are
//!   not written yet do not count as running (`claim_beside`), so its next
//!   calls need not wait for its outcome writes. The first
//!   cell whose reservation would cross the cap is not claimed, and the
//!   experiment pauses with `pause_reason = 'budget'`: spent + reserved
//!   never exceeds the cap, whatever the concurrency or number of replicas.
//! * **Finish** is a conditional update (`status = 'running' and
//!   owner_instance = me`): a cell taken back from a stalled owner is not
//!   written twice. It settles the reservation to the real cost.
//! * **Reclaim** (in every instance's sweep) returns running cells of dead
//!   owners to `pending` (or `cancelled` when the experiment was
//!   cancelled). Their calls' real cost is unknown, so their worst case is
//!   counted as spent: the cap holds even for calls a crash cut.

use std::collections::{BTreeMap, HashMap, HashSet};

use promptrefine_core::{CellStatus, ExperimentId, InstanceId, RunId};
use sqlx::types::Json;
use sqlx::{FromRow, QueryBuilder};
use uuid::Uuid;

use super::ExperimentRepo;
use crate::codec::{DbTime, DbUuid};
use crate::error::{Result, StoreError};
use crate::on_backend;
use crate::runs::{RunEnd, RunOutcome, finish_many_sql};

/// An item's position, id and variables, as a claim reads them.
type ItemVars = (
    i64,
    DbUuid,
    Json<BTreeMap<String, String>>,
    Option<Json<serde_json::Value>>,
    Option<Json<serde_json::Value>>,
);

/// Experiments looked at per claim.
const EXPERIMENTS_PER_CLAIM: i64 = 8;

/// A cell this instance now owns, with what it needs to run.
#[derive(Clone, Debug, PartialEq)]
pub struct ClaimedCell {
    pub id: Uuid,
    pub experiment_id: ExperimentId,
    pub position: i64,
    pub variant: i64,
    pub repeat: i64,
    /// This attempt's number (1 for the first).
    pub attempt: i64,
    pub item_id: Uuid,
    pub variables: BTreeMap<String, String>,
    /// The item's expected answer, for the evaluators.
    pub expected: Option<serde_json::Value>,
    /// The item's metadata (what `http` evaluators are sent).
    pub metadata: Option<serde_json::Value>,
}

/// How an attempt at a cell ended.
#[derive(Clone, Debug, PartialEq)]
pub struct CellOutcome {
    /// `Succeeded`, `Failed` or `Cancelled` end the cell; `Pending` puts it
    /// back for another attempt (a rate-limited call).
    pub status: CellStatus,
    pub run_id: Option<RunId>,
    pub cost_micro_usd: Option<i64>,
    /// The evaluators' scores of its output (a JSON array), when scored.
    pub scores: Option<serde_json::Value>,
    /// The outcome of the run `run_id`, written in the same transaction as
    /// the cell's (the engine stores its cells' runs so, not one by one).
    /// A run already stopped by something else (a cancel from another
    /// replica) keeps its outcome, and its cell ends `cancelled`.
    pub run: Option<RunOutcome>,
}

impl CellOutcome {
    /// An outcome with no run behind it: a cell put back unstarted, or one
    /// that failed before its run.
    pub fn without_run(status: CellStatus) -> CellOutcome {
        CellOutcome {
            status,
            run_id: None,
            cost_micro_usd: None,
            scores: None,
            run: None,
        }
    }
}

/// One cell's outcome, an element of the JSON array [`finish_cells_sql`]
/// binds.
#[derive(serde::Serialize)]
struct CellEnd<'a> {
    id: Uuid,
    status: &'static str,
    run_id: Option<Uuid>,
    cost_micro_usd: Option<i64>,
    scores: Option<&'a serde_json::Value>,
}

/// Ends many cells in one statement: `$1` the JSON array of [`CellEnd`]s,
/// `$2` their owner, `$3` the time. Only cells still `running` and owned
/// by `$2` are written; a `pending` outcome in an experiment cancelled
/// meanwhile ends `cancelled`. Answers each written cell's id, experiment,
/// reservation and new status.
fn finish_cells_sql(pg: bool) -> String {
    let rows = crate::codec::json_rows(
        pg,
        "$1",
        &[
            ("id", "uuid"),
            ("status", "text"),
            ("run_id", "uuid"),
            ("cost_micro_usd", "bigint"),
            ("scores", "jsonb"),
        ],
    );
    format!(
        "update experiment_cells set
                status = case when v.status = 'pending'
                               and (select e.status from experiments e where e.id = experiment_cells.experiment_id) = 'cancelled'
                              then 'cancelled' else v.status end,
                owner_instance = null, run_id = coalesce(v.run_id, experiment_cells.run_id),
                cost_micro_usd = v.cost_micro_usd, updated_at = $3, scores = v.scores
           from {rows}
          where experiment_cells.id = v.id and experiment_cells.owner_instance = $2
            and experiment_cells.status = 'running'
         returning experiment_cells.id, experiment_cells.experiment_id, experiment_cells.worst_micro_usd,
                   experiment_cells.status"
    )
}

/// What a reclaim took back.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Reclaimed {
    pub pending: u64,
    pub cancelled: u64,
    /// Cells whose run had succeeded before their owner died.
    pub completed: u64,
}

/// The condition for an experiment to have a cell to claim, `$1` an upper
/// bound on the claimer's ended calls in it (see
/// [`ExperimentRepo::claim_beside`]).
const RUNNABLE: &str = "status in ('queued', 'running') and cells_pending > 0
                        and cells_running - $1 < concurrency";

#[derive(FromRow)]
struct Runnable {
    id: DbUuid,
    concurrency: i64,
    cells_running: i64,
    max_cost_micro_usd: Option<i64>,
    spent_micro_usd: i64,
    reserved_micro_usd: i64,
}

#[derive(FromRow)]
struct PendingCell {
    id: DbUuid,
    position: i64,
    variant: i64,
    repeat_index: i64,
    attempts: i64,
    worst_micro_usd: i64,
}

/// The counter column of a status (static names, never user input).
fn counter(status: CellStatus) -> &'static str {
    match status {
        CellStatus::Pending => "cells_pending",
        CellStatus::Running => "cells_running",
        CellStatus::Succeeded => "cells_succeeded",
        CellStatus::Failed => "cells_failed",
        CellStatus::Cancelled => "cells_cancelled",
    }
}

impl ExperimentRepo<'_> {
    /// Whether some experiment may have a cell to claim, `ended` as in
    /// [`Self::claim_beside`] (a read, so idle instances do not take
    /// SQLite's write lock every poll).
    pub async fn has_runnable(&self, ended: &[Uuid]) -> Result<bool> {
        on_backend!(self.store, read_retry, |pool, _pg| {
            let found: Option<DbUuid> = sqlx::query_scalar(&format!(
                "select id from experiments where {RUNNABLE} limit 1"
            ))
            .bind(ended.len() as i64)
            .fetch_optional(pool)
            .await?;
            Ok(found.is_some())
        })
    }

    /// Claims up to `max` pending cells of runnable experiments for `owner`.
    pub async fn claim(&self, owner: InstanceId, max: usize) -> Result<Vec<ClaimedCell>> {
        self.claim_beside(owner, max, &[]).await
    }

    /// [`Self::claim`] beside `ended`: `owner`'s cells whose calls have
    /// ended and whose outcomes wait to be written. Those still `running`
    /// no longer count against their experiment's concurrency (which
    /// bounds calls in flight), so an instance starts its next calls
    /// without waiting for its writes. They are counted after the
    /// experiment's row is locked, so a cell whose outcome was written
    /// meanwhile is not counted twice (once ended, once no longer running).
    pub async fn claim_beside(
        &self,
        owner: InstanceId,
        max: usize,
        ended: &[Uuid],
    ) -> Result<Vec<ClaimedCell>> {
        if max == 0 {
            return Ok(vec![]);
        }
        let now = DbTime::now();
        on_backend!(self.store, write_retry, |pool, pg| {
            let mut tx = pool.begin().await?;
            // Rows locked in id order (ids are time-ordered, so this is also
            // oldest first): finish_cells settles experiments in that order.
            let lock = if pg { " for update" } else { "" };
            let runnable: Vec<Runnable> = sqlx::query_as(&format!(
                "select id, concurrency, cells_running, max_cost_micro_usd, spent_micro_usd,
                        reserved_micro_usd
                 from experiments where {RUNNABLE}
                 order by id limit {EXPERIMENTS_PER_CLAIM}{lock}"
            ))
            .bind(ended.len() as i64)
            .fetch_all(&mut *tx)
            .await?;
            // In a statement of its own, after the lock: an outcome write
            // that committed before it is seen here (the writer waits for
            // the experiment's row, so none commits after).
            let mut ended_in: HashMap<DbUuid, i64> = HashMap::new();
            if !ended.is_empty() && !runnable.is_empty() {
                let mut qb = QueryBuilder::new(
                    "select experiment_id, count(*) from experiment_cells where status = 'running' and owner_instance = ",
                );
                qb.push_bind(DbUuid::from(owner)).push(" and id in (");
                let mut ids = qb.separated(", ");
                for id in ended {
                    ids.push_bind(DbUuid(*id));
                }
                qb.push(") group by experiment_id");
                let counts: Vec<(DbUuid, i64)> = qb.build_query_as().fetch_all(&mut *tx).await?;
                ended_in.extend(counts);
            }
            let mut claimed = vec![];
            for e in runnable {
                let calls = e.cells_running - ended_in.get(&e.id).copied().unwrap_or(0);
                let room = (e.concurrency - calls).min((max - claimed.len()) as i64);
                if room <= 0 {
                    continue;
                }
                let pending: Vec<PendingCell> = sqlx::query_as(
                    "select id, position, variant, repeat_index, attempts, worst_micro_usd
                     from experiment_cells where experiment_id = $1 and status = 'pending'
                     order by position, variant, repeat_index limit $2",
                )
                .bind(e.id)
                .bind(room)
                .fetch_all(&mut *tx)
                .await?;
                // Reserve in order; stop at the first cell that would cross the cap.
                let mut committed = e.spent_micro_usd + e.reserved_micro_usd;
                let mut take = vec![];
                let mut over_budget = false;
                for c in pending {
                    if let Some(cap) = e.max_cost_micro_usd
                        && committed + c.worst_micro_usd > cap
                    {
                        over_budget = true;
                        break;
                    }
                    committed += c.worst_micro_usd;
                    take.push(c);
                }
                if !take.is_empty() {
                    let mut qb = QueryBuilder::new(
                        "update experiment_cells set status = 'running', attempts = attempts + 1, owner_instance = ",
                    );
                    qb.push_bind(DbUuid::from(owner))
                        .push(", updated_at = ")
                        .push_bind(now)
                        .push(" where id in (");
                    let mut ids = qb.separated(", ");
                    for c in &take {
                        ids.push_bind(c.id);
                    }
                    qb.push(")");
                    qb.build().execute(&mut *tx).await?;
                }
                let reserved: i64 = take.iter().map(|c| c.worst_micro_usd).sum();
                sqlx::query(
                    "update experiments set cells_pending = cells_pending - $2, cells_running = cells_running + $2,
                            reserved_micro_usd = reserved_micro_usd + $3,
                            status = case when $4 then 'paused' when $2 > 0 then 'running' else status end,
                            pause_reason = case when $4 then 'budget' else pause_reason end,
                            started_at = case when $2 > 0 then coalesce(started_at, $5) else started_at end,
                            updated_at = $5
                     where id = $1",
                )
                .bind(e.id)
                .bind(take.len() as i64)
                .bind(reserved)
                .bind(over_budget)
                .bind(now)
                .execute(&mut *tx)
                .await?;
                if take.is_empty() {
                    continue;
                }
                let mut qb = QueryBuilder::new(
                    "select position, item_id, variables, expected, metadata from experiment_items where experiment_id = ",
                );
                qb.push_bind(e.id).push(" and position in (");
                let mut positions = qb.separated(", ");
                for c in &take {
                    positions.push_bind(c.position);
                }
                qb.push(")");
                let items: Vec<ItemVars> = qb.build_query_as().fetch_all(&mut *tx).await?;
                let items: HashMap<i64, ItemVars> =
                    items.into_iter().map(|item| (item.0, item)).collect();
                for c in take {
                    // Repeats and variants of one item share its row.
                    let (item_id, variables, expected, metadata) = items
                        .get(&c.position)
                        .map(|(_, id, v, e, m)| {
                            (
                                id.0,
                                v.0.clone(),
                                e.as_ref().map(|e| e.0.clone()),
                                m.as_ref().map(|m| m.0.clone()),
                            )
                        })
                        .unwrap_or_default();
                    claimed.push(ClaimedCell {
                        id: c.id.0,
                        experiment_id: e.id.0.into(),
                        position: c.position,
                        variant: c.variant,
                        repeat: c.repeat_index,
                        attempt: c.attempts + 1,
                        item_id,
                        variables,
                        expected,
                        metadata,
                    });
                }
                if claimed.len() >= max {
                    break;
                }
            }
            tx.commit().await?;
            Ok::<_, StoreError>(claimed)
        })
    }

    /// Ends `owner`'s attempt at a cell, once: false when the cell is no
    /// longer this owner's (it was taken back) — then nothing is written.
    /// A `Pending` outcome puts the cell back for another attempt (or
    /// `cancelled` if the experiment was cancelled meanwhile).
    pub async fn finish_cell(
        &self,
        cell: Uuid,
        owner: InstanceId,
        outcome: CellOutcome,
    ) -> Result<bool> {
        let done = self.finish_cells(owner, &[(cell, outcome)]).await?;
        Ok(done.written.first().copied().unwrap_or(false))
    }

    /// [`Self::finish_cell`] for many cells in one transaction, with one
    /// counter update per experiment: the engine writes the outcomes that
    /// ended together at once, so a busy experiment costs a commit per batch
    /// and not per cell (on PostgreSQL the experiment row is also locked
    /// once per batch, which is what lets two replicas share it). One
    /// answer per outcome, in order.
    pub async fn finish_cells(
        &self,
        owner: InstanceId,
        outcomes: &[(Uuid, CellOutcome)],
    ) -> Result<Finished> {
        if outcomes.is_empty() {
            return Ok(Finished::default());
        }
        let now = DbTime::now();
        // The first outcome of each cell is the one written (the answer
        // says false for a repeat).
        let mut seen = HashSet::new();
        let firsts: Vec<bool> = outcomes
            .iter()
            .map(|(cell, _)| seen.insert(*cell))
            .collect();
        let kept: Vec<&(Uuid, CellOutcome)> = outcomes
            .iter()
            .zip(&firsts)
            .filter_map(|(o, first)| first.then_some(o))
            .collect();
        let runs: Vec<RunEnd> = kept
            .iter()
            .filter_map(|(_, o)| Some(RunEnd::new(o.run_id?, o.run.as_ref()?)))
            .collect();
        on_backend!(self.store, write_retry, |pool, _pg| {
            let mut tx = pool.begin().await?;
            // The runs first, all in one statement: a run already ended
            // (cancelled from another replica) leaves its cell cancelled.
            let ran: HashSet<DbUuid> = if runs.is_empty() {
                HashSet::new()
            } else {
                sqlx::query_scalar(&finish_many_sql(_pg))
                    .bind(Json(&runs))
                    .bind(now)
                    .fetch_all(&mut *tx)
                    .await?
                    .into_iter()
                    .collect()
            };
            let cells: Vec<CellEnd> = kept
                .iter()
                .map(|(cell, o)| CellEnd {
                    id: *cell,
                    status: match (o.run_id, &o.run) {
                        (Some(run), Some(_)) if !ran.contains(&DbUuid::from(run)) => {
                            CellStatus::Cancelled.as_str()
                        }
                        _ => o.status.as_str(),
                    },
                    run_id: o.run_id.map(Uuid::from),
                    cost_micro_usd: o.cost_micro_usd,
                    scores: o.scores.as_ref(),
                })
                .collect();
            let rows: Vec<(DbUuid, DbUuid, i64, String)> = sqlx::query_as(&finish_cells_sql(_pg))
                .bind(Json(&cells))
                .bind(DbUuid::from(owner))
                .bind(now)
                .fetch_all(&mut *tx)
                .await?;
            let mut by_cell: HashMap<DbUuid, (DbUuid, i64, String)> = rows
                .into_iter()
                .map(|(cell, experiment, worst, status)| (cell, (experiment, worst, status)))
                .collect();
            let mut written = Vec::with_capacity(outcomes.len());
            // Per experiment: how many cells ended in each status, the real
            // cost to add to the spend and the reservations to release.
            // Ordered by id, so two instances lock experiment rows in one order.
            let mut settle: BTreeMap<DbUuid, (HashMap<CellStatus, i64>, i64, i64)> =
                BTreeMap::new();
            for ((cell, outcome), first) in outcomes.iter().zip(&firsts) {
                let row = if *first {
                    by_cell.remove(&DbUuid(*cell))
                } else {
                    None
                };
                written.push(row.is_some());
                let Some((experiment, worst, status)) = row else {
                    continue;
                };
                let status = CellStatus::parse(&status).unwrap_or(CellStatus::Failed);
                let entry = settle.entry(experiment).or_default();
                *entry.0.entry(status).or_default() += 1;
                entry.1 += outcome.cost_micro_usd.unwrap_or(0).max(0);
                entry.2 += worst;
            }
            let mut ended = Vec::new();
            for (experiment, (counts, cost, worst)) in settle {
                let counts: Vec<(CellStatus, i64)> = counts.into_iter().collect();
                let (status, finished): (String, bool) = sqlx::query_as(&settle_sql(&counts))
                    .bind(experiment)
                    .bind(cost)
                    .bind(worst)
                    .bind(now)
                    .fetch_one(&mut *tx)
                    .await?;
                if finished && status != "running" && status != "paused" {
                    ended.push(experiment.0.into());
                }
            }
            tx.commit().await?;
            Ok::<_, StoreError>(Finished { written, ended })
        })
    }

    /// Takes running cells whose owner holds no live lease back: a cell
    /// whose run had already succeeded (the owner died between storing the
    /// run and the cell) is completed with that run, so no cell gets two
    /// succeeded runs; the others go back to `pending`, or `cancelled` in a
    /// cancelled experiment, with their worst case counted as spent (a crash
    /// may have cut a call that was charged).
    pub async fn reclaim_cells(&self) -> Result<Reclaimed> {
        let now = DbTime::now();
        on_backend!(self.store, write_retry, |pool, _pg| {
            let mut tx = pool.begin().await?;
            let rows: Vec<OrphanRow> = sqlx::query_as(
                "select c.id, c.experiment_id, c.worst_micro_usd, e.status as experiment_status,
                        r.id as run_id, r.cost_micro_usd
                 from experiment_cells c
                 join experiments e on e.id = c.experiment_id
                 join experiment_items i on i.experiment_id = c.experiment_id and i.position = c.position
                 left join test_runs r on r.experiment_id = c.experiment_id and r.item_id = i.item_id
                      and r.variant = c.variant and r.repeat_index = c.repeat_index and r.status = 'succeeded'
                 where c.status = 'running'
                   and (c.owner_instance is null
                        or c.owner_instance not in (select id from instances where lease_expires_at > $1))",
            )
            .bind(now)
            .fetch_all(&mut *tx)
            .await?;
            let mut seen = std::collections::HashSet::new();
            let mut total = Reclaimed::default();
            for row in rows {
                if !seen.insert(row.id) {
                    continue;
                }
                let (status, spent) = match (row.run_id, row.experiment_status.as_str()) {
                    (Some(_), _) => (CellStatus::Succeeded, row.cost_micro_usd.unwrap_or(0)),
                    (None, "cancelled") => (CellStatus::Cancelled, row.worst_micro_usd),
                    (None, _) => (CellStatus::Pending, row.worst_micro_usd),
                };
                let taken = sqlx::query(
                    "update experiment_cells set status = $2, owner_instance = null,
                            run_id = coalesce($3, run_id), cost_micro_usd = $4, updated_at = $5
                     where id = $1 and status = 'running'",
                )
                .bind(row.id)
                .bind(status.as_str())
                .bind(row.run_id)
                .bind(row.run_id.map(|_| spent))
                .bind(now)
                .execute(&mut *tx)
                .await?
                .rows_affected();
                if taken == 0 {
                    continue;
                }
                match status {
                    CellStatus::Succeeded => total.completed += 1,
                    CellStatus::Cancelled => total.cancelled += 1,
                    _ => total.pending += 1,
                }
                sqlx::query(&settle_sql(&[(status, 1)]))
                    .bind(row.experiment_id)
                    .bind(spent)
                    .bind(row.worst_micro_usd)
                    .bind(now)
                    .execute(&mut *tx)
                    .await?;
            }
            tx.commit().await?;
            Ok::<_, StoreError>(total)
        })
    }
}

#[derive(FromRow)]
struct OrphanRow {
    id: DbUuid,
    experiment_id: DbUuid,
    worst_micro_usd: i64,
    experiment_status: String,
    run_id: Option<DbUuid>,
    cost_micro_usd: Option<i64>,
}

/// The update that moves `counts` cells of one experiment out of
/// `running`, settles their reservation (`$3`) to what they spent (`$2`),
/// and ends the experiment when its last cell did: `succeeded` (running or
/// paused, nothing pending), or `finished_at` of a cancelled one. Binds:
/// `$1` experiment, `$2` spent, `$3` reserved, `$4` now. SET expressions
/// read the row as it was, on both backends.
fn settle_sql(counts: &[(CellStatus, i64)]) -> String {
    let moved: i64 = counts.iter().map(|(_, n)| n).sum();
    let pending_back: i64 = counts
        .iter()
        .filter(|(s, _)| *s == CellStatus::Pending)
        .map(|(_, n)| n)
        .sum();
    let mut set = String::new();
    for (status, n) in counts {
        if *n > 0 {
            let col = counter(*status);
            set.push_str(&format!(", {col} = {col} + {n}"));
        }
    }
    // Done when no cell is pending or running afterwards.
    let done = format!("cells_running = {moved} and cells_pending + {pending_back} = 0");
    format!(
        "update experiments set cells_running = cells_running - {moved}{set},
                spent_micro_usd = spent_micro_usd + $2, reserved_micro_usd = reserved_micro_usd - $3,
                status = case when status in ('running', 'paused') and {done} then 'succeeded' else status end,
                pause_reason = case when status in ('running', 'paused') and {done} then null else pause_reason end,
                finished_at = case when ({done}) or (status = 'cancelled' and cells_running = {moved}) then $4 else finished_at end,
                updated_at = $4
         where id = $1
         returning status, coalesce(finished_at = $4, false) as finished"
    )
}

/// What [`ExperimentRepo::finish_cells`] wrote.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Finished {
    /// Per outcome, in order: false when the cell was no longer the
    /// owner's (it was taken back) and nothing was written.
    pub written: Vec<bool>,
    /// The experiments these outcomes ended (their last cell).
    pub ended: Vec<ExperimentId>,
}
