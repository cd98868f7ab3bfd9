//! [`launch`]: the one way a server runs, used by `promptrefine serve` and by
//! every test that starts the server in-process, so tests exercise the same
//! lifecycle as production:
//!
//! 1. runs a previous process left `queued`/`running` are marked
//!    `interrupted`, before the first request is accepted (so before any new
//!    run can start);
//! 2. the router with its full middleware stack is served on `listener`
//!    until `shutdown` resolves, then in-flight requests get the grace period;
//! 3. runs still in flight (they live in tasks that outlast their requests)
//!    get the same grace, and the rest are cancelled, so each is stored and
//!    none is left `running`.
//!
//! It lives in `web` because it wires the layers `web` already sees (store,
//! app with its run service, router); the CLI only reads configuration,
//! prepares the schema and the admin, binds, and calls it.

use std::future::Future;
use std::time::Duration;

use axum::Router;
use promptrefine_app::App;
use promptrefine_store::StoreError;
use tokio::net::TcpListener;

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
}

impl LaunchConfig {
    pub fn new(app: App, web: WebConfig) -> LaunchConfig {
        LaunchConfig {
            app,
            web,
            header_read_timeout: HEADER_READ_TIMEOUT,
            extra_routes: Router::new(),
        }
    }
}

/// How a launched server ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Stopped {
    /// Runs of a previous process marked `interrupted` at start.
    pub interrupted_at_start: u64,
    /// Runs still in flight after the grace period, cancelled at shutdown.
    pub cancelled_at_shutdown: usize,
}

#[derive(Debug, thiserror::Error)]
pub enum LaunchError {
    #[error("cannot mark unfinished runs as interrupted: {0}")]
    MarkInterrupted(#[source] StoreError),
    #[error("the server failed: {0}")]
    Serve(#[source] std::io::Error),
}

/// Marks unfinished runs interrupted, serves until `shutdown`, drains runs.
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
    } = config;
    let interrupted = app
        .store()
        .runs()
        .mark_unfinished_interrupted()
        .await
        .map_err(LaunchError::MarkInterrupted)?;
    if interrupted > 0 {
        tracing::warn!(
            runs = interrupted,
            "marked runs left unfinished by the previous process as interrupted"
        );
    } else {
        tracing::info!(runs = 0, "no unfinished runs from a previous process");
    }

    let grace = web.shutdown_grace;
    let router = router_with(AppState::new(app.clone(), web), extra_routes);
    let served = serve_router_with(listener, router, grace, header_read_timeout, shutdown).await;

    let cancelled = app.drain_runs(grace).await;
    if cancelled > 0 {
        tracing::warn!(
            runs = cancelled,
            "cancelled runs still in flight at shutdown"
        );
    }
    served.map_err(LaunchError::Serve)?;
    Ok(Stopped {
        interrupted_at_start: interrupted,
        cancelled_at_shutdown: cancelled,
    })
}
