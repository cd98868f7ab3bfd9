//! Datasets in the store: versions per call, revisions read by id after
//! edits, the immutability trigger, and large multi-row adds.

use std::collections::BTreeMap;

use promptrefine_core::datasets::ItemContent;
use promptrefine_store::{Backend, Constraint, NewDataset, Store, StoreError};
use promptrefine_testkit::{TestDb, both_backends};
use serde_json::json;

use crate::open;

both_backends!(
    an_edited_item_keeps_its_old_revision_readable_by_id,
    a_revision_cannot_be_changed_even_with_sql,
    thousands_of_items_are_one_version_in_item_order,
    concurrent_changes_get_gapless_versions,
    dataset_names_are_unique,
);

fn content(q: &str) -> ItemContent {
    ItemContent {
        variables: BTreeMap::from([("q".to_string(), q.to_string())]),
        expected: Some(json!({ "q": q })),
        metadata: json!({ "m": 1 }).as_object().cloned().unwrap(),
    }
}

async fn new_dataset(store: &Store, name: &str) -> promptrefine_core::Dataset {
    store
        .datasets()
        .create(NewDataset {
            name: name.into(),
            slug: name.to_lowercase(),
            description: None,
        })
        .await
        .unwrap()
}

async fn an_edited_item_keeps_its_old_revision_readable_by_id(db: TestDb) {
    let store = open(&db).await;
    let d = new_dataset(&store, "Pinned").await;
    let repo = store.datasets();
    let added = repo
        .add_items(d.id, vec![content("old")], |_, _| ())
        .await
        .unwrap();
    let old = added.items[0].clone();
    let (after, new) = repo
        .replace_item(d.id, old.id, content("new"))
        .await
        .unwrap();
    assert_eq!((after.version, after.item_count), (2, 1));
    assert_eq!(new.id, old.id);

    let read_old = repo.get_revision(old.revision_id).await.unwrap();
    assert_eq!(read_old.variables["q"], "old");
    assert_eq!(read_old.expected, Some(json!({ "q": "old" })));
    assert_eq!((read_old.from_version, read_old.to_version), (1, Some(2)));
    assert_eq!(
        repo.get_revision(new.revision_id).await.unwrap().to_version,
        None
    );
    assert_eq!(
        repo.get_item(d.id, old.id, 1).await.unwrap().revision_id,
        old.revision_id
    );
    assert_eq!(
        repo.get_item(d.id, old.id, 2).await.unwrap().revision_id,
        new.revision_id
    );
    let page = repo.list_items(d.id, 1, None, 10).await.unwrap();
    assert_eq!(page.items, vec![read_old]);
    assert_eq!(repo.get_at(d.id, 1).await.unwrap().item_count, 1);
    assert!(matches!(
        repo.get_at(d.id, 3).await,
        Err(StoreError::NotFound)
    ));

    let other = new_dataset(&store, "Other").await;
    let wrong = repo.delete_item(other.id, old.id).await;
    assert!(matches!(wrong, Err(StoreError::NotFound)), "{wrong:?}");
    assert_eq!(
        repo.get(other.id).await.unwrap().version,
        0,
        "a failed delete rolls its version back"
    );
}

async fn a_revision_cannot_be_changed_even_with_sql(db: TestDb) {
    let store = open(&db).await;
    let d = new_dataset(&store, "Frozen").await;
    let added = store
        .datasets()
        .add_items(d.id, vec![content("x")], |_, _| ())
        .await
        .unwrap();
    let revision = added.items[0].revision_id;
    let change = "update dataset_items set valid_from = 5 where id = $1";
    let err = match store.backend() {
        Backend::Sqlite { writer, .. } => sqlx::query(change)
            .bind(revision.to_string())
            .execute(writer)
            .await
            .unwrap_err(),
        Backend::Postgres(pool) => sqlx::query(change)
            .bind(revision.0)
            .execute(pool)
            .await
            .unwrap_err(),
    };
    let message = err
        .as_database_error()
        .map(|e| e.message().to_owned())
        .unwrap_or_default();
    assert!(message.contains("immutable"), "{err:?}");
    let item = store.datasets().get_revision(revision).await.unwrap();
    assert_eq!(item.from_version, 1);
}

async fn thousands_of_items_are_one_version_in_item_order(db: TestDb) {
    let store = open(&db).await;
    let d = new_dataset(&store, "Bulk").await;
    let contents: Vec<ItemContent> = (0..5_000).map(|i| content(&format!("{i:05}"))).collect();
    let mut reports = Vec::new();
    let added = store
        .datasets()
        .add_items(d.id, contents, |done, total| reports.push((done, total)))
        .await
        .unwrap();
    assert_eq!(
        (added.dataset.version, added.dataset.item_count),
        (1, 5_000)
    );
    assert_eq!(reports.last(), Some(&(5_000, 5_000)));
    assert!(reports.len() > 1, "several multi-row inserts: {reports:?}");
    let mut seen = Vec::new();
    let mut cursor = None;
    loop {
        let page = store
            .datasets()
            .list_items(d.id, 1, cursor, 1000)
            .await
            .unwrap();
        seen.extend(page.items.iter().map(|i| i.variables["q"].clone()));
        match page.next_cursor {
            Some(c) => cursor = promptrefine_store::IdCursor::decode(&c),
            None => break,
        }
    }
    let want: Vec<String> = (0..5_000).map(|i| format!("{i:05}")).collect();
    assert_eq!(seen, want, "the order they were given in");
}

async fn concurrent_changes_get_gapless_versions(db: TestDb) {
    let store = open(&db).await;
    let d = new_dataset(&store, "Busy").await;
    let tasks: Vec<_> = (0..8)
        .map(|i| {
            let store = store.clone();
            tokio::spawn(async move {
                let mut versions = Vec::new();
                for j in 0..5 {
                    let added = store
                        .datasets()
                        .add_items(d.id, vec![content(&format!("{i}-{j}"))], |_, _| ())
                        .await
                        .unwrap();
                    versions.push(added.dataset.version);
                }
                versions
            })
        })
        .collect();
    let mut all: Vec<i64> = Vec::new();
    for t in tasks {
        all.extend(t.await.unwrap());
    }
    all.sort_unstable();
    assert_eq!(all, (1..=40).collect::<Vec<i64>>());
    let d = store.datasets().get(d.id).await.unwrap();
    assert_eq!((d.version, d.item_count), (40, 40));
}

async fn dataset_names_are_unique(db: TestDb) {
    let store = open(&db).await;
    new_dataset(&store, "Twice").await;
    let again = store
        .datasets()
        .create(NewDataset {
            name: "Twice".into(),
            slug: "twice-2".into(),
            description: None,
        })
        .await;
    assert!(
        matches!(again, Err(StoreError::Conflict(Constraint::DatasetName))),
        "{again:?}"
    );
    let slug = store
        .datasets()
        .create(NewDataset {
            name: "Thrice".into(),
            slug: "twice".into(),
            description: None,
        })
        .await;
    assert!(
        matches!(slug, Err(StoreError::Conflict(Constraint::DatasetSlug))),
        "{slug:?}"
    );
}
