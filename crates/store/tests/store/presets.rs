//! `model_presets` on both databases: every column round-trips, names are
//! unique, an update from a stale read changes nothing, delete.

use promptrefine_core::{ModelSettings, PresetId};
use promptrefine_store::{Constraint, PresetWrite, StoreError};
use promptrefine_testkit::{TestDb, both_backends};

use crate::open;

both_backends!(
    a_preset_round_trips_every_column,
    preset_names_are_unique,
    a_preset_update_from_a_stale_read_changes_nothing,
    a_deleted_preset_is_gone,
);

fn write(name: &str) -> PresetWrite {
    PresetWrite {
        name: name.into(),
        provider: Some("local".into()),
        model: "m-1".into(),
        params: ModelSettings {
            temperature: Some(0.25),
            max_tokens: Some(64),
            stop: Some(vec!["END".into()]),
            extra: Some(serde_json::from_str(r#"{"top_k": 5, "a": [1]}"#).unwrap()),
            ..ModelSettings::default()
        },
    }
}

async fn a_preset_round_trips_every_column(db: TestDb) {
    let store = open(&db).await;
    let id = PresetId::new();
    let created = store.presets().create(id, &write("cold")).await.unwrap();
    assert_eq!(created.id, id);
    assert_eq!(created.provider.as_deref(), Some("local"));
    assert_eq!(created.model, "m-1");
    assert_eq!(created.params, write("cold").params);
    assert_eq!(created.created_at, created.updated_at);
    assert_eq!(store.presets().get(id).await.unwrap(), created);
    assert_eq!(store.presets().get_by_name("cold").await.unwrap(), created);
    let mut default = write("a-default");
    default.provider = None;
    let other = store
        .presets()
        .create(PresetId::new(), &default)
        .await
        .unwrap();
    assert_eq!(other.provider, None);
    assert_eq!(store.presets().list().await.unwrap(), [other, created]);
}

async fn preset_names_are_unique(db: TestDb) {
    let store = open(&db).await;
    store
        .presets()
        .create(PresetId::new(), &write("same"))
        .await
        .unwrap();
    let err = store
        .presets()
        .create(PresetId::new(), &write("same"))
        .await
        .unwrap_err();
    assert!(
        matches!(err, StoreError::Conflict(Constraint::PresetName)),
        "{err:?}"
    );
}

async fn a_preset_update_from_a_stale_read_changes_nothing(db: TestDb) {
    let store = open(&db).await;
    let id = PresetId::new();
    let first = store.presets().create(id, &write("a")).await.unwrap();
    let mut w = write("b");
    w.provider = None;
    w.params = ModelSettings::default();
    let updated = store
        .presets()
        .update(id, first.updated_at, &w)
        .await
        .unwrap();
    assert_eq!((updated.name.as_str(), &updated.provider), ("b", &None));
    assert_eq!(updated.params, ModelSettings::default());
    assert_eq!(updated.created_at, first.created_at);
    let stale = store
        .presets()
        .update(
            id,
            first.updated_at - time::Duration::seconds(1),
            &write("c"),
        )
        .await;
    assert!(matches!(stale, Err(StoreError::NotFound)), "{stale:?}");
    assert_eq!(store.presets().get(id).await.unwrap().name, "b");
}

async fn a_deleted_preset_is_gone(db: TestDb) {
    let store = open(&db).await;
    let id = PresetId::new();
    store.presets().create(id, &write("gone")).await.unwrap();
    store.presets().delete(id).await.unwrap();
    assert!(matches!(
        store.presets().get(id).await,
        Err(StoreError::NotFound)
    ));
    assert!(matches!(
        store.presets().delete(id).await,
        Err(StoreError::NotFound)
    ));
}
