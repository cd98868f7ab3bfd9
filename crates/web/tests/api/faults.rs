//! Upstream and database faults: a provider that is down, hangs, resets,
//! answers garbage or 429s ends each run with the right status while the rest
//! of the server stays fast (p99 of `GET /api/prompts` is printed); a
//! PostgreSQL database made unreachable mid-test gives 503 `unavailable` and a
//! red `/readyz`, stores nothing half-written and recovers by itself; a SQLite
//! file on a full disk gives 507 `storage_full` and stays intact.
//!
//! The shared PostgreSQL server is never stopped here (tests run in parallel):
//! only the test's own database is closed to connections.

use std::time::{Duration, Instant};

use promptrefine_testkit::mock_openai::Behavior;
use promptrefine_testkit::{TestDb, both_backends};
use serde_json::json;
use sqlx::Connection;

use crate::helpers::{Options, TestApp, read, spawn_app, spawn_app_with, test_run_settings};

both_backends!(
    a_provider_outage_fails_runs_and_leaves_other_requests_fast,
    a_misbehaving_provider_ends_every_run_with_a_stored_failure,
);

/// p99 (and max) of `n` sequential `GET /api/prompts`.
async fn p99_of_list(app: &TestApp, n: usize) -> (Duration, Duration) {
    let mut took = Vec::with_capacity(n);
    for _ in 0..n {
        let t = Instant::now();
        assert_eq!(app.get("/api/prompts").await.0, 200);
        took.push(t.elapsed());
    }
    took.sort();
    let p99 = took[(n * 99 / 100).min(n - 1)];
    (p99, *took.last().unwrap())
}

async fn a_provider_outage_fails_runs_and_leaves_other_requests_fast(db: TestDb) {
    // A closed port: nothing listens on port 9 of loopback here.
    let app = spawn_app_with(
        db,
        Options {
            runs: Some(Box::new(|_| test_run_settings("http://127.0.0.1:9/v1"))),
            ..Options::default()
        },
    )
    .await;
    let p = app.create_prompt("Outage", Some("hello")).await;
    let id = p["id"].as_str().unwrap().to_string();
    let mut runs = vec![];
    for _ in 0..8 {
        let (client, url, id) = (app.api.clone(), app.url("/api/test-runs"), id.clone());
        runs.push(tokio::spawn(async move {
            let res = client
                .post(url)
                .json(&json!({ "promptId": id, "model": "gpt-4o-mini" }))
                .send()
                .await
                .unwrap();
            read(res).await
        }));
    }
    let (p99, max) = p99_of_list(&app, 50).await;
    eprintln!("faults: GET /api/prompts during a provider outage: p99 {p99:?}, max {max:?}");
    assert!(p99 < Duration::from_secs(2), "p99 {p99:?}");
    for r in runs {
        let (status, body) = r.await.unwrap();
        assert_eq!(status, 201, "{body}");
        assert_eq!(body["data"]["status"], "failed", "{body}");
        assert!(body["data"]["errorCode"].is_string(), "{body}");
    }
}

async fn a_misbehaving_provider_ends_every_run_with_a_stored_failure(db: TestDb) {
    let app = spawn_app(db).await;
    let p = app.create_prompt("Faulty", Some("hello")).await;
    let id = p["id"].as_str().unwrap().to_string();
    let storm = Behavior::Status {
        status: 429,
        body: r#"{"error":{"message":"slow down","type":"rate_limit"}}"#.into(),
        retry_after: Some(0),
    };
    let cases = [
        ("429 storm", storm),
        ("garbage", Behavior::MalformedJson),
        ("reset mid-stream", Behavior::DropAfter { tokens: 2 }),
        ("hang", Behavior::Hang),
        (
            "slow first byte",
            Behavior::Delay(Duration::from_secs(4), Box::new(Behavior::Echo)),
        ),
    ];
    for (name, behavior) in cases {
        app.mock.set_default(behavior);
        // Slow runs in the background while the list is measured.
        let (client, url, pid) = (app.api.clone(), app.url("/api/test-runs"), id.clone());
        let run = tokio::spawn(async move {
            let res = client
                .post(url)
                .json(&json!({ "promptId": pid, "model": "gpt-4o-mini" }))
                .send()
                .await
                .unwrap();
            read(res).await
        });
        let (p99, _) = p99_of_list(&app, 20).await;
        assert!(p99 < Duration::from_secs(2), "{name}: p99 {p99:?}");
        let (status, body) = run.await.unwrap();
        assert_eq!(status, 201, "{name}: {body}");
        assert_eq!(body["data"]["status"], "failed", "{name}: {body}");
        assert!(body["data"]["errorCode"].is_string(), "{name}: {body}");
    }
    app.mock.set_default(Behavior::Echo);
    let (_, runs) = app.get(&format!("/api/test-runs?promptId={id}")).await;
    for r in runs["data"]["items"].as_array().unwrap() {
        assert_eq!(r["status"], "failed", "no run left running: {r}");
    }
}

/// The test database's name (the last segment of its URL).
fn db_name(url: &str) -> String {
    url.rsplit('/')
        .next()
        .unwrap()
        .split('?')
        .next()
        .unwrap()
        .to_string()
}

async fn admin_exec(sql: &str) {
    let mut conn = sqlx::PgConnection::connect(&promptrefine_testkit::pg_admin_url())
        .await
        .unwrap();
    sqlx::query(sql).execute(&mut conn).await.unwrap();
    let _ = conn.close().await;
}

/// Ends every connection to database `name` but the admin's own.
async fn end_connections(name: &str) {
    admin_exec(&format!(
        "select pg_terminate_backend(pid) from pg_stat_activity where datname = '{name}' and pid <> pg_backend_pid()"
    ))
    .await;
}

#[tokio::test]
async fn postgres_made_unreachable_gives_503_and_recovers_by_itself() {
    let Some(db) = TestDb::postgres().await else {
        return;
    };
    let name = db_name(db.url());
    let app = spawn_app(db).await;
    let p = app.create_prompt("Survivor", Some("v1")).await;
    let id = p["id"].as_str().unwrap().to_string();

    admin_exec(&format!("alter database {name} allow_connections false")).await;
    end_connections(&name).await;
    let t = Instant::now();
    let (status, body) = app.get("/api/prompts").await;
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (503, Some("unavailable")),
        "{body}"
    );
    let (status, body) = app
        .post(
            &format!("/api/prompts/{id}/versions"),
            json!({ "content": "lost?" }),
        )
        .await;
    assert_eq!(status, 503, "{body}");
    let ready = app.anon.get(app.url("/readyz")).send().await.unwrap();
    assert_eq!(ready.status(), 503);
    eprintln!(
        "faults: PostgreSQL unreachable: 503s within {:?}",
        t.elapsed()
    );

    admin_exec(&format!("alter database {name} allow_connections true")).await;
    let t = Instant::now();
    loop {
        let (status, _) = app.get("/api/prompts").await;
        if status == 200 {
            break;
        }
        assert!(
            t.elapsed() < Duration::from_secs(15),
            "service did not resume"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    eprintln!(
        "faults: PostgreSQL back: serving again after {:?}",
        t.elapsed()
    );
    let ready = app.anon.get(app.url("/readyz")).send().await.unwrap();
    assert_eq!(ready.status(), 200);
    let (_, versions) = app.get(&format!("/api/prompts/{id}/versions")).await;
    let numbers: Vec<i64> = versions["data"]["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v["version"].as_i64().unwrap())
        .collect();
    assert_eq!(numbers, vec![1], "the refused save left nothing behind");
    let (status, v) = app
        .post(
            &format!("/api/prompts/{id}/versions"),
            json!({ "content": "v2" }),
        )
        .await;
    assert_eq!(
        (status, v["data"]["version"].as_i64()),
        (201, Some(2)),
        "no gap: {v}"
    );
}

/// Connections are not pinged before every use. Ended by
/// `pg_terminate_backend` — idle ones and ones just used by the server's own
/// background work alike — they cost no request: an idle one is pinged and
/// replaced, a busy one fails its statement and the repository runs it once
/// more on another connection.
#[tokio::test]
async fn postgres_connections_killed_under_the_server_cost_no_request() {
    let Some(db) = TestDb::postgres().await else {
        return;
    };
    let name = db_name(db.url());
    let app = spawn_app(db).await;
    let p = app.create_prompt("Survivor", Some("v1")).await;
    let id = p["id"].as_str().unwrap().to_string();
    for pause in [Duration::from_millis(1300), Duration::ZERO] {
        // Several connections in the pool.
        let reads: Vec<_> = (0..8).map(|_| app.get("/api/prompts")).collect();
        for (status, body) in futures::future::join_all(reads).await {
            assert_eq!(status, 200, "{body}");
        }
        tokio::time::sleep(pause).await;
        end_connections(&name).await;
        for _ in 0..8 {
            let (status, body) = app.get("/api/prompts").await;
            assert_eq!(status, 200, "after a pause of {pause:?}: {body}");
        }
        let (status, body) = app
            .post(
                &format!("/api/prompts/{id}/versions"),
                json!({ "content": "again" }),
            )
            .await;
        assert_eq!(status, 201, "after a pause of {pause:?}: {body}");
    }
    let (_, versions) = app.get(&format!("/api/prompts/{id}/versions")).await;
    let numbers: Vec<i64> = versions["data"]["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v["version"].as_i64().unwrap())
        .collect();
    assert_eq!(numbers, vec![3, 2, 1], "each save stored once, gapless");
}

#[tokio::test]
async fn sqlite_on_a_full_disk_gives_a_clear_error_and_stays_intact() {
    let db = TestDb::sqlite();
    let path = db.url().trim_start_matches("sqlite://").to_string();
    let dir = std::path::Path::new(&path).parent().unwrap().to_path_buf();
    let mounted = std::process::Command::new("mount")
        .args(["-t", "tmpfs", "-o", "size=3m", "tmpfs"])
        .arg(&dir)
        .status()
        .is_ok_and(|s| s.success());
    if !mounted {
        eprintln!("faults: cannot mount a tmpfs here (not root?); full-disk test skipped");
        return;
    }
    struct Unmount(std::path::PathBuf);
    impl Drop for Unmount {
        fn drop(&mut self) {
            let _ = std::process::Command::new("umount")
                .arg("-l")
                .arg(&self.0)
                .status();
        }
    }
    let _unmount = Unmount(dir.clone());
    let app = spawn_app(db).await;
    let p = app.create_prompt("Filler", Some("v1")).await;
    let id = p["id"].as_str().unwrap().to_string();
    let mut saved = 1;
    let mut refusal = None;
    for i in 0..200 {
        let content = format!("{i} {}", "x".repeat(200 * 1024));
        let (status, body) = app
            .post(
                &format!("/api/prompts/{id}/versions"),
                json!({ "content": content }),
            )
            .await;
        if status == 201 {
            saved += 1;
            continue;
        }
        refusal = Some((status, body));
        break;
    }
    let (status, body) = refusal.expect("the disk filled up");
    eprintln!(
        "faults: full disk after {saved} versions: {status} {}",
        body["error"]
    );
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (507, Some("storage_full")),
        "{body}"
    );
    // Reads still work, and every acknowledged version is there.
    let (status, versions) = app
        .get(&format!("/api/prompts/{id}/versions?limit=100"))
        .await;
    assert_eq!(status, 200);
    assert_eq!(versions["data"]["items"].as_array().unwrap().len(), saved);
    app.store.close().await;
    let mut conn = sqlx::SqliteConnection::connect(&format!("sqlite://{path}"))
        .await
        .unwrap();
    let (check,): (String,) = sqlx::query_as("pragma integrity_check")
        .fetch_one(&mut conn)
        .await
        .unwrap();
    assert_eq!(check, "ok");
    let _ = conn.close().await;
}
