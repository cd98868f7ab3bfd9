//! The run history: newest first, paged, filtered. (Runs a crash left behind
//! read as `interrupted`: `tests/api/launch.rs`, through a real restart.)

use promptrefine_testkit::{TestDb, both_backends};
use serde_json::json;

use super::{run, text_prompt};
use crate::helpers::{fields, spawn_app};

both_backends!(history_is_newest_first_paged_and_filtered,);

async fn history_is_newest_first_paged_and_filtered(db: TestDb) {
    let app = spawn_app(db).await;
    let (prompt_id, v1) = text_prompt(&app, "One").await;
    let mut ids = Vec::new();
    for model in ["mock-echo", "mock-error-400", "mock-echo"] {
        ids.push(run(&app, json!({ "promptId": prompt_id, "model": model })).await["id"].clone());
    }
    let (status, v2) = app
        .post(
            &format!("/api/prompts/{prompt_id}/versions"),
            json!({ "content": "Two" }),
        )
        .await;
    assert_eq!(status, 201);
    let v2 = v2["data"]["id"].as_str().unwrap().to_string();
    for _ in 0..2 {
        ids.push(
            run(&app, json!({ "promptId": prompt_id, "model": "mock-echo" })).await["id"].clone(),
        );
    }
    let (other, _) = text_prompt(&app, "Other").await;
    run(&app, json!({ "promptId": other, "model": "mock-echo" })).await;
    ids.reverse();

    let mut seen = Vec::new();
    let mut cursor: Option<String> = None;
    loop {
        let mut path = format!("/api/test-runs?promptId={prompt_id}&limit=2");
        if let Some(c) = &cursor {
            path.push_str(&format!("&cursor={c}"));
        }
        let (status, page) = app.get(&path).await;
        assert_eq!(status, 200, "{page}");
        let items = page["data"]["items"].as_array().unwrap();
        assert!(items.len() <= 2);
        seen.extend(items.iter().map(|r| r["id"].clone()));
        match page["data"]["nextCursor"].as_str() {
            Some(c) => cursor = Some(c.to_string()),
            None => break,
        }
    }
    assert_eq!(seen, ids, "newest first, every run once, no other prompt's");

    let (_, by_version) = app
        .get(&format!(
            "/api/test-runs?promptId={prompt_id}&versionId={v2}"
        ))
        .await;
    assert_eq!(by_version["data"]["items"].as_array().unwrap().len(), 2);
    let (_, by_version) = app
        .get(&format!(
            "/api/test-runs?promptId={prompt_id}&versionId={v1}"
        ))
        .await;
    assert_eq!(by_version["data"]["items"].as_array().unwrap().len(), 3);
    let (_, failed) = app
        .get(&format!(
            "/api/test-runs?promptId={prompt_id}&status=failed"
        ))
        .await;
    assert_eq!(failed["data"]["items"].as_array().unwrap().len(), 1);
    assert_eq!(failed["data"]["items"][0]["errorCode"], "invalid_request");

    for (query, field) in [
        ("", "promptId"),
        ("promptId=nope", "promptId"),
        (
            &format!("promptId={prompt_id}&status=done") as &str,
            "status",
        ),
        (
            &format!("promptId={prompt_id}&cursor=forged") as &str,
            "cursor",
        ),
        (&format!("promptId={prompt_id}&limit=500") as &str, "limit"),
        (
            &format!("promptId={prompt_id}&versionId=x") as &str,
            "versionId",
        ),
    ] {
        let (status, body) = app.get(&format!("/api/test-runs?{query}")).await;
        assert_eq!(
            (status, fields(&body)),
            (422, vec![field.to_string()]),
            "{query}: {body}"
        );
    }
    let (status, _) = app
        .get("/api/test-runs?promptId=0190f1e2-aaaa-7bbb-8ccc-123456789abc")
        .await;
    assert_eq!(status, 404);
    let (status, _) = app
        .get("/api/test-runs/0190f1e2-aaaa-7bbb-8ccc-123456789abc")
        .await;
    assert_eq!(status, 404);
    let (status, _) = app.get("/api/test-runs/not-an-id").await;
    assert_eq!(status, 404);
}
