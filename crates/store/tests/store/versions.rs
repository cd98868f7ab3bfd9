use std::collections::HashSet;

use promptrefine_store::{NumberCursor, StoreError};
use promptrefine_testkit::{TestDb, both_backends};

use crate::{new_prompt, open, prompt_with, text_version};

both_backends!(
    versions_are_numbered_from_one_and_listed_newest_first,
    eight_clients_saving_fifty_versions_each_get_gapless_numbers,
    restore_makes_an_old_version_current_without_writing_one,
    labels_point_at_versions_of_the_same_prompt_only,
    saves_racing_restores_and_label_moves_keep_current_valid,
    a_delete_racing_saves_leaves_no_orphans,
);

async fn versions_are_numbered_from_one_and_listed_newest_first(db: TestDb) {
    let store = open(&db).await;
    let (p, _) = store
        .prompts()
        .create(new_prompt("V", "v", &[]))
        .await
        .unwrap();
    for i in 1..=7 {
        let v = store
            .versions()
            .save(p.id, text_version(&format!("body {i}")))
            .await
            .unwrap();
        assert_eq!(v.version, i);
    }
    let first = store.versions().list(p.id, None, 3).await.unwrap();
    assert_eq!(
        first.items.iter().map(|v| v.version).collect::<Vec<_>>(),
        [7, 6, 5]
    );
    let next = NumberCursor::decode(first.next_cursor.as_deref().unwrap());
    let rest = store.versions().list(p.id, next, 10).await.unwrap();
    assert_eq!(
        rest.items.iter().map(|v| v.version).collect::<Vec<_>>(),
        [4, 3, 2, 1]
    );
    assert!(rest.next_cursor.is_none());
    assert_eq!(
        store
            .versions()
            .get_by_number(p.id, 3)
            .await
            .unwrap()
            .content,
        text_version("body 3").content
    );
    assert!(matches!(
        store.versions().get_by_number(p.id, 99).await,
        Err(StoreError::NotFound)
    ));

    // A version of the other type, or for no prompt, is refused and
    // changes nothing: not the counter, not the current version.
    let chat = promptrefine_store::NewVersion {
        content: promptrefine_core::Content::Chat(vec![]),
        ..text_version("x")
    };
    assert!(matches!(
        store.versions().save(p.id, chat).await,
        Err(StoreError::NotFound)
    ));
    assert!(matches!(
        store
            .versions()
            .save(promptrefine_core::PromptId::new(), text_version("y"))
            .await,
        Err(StoreError::NotFound)
    ));
    let current = store.versions().get_current(p.id).await.unwrap();
    assert_eq!(current.version, 7);
    let next = store
        .versions()
        .save(p.id, text_version("8"))
        .await
        .unwrap();
    assert_eq!(next.version, 8, "no number was used up");
    assert_eq!(store.versions().get(next.id).await.unwrap(), next);
}

async fn eight_clients_saving_fifty_versions_each_get_gapless_numbers(db: TestDb) {
    let store = open(&db).await;
    let (p, _) = store
        .prompts()
        .create(new_prompt("Race", "race", &[]))
        .await
        .unwrap();
    let mut tasks = Vec::new();
    for c in 0..8 {
        let store = store.clone();
        tasks.push(tokio::spawn(async move {
            let mut numbers = Vec::new();
            for i in 0..50 {
                let v = store
                    .versions()
                    .save(p.id, text_version(&format!("c{c} i{i}")))
                    .await
                    .unwrap();
                numbers.push(v.version);
            }
            numbers
        }));
    }
    let mut all = Vec::new();
    for t in tasks {
        all.extend(t.await.unwrap());
    }
    all.sort();
    assert_eq!(all, (1..=400).collect::<Vec<i64>>());
    let current = store.versions().get_current(p.id).await.unwrap();
    assert_eq!(current.version, 400);
}

async fn restore_makes_an_old_version_current_without_writing_one(db: TestDb) {
    let store = open(&db).await;
    let (p, [v1]) = prompt_with(&store, "R", "r", ["one"]).await;
    store
        .versions()
        .save(p.id, text_version("two"))
        .await
        .unwrap();
    let before = store.prompts().get(p.id).await.unwrap();
    store.versions().restore(p.id, v1.id).await.unwrap();
    let after = store.prompts().get(p.id).await.unwrap();
    assert_eq!(after.current_version_id, Some(v1.id));
    assert!(after.updated_at > before.updated_at);
    assert_eq!(
        store
            .versions()
            .list(p.id, None, 10)
            .await
            .unwrap()
            .items
            .len(),
        2
    );

    let (other, _) = store
        .prompts()
        .create(new_prompt("O", "o", &[]))
        .await
        .unwrap();
    let err = store.versions().restore(other.id, v1.id).await.unwrap_err();
    assert!(
        matches!(err, StoreError::NotFound),
        "a version of another prompt"
    );
}

async fn labels_point_at_versions_of_the_same_prompt_only(db: TestDb) {
    let store = open(&db).await;
    let (p, [v1, v2]) = prompt_with(&store, "L", "l", ["one", "two"]).await;
    store.labels().set(p.id, "production", v1.id).await.unwrap();
    store.labels().set(p.id, "staging", v2.id).await.unwrap();
    assert_eq!(
        store.labels().resolve(p.id, "production").await.unwrap().id,
        v1.id
    );
    store.labels().set(p.id, "production", v2.id).await.unwrap();
    let labels = store.labels().list(p.id).await.unwrap();
    assert_eq!(
        labels
            .iter()
            .map(|l| (l.label.as_str(), l.version))
            .collect::<Vec<_>>(),
        [("production", 2), ("staging", 2)]
    );

    let (other, _) = store
        .prompts()
        .create(new_prompt("O", "o", &[]))
        .await
        .unwrap();
    assert!(matches!(
        store.labels().set(other.id, "x", v1.id).await,
        Err(StoreError::NotFound)
    ));
    store.labels().remove(p.id, "staging").await.unwrap();
    assert!(matches!(
        store.labels().remove(p.id, "staging").await,
        Err(StoreError::NotFound)
    ));
    assert!(matches!(
        store.labels().resolve(p.id, "staging").await,
        Err(StoreError::NotFound)
    ));
}

async fn saves_racing_restores_and_label_moves_keep_current_valid(db: TestDb) {
    let store = open(&db).await;
    let (p, [v1]) = prompt_with(&store, "Mix", "mix", ["base"]).await;
    let mut tasks = Vec::new();
    for c in 0..6 {
        let store = store.clone();
        tasks.push(tokio::spawn(async move {
            for i in 0..20 {
                match c % 3 {
                    0 => {
                        store
                            .versions()
                            .save(p.id, text_version(&format!("{c}-{i}")))
                            .await
                            .unwrap();
                    }
                    1 => store.versions().restore(p.id, v1.id).await.unwrap(),
                    _ => {
                        let cur = store.versions().get_current(p.id).await.unwrap();
                        store
                            .labels()
                            .set(p.id, "production", cur.id)
                            .await
                            .unwrap();
                    }
                }
            }
        }));
    }
    for t in tasks {
        t.await.unwrap();
    }
    let prompt = store.prompts().get(p.id).await.unwrap();
    let current = store
        .versions()
        .get(prompt.current_version_id.unwrap())
        .await
        .unwrap();
    assert_eq!(current.prompt_id, p.id);
    let numbers: HashSet<i64> = store
        .versions()
        .list(p.id, None, 100)
        .await
        .unwrap()
        .items
        .iter()
        .map(|v| v.version)
        .collect();
    assert_eq!(numbers, (1..=41).collect());
}

async fn a_delete_racing_saves_leaves_no_orphans(db: TestDb) {
    let store = open(&db).await;
    for round in 0..5 {
        let (p, _) = store
            .prompts()
            .create(new_prompt("D", &format!("d{round}"), &[]))
            .await
            .unwrap();
        let saver = {
            let store = store.clone();
            tokio::spawn(async move {
                let mut saved = 0;
                for i in 0..30 {
                    match store
                        .versions()
                        .save(p.id, text_version(&format!("{i}")))
                        .await
                    {
                        Ok(_) => saved += 1,
                        Err(StoreError::NotFound) => break,
                        Err(e) => panic!("unexpected {e:?}"),
                    }
                }
                saved
            })
        };
        tokio::time::sleep(std::time::Duration::from_millis(5)).await;
        store.prompts().delete(p.id).await.unwrap();
        saver.await.unwrap();
        assert!(
            store
                .versions()
                .list(p.id, None, 100)
                .await
                .unwrap()
                .items
                .is_empty(),
            "no orphan versions"
        );
    }
}
