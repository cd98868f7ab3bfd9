//! The session cookie: `HttpOnly`, `SameSite=Lax`, `Path=/`, and over HTTPS
//! `Secure` with the `__Host-` prefix (which browsers only accept when Secure,
//! host-only and Path=/ — it cannot be set by a sibling subdomain).
//!
//! When cookies are Secure only the `__Host-` name is read: a sibling
//! subdomain can plant a plain `pr_session` (say with `Path=/app`, which the
//! browser sends first), and reading either name would let it shadow the
//! real session with one of its choosing.

use axum::http::request::Parts;
use axum::http::{HeaderValue, header};

use crate::config::CookieSecure;
use crate::state::AppState;

pub const PLAIN_NAME: &str = "pr_session";
pub const SECURE_NAME: &str = "__Host-pr_session";

/// Whether this request should get a Secure cookie. `auto` turns it on for
/// an `https` public URL (the server sits behind a TLS proxy, whatever the
/// proxy forwards), a request that came over HTTPS, or a trusted proxy that
/// says it did.
pub fn secure(parts: &Parts, state: &AppState) -> bool {
    match state.config.cookie_secure {
        CookieSecure::Always => true,
        CookieSecure::Never => false,
        CookieSecure::Auto => {
            state.config.public_url_is_https()
                || parts.uri.scheme_str() == Some("https")
                || (state.config.trust_proxy
                    && parts
                        .headers
                        .get("x-forwarded-proto")
                        .and_then(|v| v.to_str().ok())
                        .is_some_and(|p| p.eq_ignore_ascii_case("https")))
        }
    }
}

/// The session id from the cookie this request's security calls for: only
/// `__Host-pr_session` when cookies are Secure, only `pr_session` otherwise.
pub fn session_cookie(parts: &Parts, state: &AppState) -> Option<String> {
    let wanted = if secure(parts, state) {
        SECURE_NAME
    } else {
        PLAIN_NAME
    };
    parts
        .headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(name, _)| *name == wanted)
        .map(|(_, value)| value.to_string())
}

/// Sets the session cookie of a new session on a response.
pub fn attach_session(
    res: &mut axum::response::Response,
    session_id: &secrecy::SecretString,
    parts: &Parts,
    state: &AppState,
) {
    let value = set_session(
        secrecy::ExposeSecret::expose_secret(session_id),
        state.config.session_absolute.as_secs(),
        secure(parts, state),
    );
    res.headers_mut().insert(header::SET_COOKIE, value);
}

pub fn set_session(session_id: &str, max_age_secs: u64, secure: bool) -> HeaderValue {
    let value = if secure {
        format!(
            "{SECURE_NAME}={session_id}; Path=/; HttpOnly; SameSite=Lax; Secure; Max-Age={max_age_secs}"
        )
    } else {
        format!("{PLAIN_NAME}={session_id}; Path=/; HttpOnly; SameSite=Lax; Max-Age={max_age_secs}")
    };
    HeaderValue::from_str(&value).expect("a cookie of url-safe characters")
}

pub fn clear_session(secure: bool) -> HeaderValue {
    let name = if secure { SECURE_NAME } else { PLAIN_NAME };
    let extra = if secure { "; Secure" } else { "" };
    HeaderValue::from_str(&format!(
        "{name}=; Path=/; HttpOnly; SameSite=Lax; Max-Age=0{extra}"
    ))
    .expect("a static cookie")
}
