//! Security headers on every response. The CSP allows only our own scripts and
//! styles: no inline code, no third-party origins, no framing.
//!
//! `Cache-Control: no-store` goes on every answer that does not set its own
//! policy: signed-in pages and API answers must not stay in a shared or
//! browser cache. Static assets (a year, content-hashed) and the ETag-served
//! `by-slug` read (`private, no-cache`) keep theirs.

use axum::Router;
use axum::http::{HeaderName, HeaderValue};
use tower_http::set_header::SetResponseHeaderLayer;

pub const CSP: &str = "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; \
     connect-src 'self'; font-src 'self'; object-src 'none'; base-uri 'none'; form-action 'self'; \
     frame-ancestors 'none'";

pub fn apply<S: Clone + Send + Sync + 'static>(router: Router<S>) -> Router<S> {
    let headers: [(&str, &str); 7] = [
        ("cache-control", "no-store"),
        ("content-security-policy", CSP),
        ("x-content-type-options", "nosniff"),
        ("referrer-policy", "same-origin"),
        ("x-frame-options", "DENY"),
        ("cross-origin-opener-policy", "same-origin"),
        (
            "permissions-policy",
            "camera=(), microphone=(), geolocation=()",
        ),
    ];
    headers.into_iter().fold(router, |r, (name, value)| {
        r.layer(SetResponseHeaderLayer::if_not_present(
            HeaderName::from_static(name),
            HeaderValue::from_static(value),
        ))
    })
}

/// `Strict-Transport-Security` for a server whose public URL is `https`: the
/// browser then never tries plain HTTP (where the Secure cookie is not sent
/// and a network attacker could answer instead).
pub fn hsts<S: Clone + Send + Sync + 'static>(router: Router<S>) -> Router<S> {
    router.layer(SetResponseHeaderLayer::if_not_present(
        HeaderName::from_static("strict-transport-security"),
        HeaderValue::from_static("max-age=31536000"),
    ))
}
