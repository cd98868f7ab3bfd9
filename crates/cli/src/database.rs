//! Opening the store for a command, and where its schema stands relative to
//! this binary — shared by `serve`, `migrate`, `check` and `user`.

use std::time::Duration;

use anyhow::{Context, anyhow, bail};
use promptrefine_store::migrate::{self, MigrationState};
use promptrefine_store::{Backend, Store, StoreOptions};
use sqlx::migrate::Migrate;

use crate::config::Config;

/// How long a command waits for the database before giving up.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

/// Connects, with an error that names the (masked) URL.
pub async fn connect(cfg: &Config) -> anyhow::Result<Store> {
    connect_to(&cfg.store_options(), &cfg.database_url_masked()).await
}

/// Connects to a database whose schema is current (commands that read and
/// write data; `migrate` brings it there).
pub async fn connect_current(cfg: &Config) -> anyhow::Result<Store> {
    let store = connect(cfg).await?;
    let schema = schema(&store).await?;
    if !schema.pending().is_empty() {
        bail!(
            "the database schema is not current ({}); run `promptrefine migrate up` first",
            schema.summary()
        );
    }
    Ok(store)
}

/// The app over a database whose schema is current.
pub async fn open_app(cfg: &Config) -> anyhow::Result<promptrefine_app::App> {
    Ok(promptrefine_app::App::new(
        connect_current(cfg).await?,
        cfg.auth_policy(),
    ))
}

/// Connects to any database; `shown` is its URL with the password masked.
pub async fn connect_to(opts: &StoreOptions, shown: &str) -> anyhow::Result<Store> {
    match tokio::time::timeout(CONNECT_TIMEOUT, Store::connect(opts)).await {
        Ok(Ok(store)) => Ok(store),
        Ok(Err(e)) => Err(anyhow!("cannot open the database {shown}: {e}")),
        Err(_) => Err(anyhow!(
            "cannot open the database {shown}: no answer within {}s",
            CONNECT_TIMEOUT.as_secs()
        )),
    }
}

/// Makes the schema current for an import, as `serve` does at start: a
/// fresh database is migrated; one ahead of this binary is refused; one
/// that holds users or prompts is refused before anything is read or
/// migrated (an import needs an empty database).
pub async fn migrated_for_import(store: Store, shown: &str) -> anyhow::Result<Store> {
    let schema = match schema(&store).await {
        Ok(s) => s,
        Err(e) => {
            store.close().await;
            return Err(e);
        }
    };
    let refuse = if !schema.unknown_applied.is_empty() {
        Some(schema.summary())
    } else if schema.current() == 0 {
        None
    } else {
        let held = store.occupancy().await?;
        (!held.is_empty()).then(|| {
            format!(
                "{shown} is not empty ({} users, {} prompts); an import needs an empty database",
                held.users, held.prompts
            )
        })
    };
    if let Some(why) = refuse {
        store.close().await;
        bail!("{why}");
    }
    let pending = schema.pending().len();
    if pending > 0 {
        if let Err(e) = migrate::up(&store).await {
            store.close().await;
            return Err(e).context("cannot migrate the database");
        }
        tracing::info!(
            applied = pending,
            version = schema.latest_known(),
            "migrated the database"
        );
    }
    Ok(store)
}

/// The schema's state: what the binary knows, and what the database has
/// that the binary does not (a newer binary migrated it).
#[derive(Debug)]
pub struct Schema {
    pub known: Vec<MigrationState>,
    pub unknown_applied: Vec<i64>,
}

impl Schema {
    pub fn pending(&self) -> Vec<&MigrationState> {
        self.known.iter().filter(|m| !m.applied).collect()
    }

    /// The highest applied version (0 when none).
    pub fn current(&self) -> i64 {
        let known = self.known.iter().filter(|m| m.applied).map(|m| m.version);
        known
            .chain(self.unknown_applied.iter().copied())
            .max()
            .unwrap_or(0)
    }

    pub fn latest_known(&self) -> i64 {
        self.known.iter().map(|m| m.version).max().unwrap_or(0)
    }

    /// One line: "up to date (version N)", "N pending", or "ahead".
    pub fn summary(&self) -> String {
        if !self.unknown_applied.is_empty() {
            format!(
                "database ahead of this binary: it has migration(s) {} that this binary does not know; run a newer promptrefine",
                join(&self.unknown_applied)
            )
        } else if self.pending().is_empty() {
            format!("up to date (version {})", self.current())
        } else {
            let versions: Vec<i64> = self.pending().iter().map(|m| m.version).collect();
            format!(
                "{} pending (version {} → {}: {})",
                versions.len(),
                self.current(),
                self.latest_known(),
                join(&versions)
            )
        }
    }
}

fn join(versions: &[i64]) -> String {
    versions
        .iter()
        .map(i64::to_string)
        .collect::<Vec<_>>()
        .join(", ")
}

pub async fn schema(store: &Store) -> anyhow::Result<Schema> {
    let known = migrate::status(store)
        .await
        .context("cannot read the migration state")?;
    let applied = applied_versions(store)
        .await
        .context("cannot read the migration state")?;
    let unknown_applied = applied
        .into_iter()
        .filter(|v| !known.iter().any(|m| m.version == *v))
        .collect();
    Ok(Schema {
        known,
        unknown_applied,
    })
}

/// Every version recorded as applied, including ones this binary does not
/// know (`migrate::status` lists only known ones). Uses sqlx's own
/// bookkeeping API; no SQL text here.
async fn applied_versions(store: &Store) -> Result<Vec<i64>, sqlx::Error> {
    let applied = match store.backend() {
        Backend::Sqlite { writer, .. } => {
            let mut conn = writer.acquire().await?;
            conn.ensure_migrations_table().await.map_err(migrate_err)?;
            conn.list_applied_migrations().await.map_err(migrate_err)?
        }
        Backend::Postgres(pool) => {
            let mut conn = pool.acquire().await?;
            conn.ensure_migrations_table().await.map_err(migrate_err)?;
            conn.list_applied_migrations().await.map_err(migrate_err)?
        }
    };
    Ok(applied.into_iter().map(|m| m.version).collect())
}

fn migrate_err(e: sqlx::migrate::MigrateError) -> sqlx::Error {
    sqlx::Error::Migrate(Box::new(e))
}
