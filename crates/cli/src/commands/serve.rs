//! `serve` (the default): prepare the database, make sure someone can sign
//! in, then run the web server until SIGINT/SIGTERM.
//!
//! The order matters: the schema must be current before anything queries it;
//! `promptrefine_web::launch` marks runs a crashed process left `running`
//! as `interrupted` before it accepts a request (so before new ones can
//! start), and drains runs at shutdown; the listener is bound before the setup link is printed so
//! the link carries the real port (`BIND=…:0` picks one).

use std::future::Future;
use std::net::SocketAddr;
use std::time::Duration;

use anyhow::{Context, bail};
use promptrefine_app::App;
use promptrefine_app::runs::{RunService, RunSettings};
use promptrefine_store::{Store, migrate};
use promptrefine_web::{LaunchConfig, launch};
use secrecy::ExposeSecret;
use tokio::net::TcpListener;

use crate::config::Config;
use crate::database;

/// How often expired sessions are deleted.
const PURGE_EVERY: Duration = Duration::from_secs(3600);

pub async fn run(cfg: Config) -> anyhow::Result<()> {
    // Registered first, so a signal that arrives while starting up is not lost
    // (and does not kill the process mid-migration).
    let shutdown = shutdown_signal()?;
    let store = database::connect(&cfg).await?;
    prepare_schema(&store, cfg.migrate_on_start).await?;

    let listener = bind(&cfg.bind).await?;
    let addr = listener.local_addr()?;

    let runs = run_service(&cfg)?;
    let app = App::new(store.clone(), cfg.auth_policy())
        .with_runs(runs)
        .with_providers(cfg.provider_settings()?)
        .with_evaluator_hosts(cfg.evaluator_http_hosts.clone());
    let admin_password = cfg.admin_password.as_ref();
    if let Some(token) = app
        .ensure_admin(cfg.admin_email.as_deref(), admin_password)
        .await?
    {
        let base = cfg.public_url.clone().unwrap_or_else(|| local_url(addr));
        // Printed, not logged: the link is a credential, and log lines travel
        // further than the terminal of the person starting the server.
        eprintln!(
            "First run: create the admin at {base}/setup?token={}",
            token.expose_secret()
        );
        tracing::info!(
            "no user exists yet: the one-time setup link (valid 24 h) was printed to stderr"
        );
    }
    let purge = tokio::spawn(purge_sessions(app.clone()));

    let providers: Vec<String> = cfg
        .providers
        .iter()
        .map(|p| {
            format!(
                "{} ({})",
                p.name,
                if p.api_key.is_some() {
                    "key set"
                } else {
                    "no key"
                }
            )
        })
        .collect();
    tracing::info!(providers = %providers.join(", "), runs_max_in_flight = cfg.runs_max_in_flight, "llm providers");
    tracing::info!(database = store.kind(), %addr, "listening on {}", local_url(addr));

    // Marks the runs a crashed process left `running` as interrupted before
    // the first request, serves, and drains runs at shutdown.
    let mut launch_config = LaunchConfig::new(app, cfg.web_config());
    launch_config.instance_name = cfg.instance_name.clone();
    launch_config.lease = cfg.instance_lease;
    launch_config.engine.max_in_flight = cfg.experiments_max_in_flight;
    let served = launch(launch_config, listener, shutdown).await;
    purge.abort();
    store.close().await;
    served?;
    tracing::info!("stopped");
    Ok(())
}

/// The run service of the configured providers (also what `experiment run
/// --wait` runs cells with).
pub(crate) fn run_service(cfg: &Config) -> anyhow::Result<RunService> {
    RunService::new(RunSettings {
        providers: cfg.llm_providers(),
        client: cfg.llm_client_settings(),
        max_in_flight: cfg.runs_max_in_flight,
        prices: cfg.price_table(),
    })
    .map_err(|e| anyhow::anyhow!("invalid provider configuration: {e}"))
}

/// Migrates, or with `MIGRATE_ON_START=false` refuses to start on a schema
/// that is not current. A database migrated by a newer binary is refused
/// either way: this binary's queries may not fit it.
async fn prepare_schema(store: &Store, migrate_on_start: bool) -> anyhow::Result<()> {
    let schema = database::schema(store).await?;
    if !schema.unknown_applied.is_empty() {
        bail!("{}", schema.summary());
    }
    let pending = schema.pending().len();
    if pending == 0 {
        tracing::info!(version = schema.current(), "database schema is up to date");
    } else if migrate_on_start {
        migrate::up(store)
            .await
            .context("cannot migrate the database")?;
        tracing::info!(
            applied = pending,
            version = schema.latest_known(),
            "migrated the database"
        );
    } else {
        bail!(
            "the database has {pending} pending migration(s) and MIGRATE_ON_START is false: run `promptrefine migrate up` first"
        );
    }
    Ok(())
}

async fn bind(addr: &str) -> anyhow::Result<TcpListener> {
    TcpListener::bind(addr).await.map_err(|e| {
        let why = match e.kind() {
            std::io::ErrorKind::AddrInUse => {
                "the address is already in use (another promptrefine?); choose another with BIND or --bind".to_string()
            }
            _ => e.to_string(),
        };
        anyhow::anyhow!("cannot listen on {addr}: {why}")
    })
}

/// `http://ADDR`, with a wildcard address shown as loopback (a browser cannot
/// open `0.0.0.0`).
fn local_url(addr: SocketAddr) -> String {
    let shown = match addr {
        SocketAddr::V4(a) if a.ip().is_unspecified() => {
            SocketAddr::from(([127, 0, 0, 1], a.port()))
        }
        SocketAddr::V6(a) if a.ip().is_unspecified() => {
            SocketAddr::from((std::net::Ipv6Addr::LOCALHOST, a.port()))
        }
        other => other,
    };
    format!("http://{shown}")
}

async fn purge_sessions(app: App) {
    let mut every = tokio::time::interval(PURGE_EVERY);
    every.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        every.tick().await;
        match app.purge_expired_sessions().await {
            Ok(0) => {}
            Ok(n) => tracing::info!(sessions = n, "purged expired sessions"),
            Err(e) => tracing::warn!(error = %e, "could not purge expired sessions"),
        }
    }
}

/// Resolves on SIGINT or SIGTERM; the handlers are installed at once.
#[cfg(unix)]
fn shutdown_signal() -> anyhow::Result<impl Future<Output = ()> + Send + 'static> {
    use tokio::signal::unix::{SignalKind, signal};
    let mut term = signal(SignalKind::terminate()).context("cannot handle SIGTERM")?;
    let mut int = signal(SignalKind::interrupt()).context("cannot handle SIGINT")?;
    Ok(async move {
        tokio::select! {
            _ = term.recv() => {},
            _ = int.recv() => {},
        }
        tracing::info!("shutdown signal received; finishing in-flight requests");
    })
}

#[cfg(not(unix))]
fn shutdown_signal() -> anyhow::Result<impl Future<Output = ()> + Send + 'static> {
    Ok(promptrefine_web::shutdown_signal())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wildcard_addresses_are_shown_as_loopback() {
        assert_eq!(
            local_url("0.0.0.0:3000".parse().unwrap()),
            "http://127.0.0.1:3000"
        );
        assert_eq!(local_url("[::]:3000".parse().unwrap()), "http://[::1]:3000");
        assert_eq!(
            local_url("10.1.2.3:80".parse().unwrap()),
            "http://10.1.2.3:80"
        );
    }
}
