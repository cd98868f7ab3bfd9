//! Export and import: round trips on each backend and across them, and
//! files that must be refused without touching the target.

use std::collections::BTreeMap;

use promptrefine_core::{
    ChatMessage, Content, InstanceId, ModelSettings, PromptType, Role, RunId, RunStatus,
};
use promptrefine_store::transfer::{Counts, ExportOptions, TransferError};
use promptrefine_store::{NewRun, NewVersion, RunOutcome, Store};
use promptrefine_testkit::{TestDb, both_backends};

use crate::{new_prompt, open};

both_backends!(
    export_then_import_then_export_gives_the_same_file,
    a_corrupt_or_truncated_file_fails_and_leaves_the_target_empty,
    import_refuses_a_target_that_already_has_data,
    an_export_taken_during_writes_is_one_consistent_snapshot,
);

/// With secrets, and pages of two rows so every keyset step is exercised.
const SECRETS: ExportOptions = ExportOptions {
    include_secrets: true,
    page_size: 2,
};

/// Data of every kind the format carries, with text that tends to break
/// things: unicode, quotes, SQL, JSON-looking strings, newlines.
pub(crate) async fn fill(store: &Store) {
    let ada = store
        .users()
        .create(
            "ada@example.com",
            "$argon2id$v=19$m=19456,t=2,p=1$c2FsdA$aGFzaA",
        )
        .await
        .unwrap();
    store
        .users()
        .create("Grace.O'Brien@example.com", "$argon2id$fake")
        .await
        .unwrap();
    store
        .tokens()
        .create(promptrefine_store::NewToken {
            user_id: ada.id,
            name: "ci 🚀",
            prefix: "pr_abc",
            token_hash: "hash-of-token",
            // An expiry, so the round trip carries the column too.
            expires_at: Some(time::OffsetDateTime::now_utc() + time::Duration::days(30)),
        })
        .await
        .unwrap();

    let settings = ModelSettings {
        model: Some("gpt-4o-mini".into()),
        temperature: Some(0.7),
        max_tokens: Some(256),
        stop: Some(vec!["\n\n".into(), "END".into()]),
        seed: Some(-3),
        response_format: Some(
            serde_json::json!({"type": "json_schema", "b": [1, 2.5, {"z": null, "a": true}], "a": "x"}),
        ),
        // Every setting of the whole recipe (issue 17) survives a move.
        tools: Some(vec![
            serde_json::json!({"type": "function", "function": {"name": "lookup", "parameters": {"type": "object", "properties": {"q": {"type": "string"}}}}}),
        ]),
        tool_choice: Some(serde_json::json!({"type": "function", "function": {"name": "lookup"}})),
        parallel_tool_calls: Some(true),
        frequency_penalty: Some(0.25),
        presence_penalty: Some(-0.5),
        logit_bias: Some([("42".to_string(), 3)].into()),
        max_completion_tokens: Some(99),
        reasoning_effort: Some("minimal".into()),
        extra: Some(serde_json::json!({"top_k": 5}).as_object().unwrap().clone()),
        ..Default::default()
    };
    let mut text = new_prompt(
        "Robert'); DROP TABLE prompts;-- «résumé» 你好",
        "bobby-tables",
        &["sql", "ünïcode", "a b"],
    );
    text.first_version = Some(NewVersion {
        content: Content::Text("Hello {{name}} — \"quoted\" \\ back\\slash\ttab\nline ☃".into()),
        settings: settings.clone(),
        variables: vec!["name".into()],
        note: Some("first; select * from users".into()),
        author_id: Some(ada.id),
    });
    let (text, v1) = store.prompts().create(text).await.unwrap();
    let v1 = v1.unwrap();
    let v2 = store
        .versions()
        .save(
            text.id,
            NewVersion {
                content: Content::Text("{\"looks\": \"like json\"} {{name}}".into()),
                settings: ModelSettings::default(),
                variables: vec!["name".into()],
                note: None,
                author_id: None,
            },
        )
        .await
        .unwrap();
    // Current is v1 again while next_version stays at 3.
    store.versions().restore(text.id, v1.id).await.unwrap();
    store
        .labels()
        .set(text.id, "production", v1.id)
        .await
        .unwrap();
    store.labels().set(text.id, "Staging", v2.id).await.unwrap();
    store.labels().set(text.id, "ßeta", v2.id).await.unwrap();

    let mut chat = new_prompt("Chat", "chat", &[]);
    chat.prompt_type = PromptType::Chat;
    chat.first_version = Some(NewVersion {
        content: Content::Chat(vec![
            ChatMessage {
                role: Role::System,
                content: "You are terse.".into(),
                ..Default::default()
            },
            ChatMessage {
                role: Role::User,
                content: "{{question}} 🙂".into(),
                ..Default::default()
            },
            serde_json::from_value(serde_json::json!({"role": "assistant", "content": null, "tool_calls": [
                {"id": "call_9", "type": "function", "function": {"name": "lookup", "arguments": "{\"q\":1}"}}]})).unwrap(),
            serde_json::from_value(serde_json::json!({"role": "tool", "tool_call_id": "call_9", "content": "found"})).unwrap(),
            serde_json::from_value(serde_json::json!({"role": "user", "content": [
                {"type": "text", "text": "and {{this}}"},
                {"type": "image_url", "image_url": {"url": "{{image}}", "detail": "high"}}]})).unwrap(),
        ]),
        settings: ModelSettings::default(),
        variables: vec!["question".into()],
        note: Some(String::new()),
        author_id: Some(ada.id),
    });
    let (chat, c1) = store.prompts().create(chat).await.unwrap();
    let c1 = c1.unwrap();
    store
        .labels()
        .set(chat.id, "production", c1.id)
        .await
        .unwrap();
    // A prompt with no version at all.
    store
        .prompts()
        .create(new_prompt("Empty", "empty", &["x"]))
        .await
        .unwrap();

    let run = |prompt_id, version_id| NewRun {
        id: RunId::new(),
        prompt_id,
        version_id,
        provider: "openai".into(),
        model: "gpt-4o-mini".into(),
        params: settings.clone(),
        variables: BTreeMap::from([("name".into(), "Zoë 'x' \"y\"".into())]),
        input: vec![ChatMessage {
            role: Role::User,
            content: "Hello Zoë".into(),
            ..Default::default()
        }],
        request_id: Some("req-1".into()),
        owner: InstanceId::new(),
        cell: None,
        judge_of: None,
        // The exact text sent, key order and spacing as they were.
        request_body: Some(r#"{"model":"gpt-4o-mini", "messages":[],"z":1,"a":[2]}"#.into()),
        replay_of: None,
    };
    let interrupted = run(text.id, v1.id);
    store.runs().start(&interrupted).await.unwrap();
    store.instances().sweep().await.unwrap();
    for (status, code) in [
        (RunStatus::Succeeded, None),
        (RunStatus::Failed, Some("upstream_timeout")),
        (RunStatus::Cancelled, None),
    ] {
        let r = run(text.id, v2.id);
        store.runs().start(&r).await.unwrap();
        let outcome = RunOutcome {
            status: Some(status),
            output: "Hi!\n```sql\nselect 1;\n```".into(),
            finish_reason: Some("stop".into()),
            error_code: code.map(String::from),
            error_message: code.map(|_| "took too long".into()),
            prompt_tokens: Some(3),
            completion_tokens: Some(2),
            total_tokens: Some(5),
            // Estimated counts must survive a move like every other column.
            tokens_estimated: status == RunStatus::Cancelled,
            cost_micro_usd: Some(i64::from(i32::MAX) * 4),
            latency_ms: Some(120),
            ttft_ms: Some(40),
            response_id: Some("chatcmpl-1".into()),
            response_model: Some("gpt-4o-mini-2024-07-18".into()),
            system_fingerprint: Some("fp_1".into()),
            tool_calls: Some(vec![promptrefine_core::ToolCall {
                id: "call_1".into(),
                name: "f".into(),
                arguments: serde_json::json!({"z": 1, "a": [true]}),
            }]),
        };
        store.runs().finish(r.id, &outcome).await.unwrap();
    }
    // One still running.
    store.runs().start(&run(chat.id, c1.id)).await.unwrap();
}

pub(crate) async fn export_bytes(store: &Store, opts: ExportOptions) -> (Vec<u8>, Counts) {
    let mut out = Vec::new();
    let counts = store.export(&mut out, opts, |_| {}).await.unwrap();
    (out, counts)
}

/// The file without its header's `exportedAt`: what must match across a trip.
pub(crate) fn comparable(file: &[u8]) -> (serde_json::Value, String) {
    let text = std::str::from_utf8(file).unwrap();
    let (head, body) = text.split_once('\n').unwrap();
    let mut head: serde_json::Value = serde_json::from_str(head).unwrap();
    head.as_object_mut().unwrap().remove("exportedAt");
    head.as_object_mut().unwrap().remove("source");
    (head, body.to_string())
}

async fn export_then_import_then_export_gives_the_same_file(db: TestDb) {
    let source = open(&db).await;
    fill(&source).await;
    // A provider added in the app, with a sealed key (opaque bytes here).
    let sealed = promptrefine_store::SealedBytes {
        nonce: vec![7; 12],
        ciphertext: b"sealed-not-clear".to_vec(),
    };
    let provider = source
        .providers()
        .create(
            promptrefine_core::ProviderId::new(),
            &promptrefine_store::ProviderWrite {
                name: "stored".into(),
                base_url: "http://127.0.0.1:9/v1".into(),
                api_key: Some(sealed.clone()),
                headers: None,
                models: vec!["m".into()],
                prices: BTreeMap::from([(
                    "m".to_string(),
                    promptrefine_store::ModelPrice {
                        input: 1.5,
                        output: 2.0,
                    },
                )]),
            },
        )
        .await
        .unwrap();
    // A model preset, with params whose keys a jsonb column reorders.
    let preset = source
        .presets()
        .create(
            promptrefine_core::PresetId::new(),
            &promptrefine_store::PresetWrite {
                name: "cold".into(),
                provider: Some("stored".into()),
                model: "m".into(),
                params: ModelSettings {
                    temperature: Some(0.0),
                    stop: Some(vec!["END".into()]),
                    seed: Some(3),
                    ..ModelSettings::default()
                },
            },
        )
        .await
        .unwrap();
    for opts in [SECRETS, ExportOptions::default()] {
        let (first, counts) = export_bytes(&source, opts).await;
        assert_eq!(counts.providers, 1);
        assert_eq!(counts.presets, 1);
        assert_eq!(counts.prompts, 3);
        assert_eq!(counts.versions, 3);
        assert_eq!(counts.labels, 4);
        assert_eq!(counts.runs, 5);
        assert_eq!(counts.api_tokens, u64::from(opts.include_secrets));

        let target_db = TestDb::of_kind(db.kind()).await.unwrap();
        let target = open(&target_db).await;
        let imported = target.import(&first[..], |_| {}).await.unwrap();
        assert_eq!(imported, counts);
        let (second, _) = export_bytes(&target, opts).await;
        assert_eq!(comparable(&first), comparable(&second));
        assert_eq!(
            String::from_utf8_lossy(&second)
                .matches(r#""tokensEstimated":true"#)
                .count(),
            1,
            "the estimated run keeps its mark through export and import"
        );
        // The whole recipe moves (issue 17): request bodies as their exact
        // text, the answers' metadata and tool calls, tools and tool messages.
        let text = String::from_utf8_lossy(&second);
        let count = |needle: &str| text.matches(needle).count();
        assert_eq!(
            count(
                r#""requestBody":"{\"model\":\"gpt-4o-mini\", \"messages\":[],\"z\":1,\"a\":[2]}""#
            ),
            5
        );
        assert_eq!(count(r#""systemFingerprint":"fp_1""#), 3);
        assert_eq!(
            count(r#""toolCalls":[{"arguments":{"a":[true],"z":1},"id":"call_1","name":"f"}]"#),
            3
        );
        assert_eq!(count(r#""tool_call_id":"call_9""#), 1);
        assert_eq!(count(r#""reasoningEffort":"minimal""#), 1 + 5);

        // The provider moves; its sealed key only with the secrets.
        let moved = target.providers().get(provider.id).await.unwrap();
        assert_eq!(
            (&moved.name, &moved.base_url, &moved.models, &moved.prices),
            (
                &provider.name,
                &provider.base_url,
                &provider.models,
                &provider.prices
            )
        );
        let want = opts.include_secrets.then(|| sealed.clone());
        assert_eq!(moved.api_key, want);
        assert_eq!(count("sealed-not-clear"), 0, "only as base64");
        assert_eq!(target.presets().get(preset.id).await.unwrap(), preset);

        // What the application reads back is the same too.
        let p = target.prompts().get_by_slug("bobby-tables").await.unwrap();
        let q = source.prompts().get_by_slug("bobby-tables").await.unwrap();
        assert_eq!(p, q);
        let current = target.versions().get_current(p.id).await.unwrap();
        assert_eq!(current.version, 1);
        let next = target
            .versions()
            .save(
                p.id,
                NewVersion {
                    content: Content::Text("after import".into()),
                    settings: ModelSettings::default(),
                    variables: vec![],
                    note: None,
                    author_id: None,
                },
            )
            .await
            .unwrap();
        assert_eq!(next.version, 3, "next_version is preserved");
        let tagged = target
            .prompts()
            .list(
                &promptrefine_store::PromptFilter {
                    tag: Some("ünïcode".into()),
                    ..Default::default()
                },
                None,
                10,
            )
            .await
            .unwrap();
        assert_eq!(tagged.items.len(), 1, "tag rows are rebuilt");
        target.close().await;
    }
}

/// Replaces line `n` (1-based) of a file.
fn with_line(file: &str, n: usize, line: &str) -> String {
    let mut lines: Vec<&str> = file.lines().collect();
    lines[n - 1] = line;
    lines.join("\n") + "\n"
}

fn line_of(file: &str, kind: &str) -> usize {
    file.lines()
        .position(|l| l.starts_with(&format!("{{\"type\":\"{kind}\"")))
        .unwrap()
        + 1
}

async fn a_corrupt_or_truncated_file_fails_and_leaves_the_target_empty(db: TestDb) {
    let source_db = TestDb::of_kind(db.kind()).await.unwrap();
    let source = open(&source_db).await;
    fill(&source).await;
    let (file, _) = export_bytes(&source, SECRETS).await;
    let good = String::from_utf8(file).unwrap();
    let target = open(&db).await;

    let version_line = line_of(&good, "version");
    let version: serde_json::Value =
        serde_json::from_str(good.lines().nth(version_line - 1).unwrap()).unwrap();
    let mut orphan = version.clone();
    orphan["promptId"] = serde_json::json!(uuid::Uuid::now_v7());
    orphan["id"] = serde_json::json!(uuid::Uuid::now_v7());
    let prompt_line = line_of(&good, "prompt");
    let run_line = line_of(&good, "run");
    let last = good.lines().count();

    let cases: Vec<(&str, String, Option<usize>)> = vec![
        (
            "bad JSON",
            with_line(&good, run_line, "{\"type\":\"run\",\"id\":"),
            Some(run_line),
        ),
        (
            "truncated mid-line",
            good[..good.len() - 10].to_string(),
            Some(last),
        ),
        (
            "cut at a line boundary",
            good.lines().take(last - 1).collect::<Vec<_>>().join("\n") + "\n",
            None,
        ),
        (
            "wrong format",
            with_line(&good, 1, r#"{"format":"something-else","version":1}"#),
            None,
        ),
        (
            "newer version",
            with_line(
                &good,
                1,
                &good
                    .lines()
                    .next()
                    .unwrap()
                    .replace("\"version\":1", "\"version\":2"),
            ),
            None,
        ),
        (
            "orphan version",
            with_line(&good, version_line, &orphan.to_string()),
            Some(version_line),
        ),
        (
            "duplicate id",
            with_line(
                &good,
                prompt_line + 1,
                good.lines().nth(prompt_line - 1).unwrap(),
            ),
            Some(prompt_line + 1),
        ),
        (
            "unknown type",
            with_line(&good, run_line, r#"{"type":"session","id":"x"}"#),
            Some(run_line),
        ),
        (
            "unknown field",
            with_line(
                &good,
                version_line,
                &version.to_string().replacen('{', "{\"extra\":1,", 1),
            ),
            Some(version_line),
        ),
        ("empty", String::new(), None),
    ];
    for (name, text, line) in cases {
        let err = target
            .import(text.as_bytes(), |_| {})
            .await
            .expect_err(name);
        match (line, &err) {
            (Some(want), TransferError::Line { line, .. }) => {
                assert_eq!(*line as usize, want, "{name}: {err}")
            }
            (None, TransferError::File(_)) => {}
            _ => panic!("{name}: unexpected error {err:?}"),
        }
        let (_, counts) = export_bytes(&target, SECRETS).await;
        assert_eq!(counts, Counts::default(), "{name} left rows behind");
    }
    // And the good file still goes in afterwards.
    target.import(good.as_bytes(), |_| {}).await.unwrap();
}

async fn import_refuses_a_target_that_already_has_data(db: TestDb) {
    let source_db = TestDb::of_kind(db.kind()).await.unwrap();
    let source = open(&source_db).await;
    fill(&source).await;
    let (file, _) = export_bytes(&source, SECRETS).await;

    let target = open(&db).await;
    target
        .prompts()
        .create(new_prompt("Mine", "mine", &[]))
        .await
        .unwrap();
    let err = target.import(&file[..], |_| {}).await.unwrap_err();
    assert!(
        matches!(err, TransferError::NotEmpty { prompts: 1, .. }),
        "{err:?}"
    );
    let (_, counts) = export_bytes(&target, SECRETS).await;
    assert_eq!(counts.prompts, 1);
}

async fn an_export_taken_during_writes_is_one_consistent_snapshot(db: TestDb) {
    let store = open(&db).await;
    fill(&store).await;
    let prompt = store.prompts().get_by_slug("chat").await.unwrap();
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let writer = {
        let (store, stop) = (store.clone(), stop.clone());
        tokio::spawn(async move {
            let mut saved = 0;
            while !stop.load(std::sync::atomic::Ordering::SeqCst) {
                let v = store
                    .versions()
                    .save(
                        prompt.id,
                        promptrefine_store::NewVersion {
                            content: Content::Chat(vec![promptrefine_core::ChatMessage {
                                role: promptrefine_core::Role::User,
                                content: "again {{x}}".into(),
                                ..Default::default()
                            }]),
                            ..crate::text_version("again {{x}}")
                        },
                    )
                    .await
                    .unwrap();
                store.labels().set(prompt.id, "latest", v.id).await.unwrap();
                saved += 1;
            }
            saved
        })
    };
    // Small pages: many queries, with saves landing between them.
    let opts = ExportOptions {
        include_secrets: true,
        page_size: 1,
    };
    let mut files = Vec::new();
    for _ in 0..3 {
        files.push(export_bytes(&store, opts).await.0);
    }
    stop.store(true, std::sync::atomic::Ordering::SeqCst);
    assert!(writer.await.unwrap() > 0);
    // Import checks the header counts against the records and that every
    // current version and label points at a version in the file.
    for file in files {
        let target_db = TestDb::of_kind(db.kind()).await.unwrap();
        let target = open(&target_db).await;
        target.import(&file[..], |_| {}).await.unwrap();
        target.close().await;
    }
}

/// Both directions between the two backends give the same file.
mod across_backends {
    use super::*;

    async fn trip(from: TestDb, to: TestDb) {
        let source = open(&from).await;
        fill(&source).await;
        let (first, counts) = export_bytes(&source, SECRETS).await;
        let target = open(&to).await;
        assert_eq!(target.import(&first[..], |_| {}).await.unwrap(), counts);
        let (second, _) = export_bytes(&target, SECRETS).await;
        assert_eq!(comparable(&first), comparable(&second));
        // And back again.
        let back_db = TestDb::of_kind(from.kind()).await.unwrap();
        let back = open(&back_db).await;
        back.import(&second[..], |_| {}).await.unwrap();
        let (third, _) = export_bytes(&back, SECRETS).await;
        assert_eq!(comparable(&first), comparable(&third));
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn sqlite_to_postgres_gives_the_same_export() {
        let Some(pg) = TestDb::postgres().await else {
            return;
        };
        trip(TestDb::sqlite(), pg).await;
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn postgres_to_sqlite_gives_the_same_export() {
        let Some(pg) = TestDb::postgres().await else {
            return;
        };
        trip(pg, TestDb::sqlite()).await;
    }
}
