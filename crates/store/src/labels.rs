//! `prompt_labels`: named pointers (`production`, `staging` …) to versions.
//! The built-in `current` pointer is `prompts.current_version_id`, not a row here.

use promptrefine_core::{
    Content, Label, ModelSettings, Prompt, PromptId, PromptType, Version, VersionId,
};
use sqlx::FromRow;
use sqlx::types::Json;

use crate::codec::{DbTime, DbUuid};
use crate::error::{Result, found};
use crate::notify::{DeliveryChange, delivery_payload, notify_delivery};
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
        on_backend!(self.store, write_retry, |pool, _pg| {
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
            notify_delivery!(
                &mut *tx,
                _pg,
                delivery_payload(DeliveryChange::Prompt(prompt_id))
            );
            tx.commit().await?;
            Ok(())
        })
    }

    pub async fn remove(&self, prompt_id: PromptId, label: &str) -> Result<()> {
        let now = DbTime::now();
        on_backend!(self.store, write_retry, |pool, _pg| {
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
            notify_delivery!(
                &mut *tx,
                _pg,
                delivery_payload(DeliveryChange::Prompt(prompt_id))
            );
            tx.commit().await?;
            Ok(())
        })
    }

    /// The prompt's labels, by name.
    pub async fn list(&self, prompt_id: PromptId) -> Result<Vec<Label>> {
        let rows: Vec<LabelRow> = on_backend!(self.store, read_retry, |pool, _pg| {
            sqlx::query_as(
                "select l.label, l.version_id, v.number, l.updated_at
                 from prompt_labels l join prompt_versions v on v.id = l.version_id
                 where l.prompt_id = $1 order by l.label",
            )
            .bind(DbUuid::from(prompt_id))
            .fetch_all(pool)
            .await
            .map_err(crate::StoreError::from)
        })?;
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
        on_backend!(self.store, read_retry, |pool, _pg| {
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

/// Which version of a prompt an application asks for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Pick<'a> {
    /// The prompt's `current` pointer.
    Current,
    /// A label's version.
    Label(&'a str),
    /// A version by its number (a pinned version).
    Number(i64),
}

/// A prompt and the version picked, read together; `v_*` are null when the
/// prompt exists but the pick names no version.
#[derive(FromRow)]
struct PickedRow {
    p_id: DbUuid,
    title: String,
    slug: String,
    #[sqlx(rename = "type")]
    prompt_type: String,
    tags: Json<Vec<String>>,
    current_version_id: Option<DbUuid>,
    p_created_at: DbTime,
    p_updated_at: DbTime,
    v_id: Option<DbUuid>,
    number: Option<i64>,
    content: Option<Json<Content>>,
    settings: Option<Json<ModelSettings>>,
    variables: Option<Json<Vec<String>>>,
    note: Option<String>,
    v_created_at: Option<DbTime>,
}

const PICKED_COLUMNS: &str = "p.id as p_id, p.title, p.slug, p.type, p.tags, p.current_version_id,
     p.created_at as p_created_at, p.updated_at as p_updated_at,
     v.id as v_id, v.number, v.content, v.settings, v.variables, v.note, v.created_at as v_created_at";

impl LabelRepo<'_> {
    /// The prompt with this slug and the version `pick` names, in one query
    /// (the delivery cache's miss). `None`: no such prompt; `(prompt, None)`:
    /// the prompt has no such label or version.
    pub async fn pick_by_slug(
        &self,
        slug: &str,
        pick: Pick<'_>,
    ) -> Result<Option<(Prompt, Option<Version>)>> {
        let join = match pick {
            Pick::Current => "left join prompt_versions v on v.id = p.current_version_id",
            Pick::Label(_) => {
                "left join prompt_labels l on l.prompt_id = p.id and l.label = $2
                 left join prompt_versions v on v.id = l.version_id"
            }
            Pick::Number(_) => {
                "left join prompt_versions v on v.prompt_id = p.id and v.number = $2"
            }
        };
        let sql = format!("select {PICKED_COLUMNS} from prompts p {join} where p.slug = $1");
        let row: Option<PickedRow> = on_backend!(self.store, read_retry, |pool, _pg| {
            let q = sqlx::query_as(&sql).bind(slug);
            let q = match pick {
                Pick::Current => q,
                Pick::Label(label) => q.bind(label),
                Pick::Number(n) => q.bind(n),
            };
            q.fetch_optional(pool)
                .await
                .map_err(crate::StoreError::from)
        })?;
        Ok(row.map(|r| {
            let prompt = Prompt {
                id: r.p_id.0.into(),
                title: r.title,
                slug: r.slug,
                prompt_type: PromptType::parse(&r.prompt_type).unwrap_or(PromptType::Text),
                tags: r.tags.0,
                current_version_id: r.current_version_id.map(|v| v.0.into()),
                created_at: r.p_created_at.0,
                updated_at: r.p_updated_at.0,
            };
            let version = match (
                r.v_id,
                r.number,
                r.content,
                r.settings,
                r.variables,
                r.v_created_at,
            ) {
                (
                    Some(id),
                    Some(number),
                    Some(content),
                    Some(settings),
                    Some(variables),
                    Some(at),
                ) => Some(Version {
                    id: id.0.into(),
                    prompt_id: prompt.id,
                    version: number,
                    content: content.0,
                    settings: settings.0,
                    variables: variables.0,
                    note: r.note,
                    created_at: at.0,
                }),
                _ => None,
            };
            (prompt, version)
        }))
    }
}
