//! `prompts` and `prompt_tags`: the prompt records, without their versions.

use promptrefine_core::{Prompt, PromptId, PromptType, Version};
use sqlx::types::Json;
use sqlx::{FromRow, QueryBuilder};

use crate::codec::{DbTime, DbUuid};
use crate::error::{Result, found};
use crate::notify::{DeliveryChange, delivery_payload, notify_delivery};
use crate::page::{Cursor, Page, page_from, push_contains, push_newest_first};
use crate::versions::{NewVersion, insert_version};
use crate::{Store, on_backend};

/// Column list shared by every prompt query (`p` is the prompts alias).
pub(crate) const PROMPT_COLUMNS: &str =
    "p.id, p.title, p.slug, p.type, p.tags, p.current_version_id, p.created_at, p.updated_at";

#[derive(FromRow)]
pub(crate) struct PromptRow {
    id: DbUuid,
    title: String,
    slug: String,
    #[sqlx(rename = "type")]
    prompt_type: String,
    tags: Json<Vec<String>>,
    current_version_id: Option<DbUuid>,
    created_at: DbTime,
    updated_at: DbTime,
}

impl From<PromptRow> for Prompt {
    fn from(r: PromptRow) -> Self {
        Prompt {
            id: r.id.0.into(),
            title: r.title,
            slug: r.slug,
            // The column has a check constraint; anything else is a corrupt row.
            prompt_type: PromptType::parse(&r.prompt_type).unwrap_or(PromptType::Text),
            tags: r.tags.0,
            current_version_id: r.current_version_id.map(|v| v.0.into()),
            created_at: r.created_at.0,
            updated_at: r.updated_at.0,
        }
    }
}

/// A prompt to create; its first version optional.
#[derive(Clone, Debug)]
pub struct NewPrompt {
    pub title: String,
    pub slug: String,
    pub prompt_type: PromptType,
    pub tags: Vec<String>,
    pub first_version: Option<NewVersion>,
}

/// What PATCH may change. `None` leaves a field as it is.
#[derive(Clone, Debug, Default)]
pub struct PromptPatch {
    pub title: Option<String>,
    pub slug: Option<String>,
    pub tags: Option<Vec<String>>,
}

/// Filters of the prompts list; all optional, combined with AND.
#[derive(Clone, Debug, Default)]
pub struct PromptFilter {
    pub tag: Option<String>,
    pub prompt_type: Option<PromptType>,
    /// Substring of the title (case-insensitive) or the slug.
    pub q: Option<String>,
}

pub struct PromptRepo<'a> {
    store: &'a Store,
}

impl Store {
    pub fn prompts(&self) -> PromptRepo<'_> {
        PromptRepo { store: self }
    }
}

impl PromptRepo<'_> {
    /// Creates the prompt, its tag rows and (optionally) version 1, in one transaction.
    pub async fn create(&self, new: NewPrompt) -> Result<(Prompt, Option<Version>)> {
        let id = PromptId::new();
        let now = DbTime::now();
        on_backend!(self.store, write_retry, |pool, _pg| {
            let mut tx = pool.begin().await?;
            sqlx::query(
                "insert into prompts (id, title, slug, type, tags, created_at, updated_at)
                 values ($1, $2, $3, $4, $5, $6, $6)",
            )
            .bind(DbUuid::from(id))
            .bind(&new.title)
            .bind(&new.slug)
            .bind(new.prompt_type.as_str())
            .bind(Json(&new.tags))
            .bind(now)
            .execute(&mut *tx)
            .await?;
            for tag in &new.tags {
                sqlx::query("insert into prompt_tags (prompt_id, tag) values ($1, $2)")
                    .bind(DbUuid::from(id))
                    .bind(tag)
                    .execute(&mut *tx)
                    .await?;
            }
            let version = match &new.first_version {
                Some(v) => Some(insert_version!(tx, id, *v, now)),
                None => None,
            };
            let row: PromptRow = sqlx::query_as(&format!(
                "select {PROMPT_COLUMNS} from prompts p where p.id = $1"
            ))
            .bind(DbUuid::from(id))
            .fetch_one(&mut *tx)
            .await?;
            // A watcher of this slug may be waiting for it to exist.
            notify_delivery!(&mut *tx, _pg, delivery_payload(DeliveryChange::Prompt(id)));
            tx.commit().await?;
            Ok((row.into(), version))
        })
    }

    pub async fn get(&self, id: PromptId) -> Result<Prompt> {
        on_backend!(self.store, read_retry, |pool, _pg| {
            let row: PromptRow = sqlx::query_as(&format!(
                "select {PROMPT_COLUMNS} from prompts p where p.id = $1"
            ))
            .bind(DbUuid::from(id))
            .fetch_one(pool)
            .await?;
            Ok(row.into())
        })
    }

    /// The prompt and the number its newest version has (0: none yet), read
    /// from the prompt row's counter: numbers are gapless and versions are
    /// never deleted one by one, so the counter minus one is the newest.
    pub async fn get_with_newest_number(&self, id: PromptId) -> Result<(Prompt, i64)> {
        #[derive(FromRow)]
        struct Row {
            #[sqlx(flatten)]
            prompt: PromptRow,
            next_version: i64,
        }
        on_backend!(self.store, read_retry, |pool, _pg| {
            let row: Row = sqlx::query_as(&format!(
                "select {PROMPT_COLUMNS}, p.next_version from prompts p where p.id = $1"
            ))
            .bind(DbUuid::from(id))
            .fetch_one(pool)
            .await?;
            Ok((row.prompt.into(), row.next_version - 1))
        })
    }

    pub async fn get_by_slug(&self, slug: &str) -> Result<Prompt> {
        on_backend!(self.store, read_retry, |pool, _pg| {
            let row: PromptRow = sqlx::query_as(&format!(
                "select {PROMPT_COLUMNS} from prompts p where p.slug = $1"
            ))
            .bind(slug)
            .fetch_one(pool)
            .await?;
            Ok(row.into())
        })
    }

    /// Whether a slug is taken (used to derive a free slug from a title).
    pub async fn slug_exists(&self, slug: &str) -> Result<bool> {
        on_backend!(self.store, read_retry, |pool, _pg| {
            let n: i64 = sqlx::query_scalar("select count(*) from prompts where slug = $1")
                .bind(slug)
                .fetch_one(pool)
                .await?;
            Ok(n > 0)
        })
    }

    /// Newest change first, keyset-paginated on (updated_at, id).
    pub async fn list(
        &self,
        filter: &PromptFilter,
        cursor: Option<Cursor>,
        limit: usize,
    ) -> Result<Page<Prompt>> {
        let rows: Vec<PromptRow> = on_backend!(self.store, read_retry, |pool, pg| {
            let mut qb = QueryBuilder::new(format!(
                "select {PROMPT_COLUMNS} from prompts p where 1 = 1"
            ));
            if let Some(tag) = &filter.tag {
                qb.push(" and exists (select 1 from prompt_tags t where t.prompt_id = p.id and t.tag = ")
                    .push_bind(tag.clone())
                    .push(")");
            }
            if let Some(t) = filter.prompt_type {
                qb.push(" and p.type = ").push_bind(t.as_str());
            }
            if let Some(q) = &filter.q {
                push_contains(&mut qb, pg, &["p.title", "p.slug"], q);
            }
            push_newest_first(&mut qb, cursor, "p.updated_at", "p.id", limit);
            qb.build_query_as()
                .fetch_all(pool)
                .await
                .map_err(crate::StoreError::from)
        })?;
        let prompts = rows.into_iter().map(Prompt::from).collect();
        Ok(page_from(prompts, limit, |p: &Prompt| Cursor {
            time: p.updated_at.into(),
            id: p.id.0,
        }))
    }

    /// Renames, re-slugs and/or retags; moves `updated_at`.
    pub async fn update(&self, id: PromptId, patch: PromptPatch) -> Result<Prompt> {
        let now = DbTime::now();
        on_backend!(self.store, write_retry, |pool, _pg| {
            let mut tx = pool.begin().await?;
            let done = sqlx::query(
                "update prompts set title = coalesce($2, title), slug = coalesce($3, slug),
                        tags = coalesce($4, tags), updated_at = $5
                 where id = $1",
            )
            .bind(DbUuid::from(id))
            .bind(patch.title.as_ref())
            .bind(patch.slug.as_ref())
            .bind(patch.tags.as_ref().map(Json))
            .bind(now)
            .execute(&mut *tx)
            .await?;
            found(done.rows_affected())?;
            if let Some(tags) = &patch.tags {
                sqlx::query("delete from prompt_tags where prompt_id = $1")
                    .bind(DbUuid::from(id))
                    .execute(&mut *tx)
                    .await?;
                for tag in tags {
                    sqlx::query("insert into prompt_tags (prompt_id, tag) values ($1, $2)")
                        .bind(DbUuid::from(id))
                        .bind(tag)
                        .execute(&mut *tx)
                        .await?;
                }
            }
            let row: PromptRow = sqlx::query_as(&format!(
                "select {PROMPT_COLUMNS} from prompts p where p.id = $1"
            ))
            .bind(DbUuid::from(id))
            .fetch_one(&mut *tx)
            .await?;
            notify_delivery!(&mut *tx, _pg, delivery_payload(DeliveryChange::Prompt(id)));
            tx.commit().await?;
            Ok(row.into())
        })
    }

    /// Deletes the prompt; its versions, labels, tags and runs go with it
    /// (foreign keys cascade inside the same statement, so all or nothing).
    pub async fn delete(&self, id: PromptId) -> Result<()> {
        on_backend!(self.store, write_retry, |pool, _pg| {
            let mut tx = pool.begin().await?;
            let done = sqlx::query("delete from prompts where id = $1")
                .bind(DbUuid::from(id))
                .execute(&mut *tx)
                .await?;
            found(done.rows_affected())?;
            notify_delivery!(&mut *tx, _pg, delivery_payload(DeliveryChange::Prompt(id)));
            tx.commit().await?;
            Ok(())
        })
    }

    /// Every tag in use, with how many prompts carry it (for filter menus).
    pub async fn tag_counts(&self) -> Result<Vec<(String, i64)>> {
        on_backend!(self.store, read_retry, |pool, _pg| {
            Ok(sqlx::query_as(
                "select tag, count(*) as n from prompt_tags group by tag order by n desc, tag limit 200",
            )
            .fetch_all(pool)
            .await?)
        })
    }

    pub async fn count(&self) -> Result<i64> {
        on_backend!(self.store, read_retry, |pool, _pg| {
            Ok(sqlx::query_scalar("select count(*) from prompts")
                .fetch_one(pool)
                .await?)
        })
    }
}

/// Escapes LIKE wildcards so user text matches literally.
pub(crate) fn escape_like(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        if matches!(c, '%' | '_' | '\\') {
            out.push('\\');
        }
        out.push(c);
    }
    out
}
