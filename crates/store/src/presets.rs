//! `model_presets`: named provider + model + parameters (issue 17).
//!
//! A preset is a shortcut, not a dependency: runs and experiments copy what
//! it resolves to when they start, so nothing refers to a preset row and a
//! delete cascades nowhere. Whole-row updates are optimistic, like
//! providers': an update names the `updated_at` it read.

use promptrefine_core::{ModelSettings, PresetId};
use sqlx::FromRow;
use sqlx::types::Json;
use time::OffsetDateTime;

use crate::codec::{DbTime, DbUuid};
use crate::error::{Result, StoreError, found};
use crate::{Store, on_backend};

/// A stored preset.
#[derive(Clone, Debug, PartialEq)]
pub struct PresetRecord {
    pub id: PresetId,
    pub name: String,
    /// `None`: the server's default provider at the time of use.
    pub provider: Option<String>,
    pub model: String,
    /// Overrides of the version's settings (never `model`: that is above).
    pub params: ModelSettings,
    pub created_at: OffsetDateTime,
    pub updated_at: OffsetDateTime,
}

/// Everything a write sets (validated by the app).
#[derive(Clone, Debug)]
pub struct PresetWrite {
    pub name: String,
    pub provider: Option<String>,
    pub model: String,
    pub params: ModelSettings,
}

#[derive(FromRow)]
struct PresetRow {
    id: DbUuid,
    name: String,
    provider: Option<String>,
    model: String,
    params: Json<ModelSettings>,
    created_at: DbTime,
    updated_at: DbTime,
}

impl From<PresetRow> for PresetRecord {
    fn from(r: PresetRow) -> Self {
        PresetRecord {
            id: r.id.0.into(),
            name: r.name,
            provider: r.provider,
            model: r.model,
            params: r.params.0,
            created_at: r.created_at.0,
            updated_at: r.updated_at.0,
        }
    }
}

const PRESET_COLUMNS: &str = "id, name, provider, model, params, created_at, updated_at";

/// The most presets one listing returns: a settings list, not a feed.
pub const PRESETS_MAX: i64 = 500;

pub struct PresetRepo<'a> {
    store: &'a Store,
}

impl Store {
    pub fn presets(&self) -> PresetRepo<'_> {
        PresetRepo { store: self }
    }
}

impl PresetRepo<'_> {
    /// `Conflict(PresetName)` when the name is taken.
    pub async fn create(&self, id: PresetId, w: &PresetWrite) -> Result<PresetRecord> {
        let now = DbTime::now();
        on_backend!(self.store, write_retry, |pool, _pg| {
            let row: PresetRow = sqlx::query_as(&format!(
                "insert into model_presets (id, name, provider, model, params, created_at, updated_at)
                 values ($1, $2, $3, $4, $5, $6, $6)
                 returning {PRESET_COLUMNS}"
            ))
            .bind(DbUuid::from(id))
            .bind(&w.name)
            .bind(&w.provider)
            .bind(&w.model)
            .bind(Json(&w.params))
            .bind(now)
            .fetch_one(pool)
            .await?;
            Ok(row.into())
        })
    }

    pub async fn get(&self, id: PresetId) -> Result<PresetRecord> {
        on_backend!(self.store, read_retry, |pool, _pg| {
            let row: PresetRow = sqlx::query_as(&format!(
                "select {PRESET_COLUMNS} from model_presets where id = $1"
            ))
            .bind(DbUuid::from(id))
            .fetch_one(pool)
            .await?;
            Ok(row.into())
        })
    }

    /// By name (what runs and variants name a preset by).
    pub async fn get_by_name(&self, name: &str) -> Result<PresetRecord> {
        on_backend!(self.store, read_retry, |pool, _pg| {
            let row: PresetRow = sqlx::query_as(&format!(
                "select {PRESET_COLUMNS} from model_presets where name = $1"
            ))
            .bind(name)
            .fetch_one(pool)
            .await?;
            Ok(row.into())
        })
    }

    /// Every preset by name, up to [`PRESETS_MAX`].
    pub async fn list(&self) -> Result<Vec<PresetRecord>> {
        let rows: Vec<PresetRow> = on_backend!(self.store, read_retry, |pool, _pg| {
            sqlx::query_as(&format!(
                "select {PRESET_COLUMNS} from model_presets order by name limit $1"
            ))
            .bind(PRESETS_MAX)
            .fetch_all(pool)
            .await
            .map_err(StoreError::from)
        })?;
        Ok(rows.into_iter().map(PresetRecord::from).collect())
    }

    /// Replaces every field if the row still has `read_at` as its
    /// `updated_at`; NotFound when it is gone or another write came first.
    pub async fn update(
        &self,
        id: PresetId,
        read_at: OffsetDateTime,
        w: &PresetWrite,
    ) -> Result<PresetRecord> {
        let now = DbTime::now();
        on_backend!(self.store, write_retry, |pool, _pg| {
            let row: Option<PresetRow> = sqlx::query_as(&format!(
                "update model_presets set name = $3, provider = $4, model = $5, params = $6,
                     updated_at = $7
                 where id = $1 and updated_at = $2
                 returning {PRESET_COLUMNS}"
            ))
            .bind(DbUuid::from(id))
            .bind(DbTime::from(read_at))
            .bind(&w.name)
            .bind(&w.provider)
            .bind(&w.model)
            .bind(Json(&w.params))
            .bind(now)
            .fetch_optional(pool)
            .await?;
            row.map(PresetRecord::from).ok_or(StoreError::NotFound)
        })
    }

    pub async fn delete(&self, id: PresetId) -> Result<()> {
        on_backend!(self.store, write_retry, |pool, _pg| {
            let done = sqlx::query("delete from model_presets where id = $1")
                .bind(DbUuid::from(id))
                .execute(pool)
                .await?;
            found(done.rows_affected())
        })
    }
}
