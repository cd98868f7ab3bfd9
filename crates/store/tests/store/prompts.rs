use std::collections::HashSet;

use promptrefine_core::PromptType;
use promptrefine_store::{Constraint, Cursor, PromptFilter, PromptPatch, StoreError};
use promptrefine_testkit::{TestDb, both_backends};

use crate::{new_prompt, open, text_version};

both_backends!(
    a_prompt_is_created_read_renamed_and_deleted,
    creating_with_a_first_version_makes_it_current,
    duplicate_slugs_are_a_conflict,
    the_list_is_newest_change_first_and_pages_without_gaps,
    the_list_filters_by_tag_type_and_text,
    deleting_a_prompt_removes_its_versions_labels_and_runs,
    every_column_round_trips_byte_for_byte,
);

async fn a_prompt_is_created_read_renamed_and_deleted(db: TestDb) {
    let store = open(&db).await;
    let (p, v) = store
        .prompts()
        .create(new_prompt("Greeting", "greeting", &["a", "b"]))
        .await
        .unwrap();
    assert!(v.is_none() && p.current_version_id.is_none());
    assert_eq!(store.prompts().get(p.id).await.unwrap(), p);
    assert_eq!(
        store.prompts().get_by_slug("greeting").await.unwrap().id,
        p.id
    );

    let patched = store
        .prompts()
        .update(
            p.id,
            PromptPatch {
                title: Some("Hello".into()),
                tags: Some(vec!["c".into()]),
                ..Default::default()
            },
        )
        .await
        .unwrap();
    assert_eq!(patched.title, "Hello");
    assert_eq!(patched.tags, vec!["c"]);
    assert_eq!(patched.slug, "greeting");
    assert!(patched.updated_at > p.updated_at);

    store.prompts().delete(p.id).await.unwrap();
    assert!(matches!(
        store.prompts().get(p.id).await,
        Err(StoreError::NotFound)
    ));
    assert!(matches!(
        store.prompts().delete(p.id).await,
        Err(StoreError::NotFound)
    ));
}

async fn creating_with_a_first_version_makes_it_current(db: TestDb) {
    let store = open(&db).await;
    let mut new = new_prompt("With body", "with-body", &[]);
    new.first_version = Some(text_version("Hi {{name}}"));
    let (p, v) = store.prompts().create(new).await.unwrap();
    let v = v.unwrap();
    assert_eq!(v.version, 1);
    assert_eq!(v.variables, vec!["name"]);
    assert_eq!(p.current_version_id, Some(v.id));
    assert_eq!(store.versions().get_current(p.id).await.unwrap(), v);
}

async fn duplicate_slugs_are_a_conflict(db: TestDb) {
    let store = open(&db).await;
    store
        .prompts()
        .create(new_prompt("A", "same", &[]))
        .await
        .unwrap();
    let err = store
        .prompts()
        .create(new_prompt("B", "same", &[]))
        .await
        .unwrap_err();
    assert!(
        matches!(err, StoreError::Conflict(Constraint::PromptSlug)),
        "the conflict names its constraint on both backends: {err:?}"
    );
    assert_eq!(
        store.prompts().count().await.unwrap(),
        1,
        "nothing half-written"
    );
}

async fn the_list_is_newest_change_first_and_pages_without_gaps(db: TestDb) {
    let store = open(&db).await;
    let mut ids = Vec::new();
    for i in 0..25 {
        let (p, _) = store
            .prompts()
            .create(new_prompt(&format!("P{i}"), &format!("p{i}"), &[]))
            .await
            .unwrap();
        ids.push(p.id);
    }
    // Touching the oldest moves it to the front.
    store
        .versions()
        .save(ids[0], text_version("x"))
        .await
        .unwrap();

    let mut seen = Vec::new();
    let mut cursor: Option<Cursor> = None;
    loop {
        let page = store
            .prompts()
            .list(&PromptFilter::default(), cursor, 10)
            .await
            .unwrap();
        // Rows added while paging must not cause gaps or repeats in what was there.
        store
            .prompts()
            .create(new_prompt("late", &format!("late-{}", seen.len()), &[]))
            .await
            .unwrap();
        seen.extend(page.items.iter().map(|p| p.id));
        match page.next_cursor {
            Some(c) => cursor = Some(Cursor::decode(&c).unwrap()),
            None => break,
        }
    }
    assert_eq!(seen[0], ids[0]);
    let original: HashSet<_> = ids.iter().collect();
    let got: Vec<_> = seen.iter().filter(|id| original.contains(id)).collect();
    assert_eq!(got.len(), 25, "every original prompt exactly once");
    assert_eq!(got.iter().collect::<HashSet<_>>().len(), 25);
}

async fn the_list_filters_by_tag_type_and_text(db: TestDb) {
    let store = open(&db).await;
    store
        .prompts()
        .create(new_prompt("Support reply", "support-reply", &["support"]))
        .await
        .unwrap();
    store
        .prompts()
        .create(new_prompt(
            "Sales email",
            "sales-email",
            &["sales", "email"],
        ))
        .await
        .unwrap();
    let mut chat = new_prompt("100% chat_bot", "chat-bot", &["support"]);
    chat.prompt_type = PromptType::Chat;
    store.prompts().create(chat).await.unwrap();

    let titles = |f: PromptFilter| {
        let store = store.clone();
        async move {
            let mut t: Vec<String> = store
                .prompts()
                .list(&f, None, 50)
                .await
                .unwrap()
                .items
                .into_iter()
                .map(|p| p.title)
                .collect();
            t.sort();
            t
        }
    };
    assert_eq!(
        titles(PromptFilter {
            tag: Some("support".into()),
            ..Default::default()
        })
        .await,
        ["100% chat_bot", "Support reply"]
    );
    assert_eq!(
        titles(PromptFilter {
            prompt_type: Some(PromptType::Chat),
            ..Default::default()
        })
        .await,
        ["100% chat_bot"]
    );
    assert_eq!(
        titles(PromptFilter {
            q: Some("SALES".into()),
            ..Default::default()
        })
        .await,
        ["Sales email"]
    );
    // LIKE wildcards in the query match literally.
    assert_eq!(
        titles(PromptFilter {
            q: Some("100%".into()),
            ..Default::default()
        })
        .await,
        ["100% chat_bot"]
    );
    assert!(
        titles(PromptFilter {
            q: Some("_".into()),
            ..Default::default()
        })
        .await
            == ["100% chat_bot"]
    );
    assert_eq!(
        titles(PromptFilter {
            q: Some("email".into()),
            ..Default::default()
        })
        .await,
        ["Sales email"]
    );
}

async fn deleting_a_prompt_removes_its_versions_labels_and_runs(db: TestDb) {
    let store = open(&db).await;
    let (p, _) = store
        .prompts()
        .create(new_prompt("Doomed", "doomed", &["t"]))
        .await
        .unwrap();
    let v = store
        .versions()
        .save(p.id, text_version("x"))
        .await
        .unwrap();
    store.labels().set(p.id, "production", v.id).await.unwrap();
    let run = crate::runs::new_run(p.id, v.id);
    store.runs().start(&run).await.unwrap();
    store.prompts().delete(p.id).await.unwrap();
    assert!(matches!(
        store.versions().get(v.id).await,
        Err(StoreError::NotFound)
    ));
    assert!(matches!(
        store.runs().get(run.id).await,
        Err(StoreError::NotFound)
    ));
    assert!(store.labels().list(p.id).await.unwrap().is_empty());
    assert!(store.prompts().tag_counts().await.unwrap().is_empty());
}

async fn every_column_round_trips_byte_for_byte(db: TestDb) {
    let store = open(&db).await;
    let tricky = "'; drop table prompts; -- <script>alert(1)</script> {{x}} \\{{ ünïcödé 🎉 \0x";
    let tricky = tricky.replace('\0', "");
    let mut new = new_prompt(&tricky, "tricky", &["<b>", "a'b"]);
    new.prompt_type = PromptType::Chat;
    new.first_version = Some(promptrefine_store::NewVersion {
        content: promptrefine_core::Content::Chat(vec![promptrefine_core::ChatMessage {
            role: promptrefine_core::Role::Developer,
            content: tricky.clone(),
            ..Default::default()
        }]),
        settings: promptrefine_core::ModelSettings {
            model: Some("gpt-4o-mini".into()),
            temperature: Some(0.7),
            max_tokens: Some(123),
            top_p: Some(0.9),
            stop: Some(vec!["\n\n".into()]),
            seed: Some(-42),
            response_format: Some(serde_json::json!({"type": "json_object"})),
            tools: Some(vec![
                serde_json::json!({"type": "function", "function": {"name": "f", "parameters": {"type": "object", "z": 1, "a": [tricky.clone()]}}}),
            ]),
            tool_choice: Some(serde_json::json!("required")),
            parallel_tool_calls: Some(false),
            frequency_penalty: Some(-0.5),
            presence_penalty: Some(1.25),
            logit_bias: Some([("50256".to_string(), -100)].into()),
            max_completion_tokens: Some(77),
            reasoning_effort: Some("low".into()),
            extra: Some(
                serde_json::json!({"top_k": 40, "nested": {"b": 1, "a": null}})
                    .as_object()
                    .unwrap()
                    .clone(),
            ),
        },
        variables: vec!["x".into()],
        note: Some(tricky.clone()),
        author_id: None,
    });
    let (p, v) = store.prompts().create(new).await.unwrap();
    let v = v.unwrap();
    assert_eq!(store.prompts().get(p.id).await.unwrap(), p);
    assert_eq!(p.title, tricky);
    assert_eq!(store.versions().get(v.id).await.unwrap(), v);
}
