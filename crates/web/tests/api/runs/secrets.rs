//! The provider's API key is used upstream and nowhere else: not in an
//! answer, not in a stored run, not in a log line.

use promptrefine_store::Backend;
use promptrefine_testkit::mock_openai::Behavior;
use promptrefine_testkit::{TestDb, both_backends};
use serde_json::{Value, json};
use sqlx::Row;

use super::text_prompt;
use crate::helpers::{TEST_API_KEY, TestApp, spawn_app};

both_backends!(the_api_key_never_reaches_an_answer_a_stored_run_or_a_log_line);

/// The key never appears in any answer, any column of `test_runs`, or any
/// log line — even when the upstream echoes it back. The log buffer is the
/// test binary's global capture, so every test's runs are checked too (they
/// all use the same key).
async fn the_api_key_never_reaches_an_answer_a_stored_run_or_a_log_line(db: TestDb) {
    let logs = crate::auth::captured_logs();

    let app = spawn_app(db).await;
    let (prompt_id, _) = text_prompt(&app, "Say {{x}}").await;
    let mut answers = Vec::new();
    let mut post = async |body: Value| {
        let res = app
            .api
            .post(app.url("/api/test-runs"))
            .json(&body)
            .send()
            .await
            .unwrap();
        let text = res.text().await.unwrap();
        answers.push(text.clone());
        text
    };
    // An upstream that echoes the key in its error message.
    let echoed = format!(
        r#"{{"error":{{"message":"Incorrect API key provided: {TEST_API_KEY}","type":"invalid_request_error"}}}}"#
    );
    app.mock.enqueue(Behavior::Status {
        status: 401,
        body: echoed.clone(),
        retry_after: None,
    });
    let failed =
        post(json!({ "promptId": prompt_id, "model": "gpt-4o-mini", "variables": { "x": "a" } }))
            .await;
    assert!(
        failed.contains("auth_failed") && failed.contains("[redacted]"),
        "{failed}"
    );
    app.mock.enqueue(Behavior::Status {
        status: 400,
        body: echoed,
        retry_after: None,
    });
    post(json!({ "promptId": prompt_id, "model": "gpt-4o-mini", "variables": { "x": "a" }, "stream": true })).await;
    post(json!({ "promptId": prompt_id, "model": "gpt-4o-mini", "variables": { "x": "b" } })).await;
    post(json!({ "promptId": prompt_id, "model": "mock-slow", "variables": { "x": "c" }, "stream": true, "params": { "maxTokens": 2 } })).await;
    post(json!({ "promptId": prompt_id, "model": "mock-error-500", "variables": { "x": "d" } }))
        .await;
    post(json!({ "promptId": prompt_id, "model": "m", "provider": "nope" })).await;
    for path in [
        format!("/api/test-runs?promptId={prompt_id}"),
        "/api/models".into(),
    ] {
        answers.push(
            app.api
                .get(app.url(&path))
                .send()
                .await
                .unwrap()
                .text()
                .await
                .unwrap(),
        );
    }
    let sent = app.mock.chat_requests();
    assert!(
        sent.len() >= 5 && sent.iter().all(|r| r.header("authorization").is_some()),
        "the key was used"
    );

    for a in &answers {
        assert!(!a.contains(TEST_API_KEY), "an answer holds the key: {a}");
    }
    let rows = dump_test_runs(&app).await;
    assert!(rows.len() >= 5, "{rows:?}");
    for row in &rows {
        assert!(
            !row.contains(TEST_API_KEY),
            "a stored run holds the key: {row}"
        );
    }
    let logs = String::from_utf8_lossy(&logs.lock().unwrap()).to_string();
    assert!(logs.contains("run finished"), "run logs were captured");
    assert!(!logs.contains(TEST_API_KEY), "a log line holds the key");
}

/// Every text column of every `test_runs` row, raw from the database.
async fn dump_test_runs(app: &TestApp) -> Vec<String> {
    match app.store.backend() {
        Backend::Sqlite { reader, .. } => {
            let rows = sqlx::query("select * from test_runs")
                .fetch_all(reader)
                .await
                .unwrap();
            rows.iter()
                .map(|row| {
                    (0..row.columns().len())
                        .filter_map(|i| row.try_get::<Option<String>, _>(i).ok().flatten())
                        .collect::<Vec<_>>()
                        .join(" | ")
                })
                .collect()
        }
        Backend::Postgres(pool) => {
            let rows = sqlx::query("select t::text from test_runs t")
                .fetch_all(pool)
                .await
                .unwrap();
            rows.iter().map(|row| row.get::<String, _>(0)).collect()
        }
    }
}
