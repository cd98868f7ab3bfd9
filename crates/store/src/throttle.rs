//! `login_throttle`: failed-login counters per key (`email:…` or `addr:…`),
//! shared by every replica.
//!
//! An attempt is counted *before* its password is verified, in one
//! transaction that also sets the block, so parallel attempts cannot read the
//! same count and each write back "one more": every attempt gets its own
//! number, and the ones that arrive while a block holds are not counted at all.

use sqlx::FromRow;
use time::OffsetDateTime;

use crate::codec::DbTime;
use crate::error::Result;
use crate::{Store, on_backend};

/// Failed-login counter for one key (an account or a client address).
#[derive(Clone, Debug, PartialEq)]
pub struct ThrottleState {
    pub failures: i64,
    pub last_failure_at: OffsetDateTime,
    pub blocked_until: Option<OffsetDateTime>,
}

#[derive(FromRow)]
struct ThrottleRow {
    failures: i64,
    last_failure_at: DbTime,
    blocked_until: Option<DbTime>,
}

impl From<ThrottleRow> for ThrottleState {
    fn from(r: ThrottleRow) -> Self {
        ThrottleState {
            failures: r.failures,
            last_failure_at: r.last_failure_at.0,
            blocked_until: r.blocked_until.map(|b| b.0),
        }
    }
}

/// What counting an attempt found.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Attempt {
    /// Counted: this attempt is the key's `n`th since the count last decayed.
    Counted(i64),
    /// Not counted: the key is blocked until then.
    Blocked(OffsetDateTime),
}

pub struct ThrottleRepo<'a> {
    store: &'a Store,
}

impl Store {
    pub fn throttle(&self) -> ThrottleRepo<'_> {
        ThrottleRepo { store: self }
    }
}

impl ThrottleRepo<'_> {
    pub async fn state(&self, key: &str) -> Result<Option<ThrottleState>> {
        let row: Option<ThrottleRow> = on_backend!(self.store, read_retry, |pool, _pg| {
            sqlx::query_as(
                "select failures, last_failure_at, blocked_until from login_throttle where key = $1",
            )
            .bind(key)
            .fetch_optional(pool)
            .await
            .map_err(crate::StoreError::from)
        })?;
        Ok(row.map(ThrottleState::from))
    }

    /// Counts one attempt on `key` at `now`, unless the key is blocked. A
    /// count whose last attempt is older than `decay_before` starts again
    /// from one. `block_for(n)` says until when the `n`th attempt blocks the
    /// key (None: not at all); a block never shortens one already set.
    ///
    /// Both steps run in one transaction: on PostgreSQL the upsert locks the
    /// row until commit (a parallel upsert waits, then re-evaluates its
    /// `where` against the new block), on SQLite the single writer does it.
    pub async fn count_attempt(
        &self,
        key: &str,
        now: OffsetDateTime,
        decay_before: OffsetDateTime,
        block_for: impl Fn(i64) -> Option<OffsetDateTime>,
    ) -> Result<Attempt> {
        let (now, decay_before) = (DbTime::from(now), DbTime::from(decay_before));
        on_backend!(self.store, write_retry, |pool, _pg| {
            let mut tx = pool.begin().await?;
            let counted: Option<i64> = sqlx::query_scalar(
                "insert into login_throttle (key, failures, last_failure_at, blocked_until)
                 values ($1, 1, $2, null)
                 on conflict (key) do update set
                     failures = case when login_throttle.last_failure_at < $3 then 1
                                     else login_throttle.failures + 1 end,
                     last_failure_at = $2,
                     blocked_until = case when login_throttle.last_failure_at < $3 then null
                                          else login_throttle.blocked_until end
                 where login_throttle.blocked_until is null or login_throttle.blocked_until <= $2
                 returning failures",
            )
            .bind(key)
            .bind(now)
            .bind(decay_before)
            .fetch_optional(&mut *tx)
            .await?;
            let attempt = match counted {
                Some(n) => {
                    if let Some(until) = block_for(n) {
                        sqlx::query(
                            "update login_throttle set blocked_until = $2
                             where key = $1 and (blocked_until is null or blocked_until < $2)",
                        )
                        .bind(key)
                        .bind(DbTime::from(until))
                        .execute(&mut *tx)
                        .await?;
                    }
                    Attempt::Counted(n)
                }
                None => {
                    // The conflict's `where` was false: the row exists and is blocked.
                    let until: Option<DbTime> = sqlx::query_scalar(
                        "select blocked_until from login_throttle where key = $1",
                    )
                    .bind(key)
                    .fetch_one(&mut *tx)
                    .await?;
                    Attempt::Blocked(until.map_or(now.0, |u| u.0))
                }
            };
            tx.commit().await?;
            Ok(attempt)
        })
    }

    /// Forgets a key (after a successful login).
    pub async fn reset(&self, key: &str) -> Result<()> {
        on_backend!(self.store, write_retry, |pool, _pg| {
            sqlx::query("delete from login_throttle where key = $1")
                .bind(key)
                .execute(pool)
                .await?;
            Ok(())
        })
    }

    /// Deletes counters whose last attempt is older than `decay_before` (they
    /// would start again at 1 anyway) and that block nothing at `now`;
    /// returns how many.
    pub async fn purge_stale(
        &self,
        decay_before: OffsetDateTime,
        now: OffsetDateTime,
    ) -> Result<u64> {
        on_backend!(self.store, write_retry, |pool, _pg| {
            let done = sqlx::query(
                "delete from login_throttle
                 where last_failure_at < $1 and (blocked_until is null or blocked_until <= $2)",
            )
            .bind(DbTime::from(decay_before))
            .bind(DbTime::from(now))
            .execute(pool)
            .await?;
            Ok(done.rows_affected())
        })
    }
}
