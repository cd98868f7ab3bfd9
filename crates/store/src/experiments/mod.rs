//! `experiments`, `experiment_items`, `experiment_cells`: durable batch work.
//!
//! An experiment is created with all its cells in one transaction, so it is
//! either there whole or not at all. Cells are claimed, finished and taken
//! back in [`cells`]; every change to a cell changes the experiment's
//! counters (and money) in the same transaction, so `progress` is always the
//! sum of the cells and reading it is one row.

mod cells;
mod facts;
mod results;

use std::collections::BTreeMap;

use promptrefine_core::{
    CostEstimate, DatasetId, Experiment, ExperimentId, ExperimentStatus, Progress, PromptId,
    Variant,
};
use sqlx::types::Json;
use sqlx::{FromRow, QueryBuilder};
use uuid::Uuid;

use crate::codec::{DbTime, DbUuid};
use crate::error::{Result, StoreError};
use crate::notify::notify_experiment;
use crate::page::{Cursor, Page, page_from, push_newest_first};
use crate::{Store, on_backend};

pub use cells::{CellOutcome, ClaimedCell, Finished, Reclaimed};
pub use facts::{FactSort, ItemFacts, ResultFilter};
pub use results::{CellKey, CellResult, ResultRow, ScoredCell};

const EXPERIMENT_COLUMNS: &str = "id, name, prompt_id, dataset_id, dataset_version, variants, repeats, \
     concurrency, status, pause_reason, error_code, error_message, max_cost_micro_usd, spent_micro_usd, \
     reserved_micro_usd, cells_total, cells_pending, cells_running, cells_succeeded, cells_failed, \
     cells_cancelled, estimate, evaluators, created_at, started_at, finished_at, updated_at";

/// Rows per multi-row insert: SQLite binds at most 32,766 values per
/// statement, and a cell has 8.
const INSERT_CHUNK: usize = 1_000;

#[derive(FromRow)]
struct ExperimentRow {
    id: DbUuid,
    name: String,
    prompt_id: DbUuid,
    dataset_id: DbUuid,
    dataset_version: i64,
    variants: Json<Vec<Variant>>,
    repeats: i64,
    concurrency: i64,
    status: String,
    pause_reason: Option<String>,
    error_code: Option<String>,
    error_message: Option<String>,
    max_cost_micro_usd: Option<i64>,
    spent_micro_usd: i64,
    reserved_micro_usd: i64,
    cells_total: i64,
    cells_pending: i64,
    cells_running: i64,
    cells_succeeded: i64,
    cells_failed: i64,
    cells_cancelled: i64,
    estimate: Json<CostEstimate>,
    evaluators: Json<serde_json::Value>,
    created_at: DbTime,
    started_at: Option<DbTime>,
    finished_at: Option<DbTime>,
    updated_at: DbTime,
}

impl From<ExperimentRow> for Experiment {
    fn from(r: ExperimentRow) -> Self {
        Experiment {
            id: r.id.0.into(),
            name: r.name,
            prompt_id: r.prompt_id.0.into(),
            dataset_id: r.dataset_id.0.into(),
            dataset_version: r.dataset_version,
            variants: r.variants.0,
            repeats: r.repeats,
            concurrency: r.concurrency,
            // The column has a check constraint; anything else is a corrupt row.
            status: ExperimentStatus::parse(&r.status).unwrap_or(ExperimentStatus::Failed),
            pause_reason: r.pause_reason,
            error_code: r.error_code,
            error_message: r.error_message,
            progress: Progress {
                total: r.cells_total,
                pending: r.cells_pending,
                running: r.cells_running,
                succeeded: r.cells_succeeded,
                failed: r.cells_failed,
                cancelled: r.cells_cancelled,
            },
            cost_micro_usd: r.spent_micro_usd,
            reserved_micro_usd: r.reserved_micro_usd,
            estimate: r.estimate.0,
            evaluators: r.evaluators.0,
            max_cost_micro_usd: r.max_cost_micro_usd,
            created_at: r.created_at.0,
            started_at: r.started_at.map(|t| t.0),
            finished_at: r.finished_at.map(|t| t.0),
            updated_at: Some(r.updated_at.0),
        }
    }
}

/// One dataset item as the experiment pins it.
#[derive(Clone, Debug)]
pub struct NewExperimentItem {
    pub item_id: Uuid,
    pub variables: BTreeMap<String, String>,
    pub expected: Option<serde_json::Value>,
    pub metadata: Option<serde_json::Value>,
}

/// An experiment to create, with its items; the cells (every item ×
/// variant × repeat) are derived here.
#[derive(Clone, Debug)]
pub struct NewExperiment {
    pub id: ExperimentId,
    pub name: String,
    pub prompt_id: PromptId,
    pub dataset_id: DatasetId,
    pub dataset_version: i64,
    pub variants: Vec<Variant>,
    pub repeats: i64,
    pub concurrency: i64,
    pub max_cost_micro_usd: Option<i64>,
    pub estimate: CostEstimate,
    pub evaluators: serde_json::Value,
    pub items: Vec<NewExperimentItem>,
    /// Worst-case cost of one cell, by [item position][variant].
    pub worst_micro_usd: Vec<Vec<i64>>,
}

#[derive(Clone, Debug, Default)]
pub struct ExperimentFilter {
    pub prompt_id: Option<PromptId>,
    pub dataset_id: Option<DatasetId>,
}

pub struct ExperimentRepo<'a> {
    store: &'a Store,
}

impl Store {
    pub fn experiments(&self) -> ExperimentRepo<'_> {
        ExperimentRepo { store: self }
    }
}

impl ExperimentRepo<'_> {
    /// Stores the experiment, its items and every cell (`pending`) in one
    /// transaction, `queued` until an instance claims its first cell.
    pub async fn create(&self, new: &NewExperiment) -> Result<Experiment> {
        let now = DbTime::now();
        let cells = new.items.len() as i64 * new.variants.len() as i64 * new.repeats;
        on_backend!(self.store, write_retry, |pool, pg| {
            let mut tx = pool.begin().await?;
            sqlx::query(
                "insert into experiments (id, name, prompt_id, dataset_id, dataset_version, variants, repeats,
                     concurrency, status, max_cost_micro_usd, cells_total, cells_pending, estimate, evaluators,
                     created_at, updated_at)
                 values ($1, $2, $3, $4, $5, $6, $7, $8, 'queued', $9, $10, $10, $11, $12, $13, $13)",
            )
            .bind(DbUuid::from(new.id))
            .bind(&new.name)
            .bind(DbUuid::from(new.prompt_id))
            .bind(DbUuid::from(new.dataset_id))
            .bind(new.dataset_version)
            .bind(Json(&new.variants))
            .bind(new.repeats)
            .bind(new.concurrency)
            .bind(new.max_cost_micro_usd)
            .bind(cells)
            .bind(Json(&new.estimate))
            .bind(Json(&new.evaluators))
            .bind(now)
            .execute(&mut *tx)
            .await?;
            for (chunk_no, chunk) in new.items.chunks(INSERT_CHUNK).enumerate() {
                let base = chunk_no * INSERT_CHUNK;
                let mut qb = QueryBuilder::new(
                    "insert into experiment_items (experiment_id, position, item_id, variables, expected, metadata) ",
                );
                qb.push_values(chunk.iter().enumerate(), |mut b, (i, item)| {
                    b.push_bind(DbUuid::from(new.id))
                        .push_bind((base + i) as i64)
                        .push_bind(DbUuid(item.item_id))
                        .push_bind(Json(&item.variables))
                        .push_bind(item.expected.as_ref().map(Json))
                        .push_bind(item.metadata.as_ref().map(Json));
                });
                qb.build().execute(&mut *tx).await?;
            }
            let all: Vec<(i64, i64, i64)> = (0..new.items.len() as i64)
                .flat_map(|p| {
                    (0..new.variants.len() as i64)
                        .flat_map(move |v| (0..new.repeats).map(move |r| (p, v, r)))
                })
                .collect();
            for chunk in all.chunks(INSERT_CHUNK) {
                let mut qb = QueryBuilder::new(
                    "insert into experiment_cells (id, experiment_id, position, variant, repeat_index, status,
                         worst_micro_usd, updated_at) ",
                );
                qb.push_values(chunk, |mut b, &(p, v, r)| {
                    let worst = new
                        .worst_micro_usd
                        .get(p as usize)
                        .and_then(|row| row.get(v as usize))
                        .copied()
                        .unwrap_or(0);
                    b.push_bind(DbUuid(Uuid::now_v7()))
                        .push_bind(DbUuid::from(new.id))
                        .push_bind(p)
                        .push_bind(v)
                        .push_bind(r)
                        .push_bind("pending")
                        .push_bind(worst)
                        .push_bind(now);
                });
                qb.build().execute(&mut *tx).await?;
            }
            notify_experiment!(&mut *tx, pg, new.id);
            tx.commit().await?;
            Ok::<_, StoreError>(())
        })?;
        self.get(new.id).await
    }

    pub async fn get(&self, id: ExperimentId) -> Result<Experiment> {
        on_backend!(self.store, read_retry, |pool, _pg| {
            let row: ExperimentRow = sqlx::query_as(&format!(
                "select {EXPERIMENT_COLUMNS} from experiments where id = $1"
            ))
            .bind(DbUuid::from(id))
            .fetch_one(pool)
            .await?;
            Ok(row.into())
        })
    }

    /// Newest first, keyset-paginated on (created_at, id).
    pub async fn list(
        &self,
        filter: &ExperimentFilter,
        cursor: Option<Cursor>,
        limit: usize,
    ) -> Result<Page<Experiment>> {
        let rows: Vec<ExperimentRow> = on_backend!(self.store, read_retry, |pool, _pg| {
            let mut qb = QueryBuilder::new(format!(
                "select {EXPERIMENT_COLUMNS} from experiments where 1 = 1"
            ));
            if let Some(p) = filter.prompt_id {
                qb.push(" and prompt_id = ").push_bind(DbUuid::from(p));
            }
            if let Some(d) = filter.dataset_id {
                qb.push(" and dataset_id = ").push_bind(DbUuid::from(d));
            }
            push_newest_first(&mut qb, cursor, "created_at", "id", limit);
            qb.build_query_as()
                .fetch_all(pool)
                .await
                .map_err(crate::StoreError::from)
        })?;
        let items = rows.into_iter().map(Experiment::from).collect();
        Ok(page_from(items, limit, |e: &Experiment| Cursor {
            time: e.created_at.into(),
            id: e.id.0,
        }))
    }

    /// Pauses a queued or running experiment (`reason`: `user`, `budget`).
    /// Cells in flight finish; no new cell is claimed. False when it was not
    /// queued or running.
    pub async fn pause(&self, id: ExperimentId, reason: &str) -> Result<bool> {
        let now = DbTime::now();
        // One transaction with its NOTIFY, so running it again on a lost
        // connection cannot find it already paused and answer false.
        on_backend!(self.store, write_retry, |pool, pg| {
            let mut tx = pool.begin().await?;
            let done = sqlx::query(
                "update experiments set status = 'paused', pause_reason = $2, updated_at = $3
                 where id = $1 and status in ('queued', 'running')",
            )
            .bind(DbUuid::from(id))
            .bind(reason)
            .bind(now)
            .execute(&mut *tx)
            .await?;
            if done.rows_affected() == 0 {
                return Ok(false);
            }
            notify_experiment!(&mut *tx, pg, id);
            tx.commit().await?;
            Ok(true)
        })
    }

    /// Resumes a paused experiment, optionally with a new cap (`Some(None)`
    /// removes it). False when it was not paused.
    pub async fn resume(&self, id: ExperimentId, max_cost: Option<Option<i64>>) -> Result<bool> {
        let now = DbTime::now();
        on_backend!(self.store, write_retry, |pool, pg| {
            let mut tx = pool.begin().await?;
            let mut qb = QueryBuilder::new(
                "update experiments set status = 'running', pause_reason = null, updated_at = ",
            );
            qb.push_bind(now);
            if let Some(cap) = max_cost {
                qb.push(", max_cost_micro_usd = ").push_bind(cap);
            }
            qb.push(" where id = ")
                .push_bind(DbUuid::from(id))
                .push(" and status = 'paused'");
            let done = qb.build().execute(&mut *tx).await?;
            if done.rows_affected() == 0 {
                return Ok(false);
            }
            notify_experiment!(&mut *tx, pg, id);
            tx.commit().await?;
            Ok(true)
        })
    }

    /// Cancels an experiment that has not ended: its pending cells become
    /// `cancelled` at once; cells in flight are stopped by the instances
    /// running them (they watch the status). False when it had ended.
    pub async fn cancel(&self, id: ExperimentId) -> Result<bool> {
        let now = DbTime::now();
        on_backend!(self.store, write_retry, |pool, pg| {
            let mut tx = pool.begin().await?;
            let done = sqlx::query(
                "update experiments set status = 'cancelled', pause_reason = null, updated_at = $2
                 where id = $1 and status in ('queued', 'running', 'paused')",
            )
            .bind(DbUuid::from(id))
            .bind(now)
            .execute(&mut *tx)
            .await?;
            if done.rows_affected() == 0 {
                return Ok(false);
            }
            let pending = sqlx::query(
                "update experiment_cells set status = 'cancelled', updated_at = $2
                 where experiment_id = $1 and status = 'pending'",
            )
            .bind(DbUuid::from(id))
            .bind(now)
            .execute(&mut *tx)
            .await?
            .rows_affected() as i64;
            sqlx::query(
                "update experiments set cells_pending = cells_pending - $2,
                        cells_cancelled = cells_cancelled + $2,
                        finished_at = case when cells_running = 0 then $3 else finished_at end
                 where id = $1",
            )
            .bind(DbUuid::from(id))
            .bind(pending)
            .bind(now)
            .execute(&mut *tx)
            .await?;
            notify_experiment!(&mut *tx, pg, id);
            tx.commit().await?;
            Ok::<_, StoreError>(true)
        })
    }

    /// Marks an experiment that could not run at all `failed`.
    pub async fn fail(&self, id: ExperimentId, code: &str, message: &str) -> Result<()> {
        let now = DbTime::now();
        on_backend!(self.store, write_retry, |pool, _pg| {
            sqlx::query(
                "update experiments set status = 'failed', error_code = $2, error_message = $3,
                        finished_at = $4, updated_at = $4
                 where id = $1 and status in ('queued', 'running', 'paused')",
            )
            .bind(DbUuid::from(id))
            .bind(code)
            .bind(message)
            .bind(now)
            .execute(pool)
            .await?;
            Ok(())
        })
    }

    /// Deletes the experiment, its items, cells and runs. False when there
    /// was none.
    pub async fn delete(&self, id: ExperimentId) -> Result<bool> {
        on_backend!(self.store, write_retry, |pool, _pg| {
            let mut tx = pool.begin().await?;
            sqlx::query("delete from test_runs where experiment_id = $1")
                .bind(DbUuid::from(id))
                .execute(&mut *tx)
                .await?;
            let done = sqlx::query("delete from experiments where id = $1")
                .bind(DbUuid::from(id))
                .execute(&mut *tx)
                .await?;
            tx.commit().await?;
            Ok::<_, StoreError>(done.rows_affected() > 0)
        })
    }

    /// The status of each of `ids` (the engine's watch on what it runs).
    pub async fn statuses(
        &self,
        ids: &[ExperimentId],
    ) -> Result<Vec<(ExperimentId, ExperimentStatus)>> {
        if ids.is_empty() {
            return Ok(vec![]);
        }
        let rows: Vec<(DbUuid, String)> = on_backend!(self.store, read_retry, |pool, _pg| {
            let mut qb = QueryBuilder::new("select id, status from experiments where id in (");
            let mut list = qb.separated(", ");
            for id in ids {
                list.push_bind(DbUuid::from(*id));
            }
            qb.push(")");
            qb.build_query_as()
                .fetch_all(pool)
                .await
                .map_err(crate::StoreError::from)
        })?;
        Ok(rows
            .into_iter()
            .filter_map(|(id, s)| Some((id.0.into(), ExperimentStatus::parse(&s)?)))
            .collect())
    }
}
