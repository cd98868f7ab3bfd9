//! Counts every request and times it to the response head, labelled by the
//! route that matched (`MatchedPath`, e.g. `/api/prompts/{id}`), never by
//! the raw path: raw paths carry ids and whatever a scanner tries, and every
//! distinct label value is a new time series kept forever.
//!
//! It runs as a layer on each route (axum applies `Router::layer` per route),
//! so the matched path is known by the time it runs; the fallback (no route)
//! counts as `unmatched`. A streamed answer is timed to its first byte.

use std::time::Instant;

use axum::extract::{MatchedPath, Request, State};
use axum::http::Method;
use axum::middleware::Next;
use axum::response::Response;
use metrics::{counter, histogram};

use crate::state::AppState;

pub async fn track(State(state): State<AppState>, req: Request, next: Next) -> Response {
    if !state.metrics.is_enabled() {
        return next.run(req).await;
    }
    let route = req
        .extensions()
        .get::<MatchedPath>()
        .map_or_else(|| "unmatched".to_owned(), |p| p.as_str().to_owned());
    let method = method_label(req.method());
    let started = Instant::now();
    let res = next.run(req).await;
    let seconds = started.elapsed().as_secs_f64();
    let status = res.status().as_u16().to_string();
    state.metrics.record(|| {
        counter!("http_requests_total", "route" => route.clone(), "method" => method, "status" => status.clone())
            .increment(1);
        // Latency by status too: a fast 4xx and a slow 200 on one route are
        // different stories for an operator.
        histogram!("http_request_duration_seconds", "route" => route, "method" => method, "status" => status)
            .record(seconds);
    });
    res
}

/// The standard methods by name; anything else (a client may send any
/// token) as `other`, for the same reason as the route.
fn method_label(m: &Method) -> &'static str {
    match *m {
        Method::GET => "GET",
        Method::HEAD => "HEAD",
        Method::POST => "POST",
        Method::PUT => "PUT",
        Method::PATCH => "PATCH",
        Method::DELETE => "DELETE",
        Method::OPTIONS => "OPTIONS",
        _ => "other",
    }
}
