//! Datasets: create, list, read (at any version), rename, delete. Their
//! items are in [`items`], CSV and JSON Lines in [`files`].
//!
//! Inputs are plain structs of what a user sent; names and descriptions are
//! parsed into the core's validated types and every broken rule is reported
//! at once. The wire format belongs to `web`.

pub mod files;
pub mod items;

use promptrefine_core::validate::{
    AllValid, DatasetName, Rule, dataset_description, dataset_filter,
};
use promptrefine_core::{Dataset, DatasetId, ItemId, Slug, slug};
use promptrefine_store::{Constraint, Cursor, DatasetPatch, NewDataset, Page, StoreError};

use crate::error::{AppError, OrNotFound, Result};
use crate::prompts::bad_cursor;
use crate::{App, page_limit};

pub use files::{ExportFormat, ImportFormat, Imported, parse_items};
pub use items::{EditItem, ListItems, RunToDataset};

/// A new dataset; its slug is derived from the name.
#[derive(Clone, Debug)]
pub struct CreateDataset {
    pub name: String,
    pub description: Option<String>,
}

/// A change of name and/or description: `None` keeps a value, and
/// `description: Some(None)` removes it. The slug stays (URLs keep working).
#[derive(Clone, Debug, Default)]
pub struct UpdateDataset {
    pub name: Option<String>,
    pub description: Option<Option<String>>,
}

#[derive(Clone, Debug, Default)]
pub struct ListDatasets {
    pub q: Option<String>,
    pub cursor: Option<String>,
    pub limit: Option<i64>,
}

/// How often a create retries after another create took its derived slug.
const SLUG_ATTEMPTS: usize = 5;

impl App {
    pub async fn create_dataset(&self, input: CreateDataset) -> Result<Dataset> {
        let (name, description) = (
            DatasetName::parse("name", &input.name),
            dataset_description("description", input.description.as_deref()),
        )
            .all()
            .map_err(AppError::Invalid)?;
        let name = name.into_string();
        let base = dataset_slug(&name);
        for attempt in 0..SLUG_ATTEMPTS {
            let new = NewDataset {
                name: name.clone(),
                slug: self.free_dataset_slug(&base).await?,
                description: description.clone(),
            };
            match self.store.datasets().create(new).await {
                Ok(d) => return Ok(d),
                Err(StoreError::Conflict(Constraint::DatasetSlug))
                    if attempt + 1 < SLUG_ATTEMPTS => {}
                Err(StoreError::Conflict(Constraint::DatasetName)) => {
                    return Err(name_taken(&name));
                }
                Err(e) => return Err(e.into()),
            }
        }
        Err(AppError::Conflict {
            field: "name",
            message: "could not find a free slug for this name; try another name".into(),
        })
    }

    /// `base`, or `base-2`, `base-3` … whichever no dataset has.
    async fn free_dataset_slug(&self, base: &str) -> Result<String> {
        for candidate in slug::candidates(base) {
            if !self.store.datasets().slug_exists(&candidate).await? {
                return Ok(candidate);
            }
        }
        Ok(slug::with_random_suffix(base))
    }

    pub async fn list_datasets(&self, q: ListDatasets) -> Result<Page<Dataset>> {
        let limit = page_limit(q.limit)?;
        let cursor = match q.cursor.as_deref().filter(|c| !c.is_empty()) {
            None => None,
            Some(c) => Some(Cursor::decode(c).ok_or_else(bad_cursor)?),
        };
        let search = q.q.map(|s| s.trim().to_string()).filter(|s| !s.is_empty());
        dataset_filter(search.as_deref()).map_err(|e| AppError::Invalid(e.into()))?;
        Ok(self
            .store
            .datasets()
            .list(search.as_deref(), cursor, limit)
            .await?)
    }

    /// A dataset id from a path segment holding an id or a slug.
    pub async fn dataset_ref(&self, text: &str) -> Result<DatasetId> {
        if let Ok(id) = text.parse::<DatasetId>() {
            return Ok(id);
        }
        // Text that cannot be a slug (a NUL byte, say) is unknown without a
        // query: PostgreSQL refuses NUL in text, and that must not be a 5xx.
        let slug = Slug::lookup(text).ok_or(AppError::NotFound("dataset"))?;
        Ok(self
            .store
            .datasets()
            .get_by_slug(slug.as_str())
            .await
            .or_not_found("dataset")?
            .id)
    }

    /// The dataset at `version` (default: the current one).
    pub async fn get_dataset(&self, id: DatasetId, version: Option<i64>) -> Result<Dataset> {
        let version = check_version(version)?;
        let repo = self.store.datasets();
        match version {
            None => repo.get(id).await.or_not_found("dataset"),
            Some(v) => {
                let current = repo.get(id).await.or_not_found("dataset")?;
                if v > current.version {
                    return Err(AppError::NotFound("dataset version"));
                }
                repo.get_at(id, v).await.or_not_found("dataset version")
            }
        }
    }

    /// The dataset with this exact name (the CLI names datasets this way).
    pub async fn dataset_by_name(&self, name: &str) -> Result<Option<Dataset>> {
        if name.contains('\0') {
            return Ok(None);
        }
        match self.store.datasets().get_by_name(name.trim()).await {
            Ok(d) => Ok(Some(d)),
            Err(StoreError::NotFound) => Ok(None),
            Err(e) => Err(e.into()),
        }
    }

    pub async fn update_dataset(&self, id: DatasetId, input: UpdateDataset) -> Result<Dataset> {
        let (name, description) = (
            input
                .name
                .as_deref()
                .map(|n| DatasetName::parse("name", n))
                .transpose(),
            input
                .description
                .map(|d| dataset_description("description", d.as_deref()))
                .transpose(),
        )
            .all()
            .map_err(AppError::Invalid)?;
        let name = name.map(DatasetName::into_string);
        let patch = DatasetPatch {
            name: name.clone(),
            description,
        };
        match self.store.datasets().update(id, patch).await {
            Err(StoreError::Conflict(Constraint::DatasetName)) => {
                Err(name_taken(name.as_deref().unwrap_or("")))
            }
            other => other.or_not_found("dataset"),
        }
    }

    /// Deletes the dataset and all its items. Experiments that ran on it keep
    /// the items they pinned, so they still show their results.
    pub async fn delete_dataset(&self, id: DatasetId) -> Result<()> {
        self.store
            .datasets()
            .delete(id)
            .await
            .or_not_found("dataset")
    }
}

/// The slug suggested for a dataset name (`slugify` falls back to "prompt"
/// for a name with no letters or digits; a dataset's fallback is "dataset").
fn dataset_slug(name: &str) -> String {
    let s = slug::slugify(name);
    if s == "prompt" && !name.to_ascii_lowercase().contains("prompt") {
        "dataset".to_string()
    } else {
        s
    }
}

fn name_taken(name: &str) -> AppError {
    AppError::Conflict {
        field: "name",
        message: format!("a dataset named {name:?} already exists"),
    }
}

/// A `version` query value: absent, or a number from 0.
pub(crate) fn check_version(version: Option<i64>) -> Result<Option<i64>> {
    match version {
        Some(v) if v < 0 => Err(AppError::invalid(
            "version",
            Rule::Range.as_str(),
            "version must be 0 or more",
        )),
        other => Ok(other),
    }
}

/// An item id from a path segment; one that cannot exist is not found.
pub fn parse_item_id(text: &str) -> Result<ItemId> {
    text.parse().map_err(|_| AppError::NotFound("item"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dataset_slugs_come_from_the_name_with_their_own_fallback() {
        assert_eq!(dataset_slug("Golden Set (v2)"), "golden-set-v2");
        assert_eq!(dataset_slug("日本"), "dataset");
        assert_eq!(dataset_slug("Prompt ideas"), "prompt-ideas");
    }
}
