//! Opening a store from a database URL.

use std::path::Path;
use std::str::FromStr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use sqlx::Connection as _;
use sqlx::postgres::{PgConnectOptions, PgPool, PgPoolOptions};
use sqlx::sqlite::{
    SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions, SqliteSynchronous,
};

use crate::error::{Result, StoreError};

/// How to open the store. `url` is `sqlite://path/to/file.db` or `postgres://…`.
#[derive(Clone, Debug)]
pub struct StoreOptions {
    pub url: String,
    /// SQLite read pool size (the writer is always one connection).
    pub sqlite_readers: u32,
    /// PostgreSQL pool size.
    pub pg_max_connections: u32,
    /// How long a request waits for a connection before answering 503.
    pub acquire_timeout: Duration,
}

impl StoreOptions {
    pub fn new(url: impl Into<String>) -> Self {
        Self {
            url: url.into(),
            sqlite_readers: 8,
            pg_max_connections: 16,
            acquire_timeout: Duration::from_secs(5),
        }
    }
}

pub enum Backend {
    Sqlite {
        writer: SqlitePool,
        reader: SqlitePool,
    },
    Postgres(PgPool),
}

/// A PostgreSQL connection idle at least this long is pinged before use.
const PING_IF_IDLE_FOR: Duration = Duration::from_secs(1);

/// When a statement last found its PostgreSQL connection broken. What ended
/// one (a restart, `pg_terminate_backend`) has likely ended every connection
/// idle at that moment, so each of those is pinged before its next use —
/// the retry of the failed statement must not pick another dead one.
struct LossClock {
    origin: Instant,
    /// Microseconds since `origin` of the last loss, plus one; 0: never.
    last_loss: AtomicU64,
}

impl LossClock {
    fn now(&self) -> u64 {
        self.origin.elapsed().as_micros() as u64 + 1
    }

    fn note(&self) {
        self.last_loss.fetch_max(self.now(), Ordering::Relaxed);
    }

    /// Whether a connection idle for `idle_for` went idle before the last loss.
    fn idle_since_loss(&self, idle_for: Duration) -> bool {
        let loss = self.last_loss.load(Ordering::Relaxed);
        loss != 0 && self.now().saturating_sub(idle_for.as_micros() as u64) <= loss
    }
}

/// The database handle every layer above shares. Cheap to clone.
#[derive(Clone)]
pub struct Store {
    backend: Arc<Backend>,
    losses: Arc<LossClock>,
}

impl Store {
    /// Opens the database named by the URL scheme; creates a SQLite file (and
    /// its folder) when missing. Does not migrate: see [`crate::migrate`].
    pub async fn connect(opts: &StoreOptions) -> Result<Store> {
        let url = opts.url.as_str();
        let losses = Arc::new(LossClock {
            origin: Instant::now(),
            last_loss: AtomicU64::new(0),
        });
        let backend = if url.starts_with("sqlite:") {
            connect_sqlite(opts).await?
        } else if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            let pg: PgConnectOptions = PgConnectOptions::from_str(url)
                .map_err(|e| StoreError::Unavailable(format!("invalid DATABASE_URL: {e}")))?;
            let pool = PgPoolOptions::new()
                .max_connections(opts.pg_max_connections)
                // sqlx pings every connection before handing it out: one
                // more round trip per query. Here only a connection idle for
                // a second or more (where a server restart, a proxy's idle
                // timeout or `pg_terminate_backend` may have ended it) is
                // pinged, and replaced when the ping fails; one that breaks
                // while in use fails its statement, and the repositories'
                // `*_retry` bodies run once more on another connection.
                .test_before_acquire(false)
                .before_acquire({
                    let losses = losses.clone();
                    move |conn, meta| {
                        let suspect = meta.idle_for >= PING_IF_IDLE_FOR
                            || losses.idle_since_loss(meta.idle_for);
                        Box::pin(async move {
                            if suspect {
                                conn.ping().await?;
                            }
                            Ok(true)
                        })
                    }
                })
                .acquire_timeout(opts.acquire_timeout)
                .connect_with(pg)
                .await?;
            Backend::Postgres(pool)
        } else {
            return Err(StoreError::Unavailable(format!(
                "unknown database URL scheme in {:?}: use sqlite://FILE or postgres://…",
                url.split(':').next().unwrap_or("")
            )));
        };
        Ok(Store {
            backend: Arc::new(backend),
            losses,
        })
    }

    /// A statement found its connection broken (`on_backend!`'s retry).
    #[doc(hidden)]
    pub fn note_connection_lost(&self) {
        self.losses.note();
    }

    pub fn backend(&self) -> &Backend {
        &self.backend
    }

    /// `"sqlite"` or `"postgres"`.
    pub fn kind(&self) -> &'static str {
        match *self.backend {
            Backend::Sqlite { .. } => "sqlite",
            Backend::Postgres(_) => "postgres",
        }
    }

    /// Answers when the database answers a trivial query (used by `/readyz`).
    pub async fn ping(&self) -> Result<()> {
        // Not retried: readiness must see a broken connection.
        crate::on_backend!(self, read, |pool, _pg| {
            sqlx::query("select 1").execute(pool).await?;
        });
        Ok(())
    }

    /// Connection pool figures: (connections open, idle).
    pub fn pool_usage(&self) -> (u32, usize) {
        match &*self.backend {
            Backend::Sqlite { writer, reader } => (
                writer.size() + reader.size(),
                writer.num_idle() + reader.num_idle(),
            ),
            Backend::Postgres(p) => (p.size(), p.num_idle()),
        }
    }

    pub async fn close(&self) {
        match &*self.backend {
            Backend::Sqlite { writer, reader } => {
                reader.close().await;
                writer.close().await;
            }
            Backend::Postgres(p) => p.close().await,
        }
    }
}

async fn connect_sqlite(opts: &StoreOptions) -> Result<Backend> {
    let base = SqliteConnectOptions::from_str(&opts.url)
        .map_err(|e| StoreError::Unavailable(format!("invalid DATABASE_URL: {e}")))?;
    if let Some(dir) = base
        .get_filename()
        .parent()
        .filter(|d| !d.as_os_str().is_empty())
    {
        create_dir(dir)?;
    }
    let base = base
        .journal_mode(SqliteJournalMode::Wal)
        // WAL + NORMAL survives a process crash (SIGKILL) with every committed
        // transaction; only an OS crash or power loss can lose the last ones.
        .synchronous(SqliteSynchronous::Normal)
        .foreign_keys(true)
        .busy_timeout(Duration::from_secs(5));
    // No ping before each acquire: a SQLite connection is an open file in
    // this process and cannot drop, and the ping is one more round trip to
    // the connection's worker thread per query (measured: docs/benchmarks.md).
    let writer = SqlitePoolOptions::new()
        .max_connections(1)
        .test_before_acquire(false)
        .acquire_timeout(opts.acquire_timeout)
        .connect_with(base.clone().create_if_missing(true))
        .await?;
    let reader = SqlitePoolOptions::new()
        .max_connections(opts.sqlite_readers.max(1))
        .test_before_acquire(false)
        .acquire_timeout(opts.acquire_timeout)
        .connect_with(base.read_only(true))
        .await?;
    Ok(Backend::Sqlite { writer, reader })
}

fn create_dir(dir: &Path) -> Result<()> {
    std::fs::create_dir_all(dir).map_err(|e| {
        StoreError::Unavailable(format!(
            "cannot create database folder {}: {e}",
            dir.display()
        ))
    })
}
