//! `api_tokens`: named bearer tokens, stored as hashes, with an optional
//! expiry. A token is live while it is neither revoked nor expired.

use promptrefine_core::{TokenId, UserId};
use sqlx::FromRow;
use time::OffsetDateTime;

use crate::codec::{DbTime, DbUuid};
use crate::error::{Result, StoreError, found};
use crate::notify::{DeliveryChange, delivery_payload, notify_delivery};
use crate::{Store, on_backend};

#[derive(FromRow)]
struct TokenRow {
    id: DbUuid,
    user_id: DbUuid,
    name: String,
    prefix: String,
    created_at: DbTime,
    last_used_at: Option<DbTime>,
    revoked_at: Option<DbTime>,
    expires_at: Option<DbTime>,
}

/// A token as listed (never with its secret or hash).
#[derive(Clone, Debug, PartialEq)]
pub struct ApiToken {
    pub id: TokenId,
    pub user_id: UserId,
    pub name: String,
    pub prefix: String,
    pub created_at: OffsetDateTime,
    pub last_used_at: Option<OffsetDateTime>,
    pub revoked_at: Option<OffsetDateTime>,
    /// None: the token never expires.
    pub expires_at: Option<OffsetDateTime>,
}

/// What a new token is made of (the caller hashes the secret).
#[derive(Clone, Debug)]
pub struct NewToken<'a> {
    pub user_id: UserId,
    pub name: &'a str,
    pub prefix: &'a str,
    pub token_hash: &'a str,
    pub expires_at: Option<OffsetDateTime>,
}

impl From<TokenRow> for ApiToken {
    fn from(r: TokenRow) -> Self {
        ApiToken {
            id: r.id.0.into(),
            user_id: r.user_id.0.into(),
            name: r.name,
            prefix: r.prefix,
            created_at: r.created_at.0,
            last_used_at: r.last_used_at.map(|t| t.0),
            revoked_at: r.revoked_at.map(|t| t.0),
            expires_at: r.expires_at.map(|t| t.0),
        }
    }
}

const TOKEN_COLUMNS: &str =
    "id, user_id, name, prefix, created_at, last_used_at, revoked_at, expires_at";

pub struct TokenRepo<'a> {
    store: &'a Store,
}

impl Store {
    pub fn tokens(&self) -> TokenRepo<'_> {
        TokenRepo { store: self }
    }
}

impl TokenRepo<'_> {
    pub async fn create(&self, t: NewToken<'_>) -> Result<ApiToken> {
        let id = TokenId::new();
        let now = DbTime::now();
        on_backend!(self.store, write_retry, |pool, _pg| {
            sqlx::query(
                "insert into api_tokens (id, user_id, name, prefix, token_hash, created_at, expires_at)
                 values ($1, $2, $3, $4, $5, $6, $7)",
            )
            .bind(DbUuid::from(id))
            .bind(DbUuid::from(t.user_id))
            .bind(t.name)
            .bind(t.prefix)
            .bind(t.token_hash)
            .bind(now)
            .bind(t.expires_at.map(DbTime::from))
            .execute(pool)
            .await?;
            Ok::<_, StoreError>(())
        })?;
        Ok(ApiToken {
            id,
            user_id: t.user_id,
            name: t.name.to_string(),
            prefix: t.prefix.to_string(),
            created_at: now.0,
            last_used_at: None,
            revoked_at: None,
            expires_at: t.expires_at.map(|e| DbTime::from(e).0),
        })
    }

    /// The user's tokens, newest first, revoked ones included (marked).
    pub async fn list(&self, user_id: UserId) -> Result<Vec<ApiToken>> {
        let rows: Vec<TokenRow> = on_backend!(self.store, read_retry, |pool, _pg| {
            sqlx::query_as(&format!(
                "select {TOKEN_COLUMNS} from api_tokens where user_id = $1 order by created_at desc, id desc"
            ))
            .bind(DbUuid::from(user_id))
            .fetch_all(pool)
            .await
            .map_err(crate::StoreError::from)
        })?;
        Ok(rows.into_iter().map(ApiToken::from).collect())
    }

    /// The live token with this hash: not revoked, and not expired at `now`.
    pub async fn find_active(
        &self,
        token_hash: &str,
        now: OffsetDateTime,
    ) -> Result<Option<ApiToken>> {
        let row: Option<TokenRow> = on_backend!(self.store, read_retry, |pool, _pg| {
            sqlx::query_as(&format!(
                "select {TOKEN_COLUMNS} from api_tokens
                 where token_hash = $1 and revoked_at is null and (expires_at is null or expires_at > $2)"
            ))
            .bind(token_hash)
            .bind(DbTime::from(now))
            .fetch_optional(pool)
            .await
            .map_err(crate::StoreError::from)
        })?;
        Ok(row.map(ApiToken::from))
    }

    pub async fn touch(&self, id: TokenId, now: OffsetDateTime) -> Result<()> {
        on_backend!(self.store, write_retry, |pool, _pg| {
            sqlx::query("update api_tokens set last_used_at = $2 where id = $1")
                .bind(DbUuid::from(id))
                .bind(DbTime::from(now))
                .execute(pool)
                .await?;
            Ok(())
        })
    }

    /// Revokes one of the user's tokens (NotFound when it is not theirs or already revoked).
    pub async fn revoke(&self, user_id: UserId, id: TokenId) -> Result<()> {
        let now = DbTime::now();
        on_backend!(self.store, write_retry, |pool, _pg| {
            let mut tx = pool.begin().await?;
            let done = sqlx::query(
                "update api_tokens set revoked_at = $3 where id = $1 and user_id = $2 and revoked_at is null",
            )
            .bind(DbUuid::from(id))
            .bind(DbUuid::from(user_id))
            .bind(now)
            .execute(&mut *tx)
            .await?;
            found(done.rows_affected())?;
            notify_delivery!(&mut *tx, _pg, delivery_payload(DeliveryChange::Token(id)));
            tx.commit().await?;
            Ok(())
        })
    }
}
