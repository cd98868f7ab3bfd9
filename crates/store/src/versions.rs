//! `prompt_versions`: immutable, numbered versions. There is no update here on
//! purpose, and the database rejects one with a trigger.

use promptrefine_core::{Content, ModelSettings, PromptId, Version, VersionId};
use sqlx::FromRow;
use sqlx::types::Json;

use crate::codec::{DbTime, DbUuid};
use crate::error::{Result, found};
use crate::notify::{DeliveryChange, delivery_payload, notify_delivery};
use crate::page::{NumberCursor, Page};
use crate::{Store, on_backend};

pub(crate) const VERSION_COLUMNS: &str =
    "v.id, v.prompt_id, v.number, v.content, v.settings, v.variables, v.note, v.created_at";

#[derive(FromRow)]
pub(crate) struct VersionRow {
    id: DbUuid,
    prompt_id: DbUuid,
    number: i64,
    content: Json<Content>,
    settings: Json<ModelSettings>,
    variables: Json<Vec<String>>,
    note: Option<String>,
    created_at: DbTime,
}

impl From<VersionRow> for Version {
    fn from(r: VersionRow) -> Self {
        Version {
            id: r.id.0.into(),
            prompt_id: r.prompt_id.0.into(),
            version: r.number,
            content: r.content.0,
            settings: r.settings.0,
            variables: r.variables.0,
            note: r.note,
            created_at: r.created_at.0,
        }
    }
}

/// A version to save. `variables` are found by the caller (core::template).
#[derive(Clone, Debug)]
pub struct NewVersion {
    pub content: Content,
    pub settings: ModelSettings,
    pub variables: Vec<String>,
    pub note: Option<String>,
    pub author_id: Option<promptrefine_core::UserId>,
}

/// Allocates the next number and inserts the version inside the caller's
/// transaction, making it current.
///
/// The number comes from the prompt row's counter, bumped with `update …
/// returning`: the row lock serialises concurrent savers of one prompt on
/// PostgreSQL (the single writer does it on SQLite), and a rolled-back save
/// rolls the counter back too, so numbers are unique and gapless.
macro_rules! insert_version {
    ($tx:expr, $prompt_id:expr, $new:expr, $now:expr) => {{
        let prompt_id: ::promptrefine_core::PromptId = $prompt_id;
        let new: &$crate::versions::NewVersion = &$new;
        let now: $crate::codec::DbTime = $now;
        let id = ::promptrefine_core::VersionId::new();
        let number: Option<i64> = ::sqlx::query_scalar(
            "update prompts set next_version = next_version + 1, current_version_id = $2, updated_at = $3
             where id = $1
             returning next_version - 1",
        )
        .bind($crate::codec::DbUuid::from(prompt_id))
        .bind($crate::codec::DbUuid::from(id))
        .bind(now)
        .fetch_optional(&mut *$tx)
        .await?;
        let number = number.ok_or($crate::StoreError::NotFound)?;
        ::sqlx::query(
            "insert into prompt_versions (id, prompt_id, number, content, settings, variables, note, author_id, created_at)
             values ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
        )
        .bind($crate::codec::DbUuid::from(id))
        .bind($crate::codec::DbUuid::from(prompt_id))
        .bind(number)
        .bind(::sqlx::types::Json(&new.content))
        .bind(::sqlx::types::Json(&new.settings))
        .bind(::sqlx::types::Json(&new.variables))
        .bind(new.note.as_deref())
        .bind(new.author_id.map($crate::codec::DbUuid::from))
        .bind(now)
        .execute(&mut *$tx)
        .await?;
        ::promptrefine_core::Version {
            id,
            prompt_id,
            version: number,
            content: new.content.clone(),
            settings: new.settings.clone(),
            variables: new.variables.clone(),
            note: new.note.clone(),
            created_at: now.0,
        }
    }};
}
pub(crate) use insert_version;

pub struct VersionRepo<'a> {
    store: &'a Store,
}

impl Store {
    pub fn versions(&self) -> VersionRepo<'_> {
        VersionRepo { store: self }
    }
}

impl VersionRepo<'_> {
    /// Saves a new version and makes it current. NotFound when the prompt
    /// is gone or is not of the content's type (a text version never joins
    /// a chat prompt, whoever calls).
    ///
    /// On PostgreSQL this is one statement, so one round trip: the counter
    /// bump, the insert and the delivery note in one autocommitted CTE (the
    /// insert reads the number the update returns; no row, no insert and no
    /// note). Numbers stay gapless for the reasons [`insert_version!`]
    /// gives. On SQLite, where a statement costs no round trip, it is the
    /// same two statements in a transaction.
    pub async fn save(&self, prompt_id: PromptId, new: NewVersion) -> Result<Version> {
        let now = DbTime::now();
        let id = VersionId::new();
        let prompt_type = new.content.prompt_type().as_str();
        let number: Option<i64> = on_backend!(self.store, write_retry, |pool, pg| {
            if pg {
                sqlx::query_scalar(
                    "with n as (
                         update prompts
                         set next_version = next_version + 1, current_version_id = $2, updated_at = $3
                         where id = $1 and type = $4
                         returning next_version - 1 as number
                     ), v as (
                         insert into prompt_versions (id, prompt_id, number, content, settings,
                                                      variables, note, author_id, created_at)
                         select $2, $1, n.number, $5, $6, $7, $8, $9, $3 from n
                         returning number
                     )
                     select v.number, pg_notify($10, $11)::text from v",
                )
                .bind(DbUuid::from(prompt_id))
                .bind(DbUuid::from(id))
                .bind(now)
                .bind(prompt_type)
                .bind(Json(&new.content))
                .bind(Json(&new.settings))
                .bind(Json(&new.variables))
                .bind(new.note.as_deref())
                .bind(new.author_id.map(DbUuid::from))
                .bind(crate::notify::DELIVERY_CHANNEL)
                .bind(delivery_payload(DeliveryChange::Prompt(prompt_id)))
                .fetch_optional(pool)
                .await
                .map_err(crate::StoreError::from)
            } else {
                let mut tx = pool.begin().await?;
                let number: Option<i64> = sqlx::query_scalar(
                    "update prompts
                     set next_version = next_version + 1, current_version_id = $2, updated_at = $3
                     where id = $1 and type = $4
                     returning next_version - 1",
                )
                .bind(DbUuid::from(prompt_id))
                .bind(DbUuid::from(id))
                .bind(now)
                .bind(prompt_type)
                .fetch_optional(&mut *tx)
                .await?;
                if let Some(number) = number {
                    sqlx::query(
                        "insert into prompt_versions (id, prompt_id, number, content, settings,
                                                      variables, note, author_id, created_at)
                         values ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
                    )
                    .bind(DbUuid::from(id))
                    .bind(DbUuid::from(prompt_id))
                    .bind(number)
                    .bind(Json(&new.content))
                    .bind(Json(&new.settings))
                    .bind(Json(&new.variables))
                    .bind(new.note.as_deref())
                    .bind(new.author_id.map(DbUuid::from))
                    .bind(now)
                    .execute(&mut *tx)
                    .await?;
                    tx.commit().await?;
                }
                Ok(number)
            }
        })?;
        let number = number.ok_or(crate::StoreError::NotFound)?;
        Ok(Version {
            id,
            prompt_id,
            version: number,
            content: new.content,
            settings: new.settings,
            variables: new.variables,
            note: new.note,
            created_at: now.0,
        })
    }

    pub async fn get(&self, id: VersionId) -> Result<Version> {
        on_backend!(self.store, read_retry, |pool, _pg| {
            let row: VersionRow = sqlx::query_as(&format!(
                "select {VERSION_COLUMNS} from prompt_versions v where v.id = $1"
            ))
            .bind(DbUuid::from(id))
            .fetch_one(pool)
            .await?;
            Ok(row.into())
        })
    }

    pub async fn get_by_number(&self, prompt_id: PromptId, number: i64) -> Result<Version> {
        on_backend!(self.store, read_retry, |pool, _pg| {
            let row: VersionRow = sqlx::query_as(&format!(
                "select {VERSION_COLUMNS} from prompt_versions v where v.prompt_id = $1 and v.number = $2"
            ))
            .bind(DbUuid::from(prompt_id))
            .bind(number)
            .fetch_one(pool)
            .await?;
            Ok(row.into())
        })
    }

    /// The version a prompt's `current` pointer names (NotFound when it has none).
    pub async fn get_current(&self, prompt_id: PromptId) -> Result<Version> {
        on_backend!(self.store, read_retry, |pool, _pg| {
            let row: VersionRow = sqlx::query_as(&format!(
                "select {VERSION_COLUMNS} from prompts p
                 join prompt_versions v on v.id = p.current_version_id
                 where p.id = $1"
            ))
            .bind(DbUuid::from(prompt_id))
            .fetch_one(pool)
            .await?;
            Ok(row.into())
        })
    }

    /// Newest first, keyset-paginated on the version number.
    pub async fn list(
        &self,
        prompt_id: PromptId,
        cursor: Option<NumberCursor>,
        limit: usize,
    ) -> Result<Page<Version>> {
        let before = cursor.map(|c| c.0).unwrap_or(i64::MAX);
        let rows: Vec<VersionRow> = on_backend!(self.store, read_retry, |pool, _pg| {
            sqlx::query_as(&format!(
                "select {VERSION_COLUMNS} from prompt_versions v
                 where v.prompt_id = $1 and v.number < $2
                 order by v.number desc limit $3"
            ))
            .bind(DbUuid::from(prompt_id))
            .bind(before)
            .bind(limit as i64 + 1)
            .fetch_all(pool)
            .await
            .map_err(crate::StoreError::from)
        })?;
        let mut items: Vec<Version> = rows.into_iter().map(Version::from).collect();
        let next_cursor = if items.len() > limit {
            items.truncate(limit);
            items.last().map(|v| NumberCursor(v.version).encode())
        } else {
            None
        };
        Ok(Page { items, next_cursor })
    }

    /// Makes an existing version of the prompt current again; writes no version.
    pub async fn restore(&self, prompt_id: PromptId, version_id: VersionId) -> Result<()> {
        let now = DbTime::now();
        on_backend!(self.store, write_retry, |pool, _pg| {
            let mut tx = pool.begin().await?;
            let done = sqlx::query(
                "update prompts set current_version_id = $2, updated_at = $3
                 where id = $1
                   and exists (select 1 from prompt_versions v where v.id = $2 and v.prompt_id = $1)",
            )
            .bind(DbUuid::from(prompt_id))
            .bind(DbUuid::from(version_id))
            .bind(now)
            .execute(&mut *tx)
            .await?;
            found(done.rows_affected())?;
            notify_delivery!(
                &mut *tx,
                _pg,
                delivery_payload(DeliveryChange::Prompt(prompt_id))
            );
            tx.commit().await?;
            Ok(())
        })
    }
}
