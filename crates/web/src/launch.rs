//! [`launch`]: the one way a server runs, used by `promptrefine serve` and by
//! every test that starts the server in-process, so tests exercise the same
//! lifecycle as production:
//!
//! 1. the process joins: it registers its lease (`instances`), and runs
//!    whose owner is dead — a previous process under the same `host:port`
//!    name, or one whose lease expired — are marked `interrupted`, before
//!    the first request is accepted. Runs of live replicas are left alone.
//!    A keeper task renews the lease and repeats the sweep while it serves;
//! 2. the router with its full middleware stack is served on `listener`
//!    until `shutdown` resolves, then in-flight requests get the grace period;
//! 3. runs still in flight (they live in tasks that outlast their requests)
//!    get the same grace, and the rest are cancelled, so each is stored and
//!    none is left `running`; then the lease is given up.
//!
//! It lives in `web` because it wires the layers `web` already sees (store,
//! app with its run service, router); the CLI only reads configuration,
//! prepares the schema and the admin, binds, and calls it.

use std::future::Future;
use std::time::Duration;

use axum::Router;
use promptrefine_app::App;
use promptrefine_app::experiments::EngineSettings;
use promptrefine_app::instance::LeaseSettings;
use promptrefine_store::StoreError;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

use crate::config::WebConfig;
use crate::server::{HEADER_READ_TIMEOUT, router_with, serve_router_with};
use crate::state::AppState;

/// What [`launch`] serves.
pub struct LaunchConfig {
    /// The application, with its run service attached.
    pub app: App,
    pub web: WebConfig,
    /// How long a client may take to send its request headers.
    pub header_read_timeout: Duration,
    /// Routes mounted inside the middleware stack. Empty in production; tests
    /// add one that panics, to check the panic catcher.
    pub extra_routes: Router<AppState>,
    /// This process's name among the replicas; default `host:port`.
    pub instance_name: Option<String>,
    /// How long this process's lease on its work lasts without renewal.
    pub lease: Duration,
    /// The experiment engine this process runs.
    pub engine: EngineSettings,
}

impl LaunchConfig {
    pub fn new(app: App, web: WebConfig) -> LaunchConfig {
        LaunchConfig {
            app,
            web,
            header_read_timeout: HEADER_READ_TIMEOUT,
            extra_routes: Router::new(),
            instance_name: None,
            lease: LeaseSettings::DEFAULT_LEASE,
            engine: EngineSettings::default(),
        }
    }
}

/// How a launched server ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Stopped {
    /// Runs of dead processes marked `interrupted` when this one joined.
    pub interrupted_at_start: u64,
    /// Runs still in flight after the grace period, cancelled at shutdown.
    pub cancelled_at_shutdown: usize,
}

#[derive(Debug, thiserror::Error)]
pub enum LaunchError {
    #[error("cannot register this process's lease: {0}")]
    Join(#[source] StoreError),
    #[error("the server failed: {0}")]
    Serve(#[source] std::io::Error),
}

/// Joins (lease, sweep), serves until `shutdown`, drains runs, leaves.
pub async fn launch(
    config: LaunchConfig,
    listener: TcpListener,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<Stopped, LaunchError> {
    let LaunchConfig {
        app,
        web,
        header_read_timeout,
        extra_routes,
        instance_name,
        lease,
        engine,
    } = config;
    let lease = LeaseSettings {
        name: instance_name.unwrap_or_else(|| default_instance_name(&listener)),
        lease,
    };
    let joined = app.join(&lease).await.map_err(LaunchError::Join)?;
    let interrupted = joined.runs_interrupted;
    if interrupted > 0 {
        tracing::warn!(
            runs = interrupted,
            instance = %lease.name,
            "marked runs of stopped processes as interrupted"
        );
    } else {
        tracing::info!(runs = 0, instance = %lease.name, "joined; no unfinished runs of stopped processes");
    }
    let stop_keeper = CancellationToken::new();
    let keeper = tokio::spawn({
        let app = app.clone();
        let stop = stop_keeper.clone();
        async move { app.keep_lease(lease, stop).await }
    });

    let stop_engine = CancellationToken::new();
    let engine = tokio::spawn({
        let app = app.clone();
        let stop = stop_engine.clone();
        async move { app.run_experiments(engine, stop).await }
    });

    let stop_delivery = CancellationToken::new();
    let delivery = tokio::spawn({
        let app = app.clone();
        let stop = stop_delivery.clone();
        async move { app.run_delivery_listener(stop).await }
    });
    // Watch streams (and experiment event streams) do not end by
    // themselves soon: shutting down ends them, so the graceful drain is
    // not held for its whole grace period.
    let shutdown = {
        let app = app.clone();
        async move {
            shutdown.await;
            app.delivery().close_watches();
        }
    };

    let grace = web.shutdown_grace;
    let router = router_with(AppState::new(app.clone(), web), extra_routes);
    let served = serve_router_with(listener, router, grace, header_read_timeout, shutdown).await;

    // No new cell is claimed; the cells in flight are runs, drained below,
    // and the engine puts their cells back before the lease is given up.
    stop_engine.cancel();
    let cancelled = app.drain_runs(grace).await;
    if let Err(e) = engine.await {
        tracing::error!(error = %e, "the experiment engine panicked");
    }
    if cancelled > 0 {
        tracing::warn!(
            runs = cancelled,
            "cancelled runs still in flight at shutdown"
        );
    }
    stop_delivery.cancel();
    if let Err(e) = delivery.await {
        tracing::error!(error = %e, "the delivery listener panicked");
    }
    // Only now, with nothing left in flight, is the lease given up.
    stop_keeper.cancel();
    if let Err(e) = keeper.await {
        tracing::error!(error = %e, "the lease keeper panicked");
    }
    served.map_err(LaunchError::Serve)?;
    Ok(Stopped {
        interrupted_at_start: interrupted,
        cancelled_at_shutdown: cancelled,
    })
}

/// `host:port`: unique among live processes, because two cannot listen on
/// one port of one host. A process started again on the same port so
/// recognises its dead predecessor and takes its runs over at once.
fn default_instance_name(listener: &TcpListener) -> String {
    let host = rustix::system::uname()
        .nodename()
        .to_string_lossy()
        .into_owned();
    let port = listener.local_addr().map(|a| a.port()).unwrap_or(0);
    format!("{host}:{port}")
}
