//! How to reach a provider, and how patient to be with it.

use std::fmt;
use std::time::Duration;

use secrecy::SecretString;

/// One OpenAI-compatible server.
#[derive(Clone)]
pub struct ProviderConfig {
    /// A short name for logs and run records (`openai`, `ollama`, …).
    pub name: String,
    /// The base URL including the version path, e.g. `https://api.openai.com/v1`.
    pub base_url: String,
    /// Sent as `Authorization: Bearer …` when set and not blank.
    pub api_key: Option<SecretString>,
    /// The models to offer when `GET /models` cannot be reached.
    pub models: Vec<String>,
    /// Sent with every request (e.g. Azure's `api-key`, OpenRouter's
    /// `HTTP-Referer`). Values are treated as secrets: never printed, and
    /// redacted from error messages.
    pub extra_headers: Vec<(String, String)>,
}

impl fmt::Debug for ProviderConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let header_names: Vec<&str> = self.extra_headers.iter().map(|(n, _)| n.as_str()).collect();
        f.debug_struct("ProviderConfig")
            .field("name", &self.name)
            .field("base_url", &self.base_url)
            .field("api_key", &self.api_key.as_ref().map(|_| "[redacted]"))
            .field("models", &self.models)
            .field("extra_headers", &header_names)
            .finish()
    }
}

/// Timeouts and retries for every request a [`crate::Provider`] makes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ClientSettings {
    /// TCP (and TLS) connection set-up.
    pub connect_timeout: Duration,
    /// The whole call, retries and backoff included.
    pub request_timeout: Duration,
    /// From sending a request to the response headers.
    pub first_byte_timeout: Duration,
    /// The longest gap between two pieces of a response body.
    pub idle_stream_timeout: Duration,
    /// Retries after the first attempt (so `2` means up to three attempts).
    pub max_retries: u32,
    /// The first backoff; it doubles with each retry.
    pub backoff_base: Duration,
    /// No backoff (and no honoured `Retry-After`) is longer than this.
    pub backoff_max: Duration,
    /// The most output one answer may have, in bytes; a longer one ends as
    /// `output_too_large` with the output up to here.
    pub max_output_bytes: usize,
    /// The most events one streamed answer may have (content or not); an
    /// upstream that streams forever ends as `output_too_large`.
    pub max_stream_events: usize,
}

impl Default for ClientSettings {
    fn default() -> Self {
        ClientSettings {
            connect_timeout: Duration::from_secs(10),
            request_timeout: Duration::from_secs(300),
            first_byte_timeout: Duration::from_secs(60),
            idle_stream_timeout: Duration::from_secs(30),
            max_retries: 2,
            backoff_base: Duration::from_millis(500),
            backoff_max: Duration::from_secs(8),
            max_output_bytes: 1024 * 1024,
            max_stream_events: 100_000,
        }
    }
}

/// A [`ProviderConfig`] that cannot be used. Never contains a secret.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum ConfigError {
    /// The reason, not the URL (which may carry credentials).
    #[error("invalid base URL: {0}")]
    InvalidBaseUrl(String),
    #[error("the API key contains characters that cannot be sent in an HTTP header")]
    InvalidApiKey,
    #[error("invalid extra header {0:?}: bad name or value")]
    InvalidHeader(String),
    #[error("could not build the HTTP client: {0}")]
    Client(String),
}
