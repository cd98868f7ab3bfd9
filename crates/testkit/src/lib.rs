//! Dev-only test infrastructure, shared by every crate's tests and by the
//! benchmark and reliability binaries:
//!
//! * [`TestDb`]: a fresh database per test — a SQLite file in a temporary
//!   folder, or a new PostgreSQL database (dropped again when the test ends).
//! * [`both_backends!`]: writes a test once and runs it on SQLite and on
//!   PostgreSQL, for async (`both_backends!(a, b)`) and plain
//!   (`both_backends!(sync: a, b)`) test bodies.
//! * [`ServerProcess`]: a child process (the real binary) with its output
//!   collected, stopped with real signals (SIGTERM, SIGKILL) sent through
//!   `rustix`, and killed when dropped.
//! * [`QueryCounter`]: counts the SQL statements run inside a span (or for
//!   a request carrying its tag as `x-request-id`), for tests that hold a
//!   read to a fixed number of queries.
//! * The mock OpenAI server, re-exported from `promptrefine-mock-openai`.
//!
//! Tests that start the server in-process go through `promptrefine_web::launch`,
//! the same wiring `promptrefine serve` uses.
//!
//! PostgreSQL comes from `PROMPTREFINE_TEST_DATABASE_URL` (a URL whose user may
//! create databases), by default `postgres://postgres@127.0.0.1:5432/test`.
//! Outside CI a missing PostgreSQL skips the PostgreSQL half with a notice on
//! stderr; with `CI=true` it fails the test.

mod db;
mod process;
mod queries;

pub use db::{DEFAULT_PG_ADMIN_URL, TestDb, in_ci, pg_admin_url};
pub use process::{Capture, Exited, ServerProcess, Signal, port_after};
pub use promptrefine_mock_openai as mock_openai;
pub use queries::QueryCounter;

/// Expands test bodies into `sqlite::name` and `postgres::name` tests.
///
/// * `both_backends!(a, b)`: `async fn a(db: TestDb)`, run on a two-thread
///   tokio runtime.
/// * `both_backends!(sync: a, b)`: `fn a(db: TestDb)`, for tests that drive
///   the binary and need no runtime.
#[macro_export]
macro_rules! both_backends {
    (sync: $($name:ident),* $(,)?) => {
        mod sqlite {
            $(
                #[test]
                fn $name() {
                    super::$name($crate::TestDb::sqlite())
                }
            )*
        }
        mod postgres {
            $(
                #[test]
                fn $name() {
                    let Some(db) = $crate::TestDb::postgres_blocking() else { return };
                    super::$name(db)
                }
            )*
        }
    };
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
    use super::db::replace_database;

    #[test]
    fn database_names_are_replaced_keeping_the_query() {
        assert_eq!(
            replace_database("postgres://u@h:5432/test?sslmode=disable", "x"),
            "postgres://u@h:5432/x?sslmode=disable"
        );
        assert_eq!(replace_database("postgres://u@h", "x"), "postgres://u@h/x");
    }
}
