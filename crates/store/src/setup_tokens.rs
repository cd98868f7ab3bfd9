//! `setup_tokens`: the one-time first-run token (hashed). It lives in the
//! database so any replica can check and consume it.

use promptrefine_core::UserId;
use time::OffsetDateTime;

use crate::codec::{DbTime, DbUuid};
use crate::error::{Result, StoreError};
use crate::{Store, on_backend};

pub struct SetupTokenRepo<'a> {
    store: &'a Store,
}

impl Store {
    pub fn setup_tokens(&self) -> SetupTokenRepo<'_> {
        SetupTokenRepo { store: self }
    }
}

impl SetupTokenRepo<'_> {
    /// Replaces any setup token with this one.
    pub async fn put(&self, token_hash: &str, expires_at: OffsetDateTime) -> Result<()> {
        let now = DbTime::now();
        on_backend!(self.store, write_retry, |pool, _pg| {
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

    pub async fn is_valid(&self, token_hash: &str, now: OffsetDateTime) -> Result<bool> {
        on_backend!(self.store, read_retry, |pool, _pg| {
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
        on_backend!(self.store, write_retry, |pool, _pg| {
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
