//! A run that succeeds: the stored answer, the streamed events, and what
//! goes upstream; input refused before anything happens.

use promptrefine_testkit::mock_openai::stream_text;
use promptrefine_testkit::{TestDb, both_backends};
use serde_json::json;

use super::{SseReader, run, stream, text_prompt};
use crate::helpers::{TEST_API_KEY, fields, read, spawn_app};

both_backends!(
    a_run_answers_with_the_stored_run_and_its_usage_cost_and_latency,
    a_streamed_run_sends_the_run_then_deltas_in_order_then_the_stored_run,
    the_upstream_gets_the_model_rendered_messages_params_and_request_id,
    bad_input_is_refused_before_anything_is_stored_or_sent,
    the_run_routes_are_in_the_openapi_document,
);

async fn a_run_answers_with_the_stored_run_and_its_usage_cost_and_latency(db: TestDb) {
    let app = spawn_app(db).await;
    let (prompt_id, version_id) = text_prompt(&app, "Hello {{name}}").await;
    let res = app
        .api
        .post(app.url("/api/test-runs"))
        .json(&json!({ "promptId": prompt_id, "model": "gpt-4o-mini", "variables": { "name": "Ada" } }))
        .send()
        .await
        .unwrap();
    let request_id = res.headers()["x-request-id"].to_str().unwrap().to_string();
    let (status, body) = read(res).await;
    assert_eq!(status, 201, "{body}");
    let r = &body["data"];
    assert_eq!(r["status"], "succeeded");
    assert_eq!(r["promptId"], prompt_id.as_str());
    assert_eq!(r["versionId"], version_id.as_str());
    assert_eq!(
        (r["provider"].as_str(), r["model"].as_str()),
        (Some("openai"), Some("gpt-4o-mini"))
    );
    assert_eq!(r["output"], "Echo: Hello Ada");
    assert_eq!(r["finishReason"], "stop");
    assert_eq!(
        r["input"],
        json!([{ "role": "user", "content": "Hello Ada" }])
    );
    assert_eq!(r["variables"], json!({ "name": "Ada" }));
    // The mock counts words: 2 in, 3 out. gpt-4o-mini: 2 × 0.15 + 3 × 0.60 = 2.1 → 3 micro-USD.
    assert_eq!(
        (
            r["promptTokens"].as_i64(),
            r["completionTokens"].as_i64(),
            r["totalTokens"].as_i64()
        ),
        (Some(2), Some(3), Some(5))
    );
    assert_eq!(r["costMicroUsd"], 3);
    assert!(r["latencyMs"].as_i64().is_some_and(|ms| ms >= 0), "{r}");
    assert!(
        r["ttftMs"]
            .as_i64()
            .is_some_and(|ms| ms <= r["latencyMs"].as_i64().unwrap()),
        "{r}"
    );
    assert_eq!(r["requestId"], request_id.as_str());
    assert!(
        r["errorCode"].is_null() && r["finishedAt"].is_string(),
        "{r}"
    );

    let (status, stored) = app
        .get(&format!("/api/test-runs/{}", r["id"].as_str().unwrap()))
        .await;
    assert_eq!(status, 200);
    assert_eq!(&stored["data"], r, "the answer is the stored run");

    // A model without a price: usage is kept, the cost is unknown.
    let r = run(
        &app,
        json!({ "promptId": prompt_id, "model": "mock-echo", "variables": { "name": "Bo" } }),
    )
    .await;
    assert_eq!(
        (r["status"].as_str(), r["totalTokens"].as_i64()),
        (Some("succeeded"), Some(5))
    );
    assert!(r["costMicroUsd"].is_null(), "{r}");
}

async fn a_streamed_run_sends_the_run_then_deltas_in_order_then_the_stored_run(db: TestDb) {
    let app = spawn_app(db).await;
    let (prompt_id, _) = text_prompt(&app, "Tell me a story").await;
    let events = stream(
        &app,
        json!({ "promptId": prompt_id, "model": "mock-stream-6x20ms", "stream": true }),
    )
    .await
    .all()
    .await;
    let names: Vec<&str> = events.iter().map(|e| e.event.as_str()).collect();
    assert_eq!(
        names,
        [
            "run", "delta", "delta", "delta", "delta", "delta", "delta", "done"
        ]
    );
    assert_eq!(events[0].data["status"], "running");
    assert!(events[0].data["finishedAt"].is_null());
    let text: String = events[1..7]
        .iter()
        .map(|e| e.data["text"].as_str().unwrap())
        .collect();
    assert_eq!(text, stream_text(6), "deltas arrive in order");
    let done = &events[7].data;
    assert_eq!(
        (done["status"].as_str(), done["output"].as_str()),
        (Some("succeeded"), Some(text.as_str()))
    );
    assert_eq!(done["id"], events[0].data["id"]);
    assert_eq!(done["completionTokens"], 6);
    assert!(done["ttftMs"].as_i64().unwrap() <= done["latencyMs"].as_i64().unwrap());
    let (_, stored) = app
        .get(&format!("/api/test-runs/{}", done["id"].as_str().unwrap()))
        .await;
    assert_eq!(&stored["data"], done);

    // `Accept: text/event-stream` asks for the same when `stream` is absent.
    let res = app
        .api
        .post(app.url("/api/test-runs"))
        .header("accept", "text/event-stream")
        .json(&json!({ "promptId": prompt_id, "model": "mock-echo" }))
        .send()
        .await
        .unwrap();
    let events = SseReader::new(res).all().await;
    assert_eq!(events.last().unwrap().event, "done");
    assert_eq!(
        events.last().unwrap().data["output"],
        "Echo: Tell me a story"
    );
}

async fn the_upstream_gets_the_model_rendered_messages_params_and_request_id(db: TestDb) {
    let app = spawn_app(db).await;
    let (status, p) = app
        .post(
            "/api/prompts",
            json!({
                "title": "Chat", "type": "chat",
                "content": [
                    { "role": "system", "content": "You are {{tone}}." },
                    { "role": "user", "content": "Hi, I am {{name}}." }
                ],
                "settings": { "model": "gpt-4o-mini", "temperature": 0.2, "maxTokens": 50, "stop": ["END"] }
            }),
        )
        .await;
    assert_eq!(status, 201, "{p}");
    let res = app
        .api
        .post(app.url("/api/test-runs"))
        .header("x-request-id", "req-runs-42")
        .json(&json!({
            "promptId": p["data"]["id"],
            "params": { "temperature": 0.9, "seed": 7 },
            "variables": { "tone": "terse", "name": "Ada" }
        }))
        .send()
        .await
        .unwrap();
    let (status, body) = read(res).await;
    assert_eq!(status, 201, "{body}");
    let r = &body["data"];
    assert_eq!(r["requestId"], "req-runs-42");
    assert_eq!(
        r["model"], "gpt-4o-mini",
        "the version's model is the default"
    );
    assert_eq!(r["params"]["temperature"], 0.9);
    assert_eq!(r["params"]["maxTokens"], 50);

    let sent = app.mock.chat_requests();
    assert_eq!(sent.len(), 1);
    let req = &sent[0];
    assert_eq!(req.body["model"], "gpt-4o-mini");
    assert_eq!(
        req.body["messages"],
        json!([
            { "role": "system", "content": "You are terse." },
            { "role": "user", "content": "Hi, I am Ada." }
        ])
    );
    assert_eq!(
        req.body["temperature"], 0.9,
        "params override the version's settings"
    );
    assert_eq!(
        (req.body["max_tokens"].as_i64(), req.body["seed"].as_i64()),
        (Some(50), Some(7))
    );
    assert_eq!(req.body["stop"], json!(["END"]));
    assert_eq!(req.body["stream"], true, "upstream is always streamed");
    assert_eq!(req.header("x-request-id"), Some("req-runs-42"));
    assert_eq!(
        req.header("authorization"),
        Some(format!("Bearer {TEST_API_KEY}").as_str())
    );
    assert_eq!(
        r["input"], req.body["messages"],
        "the stored input is what was sent"
    );

    // `model` beats both the version's and `params.model`.
    let r = run(&app, json!({ "promptId": p["data"]["id"], "model": "mock-echo", "params": { "model": "x" }, "variables": { "tone": "a", "name": "b" } })).await;
    assert_eq!(r["model"], "mock-echo");
    assert_eq!(app.mock.chat_requests()[1].body["model"], "mock-echo");
}

async fn bad_input_is_refused_before_anything_is_stored_or_sent(db: TestDb) {
    let app = spawn_app(db).await;
    let (prompt_id, _) = text_prompt(&app, "{{greeting}}, {{name}} from {{place}}").await;

    let (status, body) = app
        .post(
            "/api/test-runs",
            json!({ "promptId": prompt_id, "model": "m", "variables": { "name": "Ada" } }),
        )
        .await;
    assert_eq!(status, 422, "{body}");
    let mut missing = fields(&body);
    missing.sort();
    assert_eq!(
        missing,
        ["variables.greeting", "variables.place"],
        "every missing variable is listed"
    );

    let cases = [
        (
            json!({ "promptId": "0190f1e2-aaaa-7bbb-8ccc-123456789abc", "model": "m" }),
            404,
            None,
        ),
        (
            json!({ "promptId": prompt_id, "model": "", "variables": {} }),
            422,
            Some("model"),
        ),
        (
            json!({ "promptId": prompt_id, "model": "m", "provider": "nope" }),
            422,
            Some("provider"),
        ),
        (
            json!({ "promptId": prompt_id, "model": "m", "params": { "temperature": 7 } }),
            422,
            Some("params.temperature"),
        ),
        (
            json!({ "promptId": prompt_id, "model": "m", "variables": { "bad name": "x" } }),
            422,
            Some("variables[\"bad name\"]"),
        ),
        (
            json!({ "promptId": prompt_id, "model": "m", "versionId": "0190f1e2-aaaa-7bbb-8ccc-123456789abc" }),
            404,
            None,
        ),
        (json!({ "model": "m" }), 422, Some("promptId")),
        (
            json!({ "promptId": prompt_id, "model": "m", "temperature": 1 }),
            422,
            Some("temperature"),
        ),
    ];
    for (req, expected, field) in cases {
        let (status, body) = app.post("/api/test-runs", req.clone()).await;
        assert_eq!(status, expected, "{req} → {body}");
        if let Some(f) = field {
            assert!(fields(&body).contains(&f.to_string()), "{req} → {body}");
        }
    }
    // No model anywhere: the version has none.
    let (status, body) = app.post("/api/test-runs", json!({ "promptId": prompt_id, "variables": { "greeting": "a", "name": "b", "place": "c" } })).await;
    assert_eq!(
        (status, fields(&body)),
        (422, vec!["model".to_string()]),
        "{body}"
    );
    // A prompt without a version.
    let bare = app.create_prompt("Bare", None).await;
    let (status, body) = app
        .post(
            "/api/test-runs",
            json!({ "promptId": bare["id"], "model": "m" }),
        )
        .await;
    assert_eq!(
        (status, fields(&body)),
        (422, vec!["versionId".to_string()]),
        "{body}"
    );
    // A streamed request that is refused answers a plain JSON error.
    let res = app
        .api
        .post(app.url("/api/test-runs"))
        .json(&json!({ "promptId": prompt_id, "model": "m", "stream": true }))
        .send()
        .await
        .unwrap();
    let (status, _) = read(res).await;
    assert_eq!(status, 422);

    assert!(
        app.mock.chat_requests().is_empty(),
        "nothing was sent upstream"
    );
    let (_, list) = app
        .get(&format!("/api/test-runs?promptId={prompt_id}"))
        .await;
    assert_eq!(list["data"]["items"], json!([]), "nothing was stored");
}

async fn the_run_routes_are_in_the_openapi_document(db: TestDb) {
    let app = spawn_app(db).await;
    let doc = app.openapi().await;
    let paths = &doc["paths"];
    for (path, method) in [
        ("/api/test-runs", "post"),
        ("/api/test-runs", "get"),
        ("/api/test-runs/{id}", "get"),
        ("/api/test-runs/{id}/cancel", "post"),
        ("/api/models", "get"),
    ] {
        assert!(
            paths[path][method].is_object(),
            "{method} {path} missing from OpenAPI"
        );
    }
    let schemas = &doc["components"]["schemas"];
    for schema in ["Run", "StartRunBody", "RunPage", "ModelList"] {
        assert!(schemas[schema].is_object(), "schema {schema} missing");
    }
}
