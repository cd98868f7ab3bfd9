//! `export`, `import`, `backup` and `restore` as an operator runs them; the
//! runbooks in docs/runbooks/ name the test that exercises each of their
//! command sequences.

#[allow(dead_code)]
mod support;

use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use promptrefine_core::{Content, ModelSettings, PromptType, VersionId};
use promptrefine_store::backup::{sqlite_integrity_check, sqlite_path};
use promptrefine_store::{NewPrompt, NewToken, NewVersion, Store, StoreOptions};
use promptrefine_testkit::{TestDb, both_backends, in_ci};
use support::{Run, promptrefine};

both_backends!(
    sync:
    seed_export_import_export_gives_the_same_file,
    restore_refuses_a_database_with_data_unless_forced,
    import_into_a_fresh_database_applies_the_migrations_first,
    backup_and_export_files_are_readable_by_their_owner_only,
);

/// The usual test settings plus PATH, where `backup` and `restore` find
/// pg_dump and pg_restore.
fn base_env(url: &str) -> Vec<(String, String)> {
    let mut env = support::base_env(url);
    env.push(("PATH".into(), std::env::var("PATH").unwrap_or_default()));
    env
}

fn ok(run: Run) -> Run {
    assert_eq!(run.code, Some(0), "{run:?}");
    run
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap()
}

/// A migrated database with the demo data, a user and an API token.
fn seeded(dir: &Path, db: &TestDb) {
    let env = base_env(db.url());
    ok(promptrefine(dir, &["migrate", "up"], &env));
    ok(promptrefine(dir, &["seed"], &env));
    runtime().block_on(async {
        let store = Store::connect(&StoreOptions::new(db.url())).await.unwrap();
        let user = store
            .users()
            .create(
                "ops@example.com",
                "$argon2id$v=19$m=19456,t=2,p=1$c2FsdA$aGFzaA",
            )
            .await
            .unwrap();
        store
            .tokens()
            .create(NewToken {
                user_id: user.id,
                name: "ci",
                prefix: "pr_x",
                token_hash: "token-hash",
                expires_at: None,
            })
            .await
            .unwrap();
        store.close().await;
    });
}

/// The file without its first line (the header carries the export time).
fn body(path: &Path) -> String {
    let text = std::fs::read_to_string(path).unwrap();
    text.split_once('\n').unwrap().1.to_string()
}

fn seed_export_import_export_gives_the_same_file(db: TestDb) {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    seeded(d, &db);
    let first = d.join("first.jsonl");
    let run = ok(promptrefine(
        d,
        &["export", "--out", "first.jsonl", "--include-secrets"],
        &base_env(db.url()),
    ));
    assert!(
        run.stdout
            .contains("exported 1 users, 3 prompts, 6 versions, 5 labels, 12 runs, 1 API tokens"),
        "{run:?}"
    );
    assert!(
        !run.stdout.contains('\u{1b}'),
        "no progress bar off a terminal"
    );
    let again = promptrefine(d, &["export", "--out", "first.jsonl"], &base_env(db.url()));
    assert_eq!(again.code, Some(1), "never overwrites: {again:?}");

    let target = TestDb::of_kind_blocking(db.kind());
    let env = base_env(target.url());
    ok(promptrefine(d, &["migrate", "up"], &env));
    // A truncated file fails and leaves the target empty.
    let text = std::fs::read_to_string(&first).unwrap();
    std::fs::write(d.join("cut.jsonl"), &text[..text.len() - 5]).unwrap();
    let cut = promptrefine(d, &["import", "cut.jsonl"], &env);
    assert_eq!(cut.code, Some(1), "{cut:?}");
    assert!(cut.stderr.contains("truncated"), "{cut:?}");

    let run = ok(promptrefine(d, &["import", "first.jsonl"], &env));
    assert!(
        run.stdout.contains("imported 1 users, 3 prompts"),
        "{run:?}"
    );
    ok(promptrefine(
        d,
        &["export", "--out", "second.jsonl", "--include-secrets"],
        &env,
    ));
    assert_eq!(body(&first), body(&d.join("second.jsonl")));
    let twice = promptrefine(d, &["import", "first.jsonl"], &env);
    assert_eq!(twice.code, Some(1), "{twice:?}");
    assert!(twice.stderr.contains("not empty"), "{twice:?}");
}

/// docs/runbooks/sqlite-to-postgres.md, step by step.
#[test]
fn moving_from_sqlite_to_postgres_keeps_every_record() {
    let Some(pg) = TestDb::postgres_blocking() else {
        return;
    };
    let sqlite = TestDb::sqlite();
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    seeded(d, &sqlite);
    let from = base_env(sqlite.url());
    let to = base_env(pg.url());
    ok(promptrefine(
        d,
        &["backup", "--out", "before-move.db"],
        &from,
    ));
    ok(promptrefine(
        d,
        &["export", "--out", "move.jsonl", "--include-secrets"],
        &from,
    ));
    ok(promptrefine(d, &["migrate", "up"], &to));
    ok(promptrefine(d, &["import", "move.jsonl"], &to));
    ok(promptrefine(
        d,
        &["export", "--out", "check.jsonl", "--include-secrets"],
        &to,
    ));
    assert_eq!(body(&d.join("move.jsonl")), body(&d.join("check.jsonl")));
    ok(promptrefine(d, &["check"], &to));
    // And back, for the way home.
    let home = TestDb::sqlite();
    let back = base_env(home.url());
    ok(promptrefine(d, &["migrate", "up"], &back));
    ok(promptrefine(d, &["import", "check.jsonl"], &back));
    ok(promptrefine(
        d,
        &["export", "--out", "home.jsonl", "--include-secrets"],
        &back,
    ));
    assert_eq!(body(&d.join("move.jsonl")), body(&d.join("home.jsonl")));
}

/// docs/runbooks/backup-restore.md (SQLite): a backup taken while versions
/// are being saved holds every save acknowledged before it started.
#[test]
fn a_sqlite_backup_during_writes_restores_every_acknowledged_write() {
    let db = TestDb::sqlite();
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    seeded(d, &db);

    let acked: Arc<Mutex<Vec<(VersionId, Instant)>>> = Arc::default();
    let stop = Arc::new(AtomicBool::new(false));
    let writer = {
        let (acked, stop, url) = (acked.clone(), stop.clone(), db.url().to_string());
        std::thread::spawn(move || {
            runtime().block_on(async {
                let store = Store::connect(&StoreOptions::new(url)).await.unwrap();
                let (prompt, _) = store
                    .prompts()
                    .create(NewPrompt {
                        title: "Busy".into(),
                        slug: "busy".into(),
                        prompt_type: PromptType::Text,
                        tags: vec![],
                        first_version: None,
                    })
                    .await
                    .unwrap();
                let mut n = 0;
                while !stop.load(Ordering::SeqCst) {
                    n += 1;
                    let v = store
                        .versions()
                        .save(
                            prompt.id,
                            NewVersion {
                                content: Content::Text(format!("write {n} {}", "x".repeat(2000))),
                                settings: ModelSettings::default(),
                                variables: vec![],
                                note: None,
                                author_id: None,
                            },
                        )
                        .await
                        .unwrap();
                    acked.lock().unwrap().push((v.id, Instant::now()));
                }
                store.close().await;
            })
        })
    };
    while acked.lock().unwrap().len() < 50 {
        std::thread::sleep(Duration::from_millis(10));
    }
    let started = Instant::now();
    ok(promptrefine(
        d,
        &["backup", "--out", "during.db"],
        &base_env(db.url()),
    ));
    let during = acked.lock().unwrap().len();
    std::thread::sleep(Duration::from_millis(100));
    stop.store(true, Ordering::SeqCst);
    writer.join().unwrap();
    let before: Vec<VersionId> = acked
        .lock()
        .unwrap()
        .iter()
        .filter(|(_, at)| *at < started)
        .map(|(id, _)| *id)
        .collect();
    assert!(during > before.len(), "writes went on during the backup");

    let restored = TestDb::sqlite();
    let run = ok(promptrefine(
        d,
        &["restore", "during.db"],
        &base_env(restored.url()),
    ));
    assert!(run.stdout.contains("schema up to date"), "{run:?}");
    let path = sqlite_path(restored.url()).unwrap();
    runtime().block_on(async {
        assert_eq!(sqlite_integrity_check(&path).await.unwrap(), "ok");
        let store = Store::connect(&StoreOptions::new(restored.url()))
            .await
            .unwrap();
        for id in &before {
            store
                .versions()
                .get(*id)
                .await
                .expect("an acknowledged write");
        }
        store.close().await;
    });
    ok(promptrefine(d, &["check"], &base_env(restored.url())));
}

fn restore_refuses_a_database_with_data_unless_forced(db: TestDb) {
    if db.kind() == "postgres" && !pg_tools() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    seeded(d, &db);
    let env = base_env(db.url());
    ok(promptrefine(d, &["backup", "--out", "full.bak"], &env));
    let kept = promptrefine(d, &["backup", "--out", "full.bak"], &env);
    assert_eq!(kept.code, Some(1), "never overwrites: {kept:?}");

    // Into a new database: no --force needed.
    let fresh = TestDb::of_kind_blocking(db.kind());
    let fresh_env = base_env(fresh.url());
    ok(promptrefine(d, &["restore", "full.bak"], &fresh_env));
    ok(promptrefine(d, &["export", "--out", "a.jsonl"], &env));
    ok(promptrefine(d, &["export", "--out", "b.jsonl"], &fresh_env));
    assert_eq!(body(&d.join("a.jsonl")), body(&d.join("b.jsonl")));

    // Into one with data: refused, then replaced with --force.
    let refused = promptrefine(d, &["restore", "full.bak"], &env);
    assert_eq!(refused.code, Some(1), "{refused:?}");
    assert!(refused.stderr.contains("--force"), "{refused:?}");
    let forced = ok(promptrefine(d, &["restore", "full.bak", "--force"], &env));
    assert!(forced.stdout.contains("1 users, 3 prompts"), "{forced:?}");
    // A backup of the other kind is refused with a pointer to export/import.
    let other = if db.kind() == "postgres" {
        let s = TestDb::sqlite();
        ok(promptrefine(d, &["migrate", "up"], &base_env(s.url())));
        ok(promptrefine(
            d,
            &["backup", "--out", "other.bak"],
            &base_env(s.url()),
        ));
        promptrefine(d, &["restore", "other.bak"], &env)
    } else {
        promptrefine(d, &["restore", "a.jsonl"], &env)
    };
    assert_eq!(other.code, Some(1), "{other:?}");
    assert!(other.stderr.contains("import"), "{other:?}");
}

#[test]
fn a_postgres_backup_without_pg_dump_points_to_export() {
    let Some(pg) = TestDb::postgres_blocking() else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let mut env = support::base_env(pg.url());
    env.push(("PATH".into(), dir.path().display().to_string()));
    let run = promptrefine(dir.path(), &["backup", "--out", "x.dump"], &env);
    assert_eq!(run.code, Some(1), "{run:?}");
    assert!(
        run.stderr.contains("pg_dump is not installed") && run.stderr.contains("export"),
        "{run:?}"
    );
    assert!(!dir.path().join("x.dump").exists());
}

fn import_into_a_fresh_database_applies_the_migrations_first(db: TestDb) {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    seeded(d, &db);
    ok(promptrefine(
        d,
        &["export", "--out", "all.jsonl", "--include-secrets"],
        &base_env(db.url()),
    ));
    // No `migrate up` on the target: import does it, as serve would.
    let fresh = TestDb::of_kind_blocking(db.kind());
    let env = base_env(fresh.url());
    let run = ok(promptrefine(d, &["import", "all.jsonl"], &env));
    assert!(
        run.stdout.contains("imported 1 users, 3 prompts"),
        "{run:?}"
    );
    let status = ok(promptrefine(d, &["migrate", "status"], &env));
    assert!(status.stdout.contains("up to date"), "{status:?}");
    ok(promptrefine(
        d,
        &["export", "--out", "again.jsonl", "--include-secrets"],
        &env,
    ));
    assert_eq!(body(&d.join("all.jsonl")), body(&d.join("again.jsonl")));
}

/// Both may hold password hashes (and a backup every session): 0600.
fn backup_and_export_files_are_readable_by_their_owner_only(db: TestDb) {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    seeded(d, &db);
    let env = base_env(db.url());
    let mode = |name: &str| {
        std::fs::metadata(d.join(name))
            .unwrap()
            .permissions()
            .mode()
            & 0o777
    };
    ok(promptrefine(
        d,
        &["export", "--out", "all.jsonl", "--include-secrets"],
        &env,
    ));
    assert_eq!(mode("all.jsonl"), 0o600, "export");
    if db.kind() == "sqlite" || pg_tools() {
        ok(promptrefine(d, &["backup", "--out", "all.bak"], &env));
        assert_eq!(mode("all.bak"), 0o600, "backup");
    }
    // Nothing but the two files (no temporary left behind).
    let mut names: Vec<String> = std::fs::read_dir(d)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.starts_with('.'))
        .collect();
    names.sort();
    assert!(names.is_empty(), "{names:?}");
}

/// `move --to URL`: export, migrate the target, import, and read the
/// target back, in one command; the counts per table are printed.
fn move_to(from: &TestDb, to: &TestDb) {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    seeded(d, from);
    let run = ok(promptrefine(
        d,
        &["move", "--to", to.url()],
        &base_env(from.url()),
    ));
    for row in [
        "users               1         1",
        "prompts             3         3",
        "versions            6         6",
        "labels              5         5",
        "runs               12        12",
        "api_tokens          1         1",
    ] {
        assert!(run.stdout.contains(row), "{row}: {run:?}");
    }
    assert!(run.stdout.contains("verified: every table"), "{run:?}");
    ok(promptrefine(
        d,
        &["export", "--out", "from.jsonl", "--include-secrets"],
        &base_env(from.url()),
    ));
    ok(promptrefine(
        d,
        &["export", "--out", "to.jsonl", "--include-secrets"],
        &base_env(to.url()),
    ));
    assert_eq!(body(&d.join("from.jsonl")), body(&d.join("to.jsonl")));
    // A second move finds the target full and changes nothing.
    let again = promptrefine(d, &["move", "--to", to.url()], &base_env(from.url()));
    assert_eq!(again.code, Some(1), "{again:?}");
    assert!(again.stderr.contains("not empty"), "{again:?}");
    let same = promptrefine(d, &["move", "--to", from.url()], &base_env(from.url()));
    assert_eq!(same.code, Some(1), "{same:?}");
}

#[test]
fn move_copies_sqlite_into_a_new_sqlite_file_and_verifies_the_counts() {
    move_to(&TestDb::sqlite(), &TestDb::sqlite());
}

#[test]
fn move_copies_sqlite_into_postgres_and_verifies_the_counts() {
    let Some(pg) = TestDb::postgres_blocking() else {
        return;
    };
    move_to(&TestDb::sqlite(), &pg);
}

/// pg_dump and pg_restore are needed for PostgreSQL backups; outside CI
/// their absence skips the test with a notice.
fn pg_tools() -> bool {
    let found = ["pg_dump", "pg_restore"].iter().all(|t| {
        std::process::Command::new(t)
            .arg("--version")
            .output()
            .is_ok_and(|o| o.status.success())
    });
    if !found {
        assert!(!in_ci(), "pg_dump and pg_restore are required in CI");
        eprintln!("SKIPPED: pg_dump/pg_restore not on PATH");
    }
    found
}

trait Blocking {
    fn of_kind_blocking(kind: &str) -> TestDb;
}

impl Blocking for TestDb {
    /// Another fresh database of the same kind (PostgreSQL is known to be
    /// reachable when the first one was).
    fn of_kind_blocking(kind: &str) -> TestDb {
        match kind {
            "postgres" => {
                TestDb::postgres_blocking().expect("PostgreSQL was reachable a moment ago")
            }
            _ => TestDb::sqlite(),
        }
    }
}
