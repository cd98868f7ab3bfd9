//! The session cookie: `HttpOnly`, `SameSite=Lax`, `Path=/`, and over HTTPS
//! `Secure` with the `__Host-` prefix (which browsers only accept when Secure,
//! host-only and Path=/ — it cannot be set by a sibling subdomain).

use axum::http::request::Parts;
use axum::http::{HeaderMap, HeaderValue, header};

use crate::config::CookieSecure;
use crate::state::AppState;

pub const PLAIN_NAME: &str = "pr_session";
pub const SECURE_NAME: &str = "__Host-pr_session";

/// Whether this request should get a Secure cookie.
pub fn secure(parts: &Parts, state: &AppState) -> bool {
    match state.config.cookie_secure {
        CookieSecure::Always => true,
        CookieSecure::Never => false,
        CookieSecure::Auto => {
            parts.uri.scheme_str() == Some("https")
                || (state.config.trust_proxy
                    && parts
                        .headers
                        .get("x-forwarded-proto")
                        .and_then(|v| v.to_str().ok())
                        .is_some_and(|p| p.eq_ignore_ascii_case("https")))
        }
    }
}

/// The session id from either cookie name.
pub fn session_cookie(headers: &HeaderMap) -> Option<String> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(name, _)| *name == SECURE_NAME || *name == PLAIN_NAME)
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
