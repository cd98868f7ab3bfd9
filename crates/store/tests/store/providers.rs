use std::collections::BTreeMap;

use promptrefine_core::ProviderId;
use promptrefine_store::{Constraint, ModelPrice, ProviderWrite, SealedBytes, StoreError};
use promptrefine_testkit::{TestDb, both_backends};

use crate::open;

both_backends!(
    a_provider_round_trips_every_column,
    provider_names_are_unique,
    an_update_from_a_stale_read_changes_nothing,
    a_deleted_provider_is_gone,
);

fn write(name: &str) -> ProviderWrite {
    ProviderWrite {
        name: name.into(),
        base_url: "http://127.0.0.1:9/v1".into(),
        api_key: Some(SealedBytes {
            nonce: vec![1; 12],
            ciphertext: vec![0, 255, 7, 42],
        }),
        headers: None,
        models: vec!["m-1".into(), "m-2".into()],
        prices: BTreeMap::from([(
            "m-1".to_string(),
            ModelPrice {
                input: 0.15,
                output: 0.6,
            },
        )]),
    }
}

async fn a_provider_round_trips_every_column(db: TestDb) {
    let store = open(&db).await;
    let id = ProviderId::new();
    let created = store.providers().create(id, &write("local")).await.unwrap();
    assert_eq!(created.id, id);
    assert_eq!(created.api_key, write("local").api_key);
    assert_eq!(created.headers, None);
    assert_eq!(created.models, ["m-1", "m-2"]);
    assert_eq!(created.prices["m-1"].output, 0.6);
    assert_eq!(store.providers().get(id).await.unwrap(), created);
    assert_eq!(
        store.providers().get_by_name("local").await.unwrap(),
        created
    );
    assert_eq!(store.providers().list().await.unwrap(), [created]);
}

async fn provider_names_are_unique(db: TestDb) {
    let store = open(&db).await;
    store
        .providers()
        .create(ProviderId::new(), &write("same"))
        .await
        .unwrap();
    let err = store
        .providers()
        .create(ProviderId::new(), &write("same"))
        .await
        .unwrap_err();
    assert!(
        matches!(err, StoreError::Conflict(Constraint::ProviderName)),
        "{err:?}"
    );
}

async fn an_update_from_a_stale_read_changes_nothing(db: TestDb) {
    let store = open(&db).await;
    let id = ProviderId::new();
    let first = store.providers().create(id, &write("a")).await.unwrap();
    let mut w = write("b");
    w.api_key = None;
    w.headers = Some(SealedBytes {
        nonce: vec![2; 12],
        ciphertext: vec![9; 20],
    });
    let updated = store
        .providers()
        .update(id, first.updated_at, &w)
        .await
        .unwrap();
    assert_eq!((updated.name.as_str(), &updated.api_key), ("b", &None));
    assert_eq!(updated.headers, w.headers);
    assert!(updated.updated_at >= first.updated_at);
    // A second writer that read `first` lost the race.
    let stale = store
        .providers()
        .update(
            id,
            first.updated_at - time::Duration::seconds(1),
            &write("c"),
        )
        .await;
    assert!(matches!(stale, Err(StoreError::NotFound)), "{stale:?}");
    assert_eq!(store.providers().get(id).await.unwrap().name, "b");
}

async fn a_deleted_provider_is_gone(db: TestDb) {
    let store = open(&db).await;
    let id = ProviderId::new();
    store.providers().create(id, &write("gone")).await.unwrap();
    store.providers().delete(id).await.unwrap();
    assert!(matches!(
        store.providers().get(id).await,
        Err(StoreError::NotFound)
    ));
    assert!(matches!(
        store.providers().delete(id).await,
        Err(StoreError::NotFound)
    ));
}
