//! `prompt_labels`: named pointers (`production`, `staging` …) to versions.
//! The built-in `current` pointer is `prompts.current_version_id`, not a row here.

use promptrefine_core::{Label, PromptId, Version, VersionId};
use sqlx::FromRow;

use crate::codec::{DbTime, DbUuid};
use crate::error::{Result, found};
use crate::versions::{VERSION_COLUMNS, VersionRow};
use crate::{Store, on_backend};

#[derive(FromRow)]
struct LabelRow {
    label: String,
    version_id: DbUuid,
    number: i64,
    updated_at: DbTime,
}

pub struct LabelRepo<'a> {
    store: &'a Store,
}

impl Store {
    pub fn labels(&self) -> LabelRepo<'_> {
        LabelRepo { store: self }
    }
}

impl LabelRepo<'_> {
    /// Points `label` at a version of the same prompt (NotFound when the
    /// version is not one of this prompt's). Moves the prompt's `updated_at`.
    pub async fn set(&self, prompt_id: PromptId, label: &str, version_id: VersionId) -> Result<()> {
        let now = DbTime::now();
        on_backend!(self.store, write, |pool, _pg| {
            let mut tx = pool.begin().await?;
            let done = sqlx::query(
                "insert into prompt_labels (prompt_id, label, version_id, updated_at)
                 select $1, $2, $3, $4
                 where exists (select 1 from prompt_versions v where v.id = $3 and v.prompt_id = $1)
                 on conflict (prompt_id, label)
                 do update set version_id = excluded.version_id, updated_at = excluded.updated_at",
            )
            .bind(DbUuid::from(prompt_id))
            .bind(label)
            .bind(DbUuid::from(version_id))
            .bind(now)
            .execute(&mut *tx)
            .await?;
            found(done.rows_affected())?;
            sqlx::query("update prompts set updated_at = $2 where id = $1")
                .bind(DbUuid::from(prompt_id))
                .bind(now)
                .execute(&mut *tx)
                .await?;
            tx.commit().await?;
            Ok(())
        })
    }

    pub async fn remove(&self, prompt_id: PromptId, label: &str) -> Result<()> {
        let now = DbTime::now();
        on_backend!(self.store, write, |pool, _pg| {
            let mut tx = pool.begin().await?;
            let done = sqlx::query("delete from prompt_labels where prompt_id = $1 and label = $2")
                .bind(DbUuid::from(prompt_id))
                .bind(label)
                .execute(&mut *tx)
                .await?;
            found(done.rows_affected())?;
            sqlx::query("update prompts set updated_at = $2 where id = $1")
                .bind(DbUuid::from(prompt_id))
                .bind(now)
                .execute(&mut *tx)
                .await?;
            tx.commit().await?;
            Ok(())
        })
    }

    /// The prompt's labels, by name.
    pub async fn list(&self, prompt_id: PromptId) -> Result<Vec<Label>> {
        let rows: Vec<LabelRow> = on_backend!(self.store, read, |pool, _pg| {
            sqlx::query_as(
                "select l.label, l.version_id, v.number, l.updated_at
                 from prompt_labels l join prompt_versions v on v.id = l.version_id
                 where l.prompt_id = $1 order by l.label",
            )
            .bind(DbUuid::from(prompt_id))
            .fetch_all(pool)
            .await?
        });
        Ok(rows
            .into_iter()
            .map(|r| Label {
                label: r.label,
                version_id: r.version_id.0.into(),
                version: r.number,
                updated_at: r.updated_at.0,
            })
            .collect())
    }

    /// The version a label points at.
    pub async fn resolve(&self, prompt_id: PromptId, label: &str) -> Result<Version> {
        on_backend!(self.store, read, |pool, _pg| {
            let row: VersionRow = sqlx::query_as(&format!(
                "select {VERSION_COLUMNS} from prompt_labels l
                 join prompt_versions v on v.id = l.version_id
                 where l.prompt_id = $1 and l.label = $2"
            ))
            .bind(DbUuid::from(prompt_id))
            .bind(label)
            .fetch_one(pool)
            .await?;
            Ok(row.into())
        })
    }
}
