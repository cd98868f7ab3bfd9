//! `check` next to a running server, its warnings and masking, and the
//! shape of `--help`: what a new user meets in the first hour.

#[allow(dead_code)]
mod support;

use promptrefine_testkit::TestDb;
use support::{Run, Server, base_env, promptrefine};

fn with(env: &[(String, String)], pairs: &[(&str, &str)]) -> Vec<(String, String)> {
    let mut out: Vec<(String, String)> = env
        .iter()
        .filter(|(k, _)| !pairs.iter().any(|(p, _)| p == k))
        .cloned()
        .collect();
    out.extend(pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())));
    out
}

fn migrated(dir: &std::path::Path, db: &TestDb) -> Vec<(String, String)> {
    let env = base_env(db.url());
    let run = promptrefine(dir, &["migrate", "up"], &env);
    assert_eq!(run.code, Some(0), "{run:?}");
    env
}

fn problems(run: &Run) -> Vec<&str> {
    run.stdout
        .lines()
        .filter(|l| l.starts_with("problem: "))
        .collect()
}

#[test]
fn check_recognises_the_promptrefine_already_serving_its_bind_address() {
    let db = TestDb::sqlite();
    let dir = tempfile::tempdir().unwrap();
    let env = migrated(dir.path(), &db);
    let server = Server::start(dir.path(), &[], &env);
    let bind = format!("127.0.0.1:{}", server.port);
    let run = promptrefine(dir.path(), &["check", "--bind", &bind], &env);
    assert_eq!(run.code, Some(0), "{run:?}");
    assert!(
        run.stdout
            .contains(&format!("{bind}: in use by a running PromptRefine")),
        "{run:?}"
    );
    assert!(problems(&run).is_empty(), "{run:?}");
    drop(server);

    // Something else on the port is still a problem.
    let other = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let bind = other.local_addr().unwrap().to_string();
    let run = promptrefine(dir.path(), &["check", "--bind", &bind], &env);
    assert_eq!(run.code, Some(1), "{run:?}");
    assert!(
        problems(&run)
            .iter()
            .any(|p| p.starts_with(&format!("problem: cannot listen on BIND {bind}"))),
        "{run:?}"
    );
}

#[test]
fn check_warns_when_session_cookies_would_cross_the_network_in_clear_text() {
    let db = TestDb::sqlite();
    let dir = tempfile::tempdir().unwrap();
    let env = migrated(dir.path(), &db);
    let warned = |run: &Run| run.stdout.lines().any(|l| l.starts_with("warning: BIND"));

    let open = with(&env, &[("BIND", "0.0.0.0:0")]);
    let run = promptrefine(dir.path(), &["check"], &open);
    assert_eq!(run.code, Some(0), "a warning is not a problem: {run:?}");
    assert!(warned(&run), "{run:?}");
    for fix in [
        ("PUBLIC_URL", "https://prompts.example.com"),
        ("COOKIE_SECURE", "always"),
    ] {
        let run = promptrefine(dir.path(), &["check"], &with(&open, &[fix]));
        assert!(!warned(&run), "{fix:?}: {run:?}");
    }
    let run = promptrefine(
        dir.path(),
        &["check"],
        &with(&open, &[("PUBLIC_URL", "http://prompts.example.com")]),
    );
    assert!(warned(&run), "a plain-http public URL: {run:?}");
    let run = promptrefine(dir.path(), &["check"], &env);
    assert!(!warned(&run), "loopback: {run:?}");
}

#[test]
fn check_masks_credentials_in_provider_base_urls() {
    let db = TestDb::sqlite();
    let dir = tempfile::tempdir().unwrap();
    let env = migrated(dir.path(), &db);
    let providers = r#"[{"name":"gw","base_url":"https://gwuser:gw-pass-3141@gw.example.com/v1?api-key=gw-query-key-2718&alt=sse"}]"#;
    let env = with(
        &env,
        &[
            ("PROVIDERS", providers),
            (
                "OPENAI_BASE_URL",
                "https://ou:openai-url-pass-1618@llm.example.com/v1?key=openai-query-key-1414",
            ),
        ],
    );
    let run = promptrefine(dir.path(), &["check"], &env);
    for secret in [
        "gw-pass-3141",
        "gw-query-key-2718",
        "openai-url-pass-1618",
        "openai-query-key-1414",
    ] {
        assert!(
            !run.stdout.contains(secret) && !run.stderr.contains(secret),
            "{secret}: {run:?}"
        );
    }
    assert!(
        run.stdout
            .contains("https://gwuser:****@gw.example.com/v1?api-key=****&alt=sse"),
        "{run:?}"
    );
}

#[test]
fn a_subcommand_help_is_short_and_the_configuration_flags_are_listed_once_at_the_top() {
    let dir = tempfile::tempdir().unwrap();
    let run = promptrefine(dir.path(), &["user", "set-password", "--help"], &[]);
    assert_eq!(run.code, Some(0), "{run:?}");
    assert!(run.stdout.contains("<EMAIL>"), "{run:?}");
    assert!(!run.stdout.contains("--body-limit-bytes"), "{}", run.stdout);
    assert!(run.stdout.lines().count() < 20, "{}", run.stdout);

    let top = promptrefine(dir.path(), &["--help"], &[]);
    assert_eq!(top.code, Some(0), "{top:?}");
    assert_eq!(
        top.stdout.matches("--body-limit-bytes ").count(),
        1,
        "{}",
        top.stdout
    );
    assert!(top.stdout.contains("[env: DATABASE_URL]"), "{}", top.stdout);
    let serve = promptrefine(dir.path(), &["serve", "--help"], &[]);
    assert!(
        serve.stdout.contains("--body-limit-bytes "),
        "{}",
        serve.stdout
    );
    // Still accepted after any subcommand.
    let run = promptrefine(
        dir.path(),
        &["migrate", "status", "--body-limit-bytes", "nope"],
        &[],
    );
    assert_eq!(run.code, Some(2), "{run:?}");
    assert!(run.stderr.contains("invalid BODY_LIMIT_BYTES"), "{run:?}");
}
