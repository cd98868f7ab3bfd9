//! Broken and hostile bodies and labels: every answer a 4xx in the envelope (or
//! a correct answer), never a 5xx, and nothing half-stored.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use promptrefine_testkit::{TestDb, both_backends};
use serde_json::{Value, json};

use crate::helpers::{fields, read, spawn_app};

both_backends!(
    truncated_and_invalid_json_and_invalid_utf8_are_400_on_every_json_route,
    wrong_content_types_are_415_on_every_json_route,
    json_nested_a_hundred_thousand_levels_is_400_without_a_crash,
    ten_thousand_variables_are_stored_but_ten_thousand_values_are_a_422_quickly,
    sql_and_template_metacharacters_in_tags_notes_and_search_are_taken_literally,
    hostile_labels_are_refused_and_stored_nowhere,
);

/// The routes that take a JSON body, for a prompt `id` with version 1.
fn json_routes(id: &str) -> Vec<(reqwest::Method, String)> {
    use reqwest::Method;
    vec![
        (Method::POST, "/api/prompts".into()),
        (Method::PATCH, format!("/api/prompts/{id}")),
        (Method::POST, format!("/api/prompts/{id}/versions")),
        (Method::POST, format!("/api/prompts/{id}/restore")),
        (Method::POST, format!("/api/prompts/{id}/render")),
        (Method::PUT, format!("/api/prompts/{id}/labels/production")),
        (Method::POST, "/api/test-runs".into()),
        // `/api/tokens` is left out: it takes a session, and these requests
        // carry a token (403 before the body is read; see the auth tests).
    ]
}

async fn send_raw(
    app: &crate::helpers::TestApp,
    method: &reqwest::Method,
    path: &str,
    content_type: Option<&str>,
    body: Vec<u8>,
) -> (u16, Value) {
    let mut req = app.api.request(method.clone(), app.url(path)).body(body);
    if let Some(ct) = content_type {
        req = req.header("content-type", ct);
    }
    read(req.send().await.unwrap()).await
}

async fn truncated_and_invalid_json_and_invalid_utf8_are_400_on_every_json_route(db: TestDb) {
    let app = spawn_app(db).await;
    let p = app.create_prompt("Target", Some("Hi {{name}}")).await;
    let id = p["id"].as_str().unwrap();
    let bad: Vec<Vec<u8>> = vec![
        br#"{"title": "cut"#.to_vec(),
        br#"{"content": "x", "note": "#.to_vec(),
        br#"{"a": 1,}"#.to_vec(),
        b"".to_vec(),
        b"\xef\xbb\xbf{}".to_vec(), // a byte-order mark
        b"{\"title\": \"\xff\xfe bad\", \"type\": \"text\"}".to_vec(),
        b"{\"content\": \"\xc3\x28\"}".to_vec(),
        br#"{"title": "\ud800", "type": "text"}"#.to_vec(), // a lone surrogate
        b"{\"title\": \"nul\x00\", \"type\": \"text\"}".to_vec(),
    ];
    for (method, path) in json_routes(id) {
        for body in &bad {
            let (status, json) =
                send_raw(&app, &method, &path, Some("application/json"), body.clone()).await;
            assert!(
                status == 400 || status == 422,
                "{method} {path} {:?} -> {status} {json}",
                String::from_utf8_lossy(body)
            );
        }
    }
    let (_, list) = app.get("/api/prompts").await;
    assert_eq!(list["data"]["items"].as_array().unwrap().len(), 1);
    let (_, versions) = app.get(&format!("/api/prompts/{id}/versions")).await;
    assert_eq!(versions["data"]["items"].as_array().unwrap().len(), 1);
}

async fn wrong_content_types_are_415_on_every_json_route(db: TestDb) {
    let app = spawn_app(db).await;
    let p = app.create_prompt("Target", Some("x")).await;
    let id = p["id"].as_str().unwrap();
    let body = br#"{"title":"t","type":"text","content":"c"}"#.to_vec();
    for (method, path) in json_routes(id) {
        for ct in [
            None,
            Some("text/plain"),
            Some("application/x-www-form-urlencoded"),
            Some("multipart/form-data; boundary=x"),
            Some("application/jsonp"),
            Some("text/json"),
            Some("application/xml"),
        ] {
            let (status, json) = send_raw(&app, &method, &path, ct, body.clone()).await;
            assert_eq!(status, 415, "{method} {path} {ct:?}: {json}");
        }
    }
}

async fn json_nested_a_hundred_thousand_levels_is_400_without_a_crash(db: TestDb) {
    let app = spawn_app(db).await;
    let p = app.create_prompt("Target", Some("x")).await;
    let id = p["id"].as_str().unwrap();
    let depth = 100_000;
    let arrays = format!("{}{}", "[".repeat(depth), "]".repeat(depth));
    let objects = format!("{}1{}", r#"{"a":"#.repeat(depth), "}".repeat(depth));
    // Nested where the schema has free-form JSON (settings, content parts).
    let in_settings = format!(r#"{{"content":"x","settings":{{"model":"m","extra":{arrays}}}}}"#);
    for (method, path) in json_routes(id) {
        for body in [&arrays, &objects, &in_settings] {
            let (status, json) = send_raw(
                &app,
                &method,
                &path,
                Some("application/json"),
                body.clone().into_bytes(),
            )
            .await;
            assert!(
                status == 400 || status == 422,
                "{method} {path} -> {status} {json}"
            );
        }
    }
    assert_eq!(app.get("/api/prompts").await.0, 200, "still serving");
}

/// A template may name any number of variables, but a request may send at
/// most 1000 values: ten thousand are a 422 naming `variables`, on render
/// and on a run alike, answered quickly.
async fn ten_thousand_variables_are_stored_but_ten_thousand_values_are_a_422_quickly(db: TestDb) {
    let app = spawn_app(db).await;
    let template: String = (0..10_000).map(|i| format!("{{{{v{i}}}}} ")).collect();
    let (status, created) = app
        .post(
            "/api/prompts",
            json!({ "title": "Many", "type": "text", "content": template }),
        )
        .await;
    assert_eq!(status, 201, "{created}");
    let id = created["data"]["id"].as_str().unwrap();
    let vars: BTreeMap<String, String> = (0..10_000)
        .map(|i| (format!("v{i}"), format!("value {i}")))
        .collect();
    let t = Instant::now();
    let (status, body) = app
        .post(
            &format!("/api/prompts/{id}/render"),
            json!({ "variables": vars }),
        )
        .await;
    assert_eq!(
        (status, fields(&body)),
        (422, vec!["variables".to_string()]),
        "{body}"
    );
    let (status, body) = app
        .post(
            "/api/test-runs",
            json!({ "promptId": id, "model": "gpt-4o-mini", "variables": vars }),
        )
        .await;
    assert_eq!(
        (status, fields(&body)),
        (422, vec!["variables".to_string()]),
        "{body}"
    );
    assert!(
        t.elapsed() < Duration::from_secs(10),
        "bounded: {:?}",
        t.elapsed()
    );
}

async fn sql_and_template_metacharacters_in_tags_notes_and_search_are_taken_literally(db: TestDb) {
    let app = spawn_app(db).await;
    let tags = [
        "'; drop table prompt_tags;--",
        "%",
        "_",
        "{{ x }}",
        "\\",
        "\"quoted\"",
    ];
    let note = "'); delete from prompt_versions where ('1'='1 {% raw %} {{#each}} $1 ?";
    let (status, body) = app
        .post(
            "/api/prompts",
            json!({ "title": "100% done_here", "type": "text", "tags": tags, "content": "a", "note": note }),
        )
        .await;
    assert_eq!(status, 201, "{body}");
    let id = body["data"]["id"].as_str().unwrap().to_string();
    app.create_prompt("plain", Some("b")).await;
    let (status, v) = app
        .post(
            &format!("/api/prompts/{id}/versions"),
            json!({ "content": "c", "note": note }),
        )
        .await;
    assert_eq!(status, 201, "{v}");
    assert_eq!(v["data"]["note"], note);
    let (_, got) = app.get(&format!("/api/prompts/{id}")).await;
    assert_eq!(got["data"]["tags"], json!(tags));
    // Wildcards are literal in the tag filter and the search.
    for (q, want) in [
        ("tag=%25", 1),
        ("tag=_", 1),
        ("q=%25", 1),
        ("q=_", 1),
        ("q=%5C", 0),
        ("tag=%27%3B%20drop%20table%20prompt_tags%3B--", 1),
    ] {
        let (status, list) = app.get(&format!("/api/prompts?{q}")).await;
        assert_eq!(status, 200, "{q}: {list}");
        assert_eq!(
            list["data"]["items"].as_array().unwrap().len(),
            want,
            "{q}: {list}"
        );
    }
    let (_, all) = app.get("/api/prompts").await;
    assert_eq!(
        all["data"]["items"].as_array().unwrap().len(),
        2,
        "nothing dropped"
    );
}

async fn hostile_labels_are_refused_and_stored_nowhere(db: TestDb) {
    let app = spawn_app(db).await;
    let p = app.create_prompt("Target", Some("x")).await;
    let (id, vid) = (
        p["id"].as_str().unwrap(),
        p["currentVersion"]["id"].as_str().unwrap(),
    );
    for label in [
        "x'%3B%20drop%20table%20labels%3B--",
        "%3Cscript%3E",
        "%7B%7Bx%7D%7D",
        "..%2F..%2Fetc",
        "current",
        &"a".repeat(5000),
    ] {
        let (status, body) = app
            .put(
                &format!("/api/prompts/{id}/labels/{label}"),
                json!({ "versionId": vid }),
            )
            .await;
        // Each breaks a rule of label names (characters, reserved, length).
        assert_eq!(
            (status, body["error"]["code"].as_str(), fields(&body)),
            (422, Some("validation_failed"), vec!["label".to_string()]),
            "{label:.40}: {body}"
        );
    }
    let (_, labels) = app.get(&format!("/api/prompts/{id}/labels")).await;
    assert_eq!(labels["data"], json!([]), "{labels}");
}
