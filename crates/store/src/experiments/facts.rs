//! What an ended experiment's results pages read instead of its cells:
//! one row of facts per item (failed, regressed, flaky, which evaluators
//! failed, and a key per sort) and the summary, derived once by the app
//! and valid while `experiments.derived_at = experiments.updated_at`.
//!
//! A filtered, sorted page is then one index range after the cursor: the
//! pages of 10,000 results cost what a page of 50 costs (issue 16).

use sqlx::types::Json;
use sqlx::{FromRow, QueryBuilder};
use time::OffsetDateTime;

use super::ExperimentRepo;
use crate::codec::{DbTime, DbUuid};
use crate::error::{Result, StoreError};
use crate::on_backend;
use promptrefine_core::ExperimentId;

/// One item's facts over all its cells. Keys sort ascending in page order.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct ItemFacts {
    pub position: i64,
    pub failed: bool,
    pub regressed: bool,
    pub flaky: bool,
    pub failed_evaluators: Vec<String>,
    pub score_key: i64,
    pub cost_key: i64,
    pub latency_key: i64,
}

/// Which items a results page shows.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub enum ResultFilter {
    #[default]
    All,
    /// A call failed, or a score failed or errored.
    Failed,
    /// Some variant after the first lost what the first had: a steady pass
    /// became a steady fail, or (no pass/fail) the mean score dropped.
    Regressed,
    /// Some variant's repeats disagree on an evaluator's pass.
    Flaky,
    /// This evaluator failed or errored in some cell of the item.
    Evaluator(String),
}

/// Which key a page of facts is in order of (then by position).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum FactSort {
    #[default]
    Position,
    Score,
    Cost,
    Latency,
}

/// Rows per multi-row insert: 9 binds each, far under SQLite's 32,766.
const FACTS_CHUNK: usize = 1_000;

impl ExperimentRepo<'_> {
    /// Stores the facts and summary derived from the experiment as it was
    /// at `as_of` (its `updated_at`): nothing when it has changed since (a
    /// rescore) or another instance already stored them. True when stored.
    pub async fn store_derived(
        &self,
        id: ExperimentId,
        as_of: OffsetDateTime,
        summary: &serde_json::Value,
        facts: &[ItemFacts],
    ) -> Result<bool> {
        let as_of = DbTime::from(as_of);
        on_backend!(self.store, write_retry, |pool, _pg| {
            let mut tx = pool.begin().await?;
            // First, so two instances deriving at once take turns on the
            // row and the second finds it done.
            let claimed = sqlx::query(
                "update experiments set derived_at = updated_at, summary = $3
                 where id = $1 and updated_at = $2
                   and (derived_at is null or derived_at <> updated_at)",
            )
            .bind(DbUuid::from(id))
            .bind(as_of)
            .bind(Json(summary))
            .execute(&mut *tx)
            .await?
            .rows_affected();
            if claimed == 0 {
                return Ok::<_, StoreError>(false);
            }
            sqlx::query("delete from experiment_item_facts where experiment_id = $1")
                .bind(DbUuid::from(id))
                .execute(&mut *tx)
                .await?;
            for chunk in facts.chunks(FACTS_CHUNK) {
                let mut qb = QueryBuilder::new(
                    "insert into experiment_item_facts (experiment_id, position, failed, regressed, flaky,
                         failed_evaluators, score_key, cost_key, latency_key) ",
                );
                qb.push_values(chunk, |mut b, f| {
                    b.push_bind(DbUuid::from(id))
                        .push_bind(f.position)
                        .push_bind(f.failed)
                        .push_bind(f.regressed)
                        .push_bind(f.flaky)
                        .push_bind(serde_json::to_string(&f.failed_evaluators).unwrap_or_default())
                        .push_bind(f.score_key)
                        .push_bind(f.cost_key)
                        .push_bind(f.latency_key);
                });
                qb.build().execute(&mut *tx).await?;
            }
            tx.commit().await?;
            Ok(true)
        })
    }

    /// The stored summary, when it is of the experiment as it is now.
    pub async fn derived_summary(&self, id: ExperimentId) -> Result<Option<serde_json::Value>> {
        let row: Option<(Option<Json<serde_json::Value>>,)> =
            on_backend!(self.store, read_retry, |pool, _pg| {
                Ok(sqlx::query_as(
                    "select summary from experiments where id = $1 and derived_at = updated_at",
                )
                .bind(DbUuid::from(id))
                .fetch_optional(pool)
                .await?)
            })?;
        Ok(row.and_then(|(s,)| s).map(|j| j.0))
    }

    /// Up to `limit` items matching `filter` after `after` (the last row's
    /// key and position), in `sort` order: `(key, position)` each. `None`
    /// when the experiment has no facts of its current state.
    pub async fn facts_page(
        &self,
        id: ExperimentId,
        filter: &ResultFilter,
        sort: FactSort,
        after: Option<(i64, i64)>,
        limit: usize,
    ) -> Result<Option<Vec<(i64, i64)>>> {
        let key = match sort {
            FactSort::Position => "cast(0 as bigint)",
            FactSort::Score => "f.score_key",
            FactSort::Cost => "f.cost_key",
            FactSort::Latency => "f.latency_key",
        };
        on_backend!(self.store, read_retry, |pool, pg| {
            let mut tx = pool.begin().await?;
            // In the transaction of the page, so a rescore committed between
            // the check and the page cannot mix two states.
            let fresh: Option<(i32,)> = sqlx::query_as(
                "select 1 from experiments where id = $1 and derived_at = updated_at",
            )
            .bind(DbUuid::from(id))
            .fetch_optional(&mut *tx)
            .await?;
            if fresh.is_none() {
                return Ok::<_, StoreError>(None);
            }
            let mut qb = QueryBuilder::new(format!(
                "select {key} as k, f.position from experiment_item_facts f where f.experiment_id = "
            ));
            qb.push_bind(DbUuid::from(id));
            match filter {
                ResultFilter::All => {}
                ResultFilter::Failed => {
                    qb.push(" and f.failed");
                }
                ResultFilter::Regressed => {
                    qb.push(" and f.regressed");
                }
                ResultFilter::Flaky => {
                    qb.push(" and f.flaky");
                }
                ResultFilter::Evaluator(name) => {
                    // The name as it appears inside the JSON array, matched
                    // exactly (LIKE would be case-blind on SQLite).
                    let needle = serde_json::Value::from(name.as_str()).to_string();
                    qb.push(if pg {
                        " and strpos(f.failed_evaluators, "
                    } else {
                        " and instr(f.failed_evaluators, "
                    });
                    qb.push_bind(needle).push(") > 0");
                }
            }
            if let Some((k, p)) = after {
                qb.push(format!(" and ({key}, f.position) > ("));
                qb.push_bind(k).push(", ").push_bind(p).push(")");
            }
            qb.push(format!(" order by {key}, f.position limit "));
            qb.push_bind(limit as i64);
            let rows: Vec<KeyPosition> = qb.build_query_as().fetch_all(&mut *tx).await?;
            tx.commit().await?;
            Ok(Some(rows.into_iter().map(|r| (r.k, r.position)).collect()))
        })
    }
}

#[derive(FromRow)]
struct KeyPosition {
    k: i64,
    position: i64,
}
