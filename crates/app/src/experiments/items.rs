//! The dataset items an experiment pins: every item visible at the chosen
//! version (default: the dataset's current one), copied into the experiment
//! so that later edits of the dataset never change what it shows.

use promptrefine_core::DatasetId;
use promptrefine_store::NewExperimentItem;

use crate::App;
use crate::error::{AppError, OrNotFound, Result};

/// Items read per query while pinning.
const PAGE: usize = 1_000;

impl App {
    pub(super) async fn pinned_items(
        &self,
        dataset: DatasetId,
        version: Option<i64>,
    ) -> Result<(i64, Vec<NewExperimentItem>)> {
        let current = self
            .store
            .datasets()
            .get(dataset)
            .await
            .or_not_found("dataset")?;
        let version = version.unwrap_or(current.version);
        if version > current.version {
            return Err(AppError::invalid(
                "datasetVersion",
                "range",
                format!("the dataset is at version {}", current.version),
            ));
        }
        let mut items = Vec::with_capacity(usize::try_from(current.item_count).unwrap_or(0));
        let mut cursor = None;
        loop {
            let page = self
                .store
                .datasets()
                .list_items(dataset, version, cursor, PAGE)
                .await?;
            items.extend(page.items.into_iter().map(|i| NewExperimentItem {
                item_id: i.id.0,
                variables: i.variables,
                expected: i.expected,
                metadata: Some(serde_json::Value::Object(i.metadata)),
            }));
            match page
                .next_cursor
                .as_deref()
                .and_then(promptrefine_store::IdCursor::decode)
            {
                Some(c) => cursor = Some(c),
                None => return Ok((version, items)),
            }
        }
    }
}
