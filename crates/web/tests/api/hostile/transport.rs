//! Connection-level abuse, over raw TCP: a body over the limit on a kept-alive
//! connection, a huge header, a body cut short, and slowloris clients.

use std::time::{Duration, Instant};

use promptrefine_testkit::{TestDb, both_backends};
use promptrefine_web::WebConfig;
use serde_json::{Value, json};

use super::{RawConn, raw_get, raw_post};
use crate::helpers::{Options, assert_envelope, spawn_app, spawn_app_with, spawn_app_with_web};

both_backends!(
    a_body_over_the_limit_is_413_and_the_same_connection_then_serves_a_request,
    a_64_kib_header_is_refused_and_the_server_keeps_serving,
    a_body_shorter_than_its_content_length_is_answered_or_dropped_not_hung,
    slowloris_clients_are_cut_off_while_others_are_served_promptly,
);

async fn a_body_over_the_limit_is_413_and_the_same_connection_then_serves_a_request(db: TestDb) {
    let web = WebConfig {
        body_limit_bytes: 64 * 1024,
        ..WebConfig::default()
    };
    let app = spawn_app_with_web(db, web).await;
    let big = json!({ "title": "x", "type": "text", "content": "y".repeat(70 * 1024) });
    let mut conn = RawConn::open(&app.addr).await;
    // Only just over the limit: a client that sent it all should keep its
    // connection (a far bigger body may be refused with `connection: close`).
    conn.send(&raw_post(
        "/api/prompts",
        &app.token,
        big.to_string().as_bytes(),
    ))
    .await
    .unwrap();
    let res = conn.read_response().await.expect("a 413 answer");
    assert_eq!(res.status, 413, "{}", res.head);
    let body: Value = serde_json::from_slice(&res.body).unwrap();
    assert_envelope(413, &body);
    assert_eq!(body["error"]["code"], "payload_too_large");
    let first_head = res.head.clone();

    // The body was read to its end, so the connection is reusable.
    conn.send(&raw_get("/api/prompts", &app.token))
        .await
        .unwrap();
    let res = conn
        .read_response()
        .await
        .expect("the same connection serves the next request");
    assert_eq!(res.status, 200, "{}", res.head);
    assert!(!head_says_close(&first_head), "{first_head}");

    // A huge declared body is not read: 413 with `connection: close`.
    let mut conn = RawConn::open(&app.addr).await;
    let head = format!(
        "POST /api/prompts HTTP/1.1\r\nhost: test\r\nauthorization: Bearer {}\r\ncontent-type: application/json\r\ncontent-length: {}\r\n\r\n{{",
        app.token,
        100 * 1024 * 1024
    );
    conn.send(head.as_bytes()).await.unwrap();
    let res = conn.read_response().await.expect("a 413 answer");
    assert_eq!(res.status, 413);
    assert!(head_says_close(&res.head), "{}", res.head);
    assert_eq!(app.get("/api/prompts").await.0, 200, "still serving");
}

fn head_says_close(head: &str) -> bool {
    head.lines()
        .any(|l| l.to_ascii_lowercase().replace(' ', "") == "connection:close")
}

async fn a_64_kib_header_is_refused_and_the_server_keeps_serving(db: TestDb) {
    let app = spawn_app(db).await;
    for size in [64 * 1024, 1024 * 1024] {
        let mut conn = RawConn::open(&app.addr).await;
        let req = format!(
            "GET /api/prompts HTTP/1.1\r\nhost: test\r\nx-big: {}\r\nauthorization: Bearer {}\r\n\r\n",
            "a".repeat(size),
            app.token
        );
        // The server may stop reading (and reset) before all of it is sent.
        let _ = conn.send(req.as_bytes()).await;
        if let Some(res) = conn.read_response().await {
            assert!(
                res.status == 431 || res.status == 400,
                "{size} B header: {}",
                res.head
            );
        }
    }
    assert_eq!(app.get("/api/prompts").await.0, 200, "still serving");
}

async fn a_body_shorter_than_its_content_length_is_answered_or_dropped_not_hung(db: TestDb) {
    let app = spawn_app(db).await;
    let mut conn = RawConn::open(&app.addr).await;
    let head = format!(
        "POST /api/prompts HTTP/1.1\r\nhost: test\r\nauthorization: Bearer {}\r\ncontent-type: application/json\r\ncontent-length: 500\r\n\r\n{{\"title\": \"cut",
        app.token
    );
    conn.send(head.as_bytes()).await.unwrap();
    conn.shutdown_write().await;
    if let Some(res) = conn.read_response().await {
        assert_eq!(res.status, 400, "{}", res.head);
    }
    let (status, body) = app.get("/api/prompts").await;
    assert_eq!(status, 200);
    assert_eq!(body["data"]["items"], json!([]), "nothing was stored");
}

async fn slowloris_clients_are_cut_off_while_others_are_served_promptly(db: TestDb) {
    let timeout = Duration::from_secs(2);
    let app = spawn_app_with(
        db,
        Options {
            header_read_timeout: Some(timeout),
            ..Options::default()
        },
    )
    .await;
    // 40 clients, each sending its request head one byte every 300 ms.
    let started = Instant::now();
    let mut slow = vec![];
    for _ in 0..40 {
        let addr = app.addr.clone();
        slow.push(tokio::spawn(async move {
            let mut conn = RawConn::open(&addr).await;
            let head = b"GET /healthz HTTP/1.1\r\nhost: test\r\nx-pad: aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\r\n\r\n";
            for byte in head {
                if conn.send(&[*byte]).await.is_err() {
                    return true; // cut off: the write fails
                }
                tokio::time::sleep(Duration::from_millis(300)).await;
                if conn.closed_within(Duration::from_millis(1)).await {
                    return true;
                }
            }
            false
        }));
    }
    // Meanwhile others are answered at once.
    let mut worst = Duration::ZERO;
    for _ in 0..20 {
        let t = Instant::now();
        assert_eq!(app.get("/api/prompts").await.0, 200);
        worst = worst.max(t.elapsed());
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(
        worst < Duration::from_secs(1),
        "normal requests stay prompt: worst {worst:?}"
    );
    for s in slow {
        assert!(s.await.unwrap(), "a slowloris connection was not cut off");
    }
    let took = started.elapsed();
    assert!(
        took < timeout + Duration::from_secs(5),
        "cut off near the header read timeout, took {took:?}"
    );
}
