use std::collections::BTreeMap;

use promptrefine_core::{
    ChatMessage, InstanceId, ModelSettings, PromptId, Role, RunId, RunStatus, VersionId,
};
use promptrefine_store::{Cursor, NewRun, RunFilter, RunOutcome};
use promptrefine_testkit::{TestDb, both_backends};

use crate::{new_prompt, open, text_version};

pub(crate) fn new_run(prompt_id: PromptId, version_id: VersionId) -> NewRun {
    NewRun {
        id: RunId::new(),
        prompt_id,
        version_id,
        provider: "openai".into(),
        model: "gpt-4o-mini".into(),
        params: ModelSettings {
            temperature: Some(0.5),
            ..Default::default()
        },
        variables: BTreeMap::from([("name".to_string(), "Ada".to_string())]),
        input: vec![ChatMessage {
            role: Role::User,
            content: "Hi Ada".into(),
            ..Default::default()
        }],
        request_id: Some("req-1".into()),
        owner: InstanceId::new(),
        cell: None,
        judge_of: None,
        request_body: None,
        replay_of: None,
    }
}

both_backends!(
    a_run_starts_running_and_finishes_once,
    run_history_is_newest_first_filtered_and_paged,
    estimated_token_counts_are_stored_marked_as_estimated,
);

async fn estimated_token_counts_are_stored_marked_as_estimated(db: TestDb) {
    let store = open(&db).await;
    let (p, v) = {
        let mut n = new_prompt("E", "e", &[]);
        n.first_version = Some(text_version("Hi"));
        store.prompts().create(n).await.unwrap()
    };
    let v = v.unwrap();
    for estimated in [true, false] {
        let new = new_run(p.id, v.id);
        let started = store.runs().start(&new).await.unwrap();
        assert!(!started.tokens_estimated, "nothing is counted yet");
        let outcome = RunOutcome {
            status: Some(RunStatus::Succeeded),
            total_tokens: Some(9),
            tokens_estimated: estimated,
            ..Default::default()
        };
        store.runs().finish(new.id, &outcome).await.unwrap();
        let run = store.runs().get(new.id).await.unwrap();
        assert_eq!(
            (run.total_tokens, run.tokens_estimated),
            (Some(9), estimated)
        );
    }
}

async fn a_run_starts_running_and_finishes_once(db: TestDb) {
    let store = open(&db).await;
    let (p, v) = {
        let mut n = new_prompt("R", "r", &[]);
        n.first_version = Some(text_version("Hi {{name}}"));
        store.prompts().create(n).await.unwrap()
    };
    let new = new_run(p.id, v.unwrap().id);
    let started = store.runs().start(&new).await.unwrap();
    assert_eq!(started.status, RunStatus::Running);
    assert_eq!(started.variables["name"], "Ada");
    assert!(started.finished_at.is_none());

    let outcome = RunOutcome {
        status: Some(RunStatus::Succeeded),
        output: "Hello!".into(),
        finish_reason: Some("stop".into()),
        prompt_tokens: Some(3),
        completion_tokens: Some(2),
        total_tokens: Some(5),
        cost_micro_usd: Some(7),
        latency_ms: Some(120),
        ttft_ms: Some(40),
        ..Default::default()
    };
    assert!(store.runs().finish(new.id, &outcome).await.unwrap());
    let cancelled = RunOutcome {
        status: Some(RunStatus::Cancelled),
        ..Default::default()
    };
    assert!(
        !store.runs().finish(new.id, &cancelled).await.unwrap(),
        "a final run is not rewritten"
    );
    let run = store.runs().get(new.id).await.unwrap();
    assert_eq!(run.status, RunStatus::Succeeded);
    assert_eq!(
        (run.output.as_str(), run.total_tokens, run.cost_micro_usd),
        ("Hello!", Some(5), Some(7))
    );
    assert!(run.finished_at.is_some());
}

async fn run_history_is_newest_first_filtered_and_paged(db: TestDb) {
    let store = open(&db).await;
    let mut n = new_prompt("H", "h", &[]);
    n.first_version = Some(text_version("x"));
    let (p, v1) = store.prompts().create(n).await.unwrap();
    let v1 = v1.unwrap();
    let v2 = store
        .versions()
        .save(p.id, text_version("y"))
        .await
        .unwrap();
    let mut ids = Vec::new();
    for i in 0..12 {
        let new = new_run(p.id, if i % 2 == 0 { v1.id } else { v2.id });
        store.runs().start(&new).await.unwrap();
        if i % 3 == 0 {
            let o = RunOutcome {
                status: Some(RunStatus::Failed),
                ..Default::default()
            };
            store.runs().finish(new.id, &o).await.unwrap();
        }
        ids.push(new.id);
    }
    ids.reverse();
    let mut seen = Vec::new();
    let mut cursor = None;
    loop {
        let page = store
            .runs()
            .list_for_prompt(p.id, &RunFilter::default(), cursor, 5)
            .await
            .unwrap();
        for listed in &page.items {
            // The version's number comes with each run, joined in SQL.
            let expected = if listed.run.version_id == v1.id { 1 } else { 2 };
            assert_eq!(listed.version_number, expected);
        }
        seen.extend(page.items.iter().map(|r| r.run.id));
        match page.next_cursor {
            Some(c) => cursor = Some(Cursor::decode(&c).unwrap()),
            None => break,
        }
    }
    assert_eq!(seen, ids);
    let by_version = RunFilter {
        version_id: Some(v2.id),
        ..Default::default()
    };
    assert_eq!(
        store
            .runs()
            .list_for_prompt(p.id, &by_version, None, 50)
            .await
            .unwrap()
            .items
            .len(),
        6
    );
    let by_number = RunFilter {
        version_number: Some(2),
        ..Default::default()
    };
    let listed = store
        .runs()
        .list_for_prompt(p.id, &by_number, None, 50)
        .await
        .unwrap()
        .items;
    assert_eq!(listed.len(), 6);
    assert!(listed.iter().all(|r| r.run.version_id == v2.id));
    let failed = RunFilter {
        status: Some(RunStatus::Failed),
        ..Default::default()
    };
    assert_eq!(
        store
            .runs()
            .list_for_prompt(p.id, &failed, None, 50)
            .await
            .unwrap()
            .items
            .len(),
        4
    );
}
