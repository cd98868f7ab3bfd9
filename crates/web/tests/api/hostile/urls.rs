//! Hostile query strings and path segments, each with the exact answer it
//! must get: a forged limit or cursor is a 422 naming its parameter, a
//! traversal-like or absurd id is a 404 (or, where an id is a query
//! parameter, a 422 naming it). Requests go out raw, so `..` reaches the
//! router as sent instead of being folded away by the client's URL parser.

use base64::Engine;
use promptrefine_testkit::{TestDb, both_backends};
use serde_json::{Value, json};

use super::RawConn;
use crate::helpers::{TestApp, fields, spawn_app};

both_backends!(
    bad_pagination_and_forged_cursors_are_a_422_naming_the_parameter_on_every_list,
    traversal_like_and_very_long_ids_are_not_found,
);

/// Status, error code and the 422's field names: what a case pins.
type Verdict = (u16, Option<String>, Vec<String>);

fn not_found() -> Verdict {
    (404, Some("not_found".into()), vec![])
}

fn invalid(field: &str) -> Verdict {
    (422, Some("validation_failed".into()), vec![field.into()])
}

/// One raw HTTP/1.1 request; `auth` is a whole header line.
async fn raw(app: &TestApp, method: &str, path: &str, auth: &str) -> (u16, Value) {
    let mut conn = RawConn::open(&app.addr).await;
    let req = format!(
        "{method} {path} HTTP/1.1\r\nhost: test\r\n{auth}\r\nsec-fetch-site: same-origin\r\nconnection: close\r\n\r\n"
    );
    conn.send(req.as_bytes()).await.unwrap();
    let res = conn.read_response().await.expect("an answer");
    let body = serde_json::from_slice(&res.body).unwrap_or(Value::Null);
    (res.status, body)
}

fn verdict(status: u16, body: &Value) -> Verdict {
    let code = body["error"]["code"].as_str().map(str::to_owned);
    (status, code, fields(body))
}

/// Runs every case and reports all the wrong answers at once.
fn check_all(wrong: Vec<String>) {
    assert!(
        wrong.is_empty(),
        "{} wrong answers:\n{}",
        wrong.len(),
        wrong.join("\n")
    );
}

async fn bad_pagination_and_forged_cursors_are_a_422_naming_the_parameter_on_every_list(
    db: TestDb,
) {
    let app = spawn_app(db).await;
    let p = app.create_prompt("Paged", Some("x")).await;
    let id = p["id"].as_str().unwrap().to_string();
    for _ in 0..3 {
        app.post(
            &format!("/api/prompts/{id}/versions"),
            json!({ "content": "y" }),
        )
        .await;
    }
    let b64 = |s: &str| base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(s);
    let forged = [
        ("limit=-1".to_string(), "limit"),
        ("limit=0".into(), "limit"),
        ("limit=1e3".into(), "limit"),
        ("limit=9223372036854775808".into(), "limit"),
        ("limit=%00".into(), "limit"),
        ("limit=1&limit=2".into(), "limit"),
        ("tag=%00".into(), "tag"),
        ("q=%00".into(), "q"),
        ("status=%00".into(), "status"),
        ("cursor=%00".into(), "cursor"),
        ("cursor=%00%00".into(), "cursor"),
        (format!("cursor={}", "A".repeat(10_000)), "cursor"),
        (format!("cursor={}", b64("not|a|key")), "cursor"),
        (
            format!(
                "cursor={}",
                b64("9999-99-99T99:99:99Z|00000000-0000-0000-0000-000000000000")
            ),
            "cursor",
        ),
        (format!("cursor={}", b64("{\"n\":-1}")), "cursor"),
        (format!("cursor={}", b64("-9223372036854775808")), "cursor"),
        (format!("cursor={}", b64("n|-1")), "cursor"),
        (format!("cursor={}", b64("' or 1=1 --")), "cursor"),
    ];
    // A well-formed cursor of a row that does not exist is a valid position
    // (before everything here): an empty page, not an error.
    let time_key = b64("2000-01-01T00:00:00.000000Z|00000000-0000-0000-0000-000000000000");
    let lists = [
        ("/api/prompts?".to_string(), time_key.clone()),
        (format!("/api/prompts/{id}/versions?"), b64("n|1")),
        (format!("/api/test-runs?promptId={id}&"), time_key),
    ];
    let mut wrong = vec![];
    for (list, nowhere) in &lists {
        for (q, field) in &forged {
            let (status, body) = app.get(&format!("{list}{q}")).await;
            if verdict(status, &body) != invalid(field) {
                wrong.push(format!("{list}{q:.60} -> {status} {body}"));
            }
        }
        // An empty cursor is no cursor: the first page.
        let (status, body) = app.get(&format!("{list}cursor=")).await;
        assert_eq!(status, 200, "{list}cursor=: {body}");
        let (status, body) = app.get(&format!("{list}cursor={nowhere}")).await;
        assert_eq!(
            (status, &body["data"]["items"]),
            (200, &json!([])),
            "{list}: {body}"
        );
        // A real cursor pages on.
        let (_, first) = app.get(&format!("{list}limit=1")).await;
        if let Some(cursor) = first["data"]["nextCursor"].as_str() {
            let (status, body) = app.get(&format!("{list}limit=1&cursor={cursor}")).await;
            assert_eq!(status, 200, "{list}: {body}");
            assert_ne!(body["data"]["items"], first["data"]["items"], "{list}");
        }
    }
    check_all(wrong);
    // Stale: the cursor's prompt deleted between two pages still pages on,
    // from its position.
    let other = app.create_prompt("Gone", Some("x")).await;
    let (_, first) = app.get("/api/prompts?limit=1").await;
    assert_eq!(first["data"]["items"][0]["id"], other["id"]);
    let cursor = first["data"]["nextCursor"].as_str().unwrap().to_string();
    app.delete(&format!("/api/prompts/{}", other["id"].as_str().unwrap()))
        .await;
    let (status, page) = app
        .get(&format!("/api/prompts?limit=5&cursor={cursor}"))
        .await;
    assert_eq!(status, 200, "{page}");
    assert_eq!(page["data"]["items"][0]["id"].as_str(), Some(id.as_str()));
}

async fn traversal_like_and_very_long_ids_are_not_found(db: TestDb) {
    let app = spawn_app(db).await;
    app.create_prompt("Paged", Some("x")).await;
    let browser = app.browser();
    let login = app.login(&browser).await;
    let cookie = login
        .headers()
        .get_all("set-cookie")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find(|c| c.starts_with("pr_session="))
        .and_then(|c| c.split(';').next())
        .expect("a session cookie")
        .to_string();
    let (bearer, session) = (
        format!("authorization: Bearer {}", app.token),
        format!("cookie: {cookie}"),
    );
    let long = "a".repeat(8000);
    let ids = [
        "..%2F..%2Fetc%2Fpasswd",
        "..",
        "%2e%2e",
        "..%5C..%5Cwindows",
        "%00",
        "%E2%80%AE",
        "00000000-0000-0000-0000-000000000000",
        "-1",
        "99999999999999999999",
        long.as_str(),
    ];
    let mut wrong = vec![];
    for id in ids {
        // An id as a query parameter is checked like any other parameter;
        // a well-formed id of nothing is unknown.
        let run_list = match id {
            "00000000-0000-0000-0000-000000000000" => not_found(),
            _ => invalid("promptId"),
        };
        let cases = [
            ("GET", format!("/api/prompts/{id}"), &bearer, not_found()),
            (
                "GET",
                format!("/api/prompts/{id}/versions"),
                &bearer,
                not_found(),
            ),
            (
                "GET",
                format!("/api/prompts/{id}/versions/{id}"),
                &bearer,
                not_found(),
            ),
            (
                "GET",
                format!("/api/prompts/{id}/labels"),
                &bearer,
                not_found(),
            ),
            (
                "GET",
                format!("/api/prompts/{id}/diff?from=1&to=2"),
                &bearer,
                not_found(),
            ),
            (
                "GET",
                format!("/api/prompts/by-slug/{id}"),
                &bearer,
                not_found(),
            ),
            (
                "GET",
                format!("/api/prompts/by-slug/paged?label={id}"),
                &bearer,
                not_found(),
            ),
            ("GET", format!("/api/test-runs/{id}"), &bearer, not_found()),
            (
                "GET",
                format!("/api/test-runs?promptId={id}"),
                &bearer,
                run_list,
            ),
            // Token management takes a session (a bearer token is 403).
            ("DELETE", format!("/api/tokens/{id}"), &session, not_found()),
        ];
        for (method, path, auth, expected) in cases {
            let (status, body) = raw(&app, method, &path, auth).await;
            if verdict(status, &body) != expected {
                wrong.push(format!("{method} {path:.80} -> {status} {body}"));
            }
        }
        // The page answers with its error page: the status is the contract.
        let (status, _) = raw(&app, "GET", &format!("/app/prompts/{id}"), &session).await;
        if status != 404 {
            wrong.push(format!("page /app/prompts/{id:.40} -> {status}"));
        }
    }
    check_all(wrong);
}
