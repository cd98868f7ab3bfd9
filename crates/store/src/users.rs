//! `users`: accounts (one today; the schema allows a team later).

use promptrefine_core::{User, UserId};
use sqlx::FromRow;

use crate::codec::{DbTime, DbUuid};
use crate::error::{Result, StoreError, found};
use crate::notify::{DeliveryChange, delivery_payload, notify_delivery};
use crate::{Store, on_backend};

/// A user with the password hash, for the auth layer only.
#[derive(Clone, FromRow)]
pub struct UserRecord {
    id: DbUuid,
    pub email: String,
    pub password_hash: String,
    created_at: DbTime,
}

impl UserRecord {
    pub fn id(&self) -> UserId {
        self.id.0.into()
    }

    pub fn user(&self) -> User {
        User {
            id: self.id(),
            email: self.email.clone(),
            created_at: self.created_at.0,
        }
    }
}

impl std::fmt::Debug for UserRecord {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("UserRecord")
            .field("id", &self.id.0)
            .field("email", &self.email)
            .finish_non_exhaustive()
    }
}

pub struct UserRepo<'a> {
    store: &'a Store,
}

impl Store {
    pub fn users(&self) -> UserRepo<'_> {
        UserRepo { store: self }
    }
}

impl UserRepo<'_> {
    pub async fn count(&self) -> Result<i64> {
        on_backend!(self.store, read_retry, |pool, _pg| {
            Ok(sqlx::query_scalar("select count(*) from users")
                .fetch_one(pool)
                .await?)
        })
    }

    /// Creates a user; Conflict when the email is taken.
    pub async fn create(&self, email: &str, password_hash: &str) -> Result<User> {
        let id = UserId::new();
        let now = DbTime::now();
        on_backend!(self.store, write_retry, |pool, _pg| {
            sqlx::query(
                "insert into users (id, email, password_hash, created_at, updated_at)
                 values ($1, $2, $3, $4, $4)",
            )
            .bind(DbUuid::from(id))
            .bind(email)
            .bind(password_hash)
            .bind(now)
            .execute(pool)
            .await?;
            Ok::<_, StoreError>(())
        })?;
        Ok(User {
            id,
            email: email.to_string(),
            created_at: now.0,
        })
    }

    /// Emails are compared case-insensitively (stored as given, looked up lowercased).
    pub async fn find_by_email(&self, email: &str) -> Result<Option<UserRecord>> {
        on_backend!(self.store, read_retry, |pool, _pg| {
            Ok(sqlx::query_as(
                "select id, email, password_hash, created_at from users where lower(email) = lower($1)",
            )
            .bind(email)
            .fetch_optional(pool)
            .await?)
        })
    }

    pub async fn get(&self, id: UserId) -> Result<UserRecord> {
        on_backend!(self.store, read_retry, |pool, _pg| {
            Ok(sqlx::query_as(
                "select id, email, password_hash, created_at from users where id = $1",
            )
            .bind(DbUuid::from(id))
            .fetch_one(pool)
            .await?)
        })
    }

    /// Replaces the password hash and signs the user out everywhere: every
    /// session is deleted and every live API token revoked, in the same
    /// transaction (a reset is what you do when a credential may be known).
    pub async fn set_password_hash(&self, id: UserId, password_hash: &str) -> Result<()> {
        let now = DbTime::now();
        on_backend!(self.store, write_retry, |pool, _pg| {
            let mut tx = pool.begin().await?;
            let done =
                sqlx::query("update users set password_hash = $2, updated_at = $3 where id = $1")
                    .bind(DbUuid::from(id))
                    .bind(password_hash)
                    .bind(now)
                    .execute(&mut *tx)
                    .await?;
            found(done.rows_affected())?;
            sqlx::query("delete from sessions where user_id = $1")
                .bind(DbUuid::from(id))
                .execute(&mut *tx)
                .await?;
            sqlx::query(
                "update api_tokens set revoked_at = $2 where user_id = $1 and revoked_at is null",
            )
            .bind(DbUuid::from(id))
            .bind(now)
            .execute(&mut *tx)
            .await?;
            notify_delivery!(
                &mut *tx,
                _pg,
                delivery_payload(DeliveryChange::UserTokens(id))
            );
            tx.commit().await?;
            Ok(())
        })
    }
}
