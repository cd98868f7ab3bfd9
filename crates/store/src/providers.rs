//! `providers`: model provider connections managed in the app (issue 17).
//!
//! The store never sees a secret in clear: the API key and the extra
//! headers arrive sealed by the app ([`SealedBytes`]) and go back sealed.
//! Writes of a whole row are optimistic — an update names the
//! `updated_at` it read, and touches nothing when another write came
//! between (NotFound, which the app reports as a conflict).

use std::collections::BTreeMap;

use promptrefine_core::ProviderId;
use serde::{Deserialize, Serialize};
use sqlx::FromRow;
use sqlx::types::Json;
use time::OffsetDateTime;

use crate::codec::{DbTime, DbUuid};
use crate::error::{Result, StoreError, found};
use crate::{Store, on_backend};

/// A value sealed by the app: its nonce and ciphertext (with the tag).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SealedBytes {
    pub nonce: Vec<u8>,
    pub ciphertext: Vec<u8>,
}

/// USD per million tokens.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct ModelPrice {
    pub input: f64,
    pub output: f64,
}

/// A stored provider, its secrets still sealed.
#[derive(Clone, Debug, PartialEq)]
pub struct ProviderRecord {
    pub id: ProviderId,
    pub name: String,
    pub base_url: String,
    pub api_key: Option<SealedBytes>,
    /// A sealed JSON object of header names to values.
    pub headers: Option<SealedBytes>,
    pub models: Vec<String>,
    pub prices: BTreeMap<String, ModelPrice>,
    pub created_at: OffsetDateTime,
    pub updated_at: OffsetDateTime,
}

/// Everything a write sets (validated and sealed by the app).
#[derive(Clone, Debug)]
pub struct ProviderWrite {
    pub name: String,
    pub base_url: String,
    pub api_key: Option<SealedBytes>,
    pub headers: Option<SealedBytes>,
    pub models: Vec<String>,
    pub prices: BTreeMap<String, ModelPrice>,
}

/// One provider's secrets sealed again under a new server key.
#[derive(Clone, Debug)]
pub struct Resealed {
    pub id: ProviderId,
    /// The row's `updated_at` when its old secrets were read.
    pub read_at: OffsetDateTime,
    pub api_key: Option<SealedBytes>,
    pub headers: Option<SealedBytes>,
}

#[derive(FromRow)]
struct ProviderRow {
    id: DbUuid,
    name: String,
    base_url: String,
    api_key_nonce: Option<Vec<u8>>,
    api_key_sealed: Option<Vec<u8>>,
    headers_nonce: Option<Vec<u8>>,
    headers_sealed: Option<Vec<u8>>,
    models: Json<Vec<String>>,
    prices: Json<BTreeMap<String, ModelPrice>>,
    created_at: DbTime,
    updated_at: DbTime,
}

fn sealed(nonce: Option<Vec<u8>>, ciphertext: Option<Vec<u8>>) -> Option<SealedBytes> {
    // The table's checks keep both halves null or both set.
    Some(SealedBytes {
        nonce: nonce?,
        ciphertext: ciphertext?,
    })
}

impl From<ProviderRow> for ProviderRecord {
    fn from(r: ProviderRow) -> Self {
        ProviderRecord {
            id: r.id.0.into(),
            name: r.name,
            base_url: r.base_url,
            api_key: sealed(r.api_key_nonce, r.api_key_sealed),
            headers: sealed(r.headers_nonce, r.headers_sealed),
            models: r.models.0,
            prices: r.prices.0,
            created_at: r.created_at.0,
            updated_at: r.updated_at.0,
        }
    }
}

const PROVIDER_COLUMNS: &str = "id, name, base_url, api_key_nonce, api_key_sealed, \
     headers_nonce, headers_sealed, models, prices, created_at, updated_at";

/// Binds what a [`ProviderWrite`] sets, as `$2`–`$9` after the id: the
/// one column order `create` and `update` share.
macro_rules! bind_write {
    ($q:expr, $w:expr) => {
        $q.bind(&$w.name)
            .bind(&$w.base_url)
            .bind($w.api_key.as_ref().map(|s| s.nonce.clone()))
            .bind($w.api_key.as_ref().map(|s| s.ciphertext.clone()))
            .bind($w.headers.as_ref().map(|s| s.nonce.clone()))
            .bind($w.headers.as_ref().map(|s| s.ciphertext.clone()))
            .bind(Json(&$w.models))
            .bind(Json(&$w.prices))
    };
}

/// The most providers one listing returns; far more than anyone configures.
pub const PROVIDERS_MAX: i64 = 500;

pub struct ProviderRepo<'a> {
    store: &'a Store,
}

impl Store {
    pub fn providers(&self) -> ProviderRepo<'_> {
        ProviderRepo { store: self }
    }
}

impl ProviderRepo<'_> {
    /// Inserts a provider under `id` (the app chooses it: sealed values
    /// name their row). `Conflict(ProviderName)` when the name is taken.
    pub async fn create(&self, id: ProviderId, w: &ProviderWrite) -> Result<ProviderRecord> {
        let now = DbTime::now();
        on_backend!(self.store, write_retry, |pool, _pg| {
            let sql = format!(
                "insert into providers (id, name, base_url, api_key_nonce, api_key_sealed,
                     headers_nonce, headers_sealed, models, prices, created_at, updated_at)
                 values ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $10)
                 returning {PROVIDER_COLUMNS}"
            );
            let q = sqlx::query_as(&sql).bind(DbUuid::from(id));
            let row: ProviderRow = bind_write!(q, w).bind(now).fetch_one(pool).await?;
            Ok(row.into())
        })
    }

    pub async fn get(&self, id: ProviderId) -> Result<ProviderRecord> {
        on_backend!(self.store, read_retry, |pool, _pg| {
            let row: ProviderRow = sqlx::query_as(&format!(
                "select {PROVIDER_COLUMNS} from providers where id = $1"
            ))
            .bind(DbUuid::from(id))
            .fetch_one(pool)
            .await?;
            Ok(row.into())
        })
    }

    /// By name (what runs name a provider by); served by the unique index.
    pub async fn get_by_name(&self, name: &str) -> Result<ProviderRecord> {
        on_backend!(self.store, read_retry, |pool, _pg| {
            let row: ProviderRow = sqlx::query_as(&format!(
                "select {PROVIDER_COLUMNS} from providers where name = $1"
            ))
            .bind(name)
            .fetch_one(pool)
            .await?;
            Ok(row.into())
        })
    }

    /// Every provider by name, up to [`PROVIDERS_MAX`]: a settings list,
    /// not a feed, so no cursor.
    pub async fn list(&self) -> Result<Vec<ProviderRecord>> {
        let rows: Vec<ProviderRow> = on_backend!(self.store, read_retry, |pool, _pg| {
            sqlx::query_as(&format!(
                "select {PROVIDER_COLUMNS} from providers order by name limit $1"
            ))
            .bind(PROVIDERS_MAX)
            .fetch_all(pool)
            .await
            .map_err(StoreError::from)
        })?;
        Ok(rows.into_iter().map(ProviderRecord::from).collect())
    }

    /// Replaces every field of the row if it still has `read_at` as its
    /// `updated_at`; NotFound when it is gone or another write came first.
    pub async fn update(
        &self,
        id: ProviderId,
        read_at: OffsetDateTime,
        w: &ProviderWrite,
    ) -> Result<ProviderRecord> {
        let now = DbTime::now();
        on_backend!(self.store, write_retry, |pool, _pg| {
            let sql = format!(
                "update providers set name = $2, base_url = $3, api_key_nonce = $4,
                     api_key_sealed = $5, headers_nonce = $6, headers_sealed = $7,
                     models = $8, prices = $9, updated_at = $10
                 where id = $1 and updated_at = $11
                 returning {PROVIDER_COLUMNS}"
            );
            let q = sqlx::query_as(&sql).bind(DbUuid::from(id));
            let row: Option<ProviderRow> = bind_write!(q, w)
                .bind(now)
                .bind(DbTime::from(read_at))
                .fetch_optional(pool)
                .await?;
            row.map(ProviderRecord::from).ok_or(StoreError::NotFound)
        })
    }

    /// Replaces the sealed secrets of every row in `rows` in one
    /// transaction (a server key rotation): all or nothing, and NotFound
    /// when any row is gone or changed since `read_at` was read.
    pub async fn reseal(&self, rows: &[Resealed]) -> Result<()> {
        let now = DbTime::now();
        on_backend!(self.store, write_retry, |pool, _pg| {
            let mut tx = pool.begin().await?;
            for r in rows {
                let done = sqlx::query(
                    "update providers set api_key_nonce = $3, api_key_sealed = $4,
                         headers_nonce = $5, headers_sealed = $6, updated_at = $7
                     where id = $1 and updated_at = $2",
                )
                .bind(DbUuid::from(r.id))
                .bind(DbTime::from(r.read_at))
                .bind(r.api_key.as_ref().map(|s| s.nonce.clone()))
                .bind(r.api_key.as_ref().map(|s| s.ciphertext.clone()))
                .bind(r.headers.as_ref().map(|s| s.nonce.clone()))
                .bind(r.headers.as_ref().map(|s| s.ciphertext.clone()))
                .bind(now)
                .execute(&mut *tx)
                .await?;
                found(done.rows_affected())?;
            }
            tx.commit().await?;
            Ok(())
        })
    }

    /// Runs that named the provider keep its name; nothing cascades.
    pub async fn delete(&self, id: ProviderId) -> Result<()> {
        on_backend!(self.store, write_retry, |pool, _pg| {
            let done = sqlx::query("delete from providers where id = $1")
                .bind(DbUuid::from(id))
                .execute(pool)
                .await?;
            found(done.rows_affected())
        })
    }
}
