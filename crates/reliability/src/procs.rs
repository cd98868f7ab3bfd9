//! The real processes: `promptrefine mock-llm` and `promptrefine serve`,
//! started, killed with SIGKILL and restarted on the same port, through the
//! testkit's `ServerProcess`.

use std::path::PathBuf;
use std::process::Command;
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use promptrefine_testkit::{Capture, ServerProcess};

pub(crate) const ADMIN_EMAIL: &str = "admin@example.com";
pub(crate) const ADMIN_PASSWORD: &str = "correct horse battery staple";

/// `promptrefine` next to this executable (target/{debug,release}, or one
/// level up from `deps/` when run as a test); `PROMPTREFINE_BIN` overrides.
pub(crate) fn binary() -> anyhow::Result<PathBuf> {
    if let Ok(p) = std::env::var("PROMPTREFINE_BIN") {
        return Ok(p.into());
    }
    let exe = std::env::current_exe()?;
    let mut dir = exe.parent().map(PathBuf::from);
    while let Some(d) = dir {
        let candidate = d.join("promptrefine");
        if candidate.is_file() {
            return Ok(candidate);
        }
        if d.file_name().is_some_and(|n| n == "target") {
            break;
        }
        dir = d.parent().map(PathBuf::from);
    }
    bail!(
        "no promptrefine binary next to {}: run `cargo build -p promptrefine` first",
        exe.display()
    )
}

/// The mock OpenAI server; killed when dropped.
pub(crate) struct Mock {
    pub base_url: String,
    _process: ServerProcess,
}

pub(crate) async fn start_mock(bin: &PathBuf) -> anyhow::Result<Mock> {
    let mut cmd = Command::new(bin);
    cmd.args(["mock-llm", "--port", "0"])
        .env("LOG_LEVEL", "warn");
    let mut process =
        ServerProcess::spawn(cmd, Capture::Collect, Capture::Discard).context("start mock-llm")?;
    // "mock OpenAI server at http://127.0.0.1:PORT/v1 (…"
    let base_url = process
        .wait_for_stdout_async(
            |line| {
                line.split_whitespace()
                    .find(|w| w.starts_with("http://"))
                    .map(str::to_owned)
            },
            Duration::from_secs(10),
        )
        .await
        .map_err(anyhow::Error::msg)?;
    Ok(Mock {
        base_url,
        _process: process,
    })
}

/// A free loopback port (bound, then released for the server to take).
pub(crate) fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

pub(crate) struct Server {
    pub bin: PathBuf,
    pub database_url: String,
    pub port: u16,
    pub mock_url: String,
    /// More environment for `serve` (e.g. a short `INSTANCE_LEASE_SECS`).
    pub env: Vec<(String, String)>,
    process: Option<ServerProcess>,
}

impl Server {
    pub(crate) fn new(bin: PathBuf, database_url: String, mock_url: String) -> Server {
        Server {
            bin,
            database_url,
            port: free_port(),
            mock_url,
            env: vec![],
            process: None,
        }
    }

    pub(crate) fn url(&self, path: &str) -> String {
        format!("http://127.0.0.1:{}{path}", self.port)
    }

    /// Starts the server and waits for `/readyz`; returns the time from spawn
    /// to the first green answer.
    pub(crate) async fn start(&mut self, http: &reqwest::Client) -> anyhow::Result<Duration> {
        let started = Instant::now();
        let mut cmd = Command::new(&self.bin);
        cmd.arg("serve")
            .env("DATABASE_URL", &self.database_url)
            .env("BIND", format!("127.0.0.1:{}", self.port))
            .env("AUTH_ADMIN_EMAIL", ADMIN_EMAIL)
            .env("AUTH_ADMIN_PASSWORD", ADMIN_PASSWORD)
            .env("OPENAI_BASE_URL", &self.mock_url)
            .env("OPENAI_API_KEY", "sk-reliability-suite")
            // One server key for every replica, and no key file written
            // into the source tree (the default is `data/secret.key`).
            .env("SECRET_KEY", "cmVsaWFiaWxpdHktc3VpdGUta2V5LTMyLWJ5dGVzISE=")
            .env("OPENAI_MODELS", "mock-slow,mock-echo")
            .env("LLM_MAX_RETRIES", "0")
            .env("SHUTDOWN_GRACE_SECS", "1")
            .env("LOG_LEVEL", "warn")
            .env("LOG_FORMAT", "json")
            .envs(self.env.iter().map(|(k, v)| (k, v)));
        let process = ServerProcess::spawn(cmd, Capture::Discard, Capture::Discard)
            .context("start promptrefine serve")?;
        self.process = Some(process);
        loop {
            let ready = http
                .get(self.url("/readyz"))
                .timeout(Duration::from_millis(500))
                .send()
                .await
                .is_ok_and(|r| r.status() == 200);
            if ready {
                return Ok(started.elapsed());
            }
            if let Some(status) = self
                .process
                .as_mut()
                .and_then(|p| p.try_wait().ok().flatten())
            {
                bail!("promptrefine serve exited during start-up: {status}");
            }
            if started.elapsed() > Duration::from_secs(30) {
                bail!("not ready within 30 s");
            }
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    }

    /// SIGKILL (a crash), and wait for the process to be gone.
    pub(crate) async fn kill(&mut self) {
        if let Some(mut p) = self.process.take() {
            p.kill();
        }
    }
}

/// What every scenario starts from: the binary, the mock upstream, a fresh
/// database of the backend and an HTTP client.
pub(crate) struct Setup {
    pub bin: PathBuf,
    pub mock: Mock,
    pub db: promptrefine_testkit::TestDb,
    pub http: reqwest::Client,
}

impl Setup {
    pub(crate) async fn new(backend: &str) -> anyhow::Result<Setup> {
        let bin = binary()?;
        let mock = start_mock(&bin).await?;
        let db = match backend {
            "sqlite" => promptrefine_testkit::TestDb::sqlite(),
            _ => promptrefine_testkit::TestDb::postgres()
                .await
                .context("PostgreSQL is not reachable")?,
        };
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(30))
            .build()?;
        Ok(Setup {
            bin,
            mock,
            db,
            http,
        })
    }

    /// A server (not started) on this database and mock.
    pub(crate) fn server(&self) -> Server {
        Server::new(
            self.bin.clone(),
            self.db.url().to_string(),
            self.mock.base_url.clone(),
        )
    }
}
