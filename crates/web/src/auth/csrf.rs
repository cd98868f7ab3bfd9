//! Cross-site request checks for cookie-authenticated requests.

use axum::http::Method;
use axum::http::request::Parts;

use crate::state::AppState;

/// True for safe methods, and for unsafe ones that came from this site.
pub fn same_site_or_safe(parts: &Parts, state: &AppState) -> bool {
    if matches!(parts.method, Method::GET | Method::HEAD | Method::OPTIONS) {
        return true;
    }
    from_this_site(parts, state)
}

/// Login CSRF: a browser request (it sends `Origin` or `Sec-Fetch-Site`)
/// from another site, which must not sign the browser in. Requests without
/// browser headers (scripts, curl) are not cross-site requests.
pub fn cross_site_browser_request(parts: &Parts, state: &AppState) -> bool {
    let browser =
        parts.headers.contains_key("origin") || parts.headers.contains_key("sec-fetch-site");
    browser && !from_this_site(parts, state)
}

/// `Sec-Fetch-Site: same-origin` (or `none`: typed by the user), else an
/// `Origin` whose host is this host. A request with neither is refused.
pub fn from_this_site(parts: &Parts, state: &AppState) -> bool {
    let header = |name: &str| parts.headers.get(name).and_then(|v| v.to_str().ok());
    if let Some(site) = header("sec-fetch-site") {
        return site == "same-origin" || site == "none";
    }
    let Some(origin) = header("origin") else {
        return false;
    };
    let host = if state.config.trust_proxy {
        header("x-forwarded-host").or_else(|| header("host"))
    } else {
        header("host")
    };
    let Some(host) = host else { return false };
    let origin_host = origin.split_once("://").map(|(_, rest)| rest).unwrap_or("");
    !origin_host.is_empty() && origin_host.eq_ignore_ascii_case(host)
}
