//! Reads that must not grow with what they show: the prompt page and the
//! run-history API take the same number of SQL statements for one run as
//! for thirty (counted with testkit's `QueryCounter`, scoped to the request
//! through its `x-request-id`).

use promptrefine_testkit::{QueryCounter, TestDb, both_backends};
use serde_json::json;

use crate::helpers::{TestApp, spawn_app};

both_backends!(the_prompt_page_and_the_run_history_take_as_many_queries_for_thirty_runs_as_for_one);

/// The statements the server runs for one GET. The same request goes first
/// uncounted: it opens pool connections and slides the session's or token's
/// "last seen" (a write at most once a minute), which a read in steady state
/// does not do.
async fn queries_for(app: &TestApp, client: &reqwest::Client, path: &str) -> (Vec<String>, String) {
    let warm = client.get(app.url(path)).send().await.unwrap();
    assert_eq!(warm.status(), 200, "{path}");
    let counter = QueryCounter::new();
    let res = client
        .get(app.url(path))
        .header("x-request-id", counter.tag())
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200, "{path}");
    let body = res.text().await.unwrap();
    (counter.statements(), body)
}

async fn run_version(app: &TestApp, prompt_id: &str, version_id: &str) {
    let (status, run) = app
        .post(
            "/api/test-runs",
            json!({ "promptId": prompt_id, "versionId": version_id, "model": "mock-echo" }),
        )
        .await;
    assert_eq!(
        (status, run["data"]["status"].as_str()),
        (201, Some("succeeded")),
        "{run}"
    );
}

async fn the_prompt_page_and_the_run_history_take_as_many_queries_for_thirty_runs_as_for_one(
    db: TestDb,
) {
    let app = spawn_app(db).await;
    let browser = app.browser();
    assert_eq!(app.login(&browser).await.status(), 200);
    let prompt = app.create_prompt("Counted", Some("version 1")).await;
    let id = prompt["id"].as_str().unwrap();
    let mut version_ids = vec![prompt["currentVersionId"].as_str().unwrap().to_owned()];
    for n in 2..=31 {
        let (status, v) = app
            .post(
                &format!("/api/prompts/{id}/versions"),
                json!({ "content": format!("version {n}") }),
            )
            .await;
        assert_eq!(status, 201, "{v}");
        version_ids.push(v["data"]["id"].as_str().unwrap().to_owned());
    }
    // The page shows the oldest version only, so no run shown is of a
    // version on the page: their numbers must come from the runs' query.
    let (_, older) = app
        .get(&format!("/api/prompts/{id}/versions?limit=30"))
        .await;
    let cursor = older["data"]["nextCursor"].as_str().unwrap().to_owned();
    let page = format!("/app/prompts/{id}?version_cursor={cursor}");
    let history = format!("/api/test-runs?promptId={id}&limit=100");

    run_version(&app, id, &version_ids[30]).await;
    let (page_one, html) = queries_for(&app, &browser, &page).await;
    assert!(
        html.contains("<td>v31</td>"),
        "the run's version number is shown"
    );
    let (history_one, _) = queries_for(&app, &app.api, &history).await;

    // 29 more runs, each of its own version (v2 … v30).
    for vid in &version_ids[1..30] {
        run_version(&app, id, vid).await;
    }
    let (page_thirty, html) = queries_for(&app, &browser, &page).await;
    assert_eq!(html.matches("<td>v").count(), 20, "a page of 20 runs");
    // Newest first: the runs of v30 down to v11.
    assert!(html.contains("<td>v11</td>") && !html.contains("<td>v10</td>"));
    assert!(!html.contains("<td>v31</td>"));
    let (history_thirty, json) = queries_for(&app, &app.api, &history).await;
    let listed: serde_json::Value = serde_json::from_str(&json).unwrap();
    assert_eq!(listed["data"]["items"].as_array().unwrap().len(), 30);

    assert_eq!(
        page_one, page_thirty,
        "the prompt page: the same statements for 1 run as for 30"
    );
    assert_eq!(
        history_one, history_thirty,
        "the run history: the same statements for 1 run as for 30"
    );
    // Session with its user, prompt with its counter, current version,
    // labels, versions page, runs page with their numbers, newest experiment.
    assert_eq!(
        page_one.len(),
        7,
        "the prompt page's queries: {page_one:#?}"
    );
    // Prompt, runs page: the token's lookup is cached (app::delivery).
    assert_eq!(
        history_one.len(),
        2,
        "the run history's queries: {history_one:#?}"
    );
}
