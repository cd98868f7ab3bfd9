//! `GET /metrics`: this server's metrics in the Prometheus text format.
//!
//! Who may read them:
//!
//! * `METRICS=off`: nobody; the route does not exist (404).
//! * `METRICS_TOKEN` set: whoever sends `Authorization: Bearer <token>`
//!   (compared in constant time); anything else gets 401.
//! * no token set: any signed-in user — a session cookie or an API token
//!   (`pr_…`), which is what a Prometheus `authorization` block can send.
//!   Not "loopback only": behind a reverse proxy on the same host every
//!   request comes from loopback, so that would open the metrics to the
//!   internet. Metrics reveal traffic and cost, not prompts, but they are
//!   still nobody else's business.

use axum::Router;
use axum::extract::State;
use axum::http::request::Parts;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use sha2::{Digest, Sha256};

use crate::state::AppState;

/// The route, or nothing when metrics are off.
pub fn routes(state: &AppState) -> Router<AppState> {
    if state.config.metrics_enabled {
        Router::new().route("/metrics", get(scrape))
    } else {
        Router::new()
    }
}

async fn scrape(State(state): State<AppState>, parts: Parts) -> Response {
    if let Err(res) = allowed(&parts, &state).await {
        return res;
    }
    let body = state.metrics.render(&state.app);
    let mut res = body.into_response();
    let headers = res.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/plain; version=0.0.4; charset=utf-8"),
    );
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    res
}

async fn allowed(parts: &Parts, state: &AppState) -> Result<(), Response> {
    if let Some(expected) = state.config.metrics_token.as_deref() {
        let sent = parts
            .headers
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Bearer "))
            .map(str::trim);
        return match sent {
            Some(sent) if same_secret(sent, expected) => Ok(()),
            _ => Err(unauthorized("send Authorization: Bearer <METRICS_TOKEN>")),
        };
    }
    match crate::auth::authenticate(parts, state).await {
        Ok(Some(_)) => Ok(()),
        Ok(None) => Err(unauthorized("sign in or send a valid API token")),
        Err(e) => Err(e.into_response()),
    }
}

/// Compares digests, so the time taken says nothing about how much of the
/// token was right (nor about its length).
fn same_secret(sent: &str, expected: &str) -> bool {
    let a = Sha256::digest(sent.as_bytes());
    let b = Sha256::digest(expected.as_bytes());
    a.iter()
        .zip(b.iter())
        .fold(0u8, |acc, (x, y)| acc | (x ^ y))
        == 0
}

fn unauthorized(message: &'static str) -> Response {
    let mut res = (StatusCode::UNAUTHORIZED, message).into_response();
    res.headers_mut().insert(
        header::WWW_AUTHENTICATE,
        HeaderValue::from_static("Bearer realm=\"metrics\""),
    );
    res
}

#[cfg(test)]
mod tests {
    use super::same_secret;

    #[test]
    fn only_the_exact_token_matches() {
        assert!(same_secret("s3cret-token", "s3cret-token"));
        assert!(!same_secret("s3cret-toke", "s3cret-token"));
        assert!(!same_secret("", "s3cret-token"));
        assert!(!same_secret("S3cret-token", "s3cret-token"));
    }
}
