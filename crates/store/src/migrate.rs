//! Embedded, reversible migrations: one folder per backend, same version
//! numbers and descriptions in both (a test fails when they drift).

use sqlx::migrate::{Migrate, Migrator};

use crate::connect::{Backend, Store};
use crate::error::Result;

static SQLITE: Migrator = sqlx::migrate!("./migrations/sqlite");
static POSTGRES: Migrator = sqlx::migrate!("./migrations/postgres");

/// One migration known to the binary, and whether the database has it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MigrationState {
    pub version: i64,
    pub description: String,
    pub applied: bool,
}

fn migrator(store: &Store) -> &'static Migrator {
    match store.backend() {
        Backend::Sqlite { .. } => &SQLITE,
        Backend::Postgres(_) => &POSTGRES,
    }
}

/// The (version, description) pairs of every up-migration of a backend.
pub fn known(backend: &str) -> Vec<(i64, String)> {
    let m = if backend == "postgres" {
        &POSTGRES
    } else {
        &SQLITE
    };
    m.iter()
        .filter(|m| m.migration_type.is_up_migration())
        .map(|m| (m.version, m.description.to_string()))
        .collect()
}

/// Applies every pending migration.
pub async fn up(store: &Store) -> Result<()> {
    match store.backend() {
        Backend::Sqlite { writer, .. } => SQLITE.run(writer).await,
        Backend::Postgres(pool) => POSTGRES.run(pool).await,
    }
    .map_err(migrate_error)
}

/// Reverts migrations down to (and keeping) version `target`; 0 empties the schema.
pub async fn down_to(store: &Store, target: i64) -> Result<()> {
    match store.backend() {
        Backend::Sqlite { writer, .. } => SQLITE.undo(writer, target).await,
        Backend::Postgres(pool) => POSTGRES.undo(pool, target).await,
    }
    .map_err(migrate_error)
}

/// Every known migration and whether it is applied.
pub async fn status(store: &Store) -> Result<Vec<MigrationState>> {
    let applied: Vec<i64> = crate::on_backend!(store, write_retry, |pool, _pg| {
        let mut conn = pool.acquire().await?;
        conn.ensure_migrations_table()
            .await
            .map_err(migrate_error)?;
        Ok(conn
            .list_applied_migrations()
            .await
            .map_err(migrate_error)?
            .into_iter()
            .map(|m| m.version)
            .collect())
    })?;
    Ok(migrator(store)
        .iter()
        .filter(|m| m.migration_type.is_up_migration())
        .map(|m| MigrationState {
            version: m.version,
            description: m.description.to_string(),
            applied: applied.contains(&m.version),
        })
        .collect())
}

/// The newest version this binary knows.
pub fn latest(store: &Store) -> i64 {
    migrator(store).iter().map(|m| m.version).max().unwrap_or(0)
}

fn migrate_error(e: sqlx::migrate::MigrateError) -> crate::StoreError {
    match e {
        sqlx::migrate::MigrateError::Execute(inner) => inner.into(),
        other => crate::StoreError::Unavailable(format!("migration failed: {other}")),
    }
}
