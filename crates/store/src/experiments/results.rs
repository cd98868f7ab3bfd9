//! An experiment's results, paged by item: each item as the experiment
//! pinned it, with every cell of it (variant × repeat) and its run's
//! outcome. Two queries per page, whatever its size.

use std::collections::BTreeMap;

use promptrefine_core::{CellStatus, ExperimentId, RunId};
use sqlx::FromRow;
use sqlx::types::Json;
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
}

impl ExperimentRepo<'_> {
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
                            r.latency_ms
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
                });
            }
        }
        Ok((rows, next))
    }
}
