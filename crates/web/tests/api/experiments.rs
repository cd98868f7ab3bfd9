//! Experiments through the HTTP API, on both databases: a whole run of 2
//! variants × 20 items × 2 repeats, budget pause and resume without a cell
//! run twice, 429 storms, cancel, results pinned to the dataset version,
//! and the 4xx of bad input.

use std::time::{Duration, Instant};

use promptrefine_testkit::mock_openai::Behavior;
use promptrefine_testkit::{TestDb, both_backends};
use serde_json::{Value, json};

use crate::helpers::{TestApp, spawn_app};

both_backends!(
    two_variants_over_twenty_items_twice_make_eighty_runs,
    a_budget_pauses_before_the_cap_and_resume_finishes_without_a_cell_twice,
    a_storm_of_429s_slows_the_experiment_but_it_completes,
    cancel_stops_pending_and_running_cells,
    bad_experiments_are_422s_naming_the_field,
    the_estimate_counts_cells_and_tokens_without_running_anything,
    results_show_items_as_pinned_and_events_end_with_the_experiment,
    a_big_experiment_never_makes_an_interactive_run_wait,
    calls_in_flight_never_exceed_the_experiments_concurrency,
);

/// A dataset of `n` items with variable `name`.
pub(crate) async fn dataset(app: &TestApp, name: &str, n: usize) -> String {
    let items = (0..n)
        .map(|i| json!({ "variables": { "name": format!("item{i}") } }))
        .collect();
    dataset_of(app, name, items).await
}

/// A dataset holding `items` (at most 1,000, one call).
pub(crate) async fn dataset_of(app: &TestApp, name: &str, items: Vec<Value>) -> String {
    let (s, body) = app.post("/api/datasets", json!({ "name": name })).await;
    assert_eq!(s, 201, "{body}");
    let id = body["data"]["id"].as_str().unwrap().to_string();
    let (s, body) = app
        .post(
            &format!("/api/datasets/{id}/items"),
            json!({ "items": items }),
        )
        .await;
    assert!(s == 200 || s == 201, "{s} {body}");
    id
}

/// A prompt with two versions (`Hello {{name}}`, `Hi {{name}}`); its id and
/// the two version ids.
pub(crate) async fn prompt_with_two_versions(
    app: &TestApp,
    model: &str,
) -> (String, String, String) {
    let (s, p) = app
        .post(
            "/api/prompts",
            json!({ "title": "Greeter", "type": "text", "content": "Hello {{name}}",
                    "settings": { "model": model } }),
        )
        .await;
    assert_eq!(s, 201, "{p}");
    let id = p["data"]["id"].as_str().unwrap().to_string();
    let v1 = p["data"]["currentVersionId"].as_str().unwrap().to_string();
    let (s, v) = app
        .post(
            &format!("/api/prompts/{id}/versions"),
            json!({ "content": "Hi {{name}}", "settings": { "model": model } }),
        )
        .await;
    assert_eq!(s, 201, "{v}");
    let v2 = v["data"]["id"].as_str().unwrap().to_string();
    (id, v1, v2)
}

/// Polls until the experiment has ended (or `limit` passed); returns it.
pub(crate) async fn wait_for_end(app: &TestApp, id: &str, limit: Duration) -> Value {
    let t = Instant::now();
    loop {
        let (s, e) = app.get(&format!("/api/experiments/{id}")).await;
        assert_eq!(s, 200, "{e}");
        let status = e["data"]["status"].as_str().unwrap().to_string();
        if matches!(status.as_str(), "succeeded" | "failed" | "cancelled") {
            return e["data"].clone();
        }
        assert!(t.elapsed() < limit, "not ended after {limit:?}: {e}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

async fn wait_for_status(app: &TestApp, id: &str, want: &str, limit: Duration) -> Value {
    let t = Instant::now();
    loop {
        let (_, e) = app.get(&format!("/api/experiments/{id}")).await;
        if e["data"]["status"] == want {
            return e["data"].clone();
        }
        assert!(t.elapsed() < limit, "not {want} after {limit:?}: {e}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Every run of the experiment, through the run history filter.
async fn runs_of(app: &TestApp, prompt: &str, experiment: &str) -> Vec<Value> {
    let mut all = vec![];
    let mut cursor: Option<String> = None;
    loop {
        let mut url =
            format!("/api/test-runs?promptId={prompt}&experimentId={experiment}&limit=100");
        if let Some(c) = &cursor {
            url.push_str(&format!("&cursor={c}"));
        }
        let (s, page) = app.get(&url).await;
        assert_eq!(s, 200, "{page}");
        all.extend(page["data"]["items"].as_array().unwrap().iter().cloned());
        match page["data"]["nextCursor"].as_str() {
            Some(c) => cursor = Some(c.to_string()),
            None => return all,
        }
    }
}

async fn two_variants_over_twenty_items_twice_make_eighty_runs(db: TestDb) {
    let app = spawn_app(db).await;
    let (prompt, v1, v2) = prompt_with_two_versions(&app, "mock-echo").await;
    let ds = dataset(&app, "greetings", 20).await;
    let (s, e) = app
        .post(
            "/api/experiments",
            json!({ "promptId": prompt, "datasetId": ds, "repeats": 2, "concurrency": 8,
                    "variants": [{ "versionId": v1 }, { "versionId": v2 }] }),
        )
        .await;
    assert_eq!(s, 202, "{e}");
    let id = e["data"]["id"].as_str().unwrap().to_string();
    assert_eq!(e["data"]["progress"]["total"], 80);
    assert_eq!(e["data"]["estimate"]["cells"], 80);

    let done = wait_for_end(&app, &id, Duration::from_secs(60)).await;
    assert_eq!(done["status"], "succeeded", "{done}");
    assert_eq!(done["progress"]["succeeded"], 80, "{done}");
    assert_eq!(done["progress"]["pending"], 0);
    assert_eq!(done["progress"]["running"], 0);
    assert!(done["finishedAt"].is_string());

    let runs = runs_of(&app, &prompt, &id).await;
    assert_eq!(runs.len(), 80, "one run per cell");
    let mut cells: Vec<(String, i64, i64)> = runs
        .iter()
        .map(|r| {
            assert_eq!(r["experimentId"], id.as_str());
            assert_eq!(r["status"], "succeeded", "{r}");
            (
                r["itemId"].as_str().unwrap().to_string(),
                r["variant"].as_i64().unwrap(),
                r["repeat"].as_i64().unwrap(),
            )
        })
        .collect();
    cells.sort();
    cells.dedup();
    assert_eq!(cells.len(), 80, "no cell ran twice");
    assert_eq!(
        app.mock.chat_requests().len(),
        80,
        "one upstream call per cell"
    );

    // Results, by item, as the experiment pinned them; paged.
    let (s, page) = app
        .get(&format!("/api/experiments/{id}/results?limit=15"))
        .await;
    assert_eq!(s, 200, "{page}");
    let rows = page["data"]["items"].as_array().unwrap();
    assert_eq!(rows.len(), 15);
    assert_eq!(rows[0]["item"]["variables"]["name"], "item0");
    assert_eq!(
        rows[0]["cells"].as_array().unwrap().len(),
        4,
        "2 variants × 2 repeats"
    );
    let cell = &rows[0]["cells"][0];
    assert_eq!(cell["status"], "succeeded");
    assert_eq!(cell["output"], "Echo: Hello item0");
    let next = page["data"]["nextCursor"].as_str().unwrap();
    let (_, rest) = app
        .get(&format!(
            "/api/experiments/{id}/results?limit=15&cursor={next}"
        ))
        .await;
    assert_eq!(rest["data"]["items"].as_array().unwrap().len(), 5);
    assert!(rest["data"]["nextCursor"].is_null());

    // Listed, newest first, filtered by prompt.
    let (_, list) = app
        .get(&format!("/api/experiments?promptId={prompt}"))
        .await;
    assert_eq!(list["data"]["items"][0]["id"], id.as_str());
}

/// A cell's place frees as its call ends, before its outcome is written
/// (the engine counts those cells beside the database's `running`): the
/// upstream must still never see more calls at once than the concurrency.
async fn calls_in_flight_never_exceed_the_experiments_concurrency(db: TestDb) {
    let app = spawn_app(db).await;
    let (prompt, v1, _) = prompt_with_two_versions(&app, "mock-stream-3x20ms").await;
    let ds = dataset(&app, "places", 40).await;
    app.mock.reset();
    let (s, e) = app
        .post(
            "/api/experiments",
            json!({ "promptId": prompt, "datasetId": ds, "concurrency": 3,
                    "variants": [{ "versionId": v1 }] }),
        )
        .await;
    assert_eq!(s, 202, "{e}");
    let id = e["data"]["id"].as_str().unwrap().to_string();
    let done = wait_for_end(&app, &id, Duration::from_secs(60)).await;
    assert_eq!(done["progress"]["succeeded"], 40, "{done}");
    assert_eq!(app.mock.chat_requests().len(), 40, "one call per cell");
    let peak = app.mock.peak_chats_in_flight();
    assert!(peak <= 3, "{peak} calls at once, concurrency 3");
    assert!(peak >= 2, "the cells ran concurrently: peak {peak}");
}

async fn a_budget_pauses_before_the_cap_and_resume_finishes_without_a_cell_twice(db: TestDb) {
    let app = spawn_app(db).await;
    // gpt-4o-mini has a list price; the mock answers it, every call using
    // its whole max_tokens, so real spend is near the worst case.
    app.mock.set_default(Behavior::Reply {
        text: "ok".into(),
        prompt_tokens: None,
        completion_tokens: Some(1000),
    });
    let (prompt, _, _) = prompt_with_two_versions(&app, "gpt-4o-mini").await;
    let ds = dataset(&app, "budget", 10).await;
    let body = json!({ "promptId": prompt, "datasetId": ds, "concurrency": 4,
                       "variants": [{ "params": { "maxTokens": 1000 } }] });
    let (_, est) = app.post("/api/experiments/estimate", body.clone()).await;
    let worst = est["data"]["maxCostMicroUsd"].as_i64().unwrap();
    assert!(worst > 0, "{est}");
    // Room for about half of the cells' worst case.
    let cap_usd = (worst as f64 / 2.0) / 1_000_000.0;
    let mut with_cap = body.clone();
    with_cap["maxCostUsd"] = json!(cap_usd);
    let (s, e) = app.post("/api/experiments", with_cap).await;
    assert_eq!(s, 202, "{e}");
    let id = e["data"]["id"].as_str().unwrap().to_string();

    let paused = wait_for_status(&app, &id, "paused", Duration::from_secs(30)).await;
    assert_eq!(paused["pauseReason"], "budget", "{paused}");
    // Let the cells in flight settle.
    let t = Instant::now();
    let settled = loop {
        let (_, e) = app.get(&format!("/api/experiments/{id}")).await;
        if e["data"]["progress"]["running"] == 0 {
            break e["data"].clone();
        }
        assert!(t.elapsed() < Duration::from_secs(30));
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    let cap = settled["maxCostMicroUsd"].as_i64().unwrap();
    let spent = settled["costMicroUsd"].as_i64().unwrap();
    assert!(spent <= cap, "spent {spent} > cap {cap}");
    let done_before = settled["progress"]["succeeded"].as_i64().unwrap();
    assert!(done_before > 0 && done_before < 10, "{settled}");
    assert_eq!(settled["reservedMicroUsd"], 0);

    let (s, resumed) = app
        .post(
            &format!("/api/experiments/{id}/resume"),
            json!({ "maxCostUsd": (worst as f64 * 2.0) / 1_000_000.0 }),
        )
        .await;
    assert_eq!(s, 200, "{resumed}");
    let done = wait_for_end(&app, &id, Duration::from_secs(60)).await;
    assert_eq!(done["status"], "succeeded", "{done}");
    assert_eq!(done["progress"]["succeeded"], 10);
    assert!(done["costMicroUsd"].as_i64().unwrap() <= done["maxCostMicroUsd"].as_i64().unwrap());
    assert_eq!(
        runs_of(&app, &prompt, &id).await.len(),
        10,
        "no cell ran twice"
    );
    assert_eq!(app.mock.chat_requests().len(), 10);

    // Resuming an experiment that is not paused is a conflict.
    let (s, body) = app
        .post(&format!("/api/experiments/{id}/resume"), json!({}))
        .await;
    assert_eq!(s, 409, "{body}");
}

async fn a_storm_of_429s_slows_the_experiment_but_it_completes(db: TestDb) {
    let app = spawn_app(db).await;
    let (prompt, _, _) = prompt_with_two_versions(&app, "mock-echo").await;
    let ds = dataset(&app, "storm", 12).await;
    // The first 20 upstream calls get a 429 (retry-after: 1).
    for _ in 0..20 {
        app.mock.enqueue(Behavior::error(429));
    }
    let (s, e) = app
        .post(
            "/api/experiments",
            json!({ "promptId": prompt, "datasetId": ds, "concurrency": 6 }),
        )
        .await;
    assert_eq!(s, 202, "{e}");
    let id = e["data"]["id"].as_str().unwrap().to_string();
    let done = wait_for_end(&app, &id, Duration::from_secs(90)).await;
    assert_eq!(done["status"], "succeeded", "{done}");
    assert_eq!(done["progress"]["succeeded"], 12, "{done}");
    let runs = runs_of(&app, &prompt, &id).await;
    let ok = runs.iter().filter(|r| r["status"] == "succeeded").count();
    assert_eq!(ok, 12, "exactly one succeeded run per cell");
    assert!(
        runs.iter().any(|r| r["attempt"].as_i64() > Some(1)),
        "some cell needed another attempt"
    );
}

async fn cancel_stops_pending_and_running_cells(db: TestDb) {
    let app = spawn_app(db).await;
    let (prompt, _, _) = prompt_with_two_versions(&app, "mock-stream-50x100ms").await;
    let ds = dataset(&app, "cancel", 20).await;
    let (_, e) = app
        .post(
            "/api/experiments",
            json!({ "promptId": prompt, "datasetId": ds, "concurrency": 4 }),
        )
        .await;
    let id = e["data"]["id"].as_str().unwrap().to_string();
    let t = Instant::now();
    loop {
        let (_, e) = app.get(&format!("/api/experiments/{id}")).await;
        if e["data"]["progress"]["running"] == 4 {
            break;
        }
        assert!(t.elapsed() < Duration::from_secs(20), "{e}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let (s, c) = app
        .post(&format!("/api/experiments/{id}/cancel"), json!({}))
        .await;
    assert_eq!(s, 200, "{c}");
    assert_eq!(c["data"]["status"], "cancelled");
    let t = Instant::now();
    let ended = loop {
        let (_, e) = app.get(&format!("/api/experiments/{id}")).await;
        if e["data"]["progress"]["running"] == 0 {
            break e["data"].clone();
        }
        // The cells run 5 s each; cancel must not wait for them.
        assert!(
            t.elapsed() < Duration::from_secs(4),
            "cells still running: {e}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    assert_eq!(ended["progress"]["cancelled"], 20, "{ended}");
    assert!(ended["finishedAt"].is_string());
    let runs = runs_of(&app, &prompt, &id).await;
    assert_eq!(runs.len(), 4);
    assert!(runs.iter().all(|r| r["status"] == "cancelled"), "{runs:?}");
    let (s, _) = app
        .post(&format!("/api/experiments/{id}/cancel"), json!({}))
        .await;
    assert_eq!(s, 409, "cancelling twice");
    let (s, _) = app.delete(&format!("/api/experiments/{id}")).await;
    assert_eq!(s, 200);
    let (s, _) = app.get(&format!("/api/experiments/{id}")).await;
    assert_eq!(s, 404);
    assert!(
        runs_of(&app, &prompt, &id).await.is_empty(),
        "its runs went with it"
    );
}

async fn bad_experiments_are_422s_naming_the_field(db: TestDb) {
    let app = spawn_app(db).await;
    let (prompt, v1, _) = prompt_with_two_versions(&app, "mock-echo").await;
    let ds = dataset(&app, "bad", 2).await;
    let cases = [
        (
            json!({ "promptId": prompt, "datasetId": ds, "repeats": 0 }),
            "repeats",
        ),
        (
            json!({ "promptId": prompt, "datasetId": ds, "repeats": 21 }),
            "repeats",
        ),
        (
            json!({ "promptId": prompt, "datasetId": ds, "concurrency": 0 }),
            "concurrency",
        ),
        (
            json!({ "promptId": prompt, "datasetId": ds, "maxCostUsd": -1 }),
            "maxCostUsd",
        ),
        (
            json!({ "promptId": prompt, "datasetId": ds, "variants": (0..9).map(|_| json!({})).collect::<Vec<_>>() }),
            "variants",
        ),
        (
            json!({ "promptId": prompt, "datasetId": ds, "variants": [{ "versionId": v1, "label": "production" }] }),
            "variants[0]",
        ),
        (
            json!({ "promptId": prompt, "datasetId": ds, "variants": [{ "label": "nope" }] }),
            "variants[0].label",
        ),
        (
            json!({ "promptId": prompt, "datasetId": ds, "variants": [{ "provider": "nope" }] }),
            "variants[0].provider",
        ),
        // mock-echo has no price: a budget cannot be kept.
        (
            json!({ "promptId": prompt, "datasetId": ds, "maxCostUsd": 1 }),
            "maxCostUsd",
        ),
        (
            json!({ "promptId": prompt, "datasetId": ds, "surprise": 1 }),
            "surprise",
        ),
    ];
    for (body, field) in cases {
        let (s, e) = app.post("/api/experiments", body.clone()).await;
        assert_eq!(s, 422, "{body} → {e}");
        let details = e["error"]["details"]["fields"]
            .as_array()
            .unwrap_or_else(|| panic!("{body}: no details in {e}"));
        assert!(
            details.iter().any(|d| d["field"] == field),
            "{body}: expected {field} in {e}"
        );
    }
    // A variable the items do not have.
    let (_, p) = app
        .post(
            "/api/prompts",
            json!({ "title": "Needs x", "type": "text", "content": "{{x}}", "settings": { "model": "mock-echo" } }),
        )
        .await;
    let (s, e) = app
        .post(
            "/api/experiments",
            json!({ "promptId": p["data"]["id"], "datasetId": ds }),
        )
        .await;
    assert_eq!(s, 422, "{e}");
    assert_eq!(
        e["error"]["details"]["fields"][0]["field"], "variables.x",
        "{e}"
    );
    let (s, _) = app
        .post(
            "/api/experiments",
            json!({ "promptId": prompt, "datasetId": uuid::Uuid::now_v7() }),
        )
        .await;
    assert_eq!(s, 404);
    let (s, _) = app.get("/api/experiments/not-an-id").await;
    assert_eq!(s, 404);
    let (s, _) = app.get("/api/experiments?cursor=forged").await;
    assert_eq!(s, 422);
    // Nothing was stored by any of them.
    let (_, list) = app.get("/api/experiments").await;
    assert_eq!(list["data"]["items"].as_array().unwrap().len(), 0);
    assert_eq!(app.mock.chat_requests().len(), 0);
}

async fn the_estimate_counts_cells_and_tokens_without_running_anything(db: TestDb) {
    let app = spawn_app(db).await;
    let (prompt, v1, v2) = prompt_with_two_versions(&app, "gpt-4o-mini").await;
    let ds = dataset(&app, "estimate", 5).await;
    let (s, est) = app
        .post(
            "/api/experiments/estimate",
            json!({ "promptId": prompt, "datasetId": ds, "repeats": 3,
                    "variants": [{ "versionId": v1 }, { "versionId": v2, "params": { "maxTokens": 10 } }] }),
        )
        .await;
    assert_eq!(s, 200, "{est}");
    let e = &est["data"];
    assert_eq!(e["cells"], 30);
    assert!(e["promptTokens"].as_i64().unwrap() > 0);
    assert!(e["costMicroUsd"].as_i64().unwrap() > 0);
    assert!(e["maxCostMicroUsd"].as_i64().unwrap() >= e["costMicroUsd"].as_i64().unwrap());
    let (_, list) = app.get("/api/experiments").await;
    assert!(list["data"]["items"].as_array().unwrap().is_empty());
    assert_eq!(app.mock.chat_requests().len(), 0);
}

async fn results_show_items_as_pinned_and_events_end_with_the_experiment(db: TestDb) {
    let app = spawn_app(db).await;
    let (prompt, _, _) = prompt_with_two_versions(&app, "mock-echo").await;
    let ds = dataset(&app, "pinned", 3).await;
    let (_, e) = app
        .post(
            "/api/experiments",
            json!({ "promptId": prompt, "datasetId": ds }),
        )
        .await;
    let id = e["data"]["id"].as_str().unwrap().to_string();
    assert_eq!(e["data"]["datasetVersion"], 1);

    // The events stream: progress events, then `done` with the final experiment.
    let res = app
        .api
        .get(app.url(&format!("/api/experiments/{id}/events")))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    assert!(
        res.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/event-stream")
    );
    let body = tokio::time::timeout(Duration::from_secs(30), res.text())
        .await
        .expect("the stream ends when the experiment does")
        .unwrap();
    let done = body
        .split("\n\n")
        .find(|e| e.contains("event: done"))
        .unwrap_or_else(|| panic!("no done event in {body}"));
    let data: Value =
        serde_json::from_str(done.lines().find_map(|l| l.strip_prefix("data: ")).unwrap()).unwrap();
    assert_eq!(data["status"], "succeeded", "{data}");
    assert_eq!(data["progress"]["succeeded"], 3);

    // Editing the dataset afterwards changes nothing the experiment shows.
    let (_, items) = app.get(&format!("/api/datasets/{ds}/items")).await;
    let first = items["data"]["items"][0]["id"]
        .as_str()
        .unwrap()
        .to_string();
    let (s, edited) = app
        .patch(
            &format!("/api/datasets/{ds}/items/{first}"),
            json!({ "variables": { "name": "changed" } }),
        )
        .await;
    assert_eq!(s, 200, "{edited}");
    let (_, page) = app.get(&format!("/api/experiments/{id}/results")).await;
    let row = &page["data"]["items"][0];
    assert_eq!(row["item"]["id"], first.as_str());
    assert_eq!(
        row["item"]["variables"]["name"], "item0",
        "as it was: {row}"
    );
    // The default variant: the current version, `Hi {{name}}`.
    assert_eq!(row["cells"][0]["output"], "Echo: Hi item0");
}

async fn a_big_experiment_never_makes_an_interactive_run_wait(db: TestDb) {
    let app = spawn_app(db).await;
    let (prompt, _, _) = prompt_with_two_versions(&app, "mock-stream-20x100ms").await;
    let ds = dataset(&app, "busy", 64).await;
    let (_, e) = app
        .post(
            "/api/experiments",
            json!({ "promptId": prompt, "datasetId": ds, "concurrency": 64 }),
        )
        .await;
    let id = e["data"]["id"].as_str().unwrap().to_string();
    let t = Instant::now();
    loop {
        let (_, e) = app.get(&format!("/api/experiments/{id}")).await;
        // More cells in flight than the interactive cap (32 in tests).
        if e["data"]["progress"]["running"].as_i64() > Some(32) {
            break;
        }
        assert!(t.elapsed() < Duration::from_secs(20), "{e}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let (s, run) = app
        .post(
            "/api/test-runs",
            json!({ "promptId": prompt, "model": "mock-echo", "variables": { "name": "me" } }),
        )
        .await;
    assert_eq!(s, 201, "the Run button is not refused: {run}");
    assert_eq!(run["data"]["status"], "succeeded");
    let (s, _) = app
        .post(&format!("/api/experiments/{id}/cancel"), json!({}))
        .await;
    assert_eq!(s, 200);
}
