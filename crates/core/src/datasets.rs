//! Datasets: named lists of test cases (items) with a version number that
//! every change of the items moves forward.
//!
//! These are read models, not wire types: the web layer maps them to its own
//! JSON bodies (`web::api::dto::datasets`), so no serde renames live here.

use std::collections::BTreeMap;

use serde_json::{Map, Value};
use time::OffsetDateTime;

use crate::ids::{DatasetId, ItemId, ItemRevisionId};

/// A dataset as of one version (the current one unless asked otherwise).
#[derive(Clone, Debug, PartialEq)]
pub struct Dataset {
    pub id: DatasetId,
    pub name: String,
    pub slug: String,
    pub description: Option<String>,
    /// Items at `version`.
    pub item_count: i64,
    /// 0 for a new, empty dataset; each add, edit or delete call adds one.
    pub version: i64,
    pub created_at: OffsetDateTime,
    pub updated_at: OffsetDateTime,
}

/// One revision of one item. Revisions are immutable: an edit closes the
/// revision (`to_version`) and writes a new one under the same item id.
#[derive(Clone, Debug, PartialEq)]
pub struct DatasetItem {
    /// The logical item, stable across edits.
    pub id: ItemId,
    /// This exact revision.
    pub revision_id: ItemRevisionId,
    pub dataset_id: DatasetId,
    /// Template variable values.
    pub variables: BTreeMap<String, String>,
    /// What a good answer looks like: a string or any JSON value.
    pub expected: Option<Value>,
    pub metadata: Map<String, Value>,
    /// The dataset version that wrote this revision.
    pub from_version: i64,
    /// The version that replaced or deleted it; `None` while it is current.
    pub to_version: Option<i64>,
    pub created_at: OffsetDateTime,
}

impl DatasetItem {
    /// Whether this revision is part of the dataset as of `version`.
    pub fn visible_at(&self, version: i64) -> bool {
        self.from_version <= version && self.to_version.is_none_or(|to| to > version)
    }
}

/// What a new item holds (an add, an import row or an edit's result).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct ItemContent {
    pub variables: BTreeMap<String, String>,
    pub expected: Option<Value>,
    pub metadata: Map<String, Value>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_revision_is_visible_from_its_version_until_the_one_that_replaced_it() {
        let item = DatasetItem {
            id: ItemId::new(),
            revision_id: ItemRevisionId::new(),
            dataset_id: DatasetId::new(),
            variables: BTreeMap::new(),
            expected: None,
            metadata: Map::new(),
            from_version: 2,
            to_version: Some(4),
            created_at: OffsetDateTime::UNIX_EPOCH,
        };
        let seen: Vec<i64> = (0..6).filter(|v| item.visible_at(*v)).collect();
        assert_eq!(seen, [2, 3]);
        let current = DatasetItem {
            to_version: None,
            ..item
        };
        assert!(current.visible_at(100) && !current.visible_at(1));
    }
}
