//! The router with its middleware stack, and serving with graceful shutdown.

use std::future::Future;

use axum::Router;
use axum::extract::Request;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use tokio::net::TcpListener;
use tower_http::catch_panic::CatchPanicLayer;
use tower_http::limit::RequestBodyLimitLayer;
use tower_http::trace::TraceLayer;

use crate::api::envelope::{ApiError, finish_envelope, is_api_path};
use crate::middleware::request_id::{RequestId, request_id};
use crate::middleware::security_headers;
use crate::state::AppState;

/// Every route, with the middleware stack (outermost first): request id →
/// tracing → API envelope → body limit → security headers → panic catcher.
pub fn router(state: AppState) -> Router {
    router_with(state, Router::new())
}

/// The router with `extra` routes mounted inside the middleware stack (tests
/// use it to add a route that panics).
pub fn router_with(state: AppState, extra: Router<AppState>) -> Router {
    let config = state.config.clone();
    let app = crate::api::routes(&state)
        .merge(crate::pages::routes())
        .merge(extra)
        .fallback(fallback)
        .method_not_allowed_fallback(method_not_allowed)
        .layer(CatchPanicLayer::custom(|_| {
            tracing::error!("a handler panicked");
            StatusCode::INTERNAL_SERVER_ERROR.into_response()
        }));
    security_headers::apply(app)
        .layer(RequestBodyLimitLayer::new(config.body_limit_bytes))
        .layer(axum::extract::DefaultBodyLimit::max(config.body_limit_bytes))
        .layer(axum::middleware::from_fn(finish_envelope))
        .layer(TraceLayer::new_for_http().make_span_with(|req: &Request| {
            let id = req.extensions().get::<RequestId>().map(|r| r.as_str().to_string()).unwrap_or_default();
            tracing::info_span!("request", request_id = %id, method = %req.method(), path = %req.uri().path())
        }))
        .layer(axum::middleware::from_fn(request_id))
        .with_state(state)
}

async fn fallback(req: Request) -> Response {
    if is_api_path(req.uri().path()) {
        ApiError::new(StatusCode::NOT_FOUND, "not_found", "no such route").into_response()
    } else {
        crate::pages::not_found().into_response()
    }
}

async fn method_not_allowed(req: Request) -> Response {
    if is_api_path(req.uri().path()) {
        ApiError::from_status(StatusCode::METHOD_NOT_ALLOWED).into_response()
    } else {
        (StatusCode::METHOD_NOT_ALLOWED, "method not allowed").into_response()
    }
}

/// Serves until `shutdown` resolves, then stops accepting and gives in-flight
/// requests up to the configured grace period to finish.
pub async fn serve(
    listener: TcpListener,
    state: AppState,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let grace = state.config.shutdown_grace;
    serve_router(listener, router(state), grace, shutdown).await
}

/// Serves a prepared router (see [`router_with`]).
pub async fn serve_router(
    listener: TcpListener,
    app: Router,
    grace: std::time::Duration,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let (tx, rx) = tokio::sync::oneshot::channel::<()>();
    let server = axum::serve(
        listener,
        app.into_make_service_with_connect_info::<std::net::SocketAddr>(),
    )
    .with_graceful_shutdown(async move {
        shutdown.await;
        let _ = tx.send(());
    });
    let mut server = Box::pin(server.into_future());
    tokio::select! {
        res = &mut server => res,
        _ = async { let _ = rx.await; tokio::time::sleep(grace).await } => {
            tracing::warn!(grace_secs = grace.as_secs(), "in-flight requests did not finish within the grace period; stopping");
            Ok(())
        }
    }
}

/// A future that resolves on SIGINT or SIGTERM.
pub async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        if let Ok(mut s) = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
        {
            s.recv().await;
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! { _ = ctrl_c => {}, _ = term => {} }
    tracing::info!("shutdown signal received; finishing in-flight requests");
}
