//! Dev-only test infrastructure, shared by every crate's tests:
//!
//! * [`TestDb`]: a fresh database per test — a SQLite file in a temporary
//!   folder, or a new PostgreSQL database (dropped again when the test ends).
//! * [`both_backends!`]: writes a test once and runs it on SQLite and on
//!   PostgreSQL.
//! * The mock OpenAI server, re-exported from `promptrefine-mock-openai`.
//!
//! PostgreSQL comes from `PROMPTREFINE_TEST_DATABASE_URL` (a URL whose user may
//! create databases), by default `postgres://postgres@127.0.0.1:5432/test`.
//! Outside CI a missing PostgreSQL skips the PostgreSQL half with a notice on
//! stderr; with `CI=true` it fails the test.

use std::time::Duration;

use sqlx::Connection;
use sqlx::postgres::PgConnection;

pub use promptrefine_mock_openai as mock_openai;

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
        let admin = pg_admin_url();
        let mut conn = match tokio::time::timeout(
            Duration::from_secs(10),
            PgConnection::connect(&admin),
        )
        .await
        {
            Ok(Ok(c)) => c,
            Ok(Err(e)) => return skip_or_fail(&admin, &e.to_string()),
            Err(_) => return skip_or_fail(&admin, "timed out"),
        };
        let name = format!("pr_test_{}", uuid::Uuid::now_v7().simple());
        sqlx::query(&format!("create database {name}"))
            .execute(&mut conn)
            .await
            .expect("create a test database");
        let _ = conn.close().await;
        let url = replace_database(&admin, &name);
        Some(TestDb {
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

fn skip_or_fail(url: &str, why: &str) -> Option<TestDb> {
    let shown = url.split('@').next_back().unwrap_or(url);
    if in_ci() {
        panic!("PostgreSQL at {shown} is required in CI but unreachable: {why}");
    }
    eprintln!("SKIPPED (PostgreSQL half): PostgreSQL at {shown} unreachable: {why}");
    None
}

/// The same URL pointing at another database.
fn replace_database(url: &str, db: &str) -> String {
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

/// Expands async test bodies `async fn name(db: TestDb)` into
/// `sqlite::name` and `postgres::name` tests.
#[macro_export]
macro_rules! both_backends {
    ($($name:ident),* $(,)?) => {
        mod sqlite {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    super::$name($crate::TestDb::sqlite()).await
                }
            )*
        }
        mod postgres {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    let Some(db) = $crate::TestDb::postgres().await else { return };
                    super::$name(db).await
                }
            )*
        }
    };
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn database_names_are_replaced_keeping_the_query() {
        assert_eq!(
            replace_database("postgres://u@h:5432/test?sslmode=disable", "x"),
            "postgres://u@h:5432/x?sslmode=disable"
        );
        assert_eq!(replace_database("postgres://u@h", "x"), "postgres://u@h/x");
    }
}
