//! The router with its middleware stack, and serving with graceful shutdown.

use std::future::Future;

use axum::Router;
use axum::extract::{MatchedPath, Request};
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
/// metrics → tracing → API envelope → security headers → body limit (with
/// the drain of oversized bodies) → body-read deadline → panic catcher.
pub fn router(state: AppState) -> Router {
    router_with(state, Router::new())
}

/// The router with `extra` routes mounted inside the middleware stack (tests
/// add a route that panics, through [`crate::LaunchConfig::extra_routes`]).
pub(crate) fn router_with(state: AppState, extra: Router<AppState>) -> Router {
    let config = state.config.clone();
    let app = crate::api::routes(&state)
        .merge(crate::pages::routes())
        .merge(crate::telemetry::endpoint::routes(&state))
        .merge(extra)
        .fallback(fallback)
        .method_not_allowed_fallback(method_not_allowed);
    // Dataset imports take bodies far over the ordinary limit: they get
    // their own, so the ordinary limit can stay small everywhere else.
    let uploads = crate::api::upload_router().method_not_allowed_fallback(method_not_allowed);
    let app = limit_bodies(app, config.body_limit_bytes, config.request_timeout).merge(
        limit_bodies(uploads, config.import_limit_bytes, config.request_timeout),
    );
    let app = if config.public_url_is_https() {
        security_headers::hsts(app)
    } else {
        app
    };
    security_headers::apply(app)
        .layer(axum::middleware::from_fn(finish_envelope))
        .layer(TraceLayer::new_for_http().make_span_with(request_span))
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            crate::telemetry::http::track,
        ))
        .layer(axum::middleware::from_fn(request_id))
        .with_state(state)
}

/// The body limit (with the drain of oversized bodies, outside), the
/// body-read deadline (every route's body must arrive within the request
/// timeout) and, innermost, the panic catcher.
fn limit_bodies(
    routes: Router<AppState>,
    limit: usize,
    timeout: std::time::Duration,
) -> Router<AppState> {
    routes
        .layer(CatchPanicLayer::custom(|_| {
            tracing::error!("a handler panicked");
            StatusCode::INTERNAL_SERVER_ERROR.into_response()
        }))
        .layer(axum::middleware::from_fn_with_state(
            timeout,
            crate::middleware::body_timeout::read_body_in_time,
        ))
        .layer(RequestBodyLimitLayer::new(limit))
        .layer(axum::extract::DefaultBodyLimit::max(limit))
        .layer(axum::middleware::from_fn_with_state(
            limit,
            crate::middleware::body_limit::drain_oversized,
        ))
}

/// The span of one request. It names the route that matched
/// (`/api/prompts/{id}`), never the raw path: raw paths carry ids, slugs
/// and whatever a scanner sends, none of which belongs in every log line.
/// `Router::layer` runs per route, so `MatchedPath` is known here; the
/// fallback (no route) records `unmatched`, as the metrics do.
fn request_span(req: &Request) -> tracing::Span {
    let id = req
        .extensions()
        .get::<RequestId>()
        .map(|r| r.as_str().to_string())
        .unwrap_or_default();
    let route = req
        .extensions()
        .get::<MatchedPath>()
        .map_or("unmatched", MatchedPath::as_str);
    tracing::info_span!("request", request_id = %id, method = %req.method(), route = %route)
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

/// How long a client may take to send a request's headers. Without it a
/// slowloris client (headers one byte at a time) holds a connection and its
/// task forever; `axum::serve` sets no timer, so hyper's own default of 30 s
/// never applies.
pub const HEADER_READ_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(10);

/// Largest request head (start line and headers) accepted; hyper answers 431
/// above it. Its default is only the ~400 KiB read buffer.
pub(crate) const MAX_HEADER_BYTES: usize = 32 * 1024;

/// Serves a prepared router (see [`router_with`]) until `shutdown`; called
/// by [`crate::launch`], which adds the run lifecycle around it.
///
/// Our own accept loop instead of `axum::serve`, because that is the only way
/// to give hyper a timer and a header read timeout. HTTP/1 only, as before.
/// On `shutdown` it stops accepting, asks every connection to finish its
/// current request, and waits for them up to `grace`.
pub(crate) async fn serve_router_with(
    listener: TcpListener,
    app: Router,
    grace: std::time::Duration,
    header_read_timeout: std::time::Duration,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    use hyper_util::rt::{TokioIo, TokioTimer};
    use hyper_util::server::graceful::GracefulShutdown;
    use tower::ServiceExt;

    let mut http = hyper::server::conn::http1::Builder::new();
    http.timer(TokioTimer::new())
        .header_read_timeout(header_read_timeout)
        .max_header_size(MAX_HEADER_BYTES);
    let graceful = GracefulShutdown::new();
    let mut shutdown = std::pin::pin!(shutdown);
    loop {
        let (stream, remote) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(conn) => conn,
                Err(e) => {
                    // Out of file descriptors and the like: back off instead
                    // of spinning, as axum::serve does.
                    tracing::warn!(error = %e, "accept failed");
                    tokio::time::sleep(std::time::Duration::from_millis(50)).await;
                    continue;
                }
            },
            _ = &mut shutdown => break,
        };
        let _ = stream.set_nodelay(true);
        let svc =
            app.clone()
                .map_request(move |mut req: axum::http::Request<hyper::body::Incoming>| {
                    req.extensions_mut()
                        .insert(axum::extract::ConnectInfo(remote));
                    req.map(axum::body::Body::new)
                });
        let conn = http.serve_connection(
            TokioIo::new(stream),
            hyper_util::service::TowerToHyperService::new(svc),
        );
        let conn = graceful.watch(conn);
        tokio::spawn(async move {
            if let Err(e) = conn.await {
                tracing::debug!(error = %e, "connection ended with an error");
            }
        });
    }
    drop(listener);
    tokio::select! {
        _ = graceful.shutdown() => Ok(()),
        _ = tokio::time::sleep(grace) => {
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
