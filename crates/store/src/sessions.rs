//! Server-side sessions, keyed by the hash of their id (the raw id is only
//! ever in the cookie). Throttling counters and the setup token have their
//! own modules (`throttle`, `setup_tokens`).

use promptrefine_core::{User, UserId};
use sqlx::FromRow;
use time::OffsetDateTime;

use crate::codec::{DbTime, DbUuid};
use crate::error::Result;
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

/// A valid session and its user, read together: authenticating a request is
/// one query, not a session lookup followed by a user lookup.
#[derive(Clone, Debug, PartialEq)]
pub struct ValidSession {
    pub session: SessionRecord,
    pub user: User,
}

#[derive(FromRow)]
struct ValidSessionRow {
    #[sqlx(flatten)]
    session: SessionRow,
    email: String,
    user_created_at: DbTime,
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
        on_backend!(self.store, write_retry, |pool, _pg| {
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

    /// The session, with its user, if it exists and has not expired at `now`.
    pub async fn find_valid(
        &self,
        id_hash: &str,
        now: OffsetDateTime,
    ) -> Result<Option<ValidSession>> {
        let row: Option<ValidSessionRow> = on_backend!(self.store, read_retry, |pool, _pg| {
            // The user's row comes along (sessions cascade with their user,
            // so the inner join loses nothing).
            sqlx::query_as(
                "select s.id_hash, s.user_id, s.csrf_token, s.created_at, s.last_seen_at,
                        s.idle_expires_at, s.absolute_expires_at, u.email, u.created_at as user_created_at
                 from sessions s join users u on u.id = s.user_id
                 where s.id_hash = $1 and s.idle_expires_at > $2 and s.absolute_expires_at > $2",
            )
            .bind(id_hash)
            .bind(DbTime::from(now))
            .fetch_optional(pool)
            .await
            .map_err(crate::StoreError::from)
        })?;
        Ok(row.map(|r| {
            let session = SessionRecord::from(r.session);
            let user = User {
                id: session.user_id,
                email: r.email,
                created_at: r.user_created_at.0,
            };
            ValidSession { session, user }
        }))
    }

    /// Slides the idle expiry forward (never past the absolute one).
    pub async fn touch(
        &self,
        id_hash: &str,
        now: OffsetDateTime,
        idle_expires_at: OffsetDateTime,
    ) -> Result<()> {
        on_backend!(self.store, write_retry, |pool, _pg| {
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
        on_backend!(self.store, write_retry, |pool, _pg| {
            sqlx::query("delete from sessions where id_hash = $1")
                .bind(id_hash)
                .execute(pool)
                .await?;
            Ok(())
        })
    }

    /// Removes expired sessions; returns how many.
    pub async fn purge_expired(&self, now: OffsetDateTime) -> Result<u64> {
        on_backend!(self.store, write_retry, |pool, _pg| {
            let done = sqlx::query(
                "delete from sessions where idle_expires_at <= $1 or absolute_expires_at <= $1",
            )
            .bind(DbTime::from(now))
            .execute(pool)
            .await?;
            Ok(done.rows_affected())
        })
    }
}
