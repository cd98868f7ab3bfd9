//! Tests of the real binary: configuration, `check`, `migrate`, `serve`,
//! `user set-password` and `mock-llm`, as an operator would run them.
//! Database flows run on SQLite and PostgreSQL (the PostgreSQL half is
//! skipped with a notice outside CI when no server is reachable).

mod support;

use std::time::Duration;

use promptrefine_testkit::{TestDb, both_backends};
use support::{Run, Server, base_env, http, promptrefine};

const ADMIN_EMAIL: &str = "admin@example.com";
const ADMIN_PASSWORD: &str = "admin-password-never-logged-42";

both_backends!(
    sync:
    check_counts_pending_migrations_only_when_serve_will_not_apply_them,
    migrate_up_status_down_and_up_again,
    serve_answers_health_checks_and_stops_gracefully_on_sigterm,
    seed_adds_demo_data_once,
);

fn seed_adds_demo_data_once(db: TestDb) {
    let dir = tempfile::tempdir().unwrap();
    let env = base_env(db.url());
    let run = promptrefine(dir.path(), &["seed"], &env);
    assert_ne!(run.code, Some(0), "refused before migrating: {run:?}");
    assert_eq!(
        promptrefine(dir.path(), &["migrate", "up"], &env).code,
        Some(0)
    );
    let first = promptrefine(dir.path(), &["seed"], &env);
    assert_eq!(first.code, Some(0), "{first:?}");
    assert!(first.stdout.contains("seeded 3 prompts"), "{first:?}");
    let again = promptrefine(dir.path(), &["seed"], &env);
    assert_eq!(again.code, Some(0), "{again:?}");
    assert!(
        again
            .stdout
            .contains("seeded 0 prompts (0 versions, 0 runs); 3 demo prompts were already there"),
        "{again:?}"
    );
}

// --- configuration ------------------------------------------------------------

#[test]
fn a_flag_beats_the_environment_which_beats_dotenv_which_beats_the_toml_file() {
    let db = TestDb::sqlite();
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("promptrefine.toml"),
        "request_timeout_secs = 11\n",
    )
    .unwrap();
    std::fs::write(dir.path().join(".env"), "REQUEST_TIMEOUT_SECS=12\n").unwrap();
    let env = base_env(db.url());
    let shown = |run: &Run| {
        let line = run
            .stdout
            .lines()
            .find(|l| l.trim_start().starts_with("REQUEST_TIMEOUT_SECS"))
            .unwrap()
            .to_string();
        line.split_whitespace()
            .skip(1)
            .collect::<Vec<_>>()
            .join(" ")
    };

    let run = promptrefine(
        dir.path(),
        &["check", "--request-timeout-secs", "14"],
        &env_with(&env, "REQUEST_TIMEOUT_SECS", "13"),
    );
    assert_eq!(shown(&run), "14 (flag)");
    let run = promptrefine(
        dir.path(),
        &["check"],
        &env_with(&env, "REQUEST_TIMEOUT_SECS", "13"),
    );
    assert_eq!(shown(&run), "13 (environment)");
    let run = promptrefine(dir.path(), &["check"], &env);
    assert_eq!(shown(&run), "12 (.env)");
    std::fs::remove_file(dir.path().join(".env")).unwrap();
    let run = promptrefine(dir.path(), &["check"], &env);
    assert_eq!(shown(&run), "11 (config file)");
    std::fs::rename(
        dir.path().join("promptrefine.toml"),
        dir.path().join("other.toml"),
    )
    .unwrap();
    let run = promptrefine(dir.path(), &["check"], &env);
    assert_eq!(shown(&run), "30 (default)");
    let run = promptrefine(dir.path(), &["check", "--config", "other.toml"], &env);
    assert_eq!(shown(&run), "11 (config file)");
    let run = promptrefine(
        dir.path(),
        &["check"],
        &env_with(&env, "PROMPTREFINE_CONFIG", "other.toml"),
    );
    assert_eq!(shown(&run), "11 (config file)");
}

#[test]
fn invalid_configuration_exits_2_with_one_line_naming_the_key() {
    let db = TestDb::sqlite();
    let dir = tempfile::tempdir().unwrap();
    let env = base_env(db.url());
    let run = promptrefine(dir.path(), &["serve"], &env_with(&env, "BIND", "abc"));
    assert_eq!(run.code, Some(2), "{run:?}");
    assert_eq!(
        run.stderr.trim(),
        "error: invalid BIND \"abc\": expected host:port (from environment)"
    );

    let run = promptrefine(dir.path(), &["--session-idle-minutes", "soon"], &env);
    assert_eq!(run.code, Some(2), "{run:?}");
    assert!(
        run.stderr.contains("invalid SESSION_IDLE_MINUTES \"soon\""),
        "{run:?}"
    );

    let run = promptrefine(
        dir.path(),
        &["check"],
        &env_with(&env, "AUTH_ADMIN_PASSWORD", "short"),
    );
    assert_eq!(run.code, Some(2), "{run:?}");
    assert!(
        run.stderr.contains("AUTH_ADMIN_PASSWORD") && !run.stderr.contains("short\""),
        "{run:?}"
    );

    std::fs::write(
        dir.path().join("promptrefine.toml"),
        "bindd = \"127.0.0.1:1\"\n",
    )
    .unwrap();
    let run = promptrefine(dir.path(), &["migrate", "status"], &env);
    assert_eq!(run.code, Some(2), "{run:?}");
    assert!(run.stderr.contains("unknown key bindd"), "{run:?}");
}

// --- check and migrate (both backends) -----------------------------------------

fn check_counts_pending_migrations_only_when_serve_will_not_apply_them(db: TestDb) {
    let dir = tempfile::tempdir().unwrap();
    let env = env_with(
        &base_env(db.url()),
        "OPENAI_API_KEY",
        "sk-check-test-key-1234567890",
    );
    let run = promptrefine(dir.path(), &["check", "--migrate-on-start", "false"], &env);
    assert_eq!(run.code, Some(1), "{run:?}");
    assert!(run.stdout.contains("reachable: yes"), "{run:?}");
    assert!(
        run.stdout
            .lines()
            .any(|l| l.starts_with("problem: migrations: ") && l.contains("pending")),
        "{run:?}"
    );
    // serve migrates at start by default: pending migrations are noted, not a problem.
    let run = promptrefine(dir.path(), &["check"], &env);
    assert_eq!(run.code, Some(0), "{run:?}");
    assert!(
        run.stdout.contains("pending") && run.stdout.contains("serve will apply them at start"),
        "{run:?}"
    );
    assert!(run.stdout.contains("OpenAI key: present"), "{run:?}");
    let key_line = run
        .stdout
        .lines()
        .find(|l| l.trim_start().starts_with("OPENAI_API_KEY"))
        .unwrap();
    assert!(key_line.contains("set (hidden)"), "{run:?}");
    assert!(
        !run.stdout.contains("sk-check-test"),
        "the key was printed: {run:?}"
    );

    let run = promptrefine(dir.path(), &["migrate", "up"], &env);
    assert_eq!(run.code, Some(0), "{run:?}");
    let run = promptrefine(dir.path(), &["check"], &env);
    assert_eq!(run.code, Some(0), "{run:?}");
    assert!(run.stdout.contains("migrations: up to date"), "{run:?}");
    assert_eq!(run.stdout.lines().last(), Some("ok"));
}

fn migrate_up_status_down_and_up_again(db: TestDb) {
    let dir = tempfile::tempdir().unwrap();
    let env = base_env(db.url());
    let applied = |run: &Run| -> Vec<bool> {
        let rows = run
            .stdout
            .lines()
            .skip(1)
            .take_while(|l| !l.starts_with("schema: "));
        rows.map(|l| l.ends_with(" yes")).collect()
    };

    let status = promptrefine(dir.path(), &["migrate", "status"], &env);
    assert_eq!(status.code, Some(0), "{status:?}");
    assert!(status.stdout.starts_with("version"), "{status:?}");
    let n = applied(&status).len();
    assert!(n >= 1 && applied(&status).iter().all(|a| !a), "{status:?}");

    let up = promptrefine(dir.path(), &["migrate", "up"], &env);
    assert_eq!(up.code, Some(0), "{up:?}");
    assert!(
        up.stdout.contains(&format!("applied {n} migration(s)")),
        "{up:?}"
    );
    let status = promptrefine(dir.path(), &["migrate", "status"], &env);
    assert!(applied(&status).iter().all(|a| *a), "{status:?}");
    assert!(status.stdout.contains("up to date"), "{status:?}");

    // One step back by default (no terminal: no question, but a list).
    let down = promptrefine(dir.path(), &["migrate", "down"], &env);
    assert_eq!(down.code, Some(0), "{down:?}");
    assert_eq!(
        down.stdout
            .lines()
            .filter(|l| l.starts_with("reverting "))
            .count(),
        1,
        "{down:?}"
    );
    let status = promptrefine(dir.path(), &["migrate", "status"], &env);
    let mut expected = vec![true; n];
    expected[n - 1] = false;
    assert_eq!(applied(&status), expected, "{status:?}");

    let down = promptrefine(dir.path(), &["migrate", "down", "--to", "0"], &env);
    assert_eq!(down.code, Some(0), "{down:?}");
    let status = promptrefine(dir.path(), &["migrate", "status"], &env);
    assert!(applied(&status).iter().all(|a| !a), "{status:?}");

    let up = promptrefine(dir.path(), &["migrate", "up"], &env);
    assert_eq!(up.code, Some(0), "{up:?}");
    let up = promptrefine(dir.path(), &["migrate", "up"], &env);
    assert!(up.stdout.contains("already up to date"), "{up:?}");
}

#[test]
fn check_reports_an_unreachable_database_with_its_password_masked() {
    let dir = tempfile::tempdir().unwrap();
    let env = base_env("postgres://postgres:db-secret-pw@127.0.0.1:1/x");
    let run = promptrefine(dir.path(), &["check"], &env);
    assert_eq!(run.code, Some(1), "{run:?}");
    assert!(
        run.stdout
            .contains("reachable: no (postgres://postgres:****@127.0.0.1:1/x)"),
        "{run:?}"
    );
    assert!(
        run.stdout
            .lines()
            .any(|l| l.starts_with("problem: cannot open the database")),
        "{run:?}"
    );
    assert!(
        !run.stdout.contains("db-secret-pw") && !run.stderr.contains("db-secret-pw"),
        "{run:?}"
    );
}

#[test]
fn a_database_migrated_by_a_newer_binary_is_reported_and_refused() {
    let db = TestDb::sqlite();
    let dir = tempfile::tempdir().unwrap();
    let env = base_env(db.url());
    assert_eq!(
        promptrefine(dir.path(), &["migrate", "up"], &env).code,
        Some(0)
    );
    support::record_future_migration(db.url(), 99_999);

    let check = promptrefine(dir.path(), &["check"], &env);
    assert_eq!(check.code, Some(1), "{check:?}");
    assert!(
        check
            .stdout
            .contains("problem: database ahead of this binary: it has migration(s) 99999"),
        "{check:?}"
    );
    let status = promptrefine(dir.path(), &["migrate", "status"], &env);
    assert!(status.stdout.contains("99999"), "{status:?}");
    let serve = promptrefine(dir.path(), &["serve"], &env);
    assert_eq!(serve.code, Some(1), "{serve:?}");
    assert!(
        serve.stderr.contains("database ahead of this binary"),
        "{serve:?}"
    );
    let down = promptrefine(dir.path(), &["migrate", "down"], &env);
    assert_eq!(down.code, Some(1), "{down:?}");
}

#[test]
fn check_reports_a_provider_whose_key_variable_is_missing() {
    let db = TestDb::sqlite();
    let dir = tempfile::tempdir().unwrap();
    let providers =
        r#"[{"name":"router","base_url":"http://127.0.0.1:9/v1","api_key_env":"ROUTER_KEY"}]"#;
    let env = env_with(&base_env(db.url()), "PROVIDERS", providers);
    let run = promptrefine(dir.path(), &["check"], &env);
    assert!(
        run.stdout
            .contains("problem: provider router: its key variable ROUTER_KEY is not set"),
        "{run:?}"
    );
    let run = promptrefine(
        dir.path(),
        &["check"],
        &env_with(&env, "ROUTER_KEY", "router-key-value"),
    );
    assert!(!run.stdout.contains("problem: provider"), "{run:?}");
    assert!(run.stdout.contains("key ROUTER_KEY: set"), "{run:?}");
}

// --- serve ----------------------------------------------------------------------

fn serve_answers_health_checks_and_stops_gracefully_on_sigterm(db: TestDb) {
    let dir = tempfile::tempdir().unwrap();
    let mut env = base_env(db.url());
    env.push(("AUTH_ADMIN_EMAIL".into(), ADMIN_EMAIL.into()));
    env.push(("AUTH_ADMIN_PASSWORD".into(), ADMIN_PASSWORD.into()));
    let server = Server::start(dir.path(), &[], &env);

    let health = http(server.port, "GET", "/healthz", &[], None);
    assert_eq!(health.status, 200, "{health:?}");
    let ready = http(server.port, "GET", "/readyz", &[], None);
    assert_eq!(ready.status, 200, "{ready:?}");
    assert!(ready.body.contains(db.kind()), "{ready:?}");

    // A rejected request logs a line inside the request span.
    let rejected = http(
        server.port,
        "GET",
        "/api/prompts",
        &[("x-request-id", "cli-test-req-0001")],
        None,
    );
    assert_eq!(rejected.status, 401, "{rejected:?}");
    // The admin from the environment can sign in (and its password is in a request body now).
    let login = format!(r#"{{"email":"{ADMIN_EMAIL}","password":"{ADMIN_PASSWORD}"}}"#);
    let signed_in = http(
        server.port,
        "POST",
        "/api/auth/login",
        &[("content-type", "application/json")],
        Some(&login),
    );
    assert_eq!(signed_in.status, 200, "{signed_in:?}");

    let (code, stdout, stderr) = server.stop();
    assert_eq!(code, Some(0), "stdout:\n{stdout}\nstderr:\n{stderr}");
    assert!(
        !stdout.contains(ADMIN_PASSWORD) && !stderr.contains(ADMIN_PASSWORD),
        "the admin password was logged:\n{stdout}\n{stderr}"
    );
    assert!(
        !stderr.contains("First run"),
        "no setup link when the admin is configured: {stderr}"
    );

    let lines: Vec<serde_json::Value> = stdout
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("not a JSON line ({e}): {l}")))
        .collect();
    let in_request: Vec<&serde_json::Value> = lines
        .iter()
        .filter(|v| {
            v["spans"]
                .as_array()
                .is_some_and(|s| s.iter().any(|s| s["request_id"] == "cli-test-req-0001"))
        })
        .collect();
    assert!(
        !in_request.is_empty(),
        "no log line carries the request id:\n{stdout}"
    );
    assert!(
        in_request
            .iter()
            .any(|v| v["message"] == "request rejected"),
        "{stdout}"
    );
    assert!(
        lines
            .iter()
            .any(|v| v["message"] == "shutdown signal received; finishing in-flight requests"),
        "{stdout}"
    );
    assert!(lines.iter().any(|v| v["message"] == "stopped"), "{stdout}");
}

#[test]
fn a_first_start_without_an_admin_prints_a_one_time_setup_link() {
    let db = TestDb::sqlite();
    let dir = tempfile::tempdir().unwrap();
    let env = env_with(
        &base_env(db.url()),
        "PUBLIC_URL",
        "https://prompts.example.com/",
    );
    let server = Server::start(dir.path(), &[], &env);
    std::thread::sleep(Duration::from_millis(200));
    let (code, stdout, stderr) = server.stop();
    assert_eq!(code, Some(0), "{stderr}");
    let link = stderr
        .lines()
        .find(|l| l.starts_with("First run: create the admin at "))
        .unwrap_or_else(|| panic!("{stderr}"));
    assert!(
        link.contains("https://prompts.example.com/setup?token="),
        "{link}"
    );
    let token = link.rsplit("token=").next().unwrap();
    assert!(token.len() >= 32, "{link}");
    assert!(
        !stdout.contains(token),
        "the setup token reached the log: {stdout}"
    );
}

#[test]
fn serve_refuses_to_start_with_pending_migrations_when_told_not_to_migrate() {
    let db = TestDb::sqlite();
    let dir = tempfile::tempdir().unwrap();
    let run = promptrefine(
        dir.path(),
        &["serve", "--migrate-on-start", "false"],
        &base_env(db.url()),
    );
    assert_eq!(run.code, Some(1), "{run:?}");
    assert!(
        run.stderr
            .contains("pending migration(s) and MIGRATE_ON_START is false"),
        "{run:?}"
    );
}

#[test]
fn serve_explains_a_port_that_is_taken() {
    let db = TestDb::sqlite();
    let dir = tempfile::tempdir().unwrap();
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let bind = taken.local_addr().unwrap().to_string();
    let run = promptrefine(dir.path(), &["serve", "--bind", &bind], &base_env(db.url()));
    assert_eq!(run.code, Some(1), "{run:?}");
    assert!(
        run.stderr.contains(&format!(
            "cannot listen on {bind}: the address is already in use"
        )),
        "{run:?}"
    );
}

#[test]
fn serve_keeps_its_server_key_in_a_private_file_beside_the_database() {
    use std::os::unix::fs::PermissionsExt;
    let db = TestDb::sqlite();
    let dir = tempfile::tempdir().unwrap();
    let db_file = db.url().trim_start_matches("sqlite://").to_owned();
    let key_file = std::path::Path::new(&db_file).with_file_name("secret.key");
    let env = base_env(db.url());
    let (code, _, stderr) = Server::start(dir.path(), &[], &env).stop();
    assert_eq!(code, Some(0), "{stderr}");
    let mode = std::fs::metadata(&key_file).unwrap().permissions().mode();
    assert_eq!(mode & 0o777, 0o600, "{mode:o}");
    let first = std::fs::read_to_string(&key_file).unwrap();
    assert_eq!(first.trim().len(), 44, "base64 of 32 bytes");
    let (code, stdout, stderr) = Server::start(dir.path(), &[], &env).stop();
    assert_eq!(code, Some(0), "{stderr}");
    assert_eq!(std::fs::read_to_string(&key_file).unwrap(), first, "reused");
    assert!(!stdout.contains(first.trim()) && !stderr.contains(first.trim()));
}

#[test]
fn serve_refuses_a_malformed_secret_key_without_showing_it() {
    let db = TestDb::sqlite();
    let dir = tempfile::tempdir().unwrap();
    let mut env = base_env(db.url());
    env.push(("SECRET_KEY".into(), "dG9vLXNob3J0LWtleQ==".into()));
    let run = promptrefine(dir.path(), &["serve"], &env);
    assert_eq!(run.code, Some(2), "{run:?}");
    assert!(run.stderr.contains("invalid SECRET_KEY"), "{run:?}");
    assert!(!run.stderr.contains("dG9vLXNob3J0"), "{run:?}");
}

#[test]
fn secrets_rotate_replaces_the_key_file_and_keeps_the_old_one() {
    use std::os::unix::fs::PermissionsExt;
    let db = TestDb::sqlite();
    let dir = tempfile::tempdir().unwrap();
    let db_file = db.url().trim_start_matches("sqlite://").to_owned();
    let key_file = std::path::Path::new(&db_file).with_file_name("secret.key");
    let env = base_env(db.url());
    let run = promptrefine(dir.path(), &["secrets", "rotate"], &env);
    assert_eq!(run.code, Some(1), "no key yet: {run:?}");
    assert!(run.stderr.contains("no server key to rotate"), "{run:?}");

    let (code, _, stderr) = Server::start(dir.path(), &[], &env).stop();
    assert_eq!(code, Some(0), "{stderr}");
    let first = std::fs::read_to_string(&key_file).unwrap();
    let run = promptrefine(dir.path(), &["secrets", "rotate"], &env);
    assert_eq!(run.code, Some(0), "{run:?}");
    assert!(run.stdout.contains("re-sealed 0 provider(s)"), "{run:?}");
    let second = std::fs::read_to_string(&key_file).unwrap();
    assert_ne!(second, first, "a new key");
    assert_eq!(second.trim().len(), 44, "base64 of 32 bytes");
    let olds: Vec<_> = std::fs::read_dir(key_file.parent().unwrap())
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.to_string_lossy().contains("secret.key.old-"))
        .collect();
    assert_eq!(olds.len(), 1, "{olds:?}");
    assert_eq!(
        std::fs::read_to_string(&olds[0]).unwrap(),
        first,
        "the old key kept"
    );
    for f in [&key_file, &olds[0]] {
        let mode = std::fs::metadata(f).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600, "{}: {mode:o}", f.display());
    }
    assert!(!run.stdout.contains(second.trim()) && !run.stderr.contains(second.trim()));
    let (code, _, stderr) = Server::start(dir.path(), &[], &env).stop();
    assert_eq!(code, Some(0), "serves with the new key: {stderr}");

    // With SECRET_KEY the new key goes to a file the user names.
    let mut with_env = env.clone();
    with_env.push(("SECRET_KEY".into(), second.trim().to_owned()));
    let run = promptrefine(dir.path(), &["secrets", "rotate"], &with_env);
    assert_eq!(run.code, Some(1), "{run:?}");
    assert!(run.stderr.contains("--new-key-file"), "{run:?}");
    let out = dir.path().join("next.key");
    let run = promptrefine(
        dir.path(),
        &["secrets", "rotate", "--new-key-file", out.to_str().unwrap()],
        &with_env,
    );
    assert_eq!(run.code, Some(0), "{run:?}");
    let next = std::fs::read_to_string(&out).unwrap();
    assert_ne!(next, second);
    assert_eq!(
        std::fs::read_to_string(&key_file).unwrap(),
        second,
        "the key file is not SECRET_KEY's"
    );
}

// --- user set-password -------------------------------------------------------------

#[test]
fn set_password_replaces_the_password_and_signs_the_user_out() {
    let db = TestDb::sqlite();
    let dir = tempfile::tempdir().unwrap();
    let mut env = base_env(db.url());
    env.push(("AUTH_ADMIN_EMAIL".into(), ADMIN_EMAIL.into()));
    env.push(("AUTH_ADMIN_PASSWORD".into(), ADMIN_PASSWORD.into()));
    let server = Server::start(dir.path(), &[], &env);
    let login = |port: u16, password: &str| {
        let body = format!(r#"{{"email":"{ADMIN_EMAIL}","password":"{password}"}}"#);
        http(
            port,
            "POST",
            "/api/auth/login",
            &[("content-type", "application/json")],
            Some(&body),
        )
    };
    let signed_in = login(server.port, ADMIN_PASSWORD);
    assert_eq!(signed_in.status, 200, "{signed_in:?}");
    let cookie = signed_in
        .header("set-cookie")
        .unwrap()
        .split(';')
        .next()
        .unwrap()
        .to_string();
    let me = http(
        server.port,
        "GET",
        "/api/auth/me",
        &[("cookie", &cookie)],
        None,
    );
    assert_eq!(me.status, 200, "{me:?}");

    let new_password = "a brand new password 123";
    let short = support::promptrefine_with_stdin(
        dir.path(),
        &["user", "set-password", ADMIN_EMAIL],
        &env,
        "short\n",
    );
    assert_eq!(short.code, Some(1), "{short:?}");
    assert!(short.stderr.contains("at least 12 characters"), "{short:?}");
    let nobody = support::promptrefine_with_stdin(
        dir.path(),
        &["user", "set-password", "nobody@example.com"],
        &env,
        &format!("{new_password}\n"),
    );
    assert_eq!(nobody.code, Some(1), "{nobody:?}");
    assert!(
        nobody.stderr.contains("no user with the email"),
        "{nobody:?}"
    );
    let ok = support::promptrefine_with_stdin(
        dir.path(),
        &["user", "set-password", ADMIN_EMAIL],
        &env,
        &format!("{new_password}\n"),
    );
    assert_eq!(ok.code, Some(0), "{ok:?}");
    assert!(
        !ok.stdout.contains(new_password) && !ok.stderr.contains(new_password),
        "{ok:?}"
    );

    let me = http(
        server.port,
        "GET",
        "/api/auth/me",
        &[("cookie", &cookie)],
        None,
    );
    assert_eq!(me.status, 401, "the old session must be signed out: {me:?}");
    assert_eq!(login(server.port, ADMIN_PASSWORD).status, 401);
    assert_eq!(login(server.port, new_password).status, 200);
    let (code, stdout, _) = server.stop();
    assert_eq!(code, Some(0));
    assert!(!stdout.contains(new_password));
}

// --- mock-llm -----------------------------------------------------------------------

#[test]
fn version_names_the_release_the_git_revision_and_the_build_date() {
    let dir = tempfile::tempdir().unwrap();
    let run = promptrefine(dir.path(), &["--version"], &[]);
    assert_eq!(run.code, Some(0), "{run:?}");
    let line = run.stdout.trim();
    let rest = line
        .strip_prefix(&format!("promptrefine {} (", env!("CARGO_PKG_VERSION")))
        .unwrap_or_else(|| panic!("version first: {line}"));
    let (revision, date) = rest
        .strip_suffix(')')
        .and_then(|r| r.split_once(", built "))
        .unwrap_or_else(|| panic!("revision and date: {line}"));
    let hex = revision.strip_suffix("-dirty").unwrap_or(revision);
    assert!(
        revision == "unknown" || (hex.len() == 12 && hex.chars().all(|c| c.is_ascii_hexdigit())),
        "a 12-digit revision (or unknown outside git): {line}"
    );
    let shape_ok = date.len() == 10
        && date.char_indices().all(|(i, c)| match i {
            4 | 7 => c == '-',
            _ => c.is_ascii_digit(),
        });
    assert!(shape_ok, "a YYYY-MM-DD build date: {line}");
}

#[test]
fn mock_llm_prints_its_base_url_and_answers_like_openai() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start_matching(
        dir.path(),
        &["mock-llm", "--port", "0"],
        &[],
        "mock OpenAI server at http://",
    );
    let models = http(server.port, "GET", "/v1/models", &[], None);
    assert_eq!(models.status, 200, "{models:?}");
    assert!(models.body.contains("mock-echo"), "{models:?}");
    let (code, stdout, _) = server.stop();
    assert_eq!(code, Some(0), "{stdout}");
}

fn env_with(env: &[(String, String)], key: &str, value: &str) -> Vec<(String, String)> {
    let mut out: Vec<(String, String)> = env.iter().filter(|(k, _)| k != key).cloned().collect();
    out.push((key.into(), value.into()));
    out
}
