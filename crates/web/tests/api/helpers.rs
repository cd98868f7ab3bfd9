//! `spawn_app`: the real server on a random loopback port, on a fresh
//! database of the chosen backend, with the mock OpenAI server beside it, and
//! a signed-in API client. The server runs through `promptrefine_web::launch`,
//! as `promptrefine serve` does: unfinished runs are marked interrupted
//! before the first request and runs are drained at shutdown.

use std::time::Duration;

use promptrefine_app::App;
use promptrefine_app::auth::AuthPolicy;
use promptrefine_app::runs::{ClientSettings, PriceTable, ProviderConfig, RunService, RunSettings};
use promptrefine_app::secrets::SecretKey;
use promptrefine_store::{Store, StoreOptions, migrate};
use promptrefine_testkit::TestDb;
use promptrefine_testkit::mock_openai::MockOpenAi;
use promptrefine_web::{AppState, LaunchConfig, LaunchError, Stopped, WebConfig};
use reqwest::header::{HeaderMap, HeaderValue};
use secrecy::SecretString;
use serde_json::{Value, json};
use tokio::sync::oneshot;

pub(crate) const ADMIN_EMAIL: &str = "admin@example.com";
pub(crate) const ADMIN_PASSWORD: &str = "correct horse battery staple";

pub(crate) struct TestApp {
    pub addr: String,
    pub store: Store,
    pub app: App,
    pub mock: MockOpenAi,
    /// Signed in with an API token.
    pub api: reqwest::Client,
    /// No credentials at all.
    pub anon: reqwest::Client,
    pub token: String,
    /// The key stored providers are sealed under (a replica shares it).
    pub secret_key: SecretKey,
    shutdown: Option<oneshot::Sender<()>>,
    pub server: Option<tokio::task::JoinHandle<Result<Stopped, LaunchError>>>,
    pub _db: TestDb,
}

pub(crate) struct Options {
    pub web: WebConfig,
    pub auth: AuthPolicy,
    /// Routes mounted inside the middleware stack (e.g. one that panics).
    pub extra_routes: axum::Router<AppState>,
    /// The run settings, given the mock's base URL; default [`test_run_settings`].
    pub runs: Option<RunSettingsFn>,
    /// Default [`promptrefine_web::HEADER_READ_TIMEOUT`]; the slowloris test shortens it.
    pub header_read_timeout: Option<Duration>,
    /// Hosts `http` evaluators may call (none by default, as in production).
    pub evaluator_hosts: Vec<String>,
    /// The server key for stored providers; default a fresh one.
    pub secret_key: Option<SecretKey>,
}

/// Builds run settings from the mock's base URL.
pub(crate) type RunSettingsFn = Box<dyn FnOnce(&str) -> RunSettings + Send>;

impl Default for Options {
    fn default() -> Self {
        Options {
            web: WebConfig::default(),
            auth: AuthPolicy::default(),
            extra_routes: axum::Router::new(),
            runs: None,
            header_read_timeout: None,
            evaluator_hosts: vec![],
            secret_key: None,
        }
    }
}

/// The API key the test provider sends; tests check it never leaks.
pub(crate) const TEST_API_KEY: &str = "sk-test-secret-key-123456";

/// One provider, `openai`, pointing at the mock, with short timeouts and fast retries.
pub(crate) fn test_run_settings(base_url: &str) -> RunSettings {
    RunSettings {
        providers: vec![ProviderConfig {
            name: "openai".into(),
            base_url: base_url.into(),
            api_key: Some(SecretString::from(TEST_API_KEY)),
            models: vec!["gpt-4o-mini".into(), "mock-echo".into()],
            extra_headers: vec![],
        }],
        client: ClientSettings {
            connect_timeout: Duration::from_secs(2),
            request_timeout: Duration::from_secs(20),
            first_byte_timeout: Duration::from_secs(2),
            idle_stream_timeout: Duration::from_secs(2),
            max_retries: 2,
            backoff_base: Duration::from_millis(20),
            backoff_max: Duration::from_millis(100),
            ..ClientSettings::default()
        },
        max_in_flight: 32,
        prices: PriceTable::default(),
    }
}

pub(crate) async fn spawn_app(db: TestDb) -> TestApp {
    spawn_app_with(db, Options::default()).await
}

/// A server with these web settings and every other option at its default.
pub(crate) async fn spawn_app_with_web(db: TestDb, web: WebConfig) -> TestApp {
    spawn_app_with(
        db,
        Options {
            web,
            ..Options::default()
        },
    )
    .await
}

pub(crate) async fn spawn_app_with(db: TestDb, opts: Options) -> TestApp {
    let url = db.url().to_owned();
    spawn_at(&url, db, opts).await
}

/// A second server on `first`'s database, as another replica would be.
pub(crate) async fn spawn_replica(first: &TestApp) -> TestApp {
    // The database belongs to `first`; this one holds a spare it never uses.
    let opts = Options {
        secret_key: Some(first.secret_key.clone()),
        ..Options::default()
    };
    spawn_at(first._db.url(), TestDb::sqlite(), opts).await
}

/// A second server on `first`'s database with options of its own.
pub(crate) async fn spawn_replica_with(first: &TestApp, opts: Options) -> TestApp {
    spawn_at(first._db.url(), TestDb::sqlite(), opts).await
}

async fn spawn_at(url: &str, db: TestDb, opts: Options) -> TestApp {
    let store = Store::connect(&StoreOptions::new(url))
        .await
        .expect("connect");
    migrate::up(&store).await.expect("migrate");
    let mock = MockOpenAi::start().await;
    let runs = opts.runs.map_or_else(
        || test_run_settings(&mock.base_url()),
        |f| f(&mock.base_url()),
    );
    let secret_key = opts
        .secret_key
        .unwrap_or_else(|| SecretKey::generate().expect("a key"));
    let app = App::new(store.clone(), opts.auth)
        .with_runs(RunService::new(runs).expect("run settings"))
        .with_providers(promptrefine_app::providers::ProviderSettings {
            key: Some(secret_key.clone()),
            allow_link_local: false,
        })
        .with_evaluator_hosts(opts.evaluator_hosts);
    app.ensure_admin(Some(ADMIN_EMAIL), Some(&SecretString::from(ADMIN_PASSWORD)))
        .await
        .expect("admin");
    let mut launch = LaunchConfig::new(app.clone(), opts.web);
    launch.extra_routes = opts.extra_routes;
    if let Some(t) = opts.header_read_timeout {
        launch.header_read_timeout = t;
    }
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = format!("http://{}", listener.local_addr().unwrap());
    let (tx, rx) = oneshot::channel::<()>();
    let server = tokio::spawn(promptrefine_web::launch(launch, listener, async {
        let _ = rx.await;
    }));
    // `launch` accepts only once unfinished runs are marked interrupted, so
    // the first answer means a test's own runs can no longer be swept up.
    wait_until_serving(&addr).await;

    let user = store
        .users()
        .find_by_email(ADMIN_EMAIL)
        .await
        .unwrap()
        .unwrap();
    let (_, secret) = app.create_token(user.id(), "tests").await.unwrap();
    let token = secrecy::ExposeSecret::expose_secret(&secret).to_string();
    let mut headers = HeaderMap::new();
    headers.insert(
        "authorization",
        HeaderValue::from_str(&format!("Bearer {token}")).unwrap(),
    );
    let api = reqwest::Client::builder()
        .default_headers(headers)
        .timeout(Duration::from_secs(60))
        .build()
        .unwrap();
    let anon = reqwest::Client::builder()
        .timeout(Duration::from_secs(60))
        .build()
        .unwrap();
    TestApp {
        addr,
        store,
        app,
        mock,
        api,
        anon,
        token,
        secret_key,
        shutdown: Some(tx),
        server: Some(server),
        _db: db,
    }
}

impl TestApp {
    pub(crate) fn url(&self, path: &str) -> String {
        format!("{}{}", self.addr, path)
    }

    /// A browser-like client with its own cookie jar (not signed in yet).
    pub(crate) fn browser(&self) -> reqwest::Client {
        reqwest::Client::builder()
            .cookie_store(true)
            .timeout(Duration::from_secs(60))
            .build()
            .unwrap()
    }

    /// Signs a cookie client in through the API, as the login page's script would.
    pub(crate) async fn login(&self, client: &reqwest::Client) -> reqwest::Response {
        client
            .post(self.url("/api/auth/login"))
            .header("origin", &self.addr)
            .json(&json!({ "email": ADMIN_EMAIL, "password": ADMIN_PASSWORD }))
            .send()
            .await
            .unwrap()
    }

    /// A JSON POST from a cookie client, sent same-site (an `Origin` of this
    /// server) so the CSRF check lets it through.
    pub(crate) async fn post_as(
        &self,
        client: &reqwest::Client,
        path: &str,
        body: Value,
    ) -> (u16, Value) {
        let res = client
            .post(self.url(path))
            .header("origin", &self.addr)
            .json(&body)
            .send()
            .await
            .unwrap();
        read(res).await
    }

    /// A same-site DELETE from a cookie client.
    pub(crate) async fn delete_as(&self, client: &reqwest::Client, path: &str) -> (u16, Value) {
        let res = client
            .delete(self.url(path))
            .header("origin", &self.addr)
            .send()
            .await
            .unwrap();
        read(res).await
    }

    /// The OpenAPI document as the server serves it (no credentials needed).
    pub(crate) async fn openapi(&self) -> Value {
        let res = self
            .anon
            .get(self.url("/api/openapi.json"))
            .send()
            .await
            .expect("the OpenAPI document is served");
        assert_eq!(res.status(), 200, "GET /api/openapi.json");
        res.json().await.expect("the OpenAPI document is JSON")
    }

    pub(crate) async fn get(&self, path: &str) -> (u16, Value) {
        let res = self.api.get(self.url(path)).send().await.unwrap();
        read(res).await
    }

    pub(crate) async fn post(&self, path: &str, body: Value) -> (u16, Value) {
        let res = self
            .api
            .post(self.url(path))
            .json(&body)
            .send()
            .await
            .unwrap();
        read(res).await
    }

    pub(crate) async fn patch(&self, path: &str, body: Value) -> (u16, Value) {
        let res = self
            .api
            .patch(self.url(path))
            .json(&body)
            .send()
            .await
            .unwrap();
        read(res).await
    }

    pub(crate) async fn put(&self, path: &str, body: Value) -> (u16, Value) {
        let res = self
            .api
            .put(self.url(path))
            .json(&body)
            .send()
            .await
            .unwrap();
        read(res).await
    }

    pub(crate) async fn delete(&self, path: &str) -> (u16, Value) {
        let res = self.api.delete(self.url(path)).send().await.unwrap();
        read(res).await
    }

    /// Creates a prompt (with a first version when `body` is given); returns its JSON.
    pub(crate) async fn create_prompt(&self, title: &str, body: Option<&str>) -> Value {
        let mut req = json!({ "title": title, "type": "text", "tags": ["test"] });
        if let Some(b) = body {
            req["content"] = json!(b);
        }
        let (status, json) = self.post("/api/prompts", req).await;
        assert_eq!(status, 201, "{json}");
        json["data"].clone()
    }

    /// Stops the server gracefully (requests, then runs) and waits for it.
    pub(crate) async fn stop(&mut self) -> Result<Stopped, LaunchError> {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        match self.server.take() {
            Some(h) => h.await.expect("server task"),
            None => Ok(Stopped {
                interrupted_at_start: 0,
                cancelled_at_shutdown: 0,
            }),
        }
    }
}

impl TestApp {
    /// Stops this server and launches a new one on the same database, as a
    /// process restart would (a new mock and API token too).
    pub(crate) async fn restart(mut self) -> TestApp {
        self.stop().await.expect("a clean stop");
        let db = std::mem::replace(&mut self._db, TestDb::sqlite());
        self.store.close().await;
        spawn_app(db).await
    }
}

impl Drop for TestApp {
    fn drop(&mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
    }
}

/// Waits for the first answer from `/healthz`.
async fn wait_until_serving(addr: &str) {
    let client = reqwest::Client::new();
    let url = format!("{addr}/healthz");
    for _ in 0..200 {
        if client.get(&url).send().await.is_ok() {
            return;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    panic!("the server did not answer {url}");
}

/// Status and JSON body; asserts the envelope's shape on every answer.
pub(crate) async fn read(res: reqwest::Response) -> (u16, Value) {
    let status = res.status().as_u16();
    let text = res.text().await.unwrap();
    let json: Value =
        serde_json::from_str(&text).unwrap_or_else(|_| panic!("not JSON ({status}): {text}"));
    assert_envelope(status, &json);
    (status, json)
}

pub(crate) fn assert_envelope(status: u16, json: &Value) {
    let obj = json
        .as_object()
        .unwrap_or_else(|| panic!("not an object: {json}"));
    assert!(
        obj.contains_key("data") && obj.contains_key("error"),
        "{json}"
    );
    if status >= 400 {
        assert!(json["data"].is_null(), "{json}");
        let e = &json["error"];
        assert!(e["code"].is_string() && e["message"].is_string(), "{json}");
        assert!(
            e["requestId"].is_string(),
            "error bodies carry the request id: {json}"
        );
    } else {
        assert!(json["error"].is_null(), "{json}");
    }
}

/// The field names of a 422's details.
pub(crate) fn fields(json: &Value) -> Vec<String> {
    json["error"]["details"]["fields"]
        .as_array()
        .map(|a| {
            a.iter()
                .map(|f| f["field"].as_str().unwrap_or("").to_string())
                .collect()
        })
        .unwrap_or_default()
}
