//! The SQL behind `promptrefine backup` and `restore` on SQLite, and the
//! emptiness rule both `restore` and `import` apply.
//!
//! A SQLite backup is `VACUUM INTO`: it copies one read transaction's
//! snapshot into a new, compact file, so it is consistent while the server
//! keeps writing (WAL lets the writer go on meanwhile). It runs on a read
//! connection, so it does not hold the writer up. PostgreSQL backups are
//! `pg_dump`'s business (the binary calls it); there is no SQL for them here.

use std::path::{Path, PathBuf};
use std::str::FromStr;

use sqlx::Connection;
use sqlx::sqlite::{SqliteConnectOptions, SqliteConnection};

use crate::error::{Result, StoreError};
use crate::{Backend, Store, on_backend};

/// Users and prompts already in a database: what decides whether `import`
/// and `restore` may write into it.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Occupancy {
    pub users: i64,
    pub prompts: i64,
}

impl Occupancy {
    pub fn is_empty(&self) -> bool {
        self.users == 0 && self.prompts == 0
    }
}

impl Store {
    /// How many users and prompts the database holds (the schema must exist).
    pub async fn occupancy(&self) -> Result<Occupancy> {
        on_backend!(self, read_retry, |pool, _pg| {
            let users: i64 = sqlx::query_scalar("select count(*) from users")
                .fetch_one(pool)
                .await?;
            let prompts: i64 = sqlx::query_scalar("select count(*) from prompts")
                .fetch_one(pool)
                .await?;
            Ok(Occupancy { users, prompts })
        })
    }

    /// Writes a consistent copy of a SQLite database to `path`, which must
    /// not exist yet. Unavailable on PostgreSQL (use `pg_dump`).
    pub async fn backup_sqlite_into(&self, path: &Path) -> Result<()> {
        let Backend::Sqlite { reader, .. } = self.backend() else {
            return Err(StoreError::Unavailable(
                "VACUUM INTO is a SQLite backup; PostgreSQL is backed up with pg_dump".into(),
            ));
        };
        let target = path.to_str().ok_or_else(|| {
            StoreError::Unavailable(format!("backup path {} is not UTF-8", path.display()))
        })?;
        sqlx::query("vacuum into $1")
            .bind(target)
            .execute(reader)
            .await?;
        Ok(())
    }
}

/// The database file a `sqlite:` URL names (None for other URLs and for
/// in-memory databases).
pub fn sqlite_path(url: &str) -> Option<PathBuf> {
    if !url.starts_with("sqlite:") {
        return None;
    }
    let opts = SqliteConnectOptions::from_str(url).ok()?;
    let path = opts.get_filename();
    (!path.as_os_str().is_empty() && path != Path::new(":memory:")).then(|| path.to_path_buf())
}

/// Opens a SQLite file read-only and runs `PRAGMA integrity_check`: returns
/// `"ok"` for a sound database, or SQLite's list of problems.
pub async fn sqlite_integrity_check(path: &Path) -> Result<String> {
    let opts = SqliteConnectOptions::new()
        .filename(path)
        .read_only(true)
        .create_if_missing(false);
    let mut conn = SqliteConnection::connect_with(&opts).await?;
    let rows: Vec<String> = sqlx::query_scalar("pragma integrity_check")
        .fetch_all(&mut conn)
        .await?;
    conn.close().await?;
    Ok(rows.join("; "))
}
