//! Settings of the HTTP layer (filled by the CLI from flags, env and files).

use std::time::Duration;

/// Whether session cookies carry `Secure` (and the `__Host-` prefix).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CookieSecure {
    /// Secure when the public URL is `https`, the request came over HTTPS, or
    /// a trusted proxy says it did.
    Auto,
    Always,
    Never,
}

#[derive(Clone, Debug)]
pub struct WebConfig {
    /// Largest request body accepted (413 above).
    pub body_limit_bytes: usize,
    /// Largest dataset import body (`POST /api/datasets/{id}/import`; 413 above).
    pub import_limit_bytes: usize,
    /// Time limit for a request (runs are exempt: they have their own timeouts).
    pub request_timeout: Duration,
    /// How long graceful shutdown waits for in-flight requests.
    pub shutdown_grace: Duration,
    pub cookie_secure: CookieSecure,
    /// Trust `X-Forwarded-Proto` / `X-Forwarded-For` from a reverse proxy.
    pub trust_proxy: bool,
    pub session_idle: Duration,
    pub session_absolute: Duration,
    /// Serve `/metrics`; when a token is set it must be sent as a bearer token.
    pub metrics_enabled: bool,
    pub metrics_token: Option<String>,
    /// The URL people use to reach the server; an `https` URL turns Secure cookies and HSTS on.
    pub public_url: Option<String>,
    /// How often an idle watch stream gets a heartbeat comment (keeps
    /// proxies from closing it); 15 s, shorter in tests.
    pub watch_heartbeat: Duration,
}

impl WebConfig {
    /// Whether the configured public URL is `https` (cookies Secure, HSTS sent).
    pub fn public_url_is_https(&self) -> bool {
        self.public_url.as_deref().is_some_and(|u| {
            u.trim()
                .get(..8)
                .is_some_and(|s| s.eq_ignore_ascii_case("https://"))
        })
    }
}

impl Default for WebConfig {
    fn default() -> Self {
        WebConfig {
            body_limit_bytes: 2 * 1024 * 1024,
            import_limit_bytes: 100 * 1024 * 1024,
            request_timeout: Duration::from_secs(30),
            shutdown_grace: Duration::from_secs(20),
            cookie_secure: CookieSecure::Auto,
            trust_proxy: false,
            session_idle: Duration::from_secs(60 * 60 * 24),
            session_absolute: Duration::from_secs(60 * 60 * 24 * 14),
            metrics_enabled: true,
            metrics_token: None,
            public_url: None,
            watch_heartbeat: Duration::from_secs(15),
        }
    }
}
