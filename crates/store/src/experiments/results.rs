//! An experiment's results, paged by item: each item as the experiment
//! pinned it, with every cell of it (variant × repeat) and its run's
//! outcome. Two queries per page, whatever its size.

use std::collections::BTreeMap;

use promptrefine_core::{CellStatus, ChatMessage, ExperimentId, RunId};
use sqlx::types::Json;
use sqlx::{FromRow, QueryBuilder};
use uuid::Uuid;

use super::ExperimentRepo;
use crate::codec::DbUuid;
use crate::error::Result;
use crate::on_backend;

#[derive(Clone, Debug, PartialEq)]
pub struct CellResult {
    pub variant: i64,
    pub repeat: i64,
    pub status: CellStatus,
    pub attempts: i64,
    pub run_id: Option<RunId>,
    pub output: Option<String>,
    pub total_tokens: Option<i64>,
    pub cost_micro_usd: Option<i64>,
    pub latency_ms: Option<i64>,
    /// The evaluators' scores (a JSON array), once scored.
    pub scores: Option<serde_json::Value>,
}

#[derive(Clone, Debug, PartialEq)]
pub struct ResultRow {
    pub position: i64,
    pub item_id: Uuid,
    pub variables: BTreeMap<String, String>,
    pub expected: Option<serde_json::Value>,
    pub metadata: Option<serde_json::Value>,
    pub cells: Vec<CellResult>,
}

#[derive(FromRow)]
struct ItemRow {
    position: i64,
    item_id: DbUuid,
    variables: Json<BTreeMap<String, String>>,
    expected: Option<Json<serde_json::Value>>,
    metadata: Option<Json<serde_json::Value>>,
}

#[derive(FromRow)]
struct CellRow {
    position: i64,
    variant: i64,
    repeat_index: i64,
    status: String,
    attempts: i64,
    run_id: Option<DbUuid>,
    output: Option<String>,
    total_tokens: Option<i64>,
    cost_micro_usd: Option<i64>,
    latency_ms: Option<i64>,
    scores: Option<Json<serde_json::Value>>,
}

/// One cell of an experiment as the statistics read it: which item, which
/// variant and repeat, how it ended, what it cost and its scores; with its
/// output, expected answer and variables only when asked for (a rescore).
#[derive(Clone, Debug, PartialEq)]
pub struct ScoredCell {
    pub id: Uuid,
    pub position: i64,
    pub item_id: Uuid,
    pub variant: i64,
    pub repeat: i64,
    pub status: CellStatus,
    pub total_tokens: Option<i64>,
    pub cost_micro_usd: Option<i64>,
    pub latency_ms: Option<i64>,
    pub scores: Option<serde_json::Value>,
    pub output: Option<String>,
    pub expected: Option<serde_json::Value>,
    pub variables: BTreeMap<String, String>,
    /// With the output: the cell's run (what a judge run names), the
    /// messages it sent (what judges and http evaluators see as `input`)
    /// and the item's metadata.
    pub run_id: Option<RunId>,
    pub input: Option<Vec<ChatMessage>>,
    pub metadata: Option<serde_json::Value>,
}

#[derive(FromRow)]
struct ScoredRow {
    id: DbUuid,
    position: i64,
    item_id: DbUuid,
    variant: i64,
    repeat_index: i64,
    status: String,
    total_tokens: Option<i64>,
    cost_micro_usd: Option<i64>,
    latency_ms: Option<i64>,
    scores: Option<Json<serde_json::Value>>,
    output: Option<String>,
    expected: Option<Json<serde_json::Value>>,
    variables: Option<Json<BTreeMap<String, String>>>,
    run_id: Option<DbUuid>,
    input: Option<Json<Vec<ChatMessage>>>,
    metadata: Option<Json<serde_json::Value>>,
}

impl From<ScoredRow> for ScoredCell {
    fn from(r: ScoredRow) -> Self {
        ScoredCell {
            id: r.id.0,
            position: r.position,
            item_id: r.item_id.0,
            variant: r.variant,
            repeat: r.repeat_index,
            status: CellStatus::parse(&r.status).unwrap_or(CellStatus::Failed),
            total_tokens: r.total_tokens,
            cost_micro_usd: r.cost_micro_usd,
            latency_ms: r.latency_ms,
            scores: r.scores.map(|j| j.0),
            output: r.output,
            expected: r.expected.map(|j| j.0),
            variables: r.variables.map(|j| j.0).unwrap_or_default(),
            run_id: r.run_id.map(|j| j.0.into()),
            input: r.input.map(|j| j.0),
            metadata: r.metadata.map(|j| j.0),
        }
    }
}

/// What the results filters and sorts decide on (see [`CellKey`]): a
/// derivation's summary reads the cells, then its facts take them.
impl From<ScoredCell> for CellKey {
    fn from(c: ScoredCell) -> Self {
        CellKey {
            position: c.position,
            variant: c.variant,
            repeat: c.repeat,
            status: c.status,
            cost_micro_usd: c.cost_micro_usd,
            latency_ms: c.latency_ms,
            scores: c.scores,
        }
    }
}

impl ExperimentRepo<'_> {
    /// Every cell of the experiment (in item order), for its summary, a
    /// comparison, or (`with_output`) a rescore.
    pub async fn scored_cells(
        &self,
        id: ExperimentId,
        with_output: bool,
    ) -> Result<Vec<ScoredCell>> {
        let extra = if with_output {
            "r.output, i.expected, i.variables, c.run_id, r.input, i.metadata"
        } else {
            "null as output, null as expected, null as variables, null as run_id, null as input, null as metadata"
        };
        let rows: Vec<ScoredRow> = on_backend!(self.store, read_retry, |pool, _pg| {
            sqlx::query_as(&format!(
                "select c.id, c.position, i.item_id, c.variant, c.repeat_index, c.status, r.total_tokens,
                        coalesce(c.cost_micro_usd, r.cost_micro_usd) as cost_micro_usd, r.latency_ms, c.scores,
                        {extra}
                 from experiment_cells c
                 join experiment_items i on i.experiment_id = c.experiment_id and i.position = c.position
                 left join test_runs r on r.id = c.run_id
                 where c.experiment_id = $1
                 order by c.position, c.variant, c.repeat_index"
            ))
            .bind(DbUuid::from(id))
            .fetch_all(pool)
            .await
            .map_err(crate::StoreError::from)
        })?;
        Ok(rows.into_iter().map(ScoredCell::from).collect())
    }

    /// Adds what a rescore's judges spent to the experiment's spend.
    pub async fn add_spend(&self, id: ExperimentId, micro_usd: i64) -> Result<()> {
        let now = crate::codec::DbTime::now();
        // Not retried on a lost connection: an increment whose commit was
        // acknowledged too late would be counted twice.
        let done = on_backend!(self.store, write, |pool, _pg| {
            sqlx::query(
                "update experiments set spent_micro_usd = spent_micro_usd + $2, updated_at = $3 where id = $1",
            )
            .bind(DbUuid::from(id))
            .bind(micro_usd)
            .bind(now)
            .execute(pool)
            .await?
            .rows_affected()
        });
        crate::error::found(done)
    }

    /// Replaces the scores of cells (a rescore) and the experiment's
    /// evaluators, in one transaction.
    pub async fn set_scores(
        &self,
        id: ExperimentId,
        evaluators: &serde_json::Value,
        scores: &[(Uuid, serde_json::Value)],
    ) -> Result<()> {
        let now = crate::codec::DbTime::now();
        on_backend!(self.store, write_retry, |pool, _pg| {
            let mut tx = pool.begin().await?;
            sqlx::query("update experiments set evaluators = $2, updated_at = $3 where id = $1")
                .bind(DbUuid::from(id))
                .bind(Json(evaluators))
                .bind(now)
                .execute(&mut *tx)
                .await?;
            for (cell, value) in scores {
                sqlx::query(
                    "update experiment_cells set scores = $3 where id = $1 and experiment_id = $2",
                )
                .bind(DbUuid(*cell))
                .bind(DbUuid::from(id))
                .bind(Json(value))
                .execute(&mut *tx)
                .await?;
            }
            tx.commit().await?;
            Ok::<_, crate::error::StoreError>(())
        })
    }

    /// Items after `after` (a position), up to `limit`, with their cells;
    /// and the position to continue after, when there are more.
    pub async fn results(
        &self,
        id: ExperimentId,
        after: Option<i64>,
        limit: usize,
    ) -> Result<(Vec<ResultRow>, Option<i64>)> {
        let after = after.unwrap_or(-1);
        let (mut items, cells): (Vec<ItemRow>, Vec<CellRow>) = on_backend!(
            self.store,
            read,
            |pool, _pg| {
                let items: Vec<ItemRow> = sqlx::query_as(
                    "select position, item_id, variables, expected, metadata from experiment_items
                     where experiment_id = $1 and position > $2 order by position limit $3",
                )
                .bind(DbUuid::from(id))
                .bind(after)
                .bind(limit as i64 + 1)
                .fetch_all(pool)
                .await?;
                let last = items[..items.len().min(limit)]
                    .last()
                    .map_or(after, |i| i.position);
                let cells: Vec<CellRow> = sqlx::query_as(
                    "select c.position, c.variant, c.repeat_index, c.status, c.attempts, c.run_id,
                            r.output, r.total_tokens, coalesce(c.cost_micro_usd, r.cost_micro_usd) as cost_micro_usd,
                            r.latency_ms, c.scores
                     from experiment_cells c left join test_runs r on r.id = c.run_id
                     where c.experiment_id = $1 and c.position > $2 and c.position <= $3
                     order by c.position, c.variant, c.repeat_index",
                )
                .bind(DbUuid::from(id))
                .bind(after)
                .bind(last)
                .fetch_all(pool)
                .await?;
                (items, cells)
            }
        );
        let next = if items.len() > limit {
            items.truncate(limit);
            items.last().map(|i| i.position)
        } else {
            None
        };
        let rows = assemble(items, cells);
        Ok((rows, next))
    }
}

/// One cell as the results pages filter and sort by: no output, no item.
#[derive(Clone, Debug, PartialEq)]
pub struct CellKey {
    pub position: i64,
    pub variant: i64,
    pub repeat: i64,
    pub status: CellStatus,
    pub cost_micro_usd: Option<i64>,
    pub latency_ms: Option<i64>,
    pub scores: Option<serde_json::Value>,
}

#[derive(FromRow)]
struct KeyRow {
    position: i64,
    variant: i64,
    repeat_index: i64,
    status: String,
    cost_micro_usd: Option<i64>,
    latency_ms: Option<i64>,
    scores: Option<Json<serde_json::Value>>,
}

/// The page's items with their cells, in item order (cells sorted the same).
fn assemble(items: Vec<ItemRow>, cells: Vec<CellRow>) -> Vec<ResultRow> {
    let mut rows: Vec<ResultRow> = items
        .into_iter()
        .map(|i| ResultRow {
            position: i.position,
            item_id: i.item_id.0,
            variables: i.variables.0,
            expected: i.expected.map(|j| j.0),
            metadata: i.metadata.map(|j| j.0),
            cells: vec![],
        })
        .collect();
    let mut at = 0;
    for c in cells {
        while at < rows.len() && rows[at].position < c.position {
            at += 1;
        }
        if let Some(row) = rows.get_mut(at).filter(|r| r.position == c.position) {
            row.cells.push(CellResult {
                variant: c.variant,
                repeat: c.repeat_index,
                status: CellStatus::parse(&c.status).unwrap_or(CellStatus::Failed),
                attempts: c.attempts,
                run_id: c.run_id.map(|r| r.0.into()),
                output: c.output,
                total_tokens: c.total_tokens,
                cost_micro_usd: c.cost_micro_usd,
                latency_ms: c.latency_ms,
                scores: c.scores.map(|j| j.0),
            });
        }
    }
    rows
}

impl ExperimentRepo<'_> {
    /// Every cell's status, cost, latency and scores, in item order: what
    /// the results filters and sorts decide on, without outputs or items.
    pub async fn result_keys(&self, id: ExperimentId) -> Result<Vec<CellKey>> {
        let rows: Vec<KeyRow> = on_backend!(self.store, read_retry, |pool, _pg| {
            Ok(sqlx::query_as(
                "select c.position, c.variant, c.repeat_index, c.status,
                        coalesce(c.cost_micro_usd, r.cost_micro_usd) as cost_micro_usd, r.latency_ms, c.scores
                 from experiment_cells c left join test_runs r on r.id = c.run_id
                 where c.experiment_id = $1
                 order by c.position, c.variant, c.repeat_index",
            )
            .bind(DbUuid::from(id))
            .fetch_all(pool)
            .await?)
        })?;
        Ok(rows
            .into_iter()
            .map(|r| CellKey {
                position: r.position,
                variant: r.variant,
                repeat: r.repeat_index,
                status: CellStatus::parse(&r.status).unwrap_or(CellStatus::Failed),
                cost_micro_usd: r.cost_micro_usd,
                latency_ms: r.latency_ms,
                scores: r.scores.map(|j| j.0),
            })
            .collect())
    }

    /// The items at these positions (at most a page) with their cells, in
    /// item order; positions the experiment does not have are left out.
    pub async fn results_at(&self, id: ExperimentId, positions: &[i64]) -> Result<Vec<ResultRow>> {
        if positions.is_empty() {
            return Ok(vec![]);
        }
        let (items, cells): (Vec<ItemRow>, Vec<CellRow>) = on_backend!(
            self.store,
            read,
            |pool, _pg| {
                let mut qb = QueryBuilder::new(
                    "select position, item_id, variables, expected, metadata from experiment_items
                     where experiment_id = ",
                );
                qb.push_bind(DbUuid::from(id)).push(" and position in (");
                let mut list = qb.separated(", ");
                for p in positions {
                    list.push_bind(*p);
                }
                qb.push(") order by position");
                let items: Vec<ItemRow> = qb.build_query_as().fetch_all(pool).await?;
                let mut qb = QueryBuilder::new(
                    "select c.position, c.variant, c.repeat_index, c.status, c.attempts, c.run_id,
                            r.output, r.total_tokens, coalesce(c.cost_micro_usd, r.cost_micro_usd) as cost_micro_usd,
                            r.latency_ms, c.scores
                     from experiment_cells c left join test_runs r on r.id = c.run_id
                     where c.experiment_id = ",
                );
                qb.push_bind(DbUuid::from(id)).push(" and c.position in (");
                let mut list = qb.separated(", ");
                for p in positions {
                    list.push_bind(*p);
                }
                qb.push(") order by c.position, c.variant, c.repeat_index");
                let cells: Vec<CellRow> = qb.build_query_as().fetch_all(pool).await?;
                (items, cells)
            }
        );
        Ok(assemble(items, cells))
    }
}
