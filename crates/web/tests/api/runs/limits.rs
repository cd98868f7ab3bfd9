//! What bounds a run: the rendered prompt's size (taken after the run's
//! permit), the upstream's output, a slow streaming client; and token counts
//! estimated when the upstream sends none.

use std::time::Duration;

use promptrefine_app::runs::RunSettings;
use promptrefine_testkit::mock_openai::Behavior;
use promptrefine_testkit::{TestDb, both_backends};
use serde_json::{Value, json};

use super::{run, stream, text_prompt};
use crate::helpers::{Options, TestApp, spawn_app, spawn_app_with, test_run_settings};

both_backends!(
    a_render_larger_than_the_cap_is_422_rendered_too_large_and_nothing_runs,
    the_run_permit_is_taken_before_rendering,
    an_upstream_that_streams_forever_ends_failed_output_too_large_with_the_output_kept,
    a_slow_streaming_client_still_gets_the_whole_output,
    tokens_are_estimated_and_marked_when_the_upstream_sends_no_usage,
);

const DEFAULT_RENDER_CAP: u64 = 4 * 1024 * 1024;

/// A body of 2,000 `{{a}}` and a 4 KiB value: 8 MiB rendered.
async fn oversized(app: &TestApp) -> (String, Value) {
    let (prompt_id, _) = text_prompt(app, &"{{a}}".repeat(2000)).await;
    (prompt_id, json!({ "a": "x".repeat(4096) }))
}

fn assert_too_large(status: u16, body: &Value) {
    assert_eq!(status, 422, "{body}");
    let e = &body["error"];
    assert_eq!(e["code"], "rendered_too_large", "{body}");
    assert_eq!(e["details"]["limit"], DEFAULT_RENDER_CAP, "{body}");
    assert_eq!(e["details"]["fields"][0]["field"], "variables", "{body}");
    assert!(
        e["message"].as_str().unwrap().contains("4194304"),
        "the message names the limit: {body}"
    );
}

async fn a_render_larger_than_the_cap_is_422_rendered_too_large_and_nothing_runs(db: TestDb) {
    let app = spawn_app(db).await;
    let (prompt_id, variables) = oversized(&app).await;
    let (status, body) = app
        .post(
            &format!("/api/prompts/{prompt_id}/render"),
            json!({ "variables": variables }),
        )
        .await;
    assert_too_large(status, &body);

    for stream in [false, true] {
        let (status, body) = app
            .post(
                "/api/test-runs",
                json!({ "promptId": prompt_id, "model": "mock-echo", "variables": variables, "stream": stream }),
            )
            .await;
        assert_too_large(status, &body);
    }
    assert!(app.mock.chat_requests().is_empty(), "nothing was sent");
    let (_, runs) = app
        .get(&format!("/api/test-runs?promptId={prompt_id}"))
        .await;
    assert_eq!(runs["data"]["items"], json!([]), "nothing was stored");
    assert_eq!(app.app.runs_in_flight(), 0, "the permit is back");

    // Just under the cap renders.
    let (status, body) = app
        .post(
            &format!("/api/prompts/{prompt_id}/render"),
            json!({ "variables": { "a": "x".repeat(2048) } }),
        )
        .await;
    assert_eq!(status, 200, "{}", body["error"]);
}

async fn the_run_permit_is_taken_before_rendering(db: TestDb) {
    let opts = Options {
        runs: Some(Box::new(|url: &str| RunSettings {
            max_in_flight: 1,
            ..test_run_settings(url)
        })),
        ..Default::default()
    };
    let app = spawn_app_with(db, opts).await;
    let (prompt_id, variables) = oversized(&app).await;
    let small = app.create_prompt("Small", Some("Hi")).await["id"]
        .as_str()
        .unwrap()
        .to_string();
    let mut slow = stream(
        &app,
        json!({ "promptId": small, "model": "mock-slow", "stream": true }),
    )
    .await;
    slow.next().await.unwrap();
    // The house is full: the render is never attempted, so its size cannot
    // be what answers.
    let (status, body) = app
        .post(
            "/api/test-runs",
            json!({ "promptId": prompt_id, "model": "mock-echo", "variables": variables }),
        )
        .await;
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (429, Some("too_many_runs")),
        "{body}"
    );
}

async fn an_upstream_that_streams_forever_ends_failed_output_too_large_with_the_output_kept(
    db: TestDb,
) {
    let app = spawn_app(db).await;
    let (prompt_id, _) = text_prompt(&app, "Talk forever").await;
    let r = run(
        &app,
        json!({ "promptId": prompt_id, "model": "mock-forever" }),
    )
    .await;
    assert_eq!(
        (r["status"].as_str(), r["errorCode"].as_str()),
        (Some("failed"), Some("output_too_large")),
        "{}",
        r["errorMessage"]
    );
    let output = r["output"].as_str().unwrap();
    let cap = 1024 * 1024;
    assert!(
        output.len() <= cap && output.len() > cap - 12,
        "{}",
        output.len()
    );
    assert!(output.starts_with("lorem ipsum lorem ipsum"));
    let (_, stored) = app
        .get(&format!("/api/test-runs/{}", r["id"].as_str().unwrap()))
        .await;
    assert_eq!(
        stored["data"]["output"].as_str().map(str::len),
        Some(output.len())
    );
    assert_eq!(app.app.runs_in_flight(), 0);
}

async fn a_slow_streaming_client_still_gets_the_whole_output(db: TestDb) {
    let app = spawn_app(db).await;
    let (prompt_id, _) = text_prompt(&app, "Fast").await;
    app.mock.enqueue(Behavior::Stream {
        tokens: 3000,
        interval: Duration::ZERO,
    });
    let mut sse = stream(
        &app,
        json!({ "promptId": prompt_id, "model": "gpt-4o-mini", "stream": true }),
    )
    .await;
    let started = sse.next().await.unwrap();
    assert_eq!(started.event, "run");
    // Read nothing while the run streams its 3,000 deltas: it must not wait
    // for us, and nothing may be lost.
    let id = started.data["id"].as_str().unwrap().to_string();
    super::eventually("the run to finish without its client", || async {
        let (_, r) = app.get(&format!("/api/test-runs/{id}")).await;
        r["data"]["status"] == "succeeded"
    })
    .await;
    let rest = sse.all().await;
    let text: String = rest
        .iter()
        .filter(|e| e.event == "delta")
        .map(|e| e.data["text"].as_str().unwrap())
        .collect();
    let done = rest.last().unwrap();
    assert_eq!(done.event, "done");
    assert_eq!(done.data["output"].as_str(), Some(text.as_str()));
    assert_eq!(text.split_whitespace().count(), 3000);
}

async fn tokens_are_estimated_and_marked_when_the_upstream_sends_no_usage(db: TestDb) {
    let app = spawn_app(db).await;
    let (prompt_id, _) = text_prompt(&app, "Hello there").await;
    let counted = run(
        &app,
        json!({ "promptId": prompt_id, "model": "gpt-4o-mini" }),
    )
    .await;
    assert_eq!(counted["tokensEstimated"], false, "{counted}");
    assert_eq!(counted["totalTokens"], 5, "the upstream's own count");
    // "Echo: Hello there" (17 chars → 5) out; "Hello there" (11 → 3) + 3 per
    // message + 3 priming in.
    let r = run(
        &app,
        json!({ "promptId": prompt_id, "model": "mock-no-usage" }),
    )
    .await;
    assert_eq!(r["status"], "succeeded");
    assert_eq!(r["tokensEstimated"], true, "{r}");
    assert_eq!(
        (
            r["promptTokens"].as_i64(),
            r["completionTokens"].as_i64(),
            r["totalTokens"].as_i64()
        ),
        (Some(9), Some(5), Some(14))
    );
    let (_, stored) = app
        .get(&format!("/api/test-runs/{}", r["id"].as_str().unwrap()))
        .await;
    assert_eq!(stored["data"]["tokensEstimated"], true);

    let doc = app.openapi().await;
    let run_schema = &doc["components"]["schemas"]["Run"];
    assert_eq!(
        run_schema["properties"]["tokensEstimated"]["type"], "boolean",
        "{run_schema}"
    );
}
