//! A dataset's items: add (1 to 1,000 per call, all or nothing), edit,
//! delete — each call one new version — and read at any version; and a
//! run kept as a new item.

use std::collections::BTreeMap;

use promptrefine_core::datasets::ItemContent;
use promptrefine_core::validate::limits::ITEMS_PER_CALL_MAX;
use promptrefine_core::validate::{Rule, Violations, item_content};
use promptrefine_core::{Dataset, DatasetId, DatasetItem, ItemId, RunId, RunStatus};
use promptrefine_store::{IdCursor, ItemsAdded, Page, StoreError};
use serde_json::{Map, Value, json};

use super::check_version;
use crate::error::{AppError, OrNotFound, Result, check};
use crate::prompts::bad_cursor;
use crate::{App, page_limit};

/// An edit: `None` keeps a part; `expected: Some(None)` removes the answer.
#[derive(Clone, Debug, Default)]
pub struct EditItem {
    pub variables: Option<BTreeMap<String, String>>,
    pub expected: Option<Option<Value>>,
    pub metadata: Option<Map<String, Value>>,
}

#[derive(Clone, Debug, Default)]
pub struct ListItems {
    /// Default: the current version.
    pub version: Option<i64>,
    pub cursor: Option<String>,
    pub limit: Option<i64>,
}

/// `POST /api/test-runs/{id}/to-dataset`.
#[derive(Clone, Debug)]
pub struct RunToDataset {
    pub dataset_id: DatasetId,
    pub use_output_as_expected: bool,
}

impl App {
    /// Adds 1 to 1,000 items as one new version; one broken item refuses all.
    pub async fn add_items(&self, id: DatasetId, items: Vec<ItemContent>) -> Result<ItemsAdded> {
        let mut v = Violations::new();
        if items.is_empty() || items.len() > ITEMS_PER_CALL_MAX {
            v.push(
                "items",
                Rule::Count,
                format!("items must hold 1 to {ITEMS_PER_CALL_MAX} items; import a file for more"),
            );
        }
        for (i, item) in items.iter().enumerate() {
            item_content(&mut v, &format!("items[{i}]"), item);
        }
        check(v)?;
        self.store
            .datasets()
            .add_items(id, items, |_, _| ())
            .await
            .or_not_found("dataset")
    }

    /// One page of the items at `version` (default: current), in the order
    /// they were added, with the dataset as of that version.
    pub async fn list_items(
        &self,
        id: DatasetId,
        q: ListItems,
    ) -> Result<(Dataset, Page<DatasetItem>)> {
        let limit = page_limit(q.limit)?;
        let cursor = match q.cursor.as_deref().filter(|c| !c.is_empty()) {
            None => None,
            Some(c) => Some(IdCursor::decode(c).ok_or_else(bad_cursor)?),
        };
        let dataset = self.get_dataset(id, check_version(q.version)?).await?;
        let page = self
            .store
            .datasets()
            .list_items(id, dataset.version, cursor, limit)
            .await?;
        Ok((dataset, page))
    }

    /// An item as it is at `version` (default: current).
    pub async fn get_item(
        &self,
        id: DatasetId,
        item_id: ItemId,
        version: Option<i64>,
    ) -> Result<DatasetItem> {
        let dataset = self.get_dataset(id, check_version(version)?).await?;
        self.store
            .datasets()
            .get_item(id, item_id, dataset.version)
            .await
            .or_not_found("item")
    }

    /// Replaces the parts of an item that `edit` names, as one new version.
    pub async fn edit_item(
        &self,
        id: DatasetId,
        item_id: ItemId,
        edit: EditItem,
    ) -> Result<(Dataset, DatasetItem)> {
        let current = self.get_item(id, item_id, None).await?;
        let content = ItemContent {
            variables: edit.variables.unwrap_or(current.variables),
            expected: edit.expected.unwrap_or(current.expected),
            metadata: edit.metadata.unwrap_or(current.metadata),
        };
        let mut v = Violations::new();
        item_content(&mut v, "", &content);
        check(v)?;
        self.store
            .datasets()
            .replace_item(id, item_id, content)
            .await
            .or_not_found("item")
    }

    /// Removes an item from the next version on (older versions keep it).
    pub async fn delete_item(&self, id: DatasetId, item_id: ItemId) -> Result<Dataset> {
        // Tell a missing dataset from a missing item.
        self.get_dataset(id, None).await?;
        self.store
            .datasets()
            .delete_item(id, item_id)
            .await
            .or_not_found("item")
    }

    /// Keeps a run's variables (and, if asked, its output as the expected
    /// answer) as a new item; the metadata says where it came from.
    pub async fn run_to_dataset(&self, run_id: RunId, input: RunToDataset) -> Result<ItemsAdded> {
        let run = self.get_run(run_id).await?;
        let expected = match (input.use_output_as_expected, run.status) {
            (false, _) => None,
            (true, RunStatus::Succeeded) => Some(Value::String(run.output.clone())),
            (true, status) => {
                return Err(AppError::invalid(
                    "useOutputAsExpected",
                    Rule::OneOf.as_str(),
                    format!(
                        "the run is {}, not succeeded: it has no output to keep",
                        status.as_str()
                    ),
                ));
            }
        };
        let metadata = json!({
            "sourceRunId": run.id.to_string(),
            "promptId": run.prompt_id.to_string(),
            "versionId": run.version_id.to_string(),
            "model": run.model,
        });
        let item = ItemContent {
            variables: run.variables,
            expected,
            metadata: metadata.as_object().cloned().unwrap_or_default(),
        };
        let mut v = Violations::new();
        item_content(&mut v, "", &item);
        check(v)?;
        match self
            .store
            .datasets()
            .add_items(input.dataset_id, vec![item], |_, _| ())
            .await
        {
            Err(StoreError::NotFound) => Err(AppError::NotFound("dataset")),
            other => Ok(other?),
        }
    }
}
