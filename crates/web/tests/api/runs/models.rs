//! `GET /api/models`: live from the provider and cached, or the configured
//! list when the provider cannot be asked.

use promptrefine_testkit::{TestDb, both_backends};
use serde_json::json;

use crate::helpers::{TEST_API_KEY, spawn_app};

both_backends!(
    the_model_list_is_live_and_cached,
    the_model_list_falls_back_to_the_configured_models,
);

async fn the_model_list_is_live_and_cached(db: TestDb) {
    let app = spawn_app(db).await;
    let (status, body) = app.get("/api/models").await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        body["data"],
        json!([{ "provider": "openai", "models": ["gpt-4o-mini", "mock-echo", "mock-slow"], "source": "live", "hasKey": true }])
    );
    app.mock.set_models(vec!["changed".into()]);
    app.mock.fail_models(true);
    let (_, again) = app.get("/api/models").await;
    assert_eq!(again, body, "served from the cache");
    let asked = app
        .mock
        .requests()
        .iter()
        .filter(|r| r.path == "/v1/models")
        .count();
    assert_eq!(asked, 1);
    assert!(app.mock.requests()[0].header("authorization").is_some());
}

async fn the_model_list_falls_back_to_the_configured_models(db: TestDb) {
    let app = spawn_app(db).await;
    app.mock.fail_models(true);
    let (status, body) = app.get("/api/models").await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        body["data"],
        json!([{ "provider": "openai", "models": ["gpt-4o-mini", "mock-echo"], "source": "fallback", "hasKey": true }])
    );
    assert!(!body.to_string().contains(TEST_API_KEY));
}
