//! Bodies of `/api/datasets` (datasets, items, import/export) and of
//! `POST /api/test-runs/{id}/to-dataset`.

use std::collections::BTreeMap;

use promptrefine_app::datasets as app;
use promptrefine_core::datasets::ItemContent;
use promptrefine_core::{Dataset, DatasetId, DatasetItem, ItemId, ItemRevisionId};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use time::OffsetDateTime;
use utoipa::{IntoParams, ToSchema};

/// A dataset as of one version.
#[derive(Clone, Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct DatasetBody {
    id: DatasetId,
    name: String,
    slug: String,
    description: Option<String>,
    /// Items at `version`.
    item_count: i64,
    /// 0 when created; every add, edit, delete or import adds one.
    version: i64,
    #[serde(with = "time::serde::rfc3339")]
    #[schema(value_type = String, format = DateTime)]
    created_at: OffsetDateTime,
    #[serde(with = "time::serde::rfc3339")]
    #[schema(value_type = String, format = DateTime)]
    updated_at: OffsetDateTime,
}

impl From<Dataset> for DatasetBody {
    fn from(d: Dataset) -> Self {
        DatasetBody {
            id: d.id,
            name: d.name,
            slug: d.slug,
            description: d.description,
            item_count: d.item_count,
            version: d.version,
            created_at: d.created_at,
            updated_at: d.updated_at,
        }
    }
}

/// One revision of an item.
#[derive(Clone, Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ItemBody {
    /// The item, the same across its edits.
    id: ItemId,
    /// This exact revision (what an experiment keeps).
    revision_id: ItemRevisionId,
    dataset_id: DatasetId,
    variables: BTreeMap<String, String>,
    /// A string or any JSON value.
    expected: Option<Value>,
    #[schema(value_type = Object)]
    metadata: Map<String, Value>,
    /// The dataset version that wrote this revision.
    from_version: i64,
    /// The version that replaced or deleted it; null while current.
    to_version: Option<i64>,
    #[serde(with = "time::serde::rfc3339")]
    #[schema(value_type = String, format = DateTime)]
    created_at: OffsetDateTime,
}

impl From<DatasetItem> for ItemBody {
    fn from(i: DatasetItem) -> Self {
        ItemBody {
            id: i.id,
            revision_id: i.revision_id,
            dataset_id: i.dataset_id,
            variables: i.variables,
            expected: i.expected,
            metadata: i.metadata,
            from_version: i.from_version,
            to_version: i.to_version,
            created_at: i.created_at,
        }
    }
}

/// `POST /api/datasets`.
#[derive(Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct CreateDataset {
    pub name: String,
    #[serde(default)]
    pub description: Option<String>,
}

impl From<CreateDataset> for app::CreateDataset {
    fn from(b: CreateDataset) -> Self {
        app::CreateDataset {
            name: b.name,
            description: b.description,
        }
    }
}

/// `PATCH /api/datasets/{id}`: the name and/or the description (null removes it).
#[derive(Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct UpdateDataset {
    #[serde(default)]
    pub name: Option<String>,
    #[serde(default, deserialize_with = "super::present")]
    #[schema(value_type = Option<String>)]
    pub description: Option<Option<String>>,
}

impl From<UpdateDataset> for app::UpdateDataset {
    fn from(b: UpdateDataset) -> Self {
        app::UpdateDataset {
            name: b.name,
            description: b.description,
        }
    }
}

#[derive(Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct ListQuery {
    /// Substring of the name or slug.
    q: Option<String>,
    /// `nextCursor` of the previous page.
    cursor: Option<String>,
    /// 1–100, default 20.
    limit: Option<i64>,
}

impl From<ListQuery> for app::ListDatasets {
    fn from(q: ListQuery) -> Self {
        app::ListDatasets {
            q: q.q,
            cursor: q.cursor,
            limit: q.limit,
        }
    }
}

#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct DatasetPage {
    pub items: Vec<DatasetBody>,
    pub next_cursor: Option<String>,
}

#[derive(Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct VersionQuery {
    /// The dataset as it was at this version; default: the current one.
    pub version: Option<i64>,
}

#[derive(Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct ItemsQuery {
    /// The items as they were at this version; default: the current one.
    version: Option<i64>,
    /// `nextCursor` of the previous page.
    cursor: Option<String>,
    /// 1–100, default 20.
    limit: Option<i64>,
}

impl From<ItemsQuery> for app::ListItems {
    fn from(q: ItemsQuery) -> Self {
        app::ListItems {
            version: q.version,
            cursor: q.cursor,
            limit: q.limit,
        }
    }
}

/// A page of items, with the dataset at the version they are from.
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ItemPage {
    pub dataset: DatasetBody,
    pub items: Vec<ItemBody>,
    pub next_cursor: Option<String>,
}

/// One item to add (also one line of a JSON Lines import).
#[derive(Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct NewItem {
    pub variables: BTreeMap<String, String>,
    /// A string or any JSON value.
    #[serde(default)]
    pub expected: Option<Value>,
    #[serde(default)]
    #[schema(value_type = Option<Object>)]
    pub metadata: Option<Map<String, Value>>,
}

impl From<NewItem> for ItemContent {
    fn from(i: NewItem) -> Self {
        ItemContent {
            variables: i.variables,
            expected: i.expected,
            metadata: i.metadata.unwrap_or_default(),
        }
    }
}

/// `POST /api/datasets/{id}/items`: 1 to 1,000 items, all or nothing.
#[derive(Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct AddItems {
    pub items: Vec<NewItem>,
}

/// The dataset at its new version and what was added.
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ItemsAdded {
    pub dataset: DatasetBody,
    pub items: Vec<ItemBody>,
}

impl From<promptrefine_store::ItemsAdded> for ItemsAdded {
    fn from(a: promptrefine_store::ItemsAdded) -> Self {
        ItemsAdded {
            dataset: a.dataset.into(),
            items: a.items.into_iter().map(ItemBody::from).collect(),
        }
    }
}

/// `PATCH /api/datasets/{id}/items/{itemId}`: the parts to replace
/// (`expected: null` removes the answer).
#[derive(Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct EditItem {
    #[serde(default)]
    pub variables: Option<BTreeMap<String, String>>,
    /// A string or any JSON value; null removes the answer.
    #[serde(default, deserialize_with = "super::present")]
    pub expected: Option<Option<Value>>,
    #[serde(default)]
    #[schema(value_type = Option<Object>)]
    pub metadata: Option<Map<String, Value>>,
}

impl From<EditItem> for app::EditItem {
    fn from(b: EditItem) -> Self {
        app::EditItem {
            variables: b.variables,
            expected: b.expected,
            metadata: b.metadata,
        }
    }
}

/// The dataset at its new version and the item's new revision.
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ItemEdited {
    pub dataset: DatasetBody,
    pub item: ItemBody,
}

/// The dataset at the version that no longer has the item.
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ItemDeleted {
    pub id: ItemId,
    pub deleted: bool,
    pub dataset: DatasetBody,
}

/// What an import added.
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ImportResult {
    pub dataset: DatasetBody,
    pub imported: u64,
}

#[derive(Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct ExportQuery {
    /// `csv` or `jsonl`.
    pub format: String,
    /// Default: the current version.
    pub version: Option<i64>,
}

/// `POST /api/test-runs/{id}/to-dataset`.
#[derive(Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct RunToDataset {
    pub dataset_id: DatasetId,
    /// Keep the run's output as the expected answer (the run must have succeeded).
    #[serde(default)]
    pub use_output_as_expected: bool,
}
