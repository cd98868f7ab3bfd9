//! Child processes: the release server, the mock upstream and the B0
//! baseline, each on a loopback port, plus what `/proc` says about them.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use promptrefine_testkit::{Capture, ServerProcess};

pub(crate) const ADMIN_EMAIL: &str = "bench@example.com";
pub(crate) const ADMIN_PASSWORD: &str = "bench-password-123";

/// A child (testkit's [`ServerProcess`]) that is stopped (SIGTERM, then
/// SIGKILL) when dropped at the latest.
pub(crate) struct Proc {
    process: ServerProcess,
    pub base: String,
}

impl Proc {
    pub(crate) fn pid(&self) -> u32 {
        self.process.pid()
    }

    /// SIGTERM, then up to 10 s for a clean exit, then SIGKILL.
    pub(crate) async fn stop(self) {
        self.process.stop_async(Duration::from_secs(10)).await;
    }
}

/// A loopback port nobody listens on right now.
pub(crate) fn free_port() -> Result<u16> {
    let l = std::net::TcpListener::bind("127.0.0.1:0").context("bind a loopback port")?;
    Ok(l.local_addr()?.port())
}

/// The `promptrefine` binary to measure: `--server-bin`, else the one next to
/// this executable (`target/release/` for `cargo run --release`). Started by
/// cargo (or with the binary missing), it first runs `cargo build -p
/// promptrefine` of the same profile, so the binary measured is never older
/// than the sources; that is a no-op of a second when nothing changed.
pub(crate) fn server_binary(explicit: Option<&Path>) -> Result<PathBuf> {
    if let Some(p) = explicit {
        if p.is_file() {
            return Ok(p.to_path_buf());
        }
        bail!("--server-bin {} does not exist", p.display());
    }
    let me = std::env::current_exe().context("cannot find this executable")?;
    let dir = me.parent().context("executable without a folder")?;
    let bin = dir.join(format!("promptrefine{}", std::env::consts::EXE_SUFFIX));
    let under_cargo = std::env::var_os("CARGO").is_some();
    if bin.is_file() && !under_cargo {
        return Ok(bin);
    }
    let release = dir.file_name().is_some_and(|n| n == "release");
    let mut args = vec!["build", "-p", "promptrefine"];
    if release {
        args.push("--release");
    }
    eprintln!("bench: running `cargo {}`", args.join(" "));
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let status = std::process::Command::new(cargo)
        .args(&args)
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .status()
        .context("cannot run cargo")?;
    if !status.success() || !bin.is_file() {
        bail!(
            "could not build the server; run `cargo {}` and try again",
            args.join(" ")
        );
    }
    Ok(bin)
}

/// What the server is started with.
#[derive(Clone, Debug)]
pub(crate) struct ServerSpec {
    pub bin: PathBuf,
    pub database_url: String,
    pub mock_base: String,
    /// Working folder: empty, so no `.env` or `promptrefine.toml` is read.
    pub workdir: PathBuf,
    pub runs_max_in_flight: usize,
    /// `EXPERIMENTS_MAX_IN_FLIGHT`: the experiment engine's own cap.
    pub experiments_max_in_flight: usize,
}

/// Starts `promptrefine serve` and waits for `/readyz`; returns the process
/// and the time from spawn to the first ready answer.
pub(crate) async fn start_server(
    spec: &ServerSpec,
    http: &reqwest::Client,
) -> Result<(Proc, Duration)> {
    let port = free_port()?;
    let mut cmd = Command::new(&spec.bin);
    cmd.arg("serve")
        .current_dir(&spec.workdir)
        .env_remove("PROMPTREFINE_CONFIG")
        .env_remove("RUST_LOG")
        .env("DATABASE_URL", &spec.database_url)
        .env("BIND", format!("127.0.0.1:{port}"))
        .env("AUTH_ADMIN_EMAIL", ADMIN_EMAIL)
        .env("AUTH_ADMIN_PASSWORD", ADMIN_PASSWORD)
        .env("OPENAI_BASE_URL", &spec.mock_base)
        .env("OPENAI_API_KEY", "sk-bench")
        .env("OPENAI_MODELS", "mock-echo")
        .env("RUNS_MAX_IN_FLIGHT", spec.runs_max_in_flight.to_string())
        .env(
            "EXPERIMENTS_MAX_IN_FLIGHT",
            spec.experiments_max_in_flight.to_string(),
        )
        .env("LLM_MAX_RETRIES", "0")
        .env("LOG_LEVEL", "warn")
        .env("LOG_FORMAT", "pretty")
        .env("MIGRATE_ON_START", "true");
    let t0 = Instant::now();
    let mut process = ServerProcess::spawn(cmd, Capture::Discard, Capture::Inherit)
        .with_context(|| format!("cannot start {}", spec.bin.display()))?;
    let base = format!("http://127.0.0.1:{port}");
    let ready = format!("{base}/readyz");
    loop {
        if let Ok(r) = http.get(&ready).send().await
            && r.status().is_success()
        {
            break;
        }
        if let Some(status) = process.try_wait()? {
            bail!("the server exited before it was ready ({status})");
        }
        if t0.elapsed() > Duration::from_secs(60) {
            bail!("the server was not ready after 60 s");
        }
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
    Ok((Proc { process, base }, t0.elapsed()))
}

/// Starts `promptrefine mock-llm` and reads its base URL from its output.
pub(crate) async fn start_mock(bin: &Path, workdir: &Path) -> Result<Proc> {
    let mut cmd = Command::new(bin);
    cmd.args(["mock-llm", "--port", "0"])
        .current_dir(workdir)
        .env("LOG_LEVEL", "warn");
    let process = ServerProcess::spawn(cmd, Capture::Collect, Capture::Inherit)
        .context("cannot start the mock upstream")?;
    announced(process, "/v1").await
}

/// Starts this executable's hidden `baseline-server` (B0) answering `bytes` bytes.
pub(crate) async fn start_baseline(bytes: usize) -> Result<Proc> {
    let mut cmd = Command::new(std::env::current_exe()?);
    cmd.args(["baseline-server", "--bytes", &bytes.to_string()]);
    let process = ServerProcess::spawn(cmd, Capture::Collect, Capture::Inherit)
        .context("cannot start the baseline server")?;
    announced(process, "").await
}

/// The child with the first `http://…` word it prints on stdout as its
/// base, up to `suffix`.
async fn announced(mut process: ServerProcess, suffix: &str) -> Result<Proc> {
    let url = process
        .wait_for_stdout_async(
            |line| {
                line.split_whitespace()
                    .find(|w| w.starts_with("http://"))
                    .map(str::to_owned)
            },
            Duration::from_secs(30),
        )
        .await
        .map_err(anyhow::Error::msg)?;
    let url = url.trim_end_matches(suffix).trim_end_matches('/');
    Ok(Proc {
        base: format!("{url}{suffix}"),
        process,
    })
}

/// A `/proc/<pid>/status` figure in KiB (`VmRSS`, `VmHWM`).
pub(crate) fn proc_kib(pid: u32, key: &str) -> Option<u64> {
    let s = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    s.lines()
        .find(|l| l.starts_with(key) && l[key.len()..].starts_with(':'))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|v| v.parse().ok())
}

/// Resets the process's peak RSS (`VmHWM`) to its current RSS (Linux ≥ 4.0).
pub(crate) fn reset_peak_rss(pid: u32) -> bool {
    std::fs::write(format!("/proc/{pid}/clear_refs"), "5").is_ok()
}

/// Signs in as the admin and creates an API token (the CSRF rule wants an
/// `Origin` of this site for a cookie-authenticated POST).
pub(crate) async fn api_token(http: &reqwest::Client, base: &str) -> Result<String> {
    let cookie = session_cookie(http, base).await?;
    let res = http
        .post(format!("{base}/api/tokens"))
        .header(reqwest::header::COOKIE, cookie)
        .header(reqwest::header::ORIGIN, base)
        .json(&serde_json::json!({ "name": "bench" }))
        .send()
        .await?;
    if !res.status().is_success() {
        bail!("creating a token failed: {}", res.status());
    }
    let body: serde_json::Value = res.json().await?;
    body["data"]["token"]
        .as_str()
        .map(str::to_owned)
        .context("no token in the answer")
}

/// Signs in as the admin; returns the `pr_session=…` cookie pair (pages take
/// a session, not a token).
pub(crate) async fn session_cookie(http: &reqwest::Client, base: &str) -> Result<String> {
    let login = http
        .post(format!("{base}/api/auth/login"))
        .json(&serde_json::json!({ "email": ADMIN_EMAIL, "password": ADMIN_PASSWORD }))
        .send()
        .await?;
    if !login.status().is_success() {
        bail!("login failed: {}", login.status());
    }
    let cookie = login
        .headers()
        .get_all(reqwest::header::SET_COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find_map(|v| v.split(';').next().filter(|c| c.contains("pr_session")))
        .map(str::to_owned)
        .context("login set no session cookie")?;
    Ok(cookie)
}
