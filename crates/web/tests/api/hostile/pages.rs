//! HTML/JS in every field a user or a model controls, rendered inert on every
//! page; and the security headers on every response of every route, pages,
//! assets, API and errors alike.

use promptrefine_testkit::{TestDb, both_backends};
use promptrefine_web::WebConfig;
use serde_json::json;

use crate::helpers::{TestApp, spawn_app, spawn_app_with_web};

both_backends!(
    html_and_script_in_every_field_are_escaped_on_every_page,
    every_route_answers_with_the_security_headers,
);

const SCRIPT: &str = "<script>alert(1)</script>";
const ATTR: &str = "\"><img src=x onerror=alert(1)>";

/// What must never appear raw in a page: the payloads, and their telling parts.
const NEEDLES: [&str; 4] = [
    "<script>alert(1)",
    "<img src=x onerror",
    "onerror=alert(1)>",
    "\"><img",
];

async fn page(app: &TestApp, client: &reqwest::Client, path: &str) -> String {
    let res = client.get(app.url(path)).send().await.unwrap();
    let status = res.status();
    let text = res.text().await.unwrap();
    assert_eq!(status, 200, "{path}: {text:.300}");
    text
}

async fn html_and_script_in_every_field_are_escaped_on_every_page(db: TestDb) {
    let app = spawn_app(db).await;
    let evil = format!("{SCRIPT} {ATTR}");
    let (status, created) = app
        .post(
            "/api/prompts",
            json!({
                "title": format!("T {evil}"),
                "type": "text",
                "tags": [SCRIPT, ATTR],
                "content": format!("Say {{{{x}}}} {evil}"),
                "note": format!("note {evil}"),
                "settings": { "model": "gpt-4o-mini", "stop": [evil] },
            }),
        )
        .await;
    assert_eq!(status, 201, "{created}");
    let id = created["data"]["id"].as_str().unwrap().to_string();
    let (status, v2) = app
        .post(
            &format!("/api/prompts/{id}/versions"),
            json!({ "content": format!("v2 {evil} {{{{x}}}}"), "note": evil }),
        )
        .await;
    assert_eq!(status, 201, "{v2}");
    let v2_id = v2["data"]["id"].as_str().unwrap().to_string();
    // Label names are restricted to lowercase words, so no payload fits there.
    let (status, _) = app
        .put(
            &format!("/api/prompts/{id}/labels/production"),
            json!({ "versionId": v2_id }),
        )
        .await;
    assert_eq!(status, 200);
    // Run output: the mock echoes the rendered prompt, payload included; the
    // variable value is another way in.
    let mut runs = vec![];
    for _ in 0..2 {
        let (status, run) = app
            .post(
                "/api/test-runs",
                json!({ "promptId": id, "model": "gpt-4o-mini", "variables": { "x": evil } }),
            )
            .await;
        assert_eq!(status, 201, "{run}");
        assert!(
            run["data"]["output"]
                .as_str()
                .unwrap_or("")
                .contains(SCRIPT),
            "{run}"
        );
        runs.push(run["data"]["id"].as_str().unwrap().to_string());
    }
    // A preset's name is restricted; its params (a stop sequence) are not.
    let (status, preset) = app
        .post(
            "/api/model-presets",
            json!({ "name": "evil-preset", "model": "gpt-4o-mini", "params": { "stop": [evil] } }),
        )
        .await;
    assert_eq!(status, 201, "{preset}");
    let preset_id = preset["data"]["id"].as_str().unwrap().to_string();
    let browser = app.browser();
    assert_eq!(app.login(&browser).await.status(), 200);
    // A token whose name is the payload (shown on the settings page); managing
    // tokens takes a session.
    let res = browser
        .post(app.url("/api/tokens"))
        .header("origin", &app.addr)
        .json(&json!({ "name": format!("tok {ATTR}") }))
        .send()
        .await
        .unwrap();
    let status = res.status().as_u16();
    assert!(status == 201 || status == 422, "{status}");
    let enc = |s: &str| form_urlencoded::byte_serialize(s.as_bytes()).collect::<String>();
    let paths = [
        "/app".to_string(),
        format!("/app?q={}", enc(SCRIPT)),
        format!("/app?tag={}", enc(ATTR)),
        format!("/app/prompts/{id}"),
        format!("/app/prompts/{id}/versions/1"),
        format!("/app/prompts/{id}/versions/2"),
        format!("/app/prompts/{id}/diff?from=1&to=2"),
        format!("/app/prompts/{id}/delete"),
        format!("/app/runs/{}", runs[0]),
        format!("/app/runs/compare?a={}&b={}", runs[0], runs[1]),
        "/app/settings".to_string(),
        "/app/settings/providers".to_string(),
        "/app/settings/presets".to_string(),
        format!("/app/settings/presets/{preset_id}"),
        format!("/app/prompts/{id}/experiments/new"),
    ];
    for path in &paths {
        let html = page(&app, &browser, path).await;
        for needle in NEEDLES {
            assert!(!html.contains(needle), "{path} shows {needle:?} unescaped");
        }
    }
    // The login page reflects `next`; a hostile one must come out inert too.
    let anon = app.browser();
    let html = page(&app, &anon, &format!("/login?next={}", enc(&evil))).await;
    for needle in NEEDLES {
        assert!(!html.contains(needle), "/login?next shows {needle:?}");
    }
}

fn assert_security_headers(what: &str, res: &reqwest::Response) {
    let h = res.headers();
    let csp = h
        .get("content-security-policy")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_else(|| panic!("{what}: no CSP ({})", res.status()));
    assert!(
        csp.contains("script-src 'self'") && csp.contains("frame-ancestors 'none'"),
        "{what}"
    );
    assert_eq!(
        h.get("x-content-type-options").map(|v| v.as_bytes()),
        Some(&b"nosniff"[..]),
        "{what}"
    );
    assert!(h.contains_key("referrer-policy"), "{what}");
}

async fn every_route_answers_with_the_security_headers(db: TestDb) {
    let web = WebConfig {
        body_limit_bytes: 16 * 1024,
        ..WebConfig::default()
    };
    let app = spawn_app_with_web(db, web).await;
    let p = app.create_prompt("Headers", Some("x")).await;
    let id = p["id"].as_str().unwrap().to_string();
    let browser = app.browser();
    app.login(&browser).await;
    // Every page route (GET ones signed in and anonymous, POST ones anonymous).
    let pages = [
        "/",
        "/assets/app.css",
        "/assets/app.js",
        "/login",
        "/setup",
        "/app",
        &format!("/app/prompts/{id}"),
        &format!("/app/prompts/{id}/versions/1"),
        &format!("/app/prompts/{id}/diff?from=1&to=1"),
        &format!("/app/prompts/{id}/delete"),
        "/app/runs/compare",
        "/app/runs/00000000-0000-0000-0000-000000000000",
        "/app/settings",
        "/app/settings/providers",
        "/app/settings/presets",
        "/app/nope",
        "/healthz",
        "/readyz",
        "/api/openapi.json",
        "/metrics",
    ];
    for path in pages {
        for client in [&browser, &app.anon] {
            let res = client.get(app.url(path)).send().await.unwrap();
            assert_security_headers(&format!("GET {path}"), &res);
        }
    }
    for path in [
        "/login",
        "/logout",
        "/setup",
        "/app/prompts",
        &format!("/app/prompts/{id}/versions"),
        &format!("/app/prompts/{id}/details"),
        &format!("/app/prompts/{id}/labels"),
        "/app/settings/tokens",
        "/app/settings/providers",
        "/app/settings/presets",
    ] {
        let res = app
            .anon
            .post(app.url(path))
            .form(&[("a", "b")])
            .send()
            .await
            .unwrap();
        assert_security_headers(&format!("POST {path}"), &res);
    }
    // Every operation of the OpenAPI document, with and without credentials.
    let doc = app.openapi().await;
    for (path, ops) in doc["paths"].as_object().unwrap() {
        let concrete = path
            .replace("{id}", &id)
            .replace("{number}", "1")
            .replace("{label}", "production")
            .replace("{slug}", "headers");
        for method in ops.as_object().unwrap().keys() {
            let m: reqwest::Method = method.to_uppercase().parse().unwrap();
            for client in [&app.api, &app.anon] {
                let res = client
                    .request(m.clone(), app.url(&concrete))
                    .json(&json!({}))
                    .send()
                    .await
                    .unwrap();
                assert_security_headers(&format!("{method} {path}"), &res);
            }
        }
    }
    // Errors made outside the handlers: body limit, wrong method, bad JSON.
    let res = app
        .api
        .post(app.url("/api/prompts"))
        .json(&json!({ "content": "x".repeat(64 * 1024) }))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 413);
    assert_security_headers("413", &res);
    let res = app.api.put(app.url("/api/prompts")).send().await.unwrap();
    assert_security_headers("405", &res);
    let res = app
        .api
        .post(app.url("/api/prompts"))
        .header("content-type", "application/json")
        .body("{")
        .send()
        .await
        .unwrap();
    assert_security_headers("400", &res);
}
