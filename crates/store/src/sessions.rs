//! Server-side sessions, login throttling counters and the one-time setup
//! token: the auth state that must be shared by every replica.
//! Only hashes of secrets are stored.

use promptrefine_core::UserId;
use sqlx::FromRow;
use time::OffsetDateTime;

use crate::codec::{DbTime, DbUuid};
use crate::error::{Result, StoreError};
use crate::{Store, on_backend};

#[derive(Clone, Debug, FromRow)]
struct SessionRow {
    id_hash: String,
    user_id: DbUuid,
    csrf_token: String,
    created_at: DbTime,
    last_seen_at: DbTime,
    idle_expires_at: DbTime,
    absolute_expires_at: DbTime,
}

/// A session as stored: keyed by the hash of its id.
#[derive(Clone, Debug, PartialEq)]
pub struct SessionRecord {
    pub id_hash: String,
    pub user_id: UserId,
    pub csrf_token: String,
    pub created_at: OffsetDateTime,
    pub last_seen_at: OffsetDateTime,
    pub idle_expires_at: OffsetDateTime,
    pub absolute_expires_at: OffsetDateTime,
}

impl From<SessionRow> for SessionRecord {
    fn from(r: SessionRow) -> Self {
        SessionRecord {
            id_hash: r.id_hash,
            user_id: r.user_id.0.into(),
            csrf_token: r.csrf_token,
            created_at: r.created_at.0,
            last_seen_at: r.last_seen_at.0,
            idle_expires_at: r.idle_expires_at.0,
            absolute_expires_at: r.absolute_expires_at.0,
        }
    }
}

/// Failed-login counter for one key (an account or a client address).
#[derive(Clone, Debug, PartialEq)]
pub struct ThrottleState {
    pub failures: i64,
    pub last_failure_at: OffsetDateTime,
    pub blocked_until: Option<OffsetDateTime>,
}

pub struct SessionRepo<'a> {
    store: &'a Store,
}

impl Store {
    pub fn sessions(&self) -> SessionRepo<'_> {
        SessionRepo { store: self }
    }
}

impl SessionRepo<'_> {
    pub async fn create(&self, s: &SessionRecord) -> Result<()> {
        on_backend!(self.store, write, |pool, _pg| {
            sqlx::query(
                "insert into sessions (id_hash, user_id, csrf_token, created_at, last_seen_at,
                                       idle_expires_at, absolute_expires_at)
                 values ($1, $2, $3, $4, $5, $6, $7)",
            )
            .bind(&s.id_hash)
            .bind(DbUuid::from(s.user_id))
            .bind(&s.csrf_token)
            .bind(DbTime::from(s.created_at))
            .bind(DbTime::from(s.last_seen_at))
            .bind(DbTime::from(s.idle_expires_at))
            .bind(DbTime::from(s.absolute_expires_at))
            .execute(pool)
            .await?;
            Ok(())
        })
    }

    /// The session if it exists and has not expired at `now`.
    pub async fn find_valid(
        &self,
        id_hash: &str,
        now: OffsetDateTime,
    ) -> Result<Option<SessionRecord>> {
        let row: Option<SessionRow> = on_backend!(self.store, read, |pool, _pg| {
            sqlx::query_as(
                "select id_hash, user_id, csrf_token, created_at, last_seen_at, idle_expires_at, absolute_expires_at
                 from sessions where id_hash = $1 and idle_expires_at > $2 and absolute_expires_at > $2",
            )
            .bind(id_hash)
            .bind(DbTime::from(now))
            .fetch_optional(pool)
            .await?
        });
        Ok(row.map(SessionRecord::from))
    }

    /// Slides the idle expiry forward (never past the absolute one).
    pub async fn touch(
        &self,
        id_hash: &str,
        now: OffsetDateTime,
        idle_expires_at: OffsetDateTime,
    ) -> Result<()> {
        on_backend!(self.store, write, |pool, _pg| {
            sqlx::query(
                "update sessions set last_seen_at = $2,
                        idle_expires_at = case when $3 < absolute_expires_at then $3 else absolute_expires_at end
                 where id_hash = $1",
            )
            .bind(id_hash)
            .bind(DbTime::from(now))
            .bind(DbTime::from(idle_expires_at))
            .execute(pool)
            .await?;
            Ok(())
        })
    }

    pub async fn delete(&self, id_hash: &str) -> Result<()> {
        on_backend!(self.store, write, |pool, _pg| {
            sqlx::query("delete from sessions where id_hash = $1")
                .bind(id_hash)
                .execute(pool)
                .await?;
            Ok(())
        })
    }

    /// Removes expired sessions; returns how many.
    pub async fn purge_expired(&self, now: OffsetDateTime) -> Result<u64> {
        on_backend!(self.store, write, |pool, _pg| {
            let done = sqlx::query(
                "delete from sessions where idle_expires_at <= $1 or absolute_expires_at <= $1",
            )
            .bind(DbTime::from(now))
            .execute(pool)
            .await?;
            Ok(done.rows_affected())
        })
    }

    // --- login throttling -------------------------------------------------

    pub async fn throttle_state(&self, key: &str) -> Result<Option<ThrottleState>> {
        let row: Option<(i64, DbTime, Option<DbTime>)> = on_backend!(
            self.store,
            read,
            |pool, _pg| {
                sqlx::query_as("select failures, last_failure_at, blocked_until from login_throttle where key = $1")
                .bind(key)
                .fetch_optional(pool)
                .await?
            }
        );
        Ok(row.map(|(failures, last, blocked)| ThrottleState {
            failures,
            last_failure_at: last.0,
            blocked_until: blocked.map(|b| b.0),
        }))
    }

    /// Stores the counter after a failure (the caller decides the block).
    pub async fn record_failure(&self, key: &str, state: &ThrottleState) -> Result<()> {
        on_backend!(self.store, write, |pool, _pg| {
            sqlx::query(
                "insert into login_throttle (key, failures, last_failure_at, blocked_until)
                 values ($1, $2, $3, $4)
                 on conflict (key) do update set failures = excluded.failures,
                     last_failure_at = excluded.last_failure_at, blocked_until = excluded.blocked_until",
            )
            .bind(key)
            .bind(state.failures)
            .bind(DbTime::from(state.last_failure_at))
            .bind(state.blocked_until.map(DbTime::from))
            .execute(pool)
            .await?;
            Ok(())
        })
    }

    pub async fn reset_throttle(&self, key: &str) -> Result<()> {
        on_backend!(self.store, write, |pool, _pg| {
            sqlx::query("delete from login_throttle where key = $1")
                .bind(key)
                .execute(pool)
                .await?;
            Ok(())
        })
    }

    // --- first-run setup token --------------------------------------------

    /// Replaces any setup token with this one.
    pub async fn put_setup_token(
        &self,
        token_hash: &str,
        expires_at: OffsetDateTime,
    ) -> Result<()> {
        let now = DbTime::now();
        on_backend!(self.store, write, |pool, _pg| {
            let mut tx = pool.begin().await?;
            sqlx::query("delete from setup_tokens")
                .execute(&mut *tx)
                .await?;
            sqlx::query(
                "insert into setup_tokens (token_hash, created_at, expires_at) values ($1, $2, $3)",
            )
            .bind(token_hash)
            .bind(now)
            .bind(DbTime::from(expires_at))
            .execute(&mut *tx)
            .await?;
            tx.commit().await?;
            Ok(())
        })
    }

    pub async fn setup_token_valid(&self, token_hash: &str, now: OffsetDateTime) -> Result<bool> {
        on_backend!(self.store, read, |pool, _pg| {
            let n: i64 = sqlx::query_scalar(
                "select count(*) from setup_tokens where token_hash = $1 and expires_at > $2",
            )
            .bind(token_hash)
            .bind(DbTime::from(now))
            .fetch_one(pool)
            .await?;
            Ok(n > 0)
        })
    }

    /// Creates the first user with the setup token, once: the token is consumed
    /// and the user created in one transaction, and only while no user exists.
    pub async fn complete_setup(
        &self,
        token_hash: &str,
        now: OffsetDateTime,
        email: &str,
        password_hash: &str,
    ) -> Result<UserId> {
        let id = UserId::new();
        let now = DbTime::from(now);
        on_backend!(self.store, write, |pool, _pg| {
            let mut tx = pool.begin().await?;
            let consumed =
                sqlx::query("delete from setup_tokens where token_hash = $1 and expires_at > $2")
                    .bind(token_hash)
                    .bind(now)
                    .execute(&mut *tx)
                    .await?;
            let users: i64 = sqlx::query_scalar("select count(*) from users")
                .fetch_one(&mut *tx)
                .await?;
            if consumed.rows_affected() == 0 || users > 0 {
                return Err(StoreError::NotFound);
            }
            sqlx::query(
                "insert into users (id, email, password_hash, created_at, updated_at) values ($1, $2, $3, $4, $4)",
            )
            .bind(DbUuid::from(id))
            .bind(email)
            .bind(password_hash)
            .bind(now)
            .execute(&mut *tx)
            .await?;
            tx.commit().await?;
            Ok(id)
        })
    }
}
