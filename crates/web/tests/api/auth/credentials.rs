//! Cookies, tokens and caching: the `__Host-` cookie cannot be shadowed, an
//! `https` public URL turns Secure cookies and HSTS on, tokens expire, die
//! with a password reset and cannot manage tokens, signed-in answers are not
//! cached, and a slow page body is cut off.

use std::time::{Duration, Instant};

use promptrefine_app::auth::sha256_hex;
use promptrefine_store::NewToken;
use promptrefine_testkit::{TestDb, both_backends};
use promptrefine_web::WebConfig;
use secrecy::SecretString;
use serde_json::json;

use super::{cookie_value, session_cookie};
use crate::helpers::{
    ADMIN_EMAIL, ADMIN_PASSWORD, TestApp, fields, read, spawn_app, spawn_app_with_web,
};
use crate::hostile::RawConn;

both_backends!(
    with_secure_cookies_only_the_host_prefixed_cookie_is_read,
    an_https_public_url_makes_cookies_secure_and_sends_hsts,
    tokens_can_expire_and_expired_ones_are_refused,
    managing_tokens_needs_a_session_not_a_token,
    a_password_reset_revokes_the_users_tokens_and_sessions,
    signed_in_answers_are_not_stored_but_assets_are_cached,
    a_slow_login_body_is_cut_off_at_the_request_timeout,
);

async fn with_public_url(db: TestDb, url: &str) -> TestApp {
    let web = WebConfig {
        public_url: Some(url.to_string()),
        ..WebConfig::default()
    };
    spawn_app_with_web(db, web).await
}

async fn me_with(app: &TestApp, cookie: &str) -> u16 {
    app.anon
        .get(app.url("/api/auth/me"))
        .header("cookie", cookie)
        .send()
        .await
        .unwrap()
        .status()
        .as_u16()
}

async fn with_secure_cookies_only_the_host_prefixed_cookie_is_read(db: TestDb) {
    let app = with_public_url(db, "https://prompts.example.com").await;
    let id = cookie_value(&session_cookie(&app.login(&app.anon).await));
    assert_eq!(me_with(&app, &format!("__Host-pr_session={id}")).await, 200);
    assert_eq!(
        me_with(&app, &format!("pr_session={id}")).await,
        401,
        "a plain cookie (a sibling subdomain can set one) is not read"
    );
    // A planted `pr_session; Path=/app` is sent first: it must not shadow the real one.
    assert_eq!(
        me_with(&app, &format!("pr_session=planted; __Host-pr_session={id}")).await,
        200
    );
}

async fn an_https_public_url_makes_cookies_secure_and_sends_hsts(db: TestDb) {
    let app = with_public_url(db, "https://prompts.example.com").await;
    let res = app.login(&app.anon).await;
    let cookie = session_cookie(&res);
    assert!(
        cookie.starts_with("__Host-pr_session=") && cookie.contains("; Secure"),
        "{cookie}"
    );
    assert_eq!(
        res.headers()["strict-transport-security"],
        "max-age=31536000"
    );
    let plain = spawn_app(TestDb::sqlite()).await;
    let res = plain.login(&plain.anon).await;
    assert!(!session_cookie(&res).contains("Secure"));
    assert!(res.headers().get("strict-transport-security").is_none());
}

async fn tokens_can_expire_and_expired_ones_are_refused(db: TestDb) {
    let app = spawn_app(db).await;
    let browser = app.browser();
    app.login(&browser).await;
    let (status, forever) = app
        .post_as(&browser, "/api/tokens", json!({ "name": "forever" }))
        .await;
    assert_eq!(status, 201, "{forever}");
    assert!(forever["data"]["expiresAt"].is_null(), "{forever}");
    for key in [
        "id",
        "name",
        "prefix",
        "createdAt",
        "lastUsedAt",
        "revokedAt",
        "token",
    ] {
        assert!(forever["data"].get(key).is_some(), "{key} kept: {forever}");
    }
    let (status, month) = app
        .post_as(
            &browser,
            "/api/tokens",
            json!({ "name": "month", "expiresInDays": 30 }),
        )
        .await;
    assert_eq!(status, 201, "{month}");
    let expires = time::OffsetDateTime::parse(
        month["data"]["expiresAt"].as_str().unwrap(),
        &time::format_description::well_known::Rfc3339,
    )
    .unwrap();
    let in_30_days = time::OffsetDateTime::now_utc() + time::Duration::days(30);
    assert!(
        (expires - in_30_days).abs() < time::Duration::minutes(1),
        "{month}"
    );
    let (_, list) = read(browser.get(app.url("/api/tokens")).send().await.unwrap()).await;
    assert!(
        list["data"]
            .as_array()
            .unwrap()
            .iter()
            .any(|t| t["expiresAt"].is_string())
    );
    for days in [json!(0), json!(3651), json!(-1)] {
        let (status, body) = app
            .post_as(
                &browser,
                "/api/tokens",
                json!({ "name": "bad", "expiresInDays": days }),
            )
            .await;
        assert_eq!(
            (status, fields(&body)),
            (422, vec!["expiresInDays".to_string()]),
            "{days}"
        );
    }

    // A token past its expiry is refused like a revoked one.
    let user = app
        .store
        .users()
        .find_by_email(ADMIN_EMAIL)
        .await
        .unwrap()
        .unwrap();
    let raw = "pr_expired-token-for-the-test-0123456789";
    app.store
        .tokens()
        .create(NewToken {
            user_id: user.id(),
            name: "old",
            prefix: "pr_expir",
            token_hash: &sha256_hex(raw),
            expires_at: Some(time::OffsetDateTime::now_utc() - time::Duration::seconds(1)),
        })
        .await
        .unwrap();
    let res = app
        .anon
        .get(app.url("/api/prompts"))
        .bearer_auth(raw)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 401);
}

async fn managing_tokens_needs_a_session_not_a_token(db: TestDb) {
    let app = spawn_app(db).await;
    let (status, body) = app.get("/api/tokens").await;
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (403, Some("forbidden"))
    );
    assert_eq!(
        app.post("/api/tokens", json!({ "name": "child" })).await.0,
        403
    );
    // Its own id, from the browser's list: a token cannot revoke tokens either.
    let browser = app.browser();
    app.login(&browser).await;
    let (_, list) = read(browser.get(app.url("/api/tokens")).send().await.unwrap()).await;
    let id = list["data"][0]["id"].as_str().unwrap().to_string();
    assert_eq!(app.delete(&format!("/api/tokens/{id}")).await.0, 403);
    assert_eq!(
        app.get("/api/prompts").await.0,
        200,
        "the token still works elsewhere"
    );
}

async fn a_password_reset_revokes_the_users_tokens_and_sessions(db: TestDb) {
    let app = spawn_app(db).await;
    let browser = app.browser();
    app.login(&browser).await;
    assert_eq!(app.get("/api/prompts").await.0, 200);
    app.app
        .set_password(ADMIN_EMAIL, SecretString::from("a brand new passphrase"))
        .await
        .unwrap();
    assert_eq!(
        app.get("/api/prompts").await.0,
        401,
        "the token died with the reset"
    );
    let me = browser.get(app.url("/api/auth/me")).send().await.unwrap();
    assert_eq!(me.status(), 401, "so did the session");
    let res = app
        .anon
        .post(app.url("/api/auth/login"))
        .json(&json!({ "email": ADMIN_EMAIL, "password": ADMIN_PASSWORD }))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 401, "the old password is gone");
}

async fn signed_in_answers_are_not_stored_but_assets_are_cached(db: TestDb) {
    let app = spawn_app(db).await;
    let browser = app.browser();
    app.login(&browser).await;
    let cache = |res: &reqwest::Response| {
        res.headers()
            .get("cache-control")
            .map(|v| v.to_str().unwrap().to_string())
            .unwrap_or_default()
    };
    let api = app.api.get(app.url("/api/prompts")).send().await.unwrap();
    assert_eq!(cache(&api), "no-store");
    let me = browser.get(app.url("/api/auth/me")).send().await.unwrap();
    assert_eq!(cache(&me), "no-store");
    let page = browser.get(app.url("/app")).send().await.unwrap();
    assert_eq!(
        (page.status().as_u16(), cache(&page)),
        (200, "no-store".to_string())
    );
    let css = app
        .anon
        .get(app.url("/assets/app.css"))
        .send()
        .await
        .unwrap();
    assert!(cache(&css).contains("max-age=31536000"), "{}", cache(&css));
}

async fn a_slow_login_body_is_cut_off_at_the_request_timeout(db: TestDb) {
    let web = WebConfig {
        request_timeout: Duration::from_secs(1),
        ..WebConfig::default()
    };
    let app = spawn_app_with_web(db, web).await;
    for path in ["/login", "/setup"] {
        let mut conn = RawConn::open(&app.addr).await;
        let head = format!(
            "POST {path} HTTP/1.1\r\nhost: test\r\ncontent-type: application/x-www-form-urlencoded\r\ncontent-length: 200\r\n\r\nemail=a"
        );
        // The body stalls after a few bytes (a trickle is no different: the
        // deadline is for the whole body).
        conn.send(head.as_bytes()).await.unwrap();
        let started = Instant::now();
        let res = conn.read_response().await.expect("an answer, not a hang");
        assert_eq!(res.status, 408, "{path}: {}", res.head);
        assert!(started.elapsed() < Duration::from_secs(5), "{path}");
    }
}
