//! A dataset's items: revisions added, replaced and closed in versioned
//! transactions (see the module above), and read at any version.

use std::collections::BTreeMap;

use promptrefine_core::datasets::ItemContent;
use promptrefine_core::{Dataset, DatasetId, DatasetItem, ItemId, ItemRevisionId};
use serde_json::{Map, Value};
use sqlx::types::Json;
use sqlx::{FromRow, QueryBuilder};
use uuid::Uuid;

use super::{DATASET_COLUMNS, DatasetRepo, DatasetRow, fetch_dataset};
use crate::codec::{DbTime, DbUuid};
use crate::error::{Result, StoreError, found};
use crate::on_backend;
use crate::page::{IdCursor, Page};

const ITEM_COLUMNS: &str = "i.id, i.dataset_id, i.item_id, i.variables, i.expected, i.metadata, i.valid_from, i.valid_to, i.created_at";

/// The revisions visible at version `$2` of dataset `$1`.
const AS_OF: &str =
    "i.dataset_id = $1 and i.valid_from <= $2 and (i.valid_to is null or i.valid_to > $2)";

/// Rows per multi-row insert: 8 binds each, 8,000 per statement, under
/// SQLite's limit of 32,766 host parameters (and PostgreSQL's 65,535).
const ROWS_PER_INSERT: usize = 1000;

#[derive(FromRow)]
struct ItemRow {
    id: DbUuid,
    dataset_id: DbUuid,
    item_id: DbUuid,
    variables: Json<BTreeMap<String, String>>,
    expected: Option<Json<Value>>,
    metadata: Json<Map<String, Value>>,
    valid_from: i64,
    valid_to: Option<i64>,
    created_at: DbTime,
}

impl From<ItemRow> for DatasetItem {
    fn from(r: ItemRow) -> Self {
        DatasetItem {
            id: r.item_id.0.into(),
            revision_id: r.id.0.into(),
            dataset_id: r.dataset_id.0.into(),
            variables: r.variables.0,
            expected: r.expected.map(|e| e.0),
            metadata: r.metadata.0,
            from_version: r.valid_from,
            to_version: r.valid_to,
            created_at: r.created_at.0,
        }
    }
}

/// The dataset after an add, and the items as stored.
#[derive(Clone, Debug)]
pub struct ItemsAdded {
    pub dataset: Dataset,
    pub items: Vec<DatasetItem>,
}

/// Opens the next version of a dataset inside the caller's transaction and
/// moves its item count by `$delta`; NotFound when the dataset is gone.
macro_rules! next_version {
    ($tx:expr, $id:expr, $delta:expr, $now:expr) => {{
        let version: Option<i64> = ::sqlx::query_scalar(
            "update datasets set version = version + 1, item_count = item_count + $2, updated_at = $3
             where id = $1
             returning version",
        )
        .bind(DbUuid::from($id))
        .bind($delta as i64)
        .bind($now)
        .fetch_optional(&mut *$tx)
        .await?;
        version.ok_or(StoreError::NotFound)?
    }};
}

/// Inserts revisions in multi-row statements inside the caller's transaction.
macro_rules! insert_items {
    ($tx:expr, $items:expr, $progress:expr) => {{
        let items: &[DatasetItem] = $items;
        let mut done = 0u64;
        for chunk in items.chunks(ROWS_PER_INSERT) {
            let mut qb = QueryBuilder::new(
                "insert into dataset_items (id, dataset_id, item_id, variables, expected, metadata, valid_from, created_at) ",
            );
            qb.push_values(chunk, |mut b, item| {
                b.push_bind(DbUuid::from(item.revision_id))
                    .push_bind(DbUuid::from(item.dataset_id))
                    .push_bind(DbUuid::from(item.id))
                    .push_bind(Json(&item.variables))
                    .push_bind(item.expected.as_ref().map(Json))
                    .push_bind(Json(&item.metadata))
                    .push_bind(item.from_version)
                    .push_bind(DbTime::from(item.created_at));
            });
            qb.build().execute(&mut *$tx).await?;
            done += chunk.len() as u64;
            ($progress)(done, items.len() as u64);
        }
    }};
}

/// Closes an item's current revision at a version inside the caller's
/// transaction; NotFound when it has none (deleted, or not of this dataset).
macro_rules! close_revision {
    ($tx:expr, $id:expr, $item_id:expr, $version:expr) => {{
        let done = ::sqlx::query(
            "update dataset_items set valid_to = $3
             where dataset_id = $1 and item_id = $2 and valid_to is null",
        )
        .bind(DbUuid::from($id))
        .bind(DbUuid::from($item_id))
        .bind($version)
        .execute(&mut *$tx)
        .await?;
        found(done.rows_affected())?;
    }};
}

/// Fresh item ids in ascending order, so the items of one call keep the
/// order they were given in (ids are the page order; UUIDv7 made in one
/// millisecond are not guaranteed to ascend).
fn ascending_ids(n: usize) -> Vec<Uuid> {
    let mut ids: Vec<Uuid> = (0..n).map(|_| Uuid::now_v7()).collect();
    ids.sort_unstable();
    ids
}

impl DatasetRepo<'_> {
    /// Adds items as one new version, all or nothing. `progress(done,
    /// total)` is told after each multi-row insert (for a progress bar).
    pub async fn add_items(
        &self,
        id: DatasetId,
        contents: Vec<ItemContent>,
        mut progress: impl FnMut(u64, u64) + Send,
    ) -> Result<ItemsAdded> {
        let now = DbTime::now();
        // Built once, outside the body that may run twice (a lost
        // connection); only the version is set inside the transaction.
        let mut items: Vec<DatasetItem> = ascending_ids(contents.len())
            .into_iter()
            .zip(contents)
            .map(|(item_id, c)| DatasetItem {
                id: item_id.into(),
                revision_id: ItemRevisionId::new(),
                dataset_id: id,
                variables: c.variables,
                expected: c.expected,
                metadata: c.metadata,
                from_version: 0,
                to_version: None,
                created_at: now.0,
            })
            .collect();
        let dataset = on_backend!(self.store, write_retry, |pool, _pg| {
            let mut tx = pool.begin().await?;
            let version = next_version!(tx, id, items.len(), now);
            for item in &mut items {
                item.from_version = version;
            }
            insert_items!(tx, &items, &mut progress);
            let dataset = fetch_dataset!(&mut *tx, id);
            tx.commit().await?;
            Ok(dataset)
        })?;
        Ok(ItemsAdded { dataset, items })
    }

    /// Replaces an item's current revision with `content` as one new
    /// version (NotFound when the item is not current).
    pub async fn replace_item(
        &self,
        id: DatasetId,
        item_id: ItemId,
        content: ItemContent,
    ) -> Result<(Dataset, DatasetItem)> {
        let now = DbTime::now();
        let mut item = DatasetItem {
            id: item_id,
            revision_id: ItemRevisionId::new(),
            dataset_id: id,
            variables: content.variables,
            expected: content.expected,
            metadata: content.metadata,
            from_version: 0,
            to_version: None,
            created_at: now.0,
        };
        let dataset = on_backend!(self.store, write_retry, |pool, _pg| {
            let mut tx = pool.begin().await?;
            let version = next_version!(tx, id, 0, now);
            close_revision!(tx, id, item_id, version);
            item.from_version = version;
            insert_items!(tx, std::slice::from_ref(&item), |_, _| ());
            let dataset = fetch_dataset!(&mut *tx, id);
            tx.commit().await?;
            Ok(dataset)
        })?;
        Ok((dataset, item))
    }

    /// Deletes an item from the next version on; older versions keep it.
    pub async fn delete_item(&self, id: DatasetId, item_id: ItemId) -> Result<Dataset> {
        let now = DbTime::now();
        on_backend!(self.store, write_retry, |pool, _pg| {
            let mut tx = pool.begin().await?;
            let version = next_version!(tx, id, -1, now);
            close_revision!(tx, id, item_id, version);
            let dataset = fetch_dataset!(&mut *tx, id);
            tx.commit().await?;
            Ok(dataset)
        })
    }

    /// One page of the items visible at `version`, in the order they were added.
    pub async fn list_items(
        &self,
        id: DatasetId,
        version: i64,
        cursor: Option<IdCursor>,
        limit: usize,
    ) -> Result<Page<DatasetItem>> {
        let after = cursor.map_or(Uuid::nil(), |c| c.0);
        let rows: Vec<ItemRow> = on_backend!(self.store, read_retry, |pool, _pg| {
            sqlx::query_as(&format!(
                "select {ITEM_COLUMNS} from dataset_items i
                 where {AS_OF} and i.item_id > $3
                 order by i.item_id limit $4"
            ))
            .bind(DbUuid::from(id))
            .bind(version)
            .bind(DbUuid(after))
            .bind(limit as i64 + 1)
            .fetch_all(pool)
            .await
            .map_err(crate::StoreError::from)
        })?;
        let mut items: Vec<DatasetItem> = rows.into_iter().map(DatasetItem::from).collect();
        let next_cursor = if items.len() > limit {
            items.truncate(limit);
            items.last().map(|i| IdCursor(i.id.0).encode())
        } else {
            None
        };
        Ok(Page { items, next_cursor })
    }

    /// The revision of an item visible at `version`.
    pub async fn get_item(
        &self,
        id: DatasetId,
        item_id: ItemId,
        version: i64,
    ) -> Result<DatasetItem> {
        on_backend!(self.store, read_retry, |pool, _pg| {
            let row: ItemRow = sqlx::query_as(&format!(
                "select {ITEM_COLUMNS} from dataset_items i where {AS_OF} and i.item_id = $3"
            ))
            .bind(DbUuid::from(id))
            .bind(version)
            .bind(DbUuid::from(item_id))
            .fetch_one(pool)
            .await?;
            Ok(row.into())
        })
    }

    /// One exact revision, current or not: what an experiment cell that
    /// kept the revision id shows, however the item changed since.
    pub async fn get_revision(&self, revision_id: ItemRevisionId) -> Result<DatasetItem> {
        on_backend!(self.store, read_retry, |pool, _pg| {
            let row: ItemRow = sqlx::query_as(&format!(
                "select {ITEM_COLUMNS} from dataset_items i where i.id = $1"
            ))
            .bind(DbUuid::from(revision_id))
            .fetch_one(pool)
            .await?;
            Ok(row.into())
        })
    }
}
