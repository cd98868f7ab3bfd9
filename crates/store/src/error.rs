//! The small error vocabulary every repository speaks.

use thiserror::Error;

pub type Result<T, E = StoreError> = std::result::Result<T, E>;

#[derive(Debug, Error)]
pub enum StoreError {
    #[error("not found")]
    NotFound,
    /// A unique constraint was violated; carries the constraint name when known.
    #[error("conflict on {0}")]
    Conflict(String),
    /// The database cannot be reached or is overloaded (maps to 503).
    #[error("database unavailable: {0}")]
    Unavailable(String),
    /// Anything else; logged, never shown to a user.
    #[error("database error: {0}")]
    Other(#[source] sqlx::Error),
}

impl From<sqlx::Error> for StoreError {
    fn from(e: sqlx::Error) -> Self {
        match e {
            sqlx::Error::RowNotFound => StoreError::NotFound,
            sqlx::Error::Database(ref db) if db.is_unique_violation() => {
                StoreError::Conflict(db.constraint().unwrap_or("unique").to_string())
            }
            sqlx::Error::Database(ref db) if is_busy(db.code().as_deref(), db.message()) => {
                StoreError::Unavailable(db.message().to_string())
            }
            sqlx::Error::PoolTimedOut
            | sqlx::Error::PoolClosed
            | sqlx::Error::Io(_)
            | sqlx::Error::Tls(_)
            | sqlx::Error::WorkerCrashed => StoreError::Unavailable(e.to_string()),
            other => StoreError::Other(other),
        }
    }
}

/// SQLite's busy/locked/full codes and PostgreSQL's connection and shutdown classes
/// mean "try again later", not "your request is wrong".
fn is_busy(code: Option<&str>, message: &str) -> bool {
    match code {
        // SQLITE_BUSY, SQLITE_LOCKED, SQLITE_FULL (extended codes keep the low byte)
        Some(c)
            if c.parse::<i32>()
                .is_ok_and(|n| matches!(n & 0xff, 5 | 6 | 13)) =>
        {
            true
        }
        // 08xxx connection exceptions, 57Pxx operator intervention, 53xxx insufficient resources
        Some(c) => {
            c.starts_with("08")
                || c.starts_with("57P")
                || c.starts_with("53")
                // A database closed to connections (`allow_connections false`
                // during maintenance) refuses new ones with 55000.
                || (c == "55000" && message.contains("not currently accepting connections"))
        }
        None => message.contains("database is locked"),
    }
}
