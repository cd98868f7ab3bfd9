//! The real server on a random port (fresh SQLite, mock OpenAI beside it),
//! chromedriver + headless Chromium per test, and screenshots.

use std::path::PathBuf;
use std::process::Command;
use std::sync::LazyLock;
use std::time::Duration;

use fantoccini::{Client, ClientBuilder, Locator};
use promptrefine_app::App;
use promptrefine_app::auth::AuthPolicy;
use promptrefine_app::providers::ProviderSettings;
use promptrefine_app::runs::{ClientSettings, PriceTable, ProviderConfig, RunService, RunSettings};
use promptrefine_app::secrets::SecretKey;
use promptrefine_store::{Store, StoreOptions, migrate};
use promptrefine_testkit::mock_openai::MockOpenAi;
use promptrefine_testkit::{Capture, ServerProcess, TestDb};
use promptrefine_web::{LaunchConfig, WebConfig};
use secrecy::{ExposeSecret, SecretString};
use tokio::sync::oneshot;

pub(crate) const ADMIN_EMAIL: &str = "admin@example.com";
pub(crate) const ADMIN_PASSWORD: &str = "correct horse battery staple";

pub(crate) struct Server {
    pub addr: String,
    pub app: App,
    pub setup_token: Option<String>,
    pub _mock: MockOpenAi,
    /// The server key stored providers are sealed under (kept over a restart).
    key: SecretKey,
    shutdown: Option<oneshot::Sender<()>>,
    serving: Option<tokio::task::JoinHandle<()>>,
    _db: TestDb,
}

impl Server {
    pub(crate) fn url(&self, path: &str) -> String {
        format!("{}{}", self.addr, path)
    }

    /// Creates a text prompt with a first version through the app (fast setup).
    pub(crate) async fn prompt(&self, title: &str, body: &str, model: &str) -> String {
        let input = promptrefine_app::prompts::CreatePrompt {
            title: title.into(),
            prompt_type: promptrefine_core::PromptType::Text,
            tags: vec!["demo".into()],
            slug: None,
            content: Some(promptrefine_core::Content::Text(body.into())),
            settings: Some(promptrefine_core::ModelSettings {
                model: Some(model.into()),
                ..Default::default()
            }),
            note: None,
        };
        self.app
            .create_prompt(input, None)
            .await
            .unwrap()
            .prompt
            .id
            .to_string()
    }

    /// Runs the prompt's current version with one variable to its end (fast setup).
    pub(crate) async fn run(
        &self,
        prompt: &str,
        name: &str,
        value: &str,
    ) -> promptrefine_core::Run {
        let start = promptrefine_app::runs::StartRun {
            prompt_id: prompt.parse().expect("a prompt id"),
            variables: [(name.to_string(), value.to_string())].into(),
            ..promptrefine_app::runs::StartRun::default()
        };
        self.app.run_to_end(start, None).await.unwrap()
    }
}

impl Server {
    /// Stops the server gracefully and starts a new one (a new `App` and
    /// store, as a new process would have) on the same address and database.
    pub(crate) async fn restart(&mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        if let Some(serving) = self.serving.take() {
            tokio::time::timeout(Duration::from_secs(30), serving)
                .await
                .expect("the server stops within 30 s")
                .expect("the server task");
        }
        let app = new_app(&self._db, &self._mock, &self.key).await;
        let at = self.addr.trim_start_matches("http://").to_string();
        let mut tries = 0;
        let listener = loop {
            match tokio::net::TcpListener::bind(&at).await {
                Ok(l) => break l,
                Err(e) => {
                    tries += 1;
                    assert!(tries < 100, "cannot bind {at} again: {e}");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
            }
        };
        let (tx, serving) = serve(app.clone(), listener);
        self.app = app;
        self.shutdown = Some(tx);
        self.serving = Some(serving);
    }
}

async fn new_app(db: &TestDb, mock: &MockOpenAi, key: &SecretKey) -> App {
    let store = Store::connect(&StoreOptions::new(db.url()))
        .await
        .expect("connect");
    migrate::up(&store).await.expect("migrate");
    App::new(store, AuthPolicy::default())
        .with_runs(RunService::new(run_settings(&mock.base_url())).expect("run settings"))
        .with_providers(ProviderSettings {
            key: Some(key.clone()),
            allow_link_local: false,
        })
}

/// Serves `app` on `listener` until the sender is used (or dropped).
fn serve(
    app: App,
    listener: tokio::net::TcpListener,
) -> (oneshot::Sender<()>, tokio::task::JoinHandle<()>) {
    let (tx, rx) = oneshot::channel::<()>();
    let launch = LaunchConfig::new(app, WebConfig::default());
    let serving = tokio::spawn(async move {
        let _ = promptrefine_web::launch(launch, listener, async {
            let _ = rx.await;
        })
        .await;
    });
    (tx, serving)
}

impl Drop for Server {
    fn drop(&mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
    }
}

fn run_settings(base_url: &str) -> RunSettings {
    RunSettings {
        providers: vec![ProviderConfig {
            name: "openai".into(),
            base_url: base_url.into(),
            api_key: Some(SecretString::from("sk-browser-test-key")),
            models: vec!["mock-echo".into(), "mock-slow".into()],
            extra_headers: vec![],
        }],
        client: ClientSettings {
            connect_timeout: Duration::from_secs(2),
            request_timeout: Duration::from_secs(20),
            first_byte_timeout: Duration::from_secs(5),
            idle_stream_timeout: Duration::from_secs(5),
            max_retries: 1,
            backoff_base: Duration::from_millis(20),
            backoff_max: Duration::from_millis(100),
            ..ClientSettings::default()
        },
        max_in_flight: 8,
        prices: PriceTable::default(),
    }
}

/// With `admin`, the admin account exists; without, a setup token is made.
pub(crate) async fn spawn(admin: bool) -> Server {
    let db = TestDb::sqlite();
    let mock = MockOpenAi::start().await;
    let key = SecretKey::generate().expect("a server key");
    let app = new_app(&db, &mock, &key).await;
    let setup_token = if admin {
        app.ensure_admin(Some(ADMIN_EMAIL), Some(&SecretString::from(ADMIN_PASSWORD)))
            .await
            .expect("admin");
        None
    } else {
        app.ensure_admin(None, None)
            .await
            .expect("setup token")
            .map(|t| t.expose_secret().to_string())
    };
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = format!("http://{}", listener.local_addr().unwrap());
    let (tx, serving) = serve(app.clone(), listener);
    Server {
        addr,
        app,
        setup_token,
        _mock: mock,
        key,
        shutdown: Some(tx),
        serving: Some(serving),
        _db: db,
    }
}

// --- the browser ---------------------------------------------------------------

const CHROMEDRIVER: &str = "/usr/bin/chromedriver";
const CHROMIUM: &str = "/usr/bin/chromium";

/// One browser at a time: two cores do not run several Chromiums well.
static BROWSER_LOCK: LazyLock<tokio::sync::Mutex<()>> =
    LazyLock::new(|| tokio::sync::Mutex::new(()));

pub(crate) struct Browser {
    pub c: Client,
    driver: ServerProcess,
    profile: PathBuf,
    _guard: tokio::sync::MutexGuard<'static, ()>,
}

impl Drop for Browser {
    fn drop(&mut self) {
        self.driver.kill();
        let _ = std::fs::remove_dir_all(&self.profile);
    }
}

/// None (with a notice) when chromedriver is missing outside CI; fails in CI.
pub(crate) async fn browser() -> Option<Browser> {
    if !std::path::Path::new(CHROMEDRIVER).exists() {
        assert!(
            !promptrefine_testkit::in_ci(),
            "chromedriver is missing at {CHROMEDRIVER}: CI must install chromium-driver"
        );
        eprintln!("NOTICE: skipping a browser test: {CHROMEDRIVER} is not installed");
        return None;
    }
    let guard = BROWSER_LOCK.lock().await;
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let mut cmd = Command::new(CHROMEDRIVER);
    cmd.arg(format!("--port={port}"));
    let driver =
        ServerProcess::spawn(cmd, Capture::Discard, Capture::Discard).expect("start chromedriver");
    let profile =
        std::env::temp_dir().join(format!("promptrefine-chrome-{}-{port}", std::process::id()));
    std::fs::create_dir_all(&profile).unwrap();
    let mut caps = serde_json::Map::new();
    caps.insert(
        "goog:chromeOptions".into(),
        serde_json::json!({
            "binary": CHROMIUM,
            "args": ["--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                "--disable-background-networking", "--disable-component-update", "--disable-sync",
                "--no-first-run", format!("--user-data-dir={}", profile.display()), "--window-size=1280,900"]
        }),
    );
    // The console, for `console_errors`.
    caps.insert(
        "goog:loggingPrefs".into(),
        serde_json::json!({ "browser": "ALL" }),
    );
    let url = format!("http://127.0.0.1:{port}");
    let mut last_err = String::new();
    for _ in 0..50 {
        let connector = hyper_util::client::legacy::connect::HttpConnector::new();
        match ClientBuilder::new(connector)
            .capabilities(caps.clone())
            .connect(&url)
            .await
        {
            Ok(c) => {
                return Some(Browser {
                    c,
                    driver,
                    profile,
                    _guard: guard,
                });
            }
            Err(e) => last_err = e.to_string(),
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    panic!("could not start a browser session: {last_err}");
}

impl Browser {
    pub(crate) async fn goto(&self, url: &str) {
        self.c.goto(url).await.unwrap();
    }

    pub(crate) async fn fill(&self, css: &str, text: &str) {
        let e = self.wait(css).await;
        e.clear().await.unwrap();
        e.send_keys(text).await.unwrap();
    }

    pub(crate) async fn click(&self, css: &str) {
        self.wait(css).await.click().await.unwrap();
    }

    pub(crate) async fn wait(&self, css: &str) -> fantoccini::elements::Element {
        self.c
            .wait()
            .at_most(Duration::from_secs(15))
            .for_element(Locator::Css(css))
            .await
            .unwrap_or_else(|e| panic!("no element {css}: {e}"))
    }

    pub(crate) async fn text(&self, css: &str) -> String {
        self.wait(css).await.text().await.unwrap()
    }

    pub(crate) async fn body(&self) -> String {
        self.text("body").await
    }

    pub(crate) async fn path(&self) -> String {
        let u = self.c.current_url().await.unwrap();
        match u.query() {
            Some(q) => format!("{}?{q}", u.path()),
            None => u.path().to_string(),
        }
    }

    /// Waits until `check` holds for the page's text (polling, bounded).
    pub(crate) async fn wait_text(&self, css: &str, needle: &str) {
        for _ in 0..150 {
            if let Ok(e) = self.c.find(Locator::Css(css)).await
                && e.text().await.unwrap_or_default().contains(needle)
            {
                return;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        panic!("{css} never showed {needle:?}; page: {}", self.body().await);
    }

    /// Runs a script; its `return` value.
    pub(crate) async fn js(&self, script: &str) -> serde_json::Value {
        self.c.execute(script, vec![]).await.unwrap()
    }

    pub(crate) async fn login(&self, server: &Server) {
        self.goto(&server.url("/login")).await;
        self.fill("#email", ADMIN_EMAIL).await;
        self.fill("#password", ADMIN_PASSWORD).await;
        self.click("#sign-in").await;
        self.wait_text("[data-testid=signed-in-email]", ADMIN_EMAIL)
            .await;
    }

    /// Accepts the confirm() dialog a click opened.
    pub(crate) async fn accept_dialog(&self) {
        for _ in 0..50 {
            if self.c.accept_alert().await.is_ok() {
                return;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        panic!("no dialog appeared");
    }

    /// Saves the page as `target/test-output/screenshots/{name}.png`.
    pub(crate) async fn screenshot(&self, name: &str) {
        let dir = screenshots_dir();
        std::fs::create_dir_all(&dir).unwrap();
        let png = self.c.screenshot().await.unwrap();
        std::fs::write(dir.join(format!("{name}.png")), png).unwrap();
    }

    /// Sets a text box's value at once (a long multi-line text typed key by
    /// key is slow), as pasting would.
    pub(crate) async fn paste(&self, css: &str, text: &str) {
        self.wait(css).await;
        let script = format!(
            "document.querySelector({}).value = {};",
            serde_json::to_string(css).unwrap(),
            serde_json::to_string(text).unwrap()
        );
        self.c.execute(&script, vec![]).await.unwrap();
    }

    /// Chooses the option with `value` in the select `css`.
    pub(crate) async fn select(&self, css: &str, value: &str) {
        self.wait(css)
            .await
            .select_by_value(value)
            .await
            .unwrap_or_else(|e| panic!("{css} has no option {value:?}: {e}"));
    }

    /// The console's errors since the last call (chromedriver's log), such
    /// as a script error or a refused script or style (CSP).
    pub(crate) async fn console_errors(&self) -> Vec<String> {
        let log = self.c.issue_cmd(BrowserLog).await.unwrap();
        log.as_array()
            .into_iter()
            .flatten()
            .filter(|e| e["level"] == "SEVERE")
            .map(|e| e["message"].as_str().unwrap_or_default().to_string())
            .collect()
    }

    pub(crate) async fn close(self) {
        let _ = self.c.clone().close().await;
    }
}

pub(crate) fn screenshots_dir() -> PathBuf {
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../target"));
    target.join("test-output/screenshots")
}

/// chromedriver's `POST /session/{id}/se/log` (`{"type": "browser"}`).
#[derive(Debug)]
struct BrowserLog;

impl fantoccini::wd::WebDriverCompatibleCommand for BrowserLog {
    fn endpoint(
        &self,
        base_url: &reqwest::Url,
        session_id: Option<&str>,
    ) -> Result<reqwest::Url, url::ParseError> {
        base_url.join(&format!(
            "session/{}/se/log",
            session_id.unwrap_or_default()
        ))
    }

    fn method_and_body(&self, _url: &reqwest::Url) -> (axum::http::Method, Option<String>) {
        (
            axum::http::Method::POST,
            Some(r#"{"type":"browser"}"#.to_string()),
        )
    }
}
