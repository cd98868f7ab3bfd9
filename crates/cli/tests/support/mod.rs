//! Running the binary: one-shot commands, and a server in the background
//! whose output is collected while it runs.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Duration;

use promptrefine_testkit::{Capture, ServerProcess, port_after};

/// The settings every test starts from: its own database, any free port,
/// JSON logs (what the assertions parse).
pub(crate) fn base_env(database_url: &str) -> Vec<(String, String)> {
    [
        ("DATABASE_URL", database_url),
        ("BIND", "127.0.0.1:0"),
        ("LOG_FORMAT", "json"),
        ("LOG_LEVEL", "info"),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v.to_string()))
    .collect()
}

/// The binary with only the given environment (nothing leaks in from the
/// developer's shell), run in `dir` (where `.env` and the TOML file live).
fn command(dir: &Path, args: &[&str], env: &[(String, String)]) -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_promptrefine"));
    cmd.env_clear().current_dir(dir).args(args);
    for (k, v) in env {
        cmd.env(k, v);
    }
    cmd
}

#[derive(Debug)]
pub(crate) struct Run {
    pub code: Option<i32>,
    pub stdout: String,
    pub stderr: String,
}

pub(crate) fn promptrefine(dir: &Path, args: &[&str], env: &[(String, String)]) -> Run {
    promptrefine_with_stdin(dir, args, env, "")
}

pub(crate) fn promptrefine_with_stdin(
    dir: &Path,
    args: &[&str],
    env: &[(String, String)],
    stdin: &str,
) -> Run {
    let mut child = command(dir, args, env)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start promptrefine");
    child
        .stdin
        .take()
        .unwrap()
        .write_all(stdin.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    Run {
        code: out.status.code(),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

/// A background `promptrefine` process (testkit's [`ServerProcess`]: real
/// signals, output collected, killed if the test panics).
/// `promptrefine mock-llm` on a free port, and the environment of a
/// database at `database_url` whose OpenAI provider is that mock (no
/// retries, so each call is one upstream request).
// Not every test binary that includes this module uses it.
#[allow(dead_code)]
pub(crate) fn mock_upstream(dir: &Path, database_url: &str) -> (Server, Vec<(String, String)>) {
    let mock = Server::start_matching(
        dir,
        &["mock-llm", "--port", "0"],
        &[],
        "mock OpenAI server at http://",
    );
    let mut env = base_env(database_url);
    env.push((
        "OPENAI_BASE_URL".into(),
        format!("http://127.0.0.1:{}/v1", mock.port),
    ));
    env.push(("OPENAI_API_KEY".into(), "sk-cli-test".into()));
    env.push(("LLM_MAX_RETRIES".into(), "0".into()));
    (mock, env)
}

pub(crate) struct Server {
    process: ServerProcess,
    pub port: u16,
}

impl Server {
    /// `promptrefine serve`, once it logs that it listens.
    pub(crate) fn start(dir: &Path, args: &[&str], env: &[(String, String)]) -> Server {
        let mut all = vec!["serve"];
        all.extend_from_slice(args);
        Server::start_matching(dir, &all, env, "listening on http://")
    }

    /// Any command; ready when stdout has a line containing `ready` followed
    /// by `HOST:PORT`.
    pub(crate) fn start_matching(
        dir: &Path,
        args: &[&str],
        env: &[(String, String)],
        ready: &str,
    ) -> Server {
        let mut process =
            ServerProcess::spawn(command(dir, args, env), Capture::Collect, Capture::Collect)
                .expect("start promptrefine");
        let port = process
            .wait_for_stdout(|l| port_after(l, ready), Duration::from_secs(60))
            .unwrap_or_else(|e| panic!("promptrefine did not get ready: {e}"));
        Server { process, port }
    }

    /// SIGTERM, then waits for the exit: (exit code, stdout, stderr).
    pub(crate) fn stop(self) -> (Option<i32>, String, String) {
        let exited = self.process.stop(Duration::from_secs(30));
        assert!(
            exited.stopped_in_time,
            "promptrefine did not stop within 30 s of SIGTERM: {exited:?}"
        );
        (exited.code, exited.stdout, exited.stderr)
    }
}

#[derive(Debug)]
pub(crate) struct Response {
    pub status: u16,
    pub head: String,
    pub body: String,
}

impl Response {
    pub(crate) fn header(&self, name: &str) -> Option<&str> {
        self.head.lines().find_map(|l| {
            let (n, v) = l.split_once(':')?;
            n.trim().eq_ignore_ascii_case(name).then(|| v.trim())
        })
    }
}

/// A minimal HTTP/1.1 request over loopback (no client library needed).
pub(crate) fn http(
    port: u16,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: Option<&str>,
) -> Response {
    let mut stream = TcpStream::connect(("127.0.0.1", port)).expect("connect to the server");
    stream
        .set_read_timeout(Some(Duration::from_secs(30)))
        .unwrap();
    let body = body.unwrap_or("");
    let mut request = format!(
        "{method} {path} HTTP/1.1\r\nhost: 127.0.0.1:{port}\r\nconnection: close\r\ncontent-length: {}\r\n",
        body.len()
    );
    for (k, v) in headers {
        request.push_str(&format!("{k}: {v}\r\n"));
    }
    request.push_str("\r\n");
    request.push_str(body);
    stream.write_all(request.as_bytes()).unwrap();
    let mut raw = String::new();
    stream.read_to_string(&mut raw).unwrap();
    let (head, body) = raw.split_once("\r\n\r\n").unwrap_or((&raw, ""));
    let status = head
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    Response {
        status,
        head: head.to_string(),
        body: body.to_string(),
    }
}

/// Pretends a newer binary applied migration `version` (SQLite only).
pub(crate) fn record_future_migration(sqlite_url: &str, version: i64) {
    use sqlx::Connection;
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let mut conn = sqlx::SqliteConnection::connect(sqlite_url).await.unwrap();
        sqlx::query(
            "insert into _sqlx_migrations (version, description, success, checksum, execution_time) \
             values ($1, 'from the future', true, x'00', 0)",
        )
        .bind(version)
        .execute(&mut conn)
        .await
        .unwrap();
        conn.close().await.unwrap();
    });
}
