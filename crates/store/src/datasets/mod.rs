//! `datasets` and `dataset_items`: named lists of test cases, versioned.
//!
//! Every change of the items (an add, edit or delete call, an import) runs in
//! one transaction that first bumps `datasets.version` with `update …
//! returning` — the row lock serialises writers of one dataset on
//! PostgreSQL, the single writer does on SQLite, and a rollback returns the
//! number — so versions are gapless and one call is one version, however
//! many items it touches. Item rows are revisions: an edit closes the
//! current revision (`valid_to`) and inserts a new one under the same
//! `item_id`; a delete only closes it. Old versions are therefore read
//! straight from the table, and an experiment that keeps a revision id or a
//! version number sees the items as they were. A trigger rejects any other
//! update of a revision.
//!
//! The dataset rows are here; the items in [`items`].

mod items;

use promptrefine_core::{Dataset, DatasetId};
use sqlx::{FromRow, QueryBuilder};

use crate::codec::{DbTime, DbUuid};
use crate::error::{Result, StoreError, found};
use crate::page::{Cursor, Page, page_from, push_contains, push_newest_first};
use crate::{Store, on_backend};

pub use items::ItemsAdded;

const DATASET_COLUMNS: &str =
    "d.id, d.name, d.slug, d.description, d.version, d.item_count, d.created_at, d.updated_at";

#[derive(FromRow)]
struct DatasetRow {
    id: DbUuid,
    name: String,
    slug: String,
    description: Option<String>,
    version: i64,
    item_count: i64,
    created_at: DbTime,
    updated_at: DbTime,
}

impl From<DatasetRow> for Dataset {
    fn from(r: DatasetRow) -> Self {
        Dataset {
            id: r.id.0.into(),
            name: r.name,
            slug: r.slug,
            description: r.description,
            item_count: r.item_count,
            version: r.version,
            created_at: r.created_at.0,
            updated_at: r.updated_at.0,
        }
    }
}

/// A dataset to create (names and slugs already validated).
#[derive(Clone, Debug)]
pub struct NewDataset {
    pub name: String,
    pub slug: String,
    pub description: Option<String>,
}

/// What PATCH may change: `None` keeps a field; `Some(None)` clears the description.
#[derive(Clone, Debug, Default)]
pub struct DatasetPatch {
    pub name: Option<String>,
    pub description: Option<Option<String>>,
}

pub struct DatasetRepo<'a> {
    store: &'a Store,
}

impl Store {
    pub fn datasets(&self) -> DatasetRepo<'_> {
        DatasetRepo { store: self }
    }
}

/// Reads one dataset row by id with any executor (a pool or a transaction).
macro_rules! fetch_dataset {
    ($exec:expr, $id:expr) => {{
        let row: DatasetRow = ::sqlx::query_as(&format!(
            "select {DATASET_COLUMNS} from datasets d where d.id = $1"
        ))
        .bind(DbUuid::from($id))
        .fetch_one($exec)
        .await?;
        Dataset::from(row)
    }};
}
pub(crate) use fetch_dataset;

impl DatasetRepo<'_> {
    pub async fn create(&self, new: NewDataset) -> Result<Dataset> {
        let id = DatasetId::new();
        let now = DbTime::now();
        // One transaction: a connection lost before the commit rolled the
        // insert back, so running it again does not find its own row. (A
        // commit whose answer was lost would: a 409, as for any write.)
        on_backend!(self.store, write_retry, |pool, _pg| {
            let mut tx = pool.begin().await?;
            sqlx::query(
                "insert into datasets (id, name, slug, description, created_at, updated_at)
                 values ($1, $2, $3, $4, $5, $5)",
            )
            .bind(DbUuid::from(id))
            .bind(&new.name)
            .bind(&new.slug)
            .bind(new.description.as_deref())
            .bind(now)
            .execute(&mut *tx)
            .await?;
            let dataset = fetch_dataset!(&mut *tx, id);
            tx.commit().await?;
            Ok(dataset)
        })
    }

    /// The dataset at its current version.
    pub async fn get(&self, id: DatasetId) -> Result<Dataset> {
        on_backend!(self.store, read_retry, |pool, _pg| Ok(fetch_dataset!(
            pool, id
        )))
    }

    /// The dataset as it was at `version` (NotFound past the current one):
    /// its item count then; the name and times are today's.
    pub async fn get_at(&self, id: DatasetId, version: i64) -> Result<Dataset> {
        let mut dataset = self.get(id).await?;
        if version == dataset.version {
            return Ok(dataset);
        }
        if !(0..dataset.version).contains(&version) {
            return Err(StoreError::NotFound);
        }
        dataset.item_count = on_backend!(self.store, read_retry, |pool, _pg| {
            sqlx::query_scalar(
                "select count(*) from dataset_items
                 where dataset_id = $1 and valid_from <= $2 and (valid_to is null or valid_to > $2)",
            )
            .bind(DbUuid::from(id))
            .bind(version)
            .fetch_one(pool)
            .await
            .map_err(crate::StoreError::from)
        })?;
        dataset.version = version;
        Ok(dataset)
    }

    async fn get_by(&self, column: &str, value: &str) -> Result<Dataset> {
        on_backend!(self.store, read_retry, |pool, _pg| {
            let row: DatasetRow = sqlx::query_as(&format!(
                "select {DATASET_COLUMNS} from datasets d where d.{column} = $1"
            ))
            .bind(value)
            .fetch_one(pool)
            .await?;
            Ok(row.into())
        })
    }

    pub async fn get_by_slug(&self, slug: &str) -> Result<Dataset> {
        self.get_by("slug", slug).await
    }

    pub async fn get_by_name(&self, name: &str) -> Result<Dataset> {
        self.get_by("name", name).await
    }

    /// Whether a slug is taken (to derive a free one from a name).
    pub async fn slug_exists(&self, slug: &str) -> Result<bool> {
        on_backend!(self.store, read_retry, |pool, _pg| {
            let n: i64 = sqlx::query_scalar("select count(*) from datasets where slug = $1")
                .bind(slug)
                .fetch_one(pool)
                .await?;
            Ok(n > 0)
        })
    }

    /// Newest change first, keyset-paginated on (updated_at, id); `q` is a
    /// substring of the name (case-insensitive) or the slug.
    pub async fn list(
        &self,
        q: Option<&str>,
        cursor: Option<Cursor>,
        limit: usize,
    ) -> Result<Page<Dataset>> {
        let rows: Vec<DatasetRow> = on_backend!(self.store, read_retry, |pool, pg| {
            let mut qb = QueryBuilder::new(format!(
                "select {DATASET_COLUMNS} from datasets d where 1 = 1"
            ));
            if let Some(q) = q {
                push_contains(&mut qb, pg, &["d.name", "d.slug"], q);
            }
            push_newest_first(&mut qb, cursor, "d.updated_at", "d.id", limit);
            qb.build_query_as()
                .fetch_all(pool)
                .await
                .map_err(crate::StoreError::from)
        })?;
        let datasets = rows.into_iter().map(Dataset::from).collect();
        Ok(page_from(datasets, limit, |d: &Dataset| Cursor {
            time: d.updated_at.into(),
            id: d.id.0,
        }))
    }

    /// Renames or re-describes; moves `updated_at` but not the version
    /// (versions count changes of the items).
    pub async fn update(&self, id: DatasetId, patch: DatasetPatch) -> Result<Dataset> {
        let now = DbTime::now();
        on_backend!(self.store, write_retry, |pool, _pg| {
            let done = sqlx::query(
                "update datasets set name = coalesce($2, name),
                        description = case when $3 then $4 else description end,
                        updated_at = $5
                 where id = $1",
            )
            .bind(DbUuid::from(id))
            .bind(patch.name.as_deref())
            .bind(patch.description.is_some())
            .bind(patch.description.as_ref().and_then(|d| d.as_deref()))
            .bind(now)
            .execute(pool)
            .await?;
            found(done.rows_affected())?;
            Ok(fetch_dataset!(pool, id))
        })
    }

    /// Deletes the dataset and every revision of its items (cascade, one
    /// statement). Experiments keep their own copy of the items they pinned
    /// (`experiment_items`), so deleting a dataset never changes one.
    pub async fn delete(&self, id: DatasetId) -> Result<()> {
        on_backend!(self.store, write_retry, |pool, _pg| {
            let done = sqlx::query("delete from datasets where id = $1")
                .bind(DbUuid::from(id))
                .execute(pool)
                .await?;
            found(done.rows_affected())?;
            Ok(())
        })
    }

    pub async fn count(&self) -> Result<i64> {
        on_backend!(self.store, read_retry, |pool, _pg| {
            Ok(sqlx::query_scalar("select count(*) from datasets")
                .fetch_one(pool)
                .await?)
        })
    }
}
