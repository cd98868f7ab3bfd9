//! [`TestDb`]: one fresh database per test (or per benchmark run).

use std::time::Duration;

use sqlx::Connection;
use sqlx::postgres::PgConnection;

pub const DEFAULT_PG_ADMIN_URL: &str = "postgres://postgres@127.0.0.1:5432/test";

/// Whether we run in CI, where nothing may be skipped.
pub fn in_ci() -> bool {
    std::env::var("CI").is_ok_and(|v| !v.is_empty() && v != "0" && v != "false")
}

pub fn pg_admin_url() -> String {
    std::env::var("PROMPTREFINE_TEST_DATABASE_URL").unwrap_or_else(|_| DEFAULT_PG_ADMIN_URL.into())
}

/// A database that exists for one test.
pub struct TestDb {
    url: String,
    kind: &'static str,
    pg_name: Option<String>,
    _dir: Option<tempfile::TempDir>,
}

impl TestDb {
    /// A new SQLite file in its own temporary folder.
    pub fn sqlite() -> TestDb {
        let dir = tempfile::tempdir().expect("a temporary folder");
        TestDb::sqlite_at(dir)
    }

    /// A new SQLite file in a temporary folder under `parent` (the benchmark
    /// keeps its databases beside its other files).
    pub fn sqlite_in(parent: &std::path::Path) -> std::io::Result<TestDb> {
        Ok(TestDb::sqlite_at(tempfile::tempdir_in(parent)?))
    }

    fn sqlite_at(dir: tempfile::TempDir) -> TestDb {
        let url = format!("sqlite://{}/promptrefine.db", dir.path().display());
        TestDb {
            url,
            kind: "sqlite",
            pg_name: None,
            _dir: Some(dir),
        }
    }

    /// A new, empty PostgreSQL database; None (with a notice) when PostgreSQL
    /// cannot be reached outside CI. Panics in CI.
    pub async fn postgres() -> Option<TestDb> {
        match TestDb::try_postgres().await {
            Ok(db) => Some(db),
            Err(why) => skip_or_fail(&why),
        }
    }

    /// [`TestDb::postgres`] for a test without a runtime of its own.
    pub fn postgres_blocking() -> Option<TestDb> {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("a runtime")
            .block_on(TestDb::postgres())
    }

    /// A new, empty PostgreSQL database, or why there is none (for callers
    /// that report instead of skipping, like the benchmark).
    pub async fn try_postgres() -> Result<TestDb, String> {
        let admin = pg_admin_url();
        let mut conn = match tokio::time::timeout(
            Duration::from_secs(10),
            PgConnection::connect(&admin),
        )
        .await
        {
            Ok(Ok(c)) => c,
            Ok(Err(e)) => return Err(format!("{} unreachable: {e}", shown(&admin))),
            Err(_) => return Err(format!("{} unreachable: timed out", shown(&admin))),
        };
        let name = format!("pr_test_{}", uuid::Uuid::now_v7().simple());
        sqlx::query(&format!("create database {name}"))
            .execute(&mut conn)
            .await
            .map_err(|e| format!("cannot create a database on {}: {e}", shown(&admin)))?;
        let _ = conn.close().await;
        let url = replace_database(&admin, &name);
        Ok(TestDb {
            url,
            kind: "postgres",
            pg_name: Some(name),
            _dir: None,
        })
    }

    /// Either backend by name: "sqlite" or "postgres".
    pub async fn of_kind(kind: &str) -> Option<TestDb> {
        match kind {
            "postgres" => TestDb::postgres().await,
            _ => Some(TestDb::sqlite()),
        }
    }

    pub fn url(&self) -> &str {
        &self.url
    }

    pub fn kind(&self) -> &'static str {
        self.kind
    }
}

impl Drop for TestDb {
    fn drop(&mut self) {
        let Some(name) = self.pg_name.take() else {
            return;
        };
        let admin = pg_admin_url();
        // Drop runs inside a runtime; use a thread with its own, and FORCE to end
        // connections a test left open.
        let _ = std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .ok()?;
            rt.block_on(async {
                let mut conn = PgConnection::connect(&admin).await.ok()?;
                sqlx::query(&format!("drop database if exists {name} with (force)"))
                    .execute(&mut conn)
                    .await
                    .ok()
            })
        })
        .join();
    }
}

fn skip_or_fail(why: &str) -> Option<TestDb> {
    if in_ci() {
        panic!("PostgreSQL is required in CI: {why}");
    }
    eprintln!("SKIPPED (PostgreSQL half): {why}");
    None
}

/// The host part of a URL, without user or password.
fn shown(url: &str) -> String {
    format!(
        "PostgreSQL at {}",
        url.split('@').next_back().unwrap_or(url)
    )
}

/// The same URL pointing at another database.
pub(crate) fn replace_database(url: &str, db: &str) -> String {
    let (base, query) = match url.split_once('?') {
        Some((b, q)) => (b, Some(q)),
        None => (url, None),
    };
    let scheme_end = base.find("://").map(|i| i + 3).unwrap_or(0);
    let path_start = base[scheme_end..]
        .find('/')
        .map(|i| i + scheme_end)
        .unwrap_or(base.len());
    let mut out = format!("{}/{db}", &base[..path_start]);
    if let Some(q) = query {
        out.push('?');
        out.push_str(q);
    }
    out
}
