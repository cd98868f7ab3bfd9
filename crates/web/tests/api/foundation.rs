//! The foundation: health, readiness, request ids, the envelope on every kind
//! of error, panics, body limits, security headers, graceful shutdown.

use std::time::Duration;

use axum::routing::get;
use promptrefine_testkit::{TestDb, both_backends};
use promptrefine_web::WebConfig;
use serde_json::{Value, json};

use crate::helpers::{
    Options, assert_envelope, read, spawn_app, spawn_app_with, spawn_app_with_web,
};

both_backends!(
    health_and_readiness_answer,
    a_sane_request_id_is_echoed_and_a_missing_or_hostile_one_replaced,
    unknown_routes_and_wrong_methods_answer_in_the_envelope,
    oversized_bodies_get_413_and_the_server_keeps_serving,
    wrong_content_types_get_415_and_broken_json_400,
    a_panicking_handler_gives_a_500_envelope_and_the_server_keeps_serving,
    every_response_carries_the_security_headers,
    graceful_shutdown_finishes_requests_in_flight,
    the_openapi_document_lists_every_api_route,
);

async fn health_and_readiness_answer(db: TestDb) {
    let app = spawn_app(db).await;
    let (status, body) = read(app.anon.get(app.url("/healthz")).send().await.unwrap()).await;
    assert_eq!((status, body["data"]["status"].as_str()), (200, Some("ok")));
    assert_eq!(
        body["data"]["version"].as_str(),
        Some(env!("CARGO_PKG_VERSION")),
        "healthz names the running version"
    );
    let (status, body) = read(app.anon.get(app.url("/readyz")).send().await.unwrap()).await;
    assert_eq!(status, 200);
    assert_eq!(body["data"]["database"], app._db.kind());

    app.store.close().await;
    let res = app.anon.get(app.url("/readyz")).send().await.unwrap();
    assert_eq!(
        res.status(),
        503,
        "readiness turns red when the database is gone"
    );
}

async fn a_sane_request_id_is_echoed_and_a_missing_or_hostile_one_replaced(db: TestDb) {
    let app = spawn_app(db).await;
    let res = app
        .anon
        .get(app.url("/healthz"))
        .header("x-request-id", "abc-123.X_y")
        .send()
        .await
        .unwrap();
    assert_eq!(res.headers()["x-request-id"], "abc-123.X_y");

    let res = app.anon.get(app.url("/healthz")).send().await.unwrap();
    let made = res.headers()["x-request-id"].to_str().unwrap().to_string();
    assert!(
        uuid::Uuid::parse_str(&made).is_ok(),
        "a UUID is made: {made}"
    );

    let hostile = "a b\"<script>";
    let res = app
        .anon
        .get(app.url("/api/nope"))
        .header("x-request-id", hostile)
        .send()
        .await
        .unwrap();
    let echoed = res.headers()["x-request-id"].to_str().unwrap().to_string();
    assert_ne!(echoed, hostile);
    let (_, body) = read(res).await;
    assert_eq!(
        body["error"]["requestId"], echoed,
        "the error body carries the same id"
    );
}

async fn unknown_routes_and_wrong_methods_answer_in_the_envelope(db: TestDb) {
    let app = spawn_app(db).await;
    let (status, body) = app.get("/api/does-not-exist").await;
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (404, Some("not_found"))
    );
    let res = app
        .api
        .put(app.url("/api/prompts"))
        .json(&json!({}))
        .send()
        .await
        .unwrap();
    let (status, body) = read(res).await;
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (405, Some("method_not_allowed"))
    );
    let (status, _) = app.get("/api/prompts/not-a-uuid").await;
    assert_eq!(status, 404);
}

/// Through reqwest's pool, which reconnects: this proves the refusal and that
/// the server still serves, not that the same connection does — that is
/// `hostile::transport::a_body_over_the_limit_is_413_and_the_same_connection_then_serves_a_request`,
/// on one raw TCP connection.
async fn oversized_bodies_get_413_and_the_server_keeps_serving(db: TestDb) {
    let web = WebConfig {
        body_limit_bytes: 64 * 1024,
        ..WebConfig::default()
    };
    let app = spawn_app_with_web(db, web).await;
    let big = json!({ "title": "x", "type": "text", "content": "y".repeat(200 * 1024) });
    let res = app
        .api
        .post(app.url("/api/prompts"))
        .json(&big)
        .send()
        .await
        .unwrap();
    let (status, body) = read(res).await;
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (413, Some("payload_too_large"))
    );
    // Chunked (no content-length) too. The server only finds out part-way and
    // then stops reading and closes the connection, so a client still writing
    // may see its write fail before it reads the 413: either is a refusal.
    let stream = futures::stream::iter((0..100).map(|_| Ok::<_, std::io::Error>(vec![b' '; 4096])));
    let res = app
        .api
        .post(app.url("/api/prompts"))
        .header("content-type", "application/json")
        .body(reqwest::Body::wrap_stream(stream))
        .send()
        .await;
    match res {
        Ok(res) => assert_eq!(res.status(), 413),
        Err(e) => assert!(e.is_request() || e.is_body(), "{e:?}"),
    }
    let (status, _) = app.get("/api/prompts").await;
    assert_eq!(status, 200, "the server keeps serving");
}

async fn wrong_content_types_get_415_and_broken_json_400(db: TestDb) {
    let app = spawn_app(db).await;
    let res = app
        .api
        .post(app.url("/api/prompts"))
        .header("content-type", "text/plain")
        .body("{}")
        .send()
        .await
        .unwrap();
    let (status, body) = read(res).await;
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (415, Some("unsupported_media_type"))
    );
    for bad in ["{", "{\"title\": }", "\u{0}"] {
        let res = app
            .api
            .post(app.url("/api/prompts"))
            .header("content-type", "application/json")
            .body(bad)
            .send()
            .await
            .unwrap();
        assert_eq!(read(res).await.0, 400, "{bad:?}");
    }
    let res = app
        .api
        .post(app.url("/api/prompts"))
        .header("content-type", "application/json")
        .body(vec![0xff, 0xfe, 0x7b])
        .send()
        .await
        .unwrap();
    assert_eq!(read(res).await.0, 400, "invalid UTF-8");
}

async fn a_panicking_handler_gives_a_500_envelope_and_the_server_keeps_serving(db: TestDb) {
    let extra = axum::Router::new().route(
        "/api/test-panic",
        get(|| async {
            panic!("boom");
            #[allow(unreachable_code)]
            ""
        }),
    );
    let app = spawn_app_with(
        db,
        Options {
            extra_routes: extra,
            ..Options::default()
        },
    )
    .await;
    let (status, body) = app.get("/api/test-panic").await;
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (500, Some("internal"))
    );
    assert!(
        !body.to_string().contains("boom"),
        "internals are not shown"
    );
    assert_eq!(app.get("/api/prompts").await.0, 200);
}

async fn every_response_carries_the_security_headers(db: TestDb) {
    let app = spawn_app(db).await;
    for path in ["/healthz", "/api/prompts", "/api/nope", "/nope"] {
        let res = app.anon.get(app.url(path)).send().await.unwrap();
        let h = res.headers();
        assert!(
            h["content-security-policy"]
                .to_str()
                .unwrap()
                .contains("script-src 'self'"),
            "{path}"
        );
        assert!(
            h["content-security-policy"]
                .to_str()
                .unwrap()
                .contains("frame-ancestors 'none'")
        );
        assert_eq!(h["x-content-type-options"], "nosniff");
        assert!(h.contains_key("referrer-policy"));
    }
}

async fn graceful_shutdown_finishes_requests_in_flight(db: TestDb) {
    let extra = axum::Router::new().route(
        "/api/test-slow",
        get(|| async {
            tokio::time::sleep(Duration::from_millis(700)).await;
            axum::Json(json!({ "data": "done", "error": null }))
        }),
    );
    let mut app = spawn_app_with(
        db,
        Options {
            extra_routes: extra,
            ..Options::default()
        },
    )
    .await;
    let client = app.anon.clone();
    let url = app.url("/api/test-slow");
    let slow = tokio::spawn(async move { client.get(url).send().await });
    tokio::time::sleep(Duration::from_millis(200)).await;
    let addr = app.addr.clone();
    app.stop().await.expect("a clean stop");
    let res = slow.await.unwrap().expect("the in-flight request finished");
    let body: Value = res.json().await.unwrap();
    assert_envelope(200, &body);
    assert_eq!(body["data"], "done");
    assert!(
        reqwest::get(format!("{addr}/healthz")).await.is_err(),
        "no longer accepting"
    );
}

async fn the_openapi_document_lists_every_api_route(db: TestDb) {
    let app = spawn_app(db).await;
    let doc = app.openapi().await;
    let paths = doc["paths"].as_object().unwrap();
    for p in [
        "/api/prompts",
        "/api/prompts/{id}",
        "/api/prompts/{id}/versions",
        "/api/prompts/{id}/versions/{number}",
        "/api/prompts/{id}/restore",
        "/api/prompts/{id}/diff",
        "/api/prompts/{id}/labels/{label}",
        "/api/prompts/by-slug/{slug}",
        "/api/prompts/{id}/render",
        "/api/auth/login",
        "/api/tokens",
    ] {
        assert!(paths.contains_key(p), "{p} missing from OpenAPI");
    }
}
