//! Authentication: login, throttling, sessions, CSRF, tokens, and a walk of
//! every API route proving none is open without credentials.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use promptrefine_app::auth::AuthPolicy;
use promptrefine_testkit::{TestDb, both_backends};
use promptrefine_web::WebConfig;
use serde_json::json;

use crate::helpers::{
    ADMIN_EMAIL, ADMIN_PASSWORD, Options, TestApp, read, spawn_app, spawn_app_with,
    spawn_app_with_web,
};

mod credentials;
mod throttle;

both_backends!(
    login_sets_a_hardened_session_cookie_and_me_answers,
    behind_a_trusted_https_proxy_the_cookie_is_secure_and_host_prefixed,
    wrong_email_and_wrong_password_get_the_same_answer,
    repeated_failures_are_throttled_and_a_success_resets_them,
    every_login_gets_a_new_session_id_and_forged_ids_are_refused,
    logout_kills_the_session_on_the_server,
    idle_and_absolute_expiry_end_sessions,
    cookie_requests_from_other_sites_are_refused,
    tokens_are_created_used_listed_and_revoked,
    every_api_route_needs_credentials,
    secrets_never_reach_the_logs,
);

fn session_cookie(res: &reqwest::Response) -> String {
    res.headers()
        .get_all("set-cookie")
        .iter()
        .map(|v| v.to_str().unwrap().to_string())
        .find(|c| c.contains("pr_session="))
        .expect("a session cookie")
}

fn cookie_value(set_cookie: &str) -> String {
    set_cookie
        .split(';')
        .next()
        .unwrap()
        .split_once('=')
        .unwrap()
        .1
        .to_string()
}

async fn login_sets_a_hardened_session_cookie_and_me_answers(db: TestDb) {
    let app = spawn_app(db).await;
    let browser = app.browser();
    let res = app.login(&browser).await;
    assert_eq!(res.status(), 200);
    let cookie = session_cookie(&res);
    for attr in ["HttpOnly", "SameSite=Lax", "Path=/"] {
        assert!(cookie.contains(attr), "{cookie}");
    }
    assert!(
        !cookie.contains("Secure") && cookie.starts_with("pr_session="),
        "plain HTTP: no Secure: {cookie}"
    );
    let (status, me) = read(browser.get(app.url("/api/auth/me")).send().await.unwrap()).await;
    assert_eq!(
        (status, me["data"]["email"].as_str()),
        (200, Some(ADMIN_EMAIL))
    );
    assert!(me["data"].get("passwordHash").is_none());
    assert_eq!(
        read(app.anon.get(app.url("/api/auth/me")).send().await.unwrap())
            .await
            .0,
        401
    );
}

async fn behind_a_trusted_https_proxy_the_cookie_is_secure_and_host_prefixed(db: TestDb) {
    let web = WebConfig {
        trust_proxy: true,
        ..WebConfig::default()
    };
    let app = spawn_app_with_web(db, web).await;
    let res = app
        .anon
        .post(app.url("/api/auth/login"))
        .header("x-forwarded-proto", "https")
        .json(&json!({ "email": ADMIN_EMAIL, "password": ADMIN_PASSWORD }))
        .send()
        .await
        .unwrap();
    let cookie = session_cookie(&res);
    assert!(
        cookie.starts_with("__Host-pr_session=") && cookie.contains("Secure"),
        "{cookie}"
    );
}

async fn wrong_email_and_wrong_password_get_the_same_answer(db: TestDb) {
    let app = spawn_app(db).await;
    let attempt = |email: &'static str, password: &'static str| {
        let (client, url) = (app.anon.clone(), app.url("/api/auth/login"));
        async move {
            let res = client
                .post(url)
                .json(&json!({ "email": email, "password": password }))
                .send()
                .await
                .unwrap();
            let (status, body) = read(res).await;
            (
                status,
                body["error"]["code"].clone(),
                body["error"]["message"].clone(),
            )
        }
    };
    let unknown = attempt("nobody@example.com", "whatever-password").await;
    let wrong = attempt(ADMIN_EMAIL, "wrong-password-here").await;
    assert_eq!(unknown, wrong);
    assert_eq!(unknown.0, 401);
}

async fn repeated_failures_are_throttled_and_a_success_resets_them(db: TestDb) {
    let app = spawn_app(db).await;
    let login = |password: &'static str| {
        let (client, url) = (app.anon.clone(), app.url("/api/auth/login"));
        async move {
            client
                .post(url)
                .json(&json!({ "email": ADMIN_EMAIL, "password": password }))
                .send()
                .await
                .unwrap()
        }
    };
    for _ in 0..4 {
        assert_eq!(login("wrong-password-x").await.status(), 401);
    }
    let res = login(ADMIN_PASSWORD).await;
    assert_eq!(res.status(), 429, "blocked, even with the right password");
    let retry: u64 = res.headers()["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!((1..=2).contains(&retry), "{retry}");
    tokio::time::sleep(Duration::from_millis(1100 * retry)).await;
    assert_eq!(
        login(ADMIN_PASSWORD).await.status(),
        200,
        "allowed again after the delay"
    );
    // The success reset the counters: three failures do not block.
    for _ in 0..3 {
        assert_eq!(login("wrong-password-x").await.status(), 401);
    }
    assert_eq!(login(ADMIN_PASSWORD).await.status(), 200);
}

async fn every_login_gets_a_new_session_id_and_forged_ids_are_refused(db: TestDb) {
    let app = spawn_app(db).await;
    let a = cookie_value(&session_cookie(&app.login(&app.anon).await));
    let b = cookie_value(&session_cookie(&app.login(&app.anon).await));
    assert_ne!(a, b);
    // A fixed id planted before login is not adopted: the answer sets a new one.
    let res = app
        .anon
        .post(app.url("/api/auth/login"))
        .header("cookie", "pr_session=attacker-chosen-id")
        .json(&json!({ "email": ADMIN_EMAIL, "password": ADMIN_PASSWORD }))
        .send()
        .await
        .unwrap();
    assert_ne!(cookie_value(&session_cookie(&res)), "attacker-chosen-id");
    let res = app
        .anon
        .get(app.url("/api/auth/me"))
        .header("cookie", "pr_session=attacker-chosen-id")
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 401);
}

async fn logout_kills_the_session_on_the_server(db: TestDb) {
    let app = spawn_app(db).await;
    let id = cookie_value(&session_cookie(&app.login(&app.anon).await));
    let cookie = format!("pr_session={id}");
    let me = |c: String| {
        let (client, url) = (app.anon.clone(), app.url("/api/auth/me"));
        async move {
            client
                .get(url)
                .header("cookie", c)
                .send()
                .await
                .unwrap()
                .status()
        }
    };
    assert_eq!(me(cookie.clone()).await, 200);
    let res = app
        .anon
        .post(app.url("/api/auth/logout"))
        .header("cookie", &cookie)
        .header("origin", &app.addr)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    assert!(session_cookie(&res).contains("Max-Age=0"));
    assert_eq!(me(cookie).await, 401, "the old cookie is dead server-side");
}

/// A server whose sessions idle out after `idle` seconds and end after
/// `absolute`, and a signed-in session cookie for it.
async fn with_session_policy(db: TestDb, idle: u64, absolute: u64) -> (TestApp, String) {
    let auth = AuthPolicy {
        session_idle: Duration::from_secs(idle),
        session_absolute: Duration::from_secs(absolute),
    };
    let app = spawn_app_with(
        db,
        Options {
            auth,
            ..Options::default()
        },
    )
    .await;
    let cookie = format!(
        "pr_session={}",
        cookie_value(&session_cookie(&app.login(&app.anon).await))
    );
    (app, cookie)
}

/// `GET /api/auth/me` with this cookie.
async fn me_status(app: &TestApp, cookie: &str) -> u16 {
    let res = app
        .anon
        .get(app.url("/api/auth/me"))
        .header("cookie", cookie)
        .send()
        .await
        .unwrap();
    res.status().as_u16()
}

async fn idle_and_absolute_expiry_end_sessions(db: TestDb) {
    let (app, cookie) = with_session_policy(db, 1, 60).await;
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert_eq!(me_status(&app, &cookie).await, 401, "idle expiry");

    let (app, cookie) = with_session_policy(TestDb::sqlite(), 60, 1).await;
    assert_eq!(me_status(&app, &cookie).await, 200);
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert_eq!(me_status(&app, &cookie).await, 401, "absolute expiry");
}

async fn cookie_requests_from_other_sites_are_refused(db: TestDb) {
    let app = spawn_app(db).await;
    let browser = app.browser();
    app.login(&browser).await;
    let body = json!({ "title": "csrf", "type": "text" });
    let post = |origin: Option<&str>, site: Option<&str>| {
        let mut req = browser.post(app.url("/api/prompts")).json(&body);
        if let Some(o) = origin {
            req = req.header("origin", o);
        }
        if let Some(s) = site {
            req = req.header("sec-fetch-site", s);
        }
        async move { read(req.send().await.unwrap()).await }
    };
    let (status, body) = post(Some("https://evil.example"), None).await;
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (403, Some("csrf_rejected"))
    );
    assert_eq!(post(None, Some("cross-site")).await.0, 403);
    assert_eq!(post(None, None).await.0, 403, "no proof of origin");
    assert_eq!(
        post(Some(&app.addr), None).await.0,
        201,
        "same-site form post"
    );
    assert_eq!(post(None, Some("same-origin")).await.0, 201);
    // Reads need no proof; bearer tokens are exempt.
    assert_eq!(
        read(browser.get(app.url("/api/prompts")).send().await.unwrap())
            .await
            .0,
        200
    );
    assert_eq!(
        app.post("/api/prompts", json!({ "title": "token", "type": "text" }))
            .await
            .0,
        201
    );
    // A cross-site login form is refused too.
    let res = app
        .anon
        .post(app.url("/api/auth/login"))
        .header("origin", "https://evil.example")
        .json(&json!({ "email": ADMIN_EMAIL, "password": ADMIN_PASSWORD }))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 403);
}

async fn tokens_are_created_used_listed_and_revoked(db: TestDb) {
    let app = spawn_app(db).await;
    let browser = app.browser();
    app.login(&browser).await;
    let (status, created) = app
        .post_as(&browser, "/api/tokens", json!({ "name": "ci" }))
        .await;
    assert_eq!(status, 201, "{created}");
    let secret = created["data"]["token"].as_str().unwrap().to_string();
    assert!(
        secret.starts_with("pr_")
            && secret.starts_with(created["data"]["prefix"].as_str().unwrap())
    );

    let with = |t: String| {
        let (client, url) = (app.anon.clone(), app.url("/api/prompts"));
        async move {
            client
                .get(url)
                .bearer_auth(t)
                .send()
                .await
                .unwrap()
                .status()
        }
    };
    assert_eq!(with(secret.clone()).await, 200);
    let (_, list) = read(browser.get(app.url("/api/tokens")).send().await.unwrap()).await;
    let listed = list["data"]
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["name"] == "ci")
        .unwrap()
        .clone();
    assert!(listed["lastUsedAt"].is_string());
    assert!(
        !list.to_string().contains(&secret),
        "the secret is shown once only"
    );
    let id = listed["id"].as_str().unwrap();
    let (status, _) = app.delete_as(&browser, &format!("/api/tokens/{id}")).await;
    assert_eq!(status, 200);
    assert_eq!(with(secret).await, 401, "revoked at once");
    assert_eq!(with("pr_made-up".into()).await, 401);
    assert_eq!(
        read(
            app.anon
                .post(app.url("/api/tokens"))
                .json(&json!({ "name": "x" }))
                .send()
                .await
                .unwrap()
        )
        .await
        .0,
        401
    );
    let (status, body) = app
        .post_as(&browser, "/api/tokens", json!({ "name": " " }))
        .await;
    assert_eq!(
        (status, crate::helpers::fields(&body)),
        (422, vec!["name".to_string()])
    );
}

/// Walks every operation of the OpenAPI document (generated from the router's
/// own route list) and sends it without credentials.
async fn every_api_route_needs_credentials(db: TestDb) {
    let app = spawn_app(db).await;
    let doc = app.openapi().await;
    let open = ["/api/auth/login", "/api/auth/setup"];
    let mut checked = 0;
    for (path, ops) in doc["paths"].as_object().unwrap() {
        let concrete = path
            .replace("{id}", "0190f1e2-aaaa-7bbb-8ccc-123456789abc")
            .replace("{itemId}", "0190f1e2-aaaa-7bbb-8ccc-123456789abd")
            .replace("{number}", "1")
            .replace("{label}", "production")
            .replace("{slug}", "some-slug");
        assert!(!concrete.contains('{'), "unfilled parameter in {path}");
        for method in ops.as_object().unwrap().keys() {
            let m: reqwest::Method = method.to_uppercase().parse().unwrap();
            let res = app
                .anon
                .request(m, app.url(&concrete))
                .json(&json!({}))
                .send()
                .await
                .unwrap();
            let status = res.status().as_u16();
            if open.contains(&path.as_str()) {
                assert_ne!(status, 200, "{method} {path}");
            } else {
                assert_eq!(status, 401, "{method} {path} is open without credentials");
            }
            checked += 1;
        }
    }
    assert!(checked >= 20, "walked only {checked} operations");
}

/// Logs of a whole login-and-use flow, captured at debug level, never contain
/// the password, the session id or the token.
async fn secrets_never_reach_the_logs(db: TestDb) {
    let buf = captured_logs();

    let app = spawn_app(db).await;
    let browser = app.browser();
    let res = app.login(&browser).await;
    let session = cookie_value(&session_cookie(&res));
    let (_, created) = app
        .post_as(&browser, "/api/tokens", json!({ "name": "t" }))
        .await;
    let token = created["data"]["token"].as_str().unwrap().to_string();
    app.anon
        .get(app.url("/api/prompts"))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    app.anon
        .post(app.url("/api/auth/login"))
        .json(&json!({ "email": ADMIN_EMAIL, "password": "wrong-password-x" }))
        .send()
        .await
        .unwrap();
    app.post_as(&browser, "/api/auth/logout", json!({})).await;

    let logs = String::from_utf8_lossy(&buf.lock().unwrap()).to_string();
    assert!(
        logs.contains("request"),
        "logs were captured: {}",
        logs.len()
    );
    for secret in [
        ADMIN_PASSWORD,
        &session,
        &token,
        &app.token,
        "wrong-password-x",
    ] {
        assert!(!logs.contains(secret), "a secret reached the logs");
    }
}

/// The server's tasks run on every worker thread, so the capturing
/// subscriber must be the global one; it is installed once per test binary.
pub(crate) fn captured_logs() -> Arc<Mutex<Vec<u8>>> {
    static LOGS: std::sync::OnceLock<Arc<Mutex<Vec<u8>>>> = std::sync::OnceLock::new();
    LOGS.get_or_init(|| {
        let buf = Arc::new(Mutex::new(Vec::<u8>::new()));
        let writer = {
            let buf = buf.clone();
            move || BufWriter(buf.clone())
        };
        let subscriber = tracing_subscriber::fmt()
            .with_env_filter("debug")
            .json()
            .with_writer(writer)
            .finish();
        tracing::subscriber::set_global_default(subscriber).expect("no other global subscriber");
        buf
    })
    .clone()
}

#[derive(Clone)]
struct BufWriter(Arc<Mutex<Vec<u8>>>);

impl std::io::Write for BufWriter {
    fn write(&mut self, data: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(data);
        Ok(data.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}
