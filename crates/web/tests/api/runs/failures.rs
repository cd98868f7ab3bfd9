//! Runs that do not simply succeed: upstream failures, cancel, the cap on
//! runs in flight, many at once, clients that hang up, and shutdown.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use promptrefine_app::runs::RunSettings;
use promptrefine_testkit::mock_openai::stream_text;
use promptrefine_testkit::{TestDb, both_backends};
use serde_json::json;

use super::{SseReader, eventually, run, stream, text_prompt};
use crate::helpers::{Options, read, spawn_app, spawn_app_with, test_run_settings};

both_backends!(
    upstream_failures_are_stored_as_failed_runs_with_stable_codes,
    a_slow_run_can_be_cancelled_and_keeps_its_partial_output,
    the_cap_on_runs_in_flight_answers_429_at_once,
    twenty_concurrent_runs_against_a_slow_upstream_are_all_recorded,
    a_streamed_run_whose_client_disconnects_is_still_stored,
    a_drain_at_shutdown_cancels_what_is_still_in_flight,
);

async fn upstream_failures_are_stored_as_failed_runs_with_stable_codes(db: TestDb) {
    let app = spawn_app(db).await;
    let (prompt_id, _) = text_prompt(&app, "Hi").await;
    let cases = [
        ("mock-error-401", "auth_failed", 1),
        ("mock-error-403", "auth_failed", 1),
        ("mock-error-400", "invalid_request", 1),
        ("mock-error-404", "invalid_request", 1),
        // A 429 storm: retried (honouring Retry-After, capped) up to the limit.
        ("mock-error-429", "rate_limited", 3),
        ("mock-error-500", "upstream_error", 3),
        ("mock-garbage", "upstream_protocol", 1),
        ("mock-drop", "connection_failed", 1),
        ("mock-hang", "timeout", 1),
    ];
    let mut runs = Vec::new();
    for (model, code, attempts) in cases {
        let before = app.mock.chat_requests().len();
        let r = run(&app, json!({ "promptId": prompt_id, "model": model })).await;
        assert_eq!(
            (r["status"].as_str(), r["errorCode"].as_str()),
            (Some("failed"), Some(code)),
            "{model}: {r}"
        );
        assert!(
            r["errorMessage"].as_str().is_some_and(|m| !m.is_empty()),
            "{r}"
        );
        assert!(
            r["finishedAt"].is_string() && r["latencyMs"].is_i64(),
            "{r}"
        );
        assert_eq!(app.mock.chat_requests().len() - before, attempts, "{model}");
        runs.push(r);
    }
    assert!(
        runs[2]["errorMessage"]
            .as_str()
            .unwrap()
            .contains("the mock was asked to reject"),
        "the upstream's message is kept: {}",
        runs[2]
    );
    let dropped = &runs[7];
    assert_eq!(
        dropped["output"],
        stream_text(3),
        "the output before the drop is kept"
    );

    // The same failures, streamed: an `error` event, then the stored run.
    let events = stream(
        &app,
        json!({ "promptId": prompt_id, "model": "mock-drop", "stream": true }),
    )
    .await
    .all()
    .await;
    // Deltas a listener has not read yet are coalesced (RunEvents), so a
    // loaded machine may see the three pieces as fewer events.
    let names: Vec<&str> = events.iter().map(|e| e.event.as_str()).collect();
    let (head, tail) = (&names[..1], &names[names.len() - 2..]);
    assert_eq!(
        (head, tail),
        (&["run"][..], &["error", "done"][..]),
        "{names:?}"
    );
    let streamed: String = events
        .iter()
        .filter(|e| e.event == "delta")
        .map(|e| e.data["text"].as_str().unwrap())
        .collect();
    assert_eq!(streamed, stream_text(3), "every piece arrived, in order");
    let (error, done) = (&events[names.len() - 2], &events[names.len() - 1]);
    assert_eq!(error.data["code"], "connection_failed");
    assert!(error.data["requestId"].is_string());
    assert_eq!(done.data["status"], "failed");
    assert_eq!(done.data["output"], stream_text(3));
}

async fn a_slow_run_can_be_cancelled_and_keeps_its_partial_output(db: TestDb) {
    let app = spawn_app(db).await;
    let (prompt_id, _) = text_prompt(&app, "Go slowly").await;

    // Streamed: cancel after two deltas.
    let mut sse = stream(
        &app,
        json!({ "promptId": prompt_id, "model": "mock-slow", "stream": true }),
    )
    .await;
    let started = sse.next().await.unwrap();
    assert_eq!(started.event, "run");
    let id = started.data["id"].as_str().unwrap().to_string();
    for _ in 0..2 {
        assert_eq!(sse.next().await.unwrap().event, "delta");
    }
    let t = Instant::now();
    let (status, body) = app
        .post(&format!("/api/test-runs/{id}/cancel"), json!({}))
        .await;
    assert_eq!(status, 200, "{body}");
    assert!(
        t.elapsed() < Duration::from_secs(2),
        "cancel does not wait for the run to end"
    );
    let r = &body["data"];
    assert_eq!(
        (r["status"].as_str(), r["errorCode"].as_str()),
        (Some("cancelled"), Some("cancelled"))
    );
    let partial = r["output"].as_str().unwrap();
    assert!(
        partial.starts_with(&stream_text(2)) && partial.len() < stream_text(20).len(),
        "{partial:?}"
    );
    let rest = sse.all().await;
    let names: Vec<&str> = rest.iter().map(|e| e.event.as_str()).collect();
    assert_eq!(&names[names.len() - 2..], ["error", "done"]);
    assert_eq!(
        &rest.last().unwrap().data,
        r,
        "the stream ends with the stored run"
    );

    // Cancelling again: it already ended.
    let (status, body) = app
        .post(&format!("/api/test-runs/{id}/cancel"), json!({}))
        .await;
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (409, Some("run_finished")),
        "{body}"
    );
    let (status, _) = app
        .post(
            "/api/test-runs/0190f1e2-aaaa-7bbb-8ccc-123456789abc/cancel",
            json!({}),
        )
        .await;
    assert_eq!(status, 404);

    // Not streamed: the waiting request gets the cancelled run.
    let waiting = {
        let api = app.api.clone();
        let url = app.url("/api/test-runs");
        let prompt_id = prompt_id.clone();
        tokio::spawn(async move {
            read(
                api.post(url)
                    .json(&json!({ "promptId": prompt_id, "model": "mock-slow" }))
                    .send()
                    .await
                    .unwrap(),
            )
            .await
        })
    };
    let list = format!("/api/test-runs?promptId={prompt_id}&status=running");
    let deadline = Instant::now() + Duration::from_secs(10);
    let running = loop {
        let (_, body) = app.get(&list).await;
        if let Some(id) = body["data"]["items"][0]["id"].as_str() {
            break id.to_string();
        }
        assert!(Instant::now() < deadline, "the run never started");
        tokio::time::sleep(Duration::from_millis(25)).await;
    };
    tokio::time::sleep(Duration::from_millis(400)).await;
    let (status, _) = app
        .post(&format!("/api/test-runs/{running}/cancel"), json!({}))
        .await;
    assert_eq!(status, 200);
    let (status, body) = waiting.await.unwrap();
    assert_eq!(status, 201);
    assert_eq!(body["data"]["status"], "cancelled");
    assert!(
        !body["data"]["output"].as_str().unwrap().is_empty(),
        "{body}"
    );
    assert_eq!(app.app.runs_in_flight(), 0);
}

async fn the_cap_on_runs_in_flight_answers_429_at_once(db: TestDb) {
    let opts = Options {
        runs: Some(Box::new(|url: &str| RunSettings {
            max_in_flight: 2,
            ..test_run_settings(url)
        })),
        ..Default::default()
    };
    let app = spawn_app_with(db, opts).await;
    let (prompt_id, _) = text_prompt(&app, "Hi").await;
    let mut slow = Vec::new();
    let mut streams = Vec::new();
    for _ in 0..2 {
        let mut sse = stream(
            &app,
            json!({ "promptId": prompt_id, "model": "mock-slow", "stream": true }),
        )
        .await;
        slow.push(sse.run_id().await);
        streams.push(sse);
    }
    assert_eq!(app.app.runs_in_flight(), 2);

    let t = Instant::now();
    let res = app
        .api
        .post(app.url("/api/test-runs"))
        .json(&json!({ "promptId": prompt_id, "model": "mock-echo" }))
        .send()
        .await
        .unwrap();
    assert_eq!(
        res.headers()
            .get("retry-after")
            .map(|v| v.to_str().unwrap()),
        Some("1")
    );
    let (status, body) = read(res).await;
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (429, Some("too_many_runs")),
        "{body}"
    );
    assert!(
        t.elapsed() < Duration::from_secs(1),
        "refused at once, not queued"
    );
    let (_, list) = app
        .get(&format!("/api/test-runs?promptId={prompt_id}"))
        .await;
    assert_eq!(
        list["data"]["items"].as_array().unwrap().len(),
        2,
        "the refused run is not stored"
    );

    for id in &slow {
        let (status, _) = app
            .post(&format!("/api/test-runs/{id}/cancel"), json!({}))
            .await;
        assert_eq!(status, 200);
    }
    assert_eq!(
        app.app.runs_in_flight(),
        0,
        "permits come back when runs end"
    );
    let r = run(&app, json!({ "promptId": prompt_id, "model": "mock-echo" })).await;
    assert_eq!(r["status"], "succeeded");
}

async fn twenty_concurrent_runs_against_a_slow_upstream_are_all_recorded(db: TestDb) {
    let app = spawn_app(db).await;
    let (prompt_id, _) = text_prompt(&app, "Hi").await;
    let started = Instant::now();
    let mut tasks = Vec::new();
    for i in 0..20 {
        let (api, url, prompt_id) = (
            app.api.clone(),
            app.url("/api/test-runs"),
            prompt_id.clone(),
        );
        let model = if i % 4 == 3 {
            "mock-drop"
        } else {
            "mock-stream-10x50ms"
        };
        tasks.push(tokio::spawn(async move {
            let stream = i % 2 == 0;
            let res = api
                .post(url)
                .json(&json!({ "promptId": prompt_id, "model": model, "stream": stream }))
                .send()
                .await
                .unwrap();
            let run = if stream {
                SseReader::new(res).all().await.pop().unwrap().data
            } else {
                read(res).await.1["data"].clone()
            };
            (model, run)
        }));
    }
    let mut statuses: HashMap<String, usize> = HashMap::new();
    for t in tasks {
        let (model, run) = t.await.unwrap();
        let expected = if model == "mock-drop" {
            "failed"
        } else {
            "succeeded"
        };
        assert_eq!(run["status"], expected, "{run}");
        if expected == "succeeded" {
            assert_eq!(run["output"], stream_text(10));
        }
        *statuses
            .entry(run["status"].as_str().unwrap().to_string())
            .or_default() += 1;
    }
    assert!(
        started.elapsed() < Duration::from_secs(15),
        "they ran concurrently: {:?}",
        started.elapsed()
    );
    assert_eq!((statuses["succeeded"], statuses["failed"]), (15, 5));
    let mut counts = app.store.runs().count_by_status().await.unwrap();
    counts.sort();
    assert_eq!(
        counts,
        vec![("failed".to_string(), 5), ("succeeded".to_string(), 15)],
        "none left running"
    );
    assert_eq!(app.app.runs_in_flight(), 0);
}

async fn a_streamed_run_whose_client_disconnects_is_still_stored(db: TestDb) {
    let app = spawn_app(db).await;
    let (prompt_id, _) = text_prompt(&app, "Hi").await;
    let mut sse = stream(
        &app,
        json!({ "promptId": prompt_id, "model": "mock-stream-10x80ms", "stream": true }),
    )
    .await;
    let id = sse.run_id().await;
    assert_eq!(sse.next().await.unwrap().event, "delta");
    drop(sse); // the client hangs up mid-stream

    let path = format!("/api/test-runs/{id}");
    eventually("the run to finish", || {
        let f = app.get(&path);
        async move { f.await.1["data"]["status"] != "running" }
    })
    .await;
    let (_, r) = app.get(&path).await;
    assert_eq!(
        r["data"]["status"], "succeeded",
        "the run completes without its client"
    );
    assert_eq!(r["data"]["output"], stream_text(10));
    eventually("its permit to come back", || async {
        app.app.runs_in_flight() == 0
    })
    .await;
}

async fn a_drain_at_shutdown_cancels_what_is_still_in_flight(db: TestDb) {
    let app = spawn_app(db).await;
    let (prompt_id, _) = text_prompt(&app, "Hi").await;
    assert_eq!(
        app.app.drain_runs(Duration::from_secs(5)).await,
        0,
        "nothing to wait for"
    );
    let quick = run(&app, json!({ "promptId": prompt_id, "model": "mock-echo" })).await;
    assert_eq!(
        quick["status"], "succeeded",
        "a drain does not close the door for good"
    );

    let mut sse = stream(
        &app,
        json!({ "promptId": prompt_id, "model": "mock-slow", "stream": true }),
    )
    .await;
    let id = sse.run_id().await;
    let t = Instant::now();
    assert_eq!(app.app.drain_runs(Duration::from_millis(300)).await, 1);
    assert!(t.elapsed() < Duration::from_secs(2), "{:?}", t.elapsed());
    let (_, r) = app.get(&format!("/api/test-runs/{id}")).await;
    assert_eq!(r["data"]["status"], "cancelled");
    assert_eq!(sse.all().await.last().unwrap().data["status"], "cancelled");
    assert_eq!(app.app.runs_in_flight(), 0);
}
