//! [`Provider`]: a configured upstream, and the retry loop around each call.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use promptrefine_core::{ChatMessage, ModelSettings, ToolCall};
use rand::Rng;
use reqwest::Url;
use reqwest::header::{AUTHORIZATION, HeaderMap, HeaderName, HeaderValue};
use secrecy::ExposeSecret;
use tokio::sync::mpsc::Sender;
use tokio::time::Instant;
use tracing::Instrument;

use crate::answer::parse_completion;
use crate::config::{ClientSettings, ConfigError, ProviderConfig};
use crate::error::{LlmError, Redactor};
use crate::transport::protocol;
use crate::wire;

/// One chat completion to ask for.
#[derive(Clone, Debug, PartialEq)]
pub struct ChatRequest {
    /// The model sent upstream (`settings.model` is not read).
    pub model: String,
    pub messages: Vec<ChatMessage>,
    pub settings: ModelSettings,
    /// Sent as `x-request-id`, so upstream logs can be matched with ours.
    pub request_id: Option<String>,
    pub stream: bool,
    /// When set, the exact JSON text to send instead of a body built from
    /// the fields above (a replay of a stored request). `stream` must agree
    /// with its `stream` flag.
    pub raw_body: Option<String>,
}

impl ChatRequest {
    /// The JSON text this request sends, byte for byte what goes upstream
    /// (the API key is a header, never in it).
    pub fn body_text(&self) -> String {
        match &self.raw_body {
            Some(raw) => raw.clone(),
            // Serializing a `Value` cannot fail.
            None => wire::request_body(self).to_string(),
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Usage {
    pub prompt_tokens: i64,
    pub completion_tokens: i64,
    pub total_tokens: i64,
}

/// A finished answer.
#[derive(Clone, Debug, PartialEq)]
pub struct Completion {
    pub output: String,
    pub finish_reason: Option<String>,
    /// `None` when the upstream sent no usage (some servers never do).
    pub usage: Option<Usage>,
    /// From the call to the end of the answer, retries included.
    pub latency_ms: i64,
    /// From the call to the first content of a streamed answer; `None` when
    /// not streamed.
    pub ttft_ms: Option<i64>,
    /// The upstream's `id` for the completion.
    pub upstream_id: Option<String>,
    /// The model as the upstream answered.
    pub model: Option<String>,
    pub system_fingerprint: Option<String>,
    /// The tool calls of the answer, assembled from stream deltas.
    pub tool_calls: Vec<ToolCall>,
}

/// A configured OpenAI-compatible upstream. Cheap to clone: clones share
/// one connection pool.
#[derive(Clone)]
pub struct Provider {
    inner: Arc<Inner>,
}

pub(crate) struct Inner {
    name: String,
    base_url: String,
    /// `host:port`, for messages (never the whole URL: it may hold secrets).
    pub(crate) authority: String,
    pub(crate) chat_url: Url,
    models_url: Url,
    fallback_models: Vec<String>,
    headers: HeaderMap,
    has_key: bool,
    client: reqwest::Client,
    pub(crate) settings: ClientSettings,
    redactor: Redactor,
}

impl std::fmt::Debug for Provider {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Provider")
            .field("name", &self.inner.name)
            .field(
                "base_url",
                &self.inner.redactor.redact(&self.inner.base_url),
            )
            .field("has_key", &self.inner.has_key)
            .finish_non_exhaustive()
    }
}

impl Provider {
    pub fn new(config: ProviderConfig, settings: ClientSettings) -> Result<Provider, ConfigError> {
        Provider::build(config, settings, None)
    }

    /// Like [`Provider::new`], but the client never connects to an address
    /// for which `refuse` says why not: the names it resolves are filtered
    /// (a host name pointing at a metadata service fails as
    /// `connection_failed`). IP literals in the base URL do not go through
    /// the resolver; the caller checks those itself.
    pub fn new_refusing(
        config: ProviderConfig,
        settings: ClientSettings,
        refuse: crate::guard::Refuse,
    ) -> Result<Provider, ConfigError> {
        Provider::build(config, settings, Some(refuse))
    }

    fn build(
        config: ProviderConfig,
        settings: ClientSettings,
        refuse: Option<crate::guard::Refuse>,
    ) -> Result<Provider, ConfigError> {
        let base_url = config.base_url.trim().trim_end_matches('/').to_owned();
        let base = Url::parse(&base_url).map_err(|e| ConfigError::InvalidBaseUrl(e.to_string()))?;
        if !matches!(base.scheme(), "http" | "https") || base.host_str().is_none() {
            return Err(ConfigError::InvalidBaseUrl(
                "expected http:// or https:// and a host".into(),
            ));
        }
        let mut secrets: Vec<String> = Vec::new();
        let mut headers = HeaderMap::new();
        for (name, value) in &config.extra_headers {
            let bad = || ConfigError::InvalidHeader(name.clone());
            let header = HeaderName::from_bytes(name.trim().as_bytes()).map_err(|_| bad())?;
            let mut value_h = HeaderValue::from_str(value.trim()).map_err(|_| bad())?;
            value_h.set_sensitive(true);
            headers.insert(header, value_h);
            secrets.push(value.trim().to_owned());
        }
        let key = config
            .api_key
            .as_ref()
            .map(|k| k.expose_secret().trim())
            .filter(|k| !k.is_empty());
        if let Some(key) = key {
            let mut value = HeaderValue::from_str(&format!("Bearer {key}"))
                .map_err(|_| ConfigError::InvalidApiKey)?;
            value.set_sensitive(true);
            headers.insert(AUTHORIZATION, value);
            secrets.push(key.to_owned());
        }
        secrets.extend(url_secrets(&base));
        let mut builder = reqwest::Client::builder();
        if let Some(refuse) = refuse {
            builder = builder.dns_resolver(Arc::new(crate::guard::FilteringResolver::new(refuse)));
        }
        let client = builder
            .connect_timeout(settings.connect_timeout)
            // A redirected POST turns into a GET and may carry the key to
            // another host: report it instead (it means a wrong base URL).
            .redirect(reqwest::redirect::Policy::none())
            .user_agent(concat!("promptrefine/", env!("CARGO_PKG_VERSION")))
            .tcp_nodelay(true)
            .build()
            .map_err(|e| ConfigError::Client(e.to_string()))?;
        Ok(Provider {
            inner: Arc::new(Inner {
                name: config.name,
                chat_url: endpoint(&base, &["chat", "completions"]),
                models_url: endpoint(&base, &["models"]),
                authority: format!(
                    "{}:{}",
                    base.host_str().unwrap_or_default(),
                    base.port_or_known_default().unwrap_or_default()
                ),
                base_url,
                fallback_models: config.models,
                headers,
                has_key: key.is_some(),
                client,
                settings,
                redactor: Redactor::new(secrets),
            }),
        })
    }

    pub fn name(&self) -> &str {
        &self.inner.name
    }

    /// Whether an API key is sent.
    pub fn has_key(&self) -> bool {
        self.inner.has_key
    }

    /// The base URL as configured, without a trailing `/`.
    pub fn base_url(&self) -> &str {
        &self.inner.base_url
    }

    /// The configured model list, for when `list_models` fails.
    pub fn fallback_models(&self) -> &[String] {
        &self.inner.fallback_models
    }

    pub fn settings(&self) -> &ClientSettings {
        &self.inner.settings
    }

    /// Runs one chat completion. With `req.stream`, each content delta goes
    /// to `deltas` as it arrives; without, the whole output goes as one delta.
    /// The channel is bounded: reading the upstream waits for the consumer
    /// (keep the consumer quick; it is usually the run's own task).
    ///
    /// Cancel by dropping the future: the deltas already sent are the
    /// partial output. On failure, `LlmError::partial_output` holds it too.
    pub async fn chat(
        &self,
        req: &ChatRequest,
        deltas: Option<Sender<String>>,
    ) -> Result<Completion, LlmError> {
        let span = tracing::info_span!(
            "llm.chat",
            provider = %self.inner.name,
            model = %req.model,
            request_id = req.request_id.as_deref().unwrap_or(""),
            stream = req.stream,
        );
        let started = Instant::now();
        let body = req.body_text();
        let deltas = deltas.as_ref();
        let inner = &self.inner;
        let result = inner
            .with_retries(started, || inner.chat_once(&body, req, started, deltas))
            .instrument(span.clone())
            .await;
        let _enter = span.enter();
        match &result {
            Ok(c) => tracing::debug!(
                latency_ms = c.latency_ms,
                output_len = c.output.len(),
                "chat completed"
            ),
            Err(e) => {
                tracing::warn!(code = %e.code, http_status = e.http_status, partial_len = e.partial_output.len(), "chat failed")
            }
        }
        result
    }

    /// The model ids the upstream offers (`GET {base}/models`).
    pub async fn list_models(&self) -> Result<Vec<String>, LlmError> {
        let started = Instant::now();
        let inner = &self.inner;
        inner
            .with_retries(started, || inner.list_models_once(started))
            .instrument(tracing::info_span!("llm.list_models", provider = %inner.name))
            .await
    }
}

/// What in a base URL may be a credential: the user-info, and query values
/// that look secret (by name, like `key`, `token`, `sig`; or by shape: long
/// and mixing letters and digits). Each raw (percent-encoded) and decoded,
/// as either may be echoed back. Azure's `api-version=2024-06-01` is kept.
fn url_secrets(base: &Url) -> Vec<String> {
    const SECRET_NAMES: [&str; 9] = [
        "key",
        "token",
        "secret",
        "sig",
        "pass",
        "auth",
        "credential",
        "session",
        "code",
    ];
    let decode = |s: &str| {
        percent_encoding::percent_decode_str(s)
            .decode_utf8_lossy()
            .into_owned()
    };
    let mut out = Vec::new();
    for raw in [base.username(), base.password().unwrap_or("")] {
        if !raw.is_empty() {
            out.push(raw.to_owned());
            out.push(decode(raw));
        }
    }
    for pair in base.query().unwrap_or("").split('&') {
        let (name, raw) = pair.split_once('=').unwrap_or(("", pair));
        let value = decode(&raw.replace('+', " "));
        let name = decode(name).to_ascii_lowercase();
        let by_name = SECRET_NAMES.iter().any(|s| name.contains(s));
        let by_shape = value.len() >= 16
            && value.chars().any(|c| c.is_ascii_alphabetic())
            && value.chars().any(|c| c.is_ascii_digit());
        if !value.is_empty() && (by_name || by_shape) {
            out.push(raw.to_owned());
            out.push(value);
        }
    }
    out
}

/// `base` with path segments appended; its query (Azure's `api-version`)
/// is kept.
fn endpoint(base: &Url, segments: &[&str]) -> Url {
    let mut url = base.clone();
    if let Ok(mut path) = url.path_segments_mut() {
        path.pop_if_empty().extend(segments);
    }
    url
}

impl Inner {
    fn deadline(&self, started: Instant) -> Instant {
        started + self.settings.request_timeout
    }

    async fn chat_once(
        &self,
        body: &str,
        req: &ChatRequest,
        started: Instant,
        deltas: Option<&Sender<String>>,
    ) -> Result<Completion, LlmError> {
        let deadline = self.deadline(started);
        let mut rb = self
            .client
            .post(self.chat_url.clone())
            .headers(self.headers.clone())
            .header(reqwest::header::CONTENT_TYPE, "application/json")
            .body(body.to_owned());
        if let Some(id) = &req.request_id {
            match HeaderValue::from_str(id) {
                Ok(v) => rb = rb.header("x-request-id", v),
                Err(_) => tracing::warn!("request id is not a valid header value; not sent"),
            }
        }
        let resp = self.send(rb, deadline).await?;
        let resp = self.check_status(resp, deadline).await?;
        if req.stream {
            self.read_stream(resp, started, deadline, deltas).await
        } else {
            let body = self.read_body(resp, deadline).await?;
            parse_completion(&body, started, deltas, false, &self.settings).await
        }
    }

    async fn list_models_once(&self, started: Instant) -> Result<Vec<String>, LlmError> {
        let deadline = self.deadline(started);
        let rb = self
            .client
            .get(self.models_url.clone())
            .headers(self.headers.clone());
        let resp = self.send(rb, deadline).await?;
        let resp = self.check_status(resp, deadline).await?;
        let body = self.read_body(resp, deadline).await?;
        wire::model_ids(&body)
            .ok_or_else(|| protocol("the model list is not {\"data\": [{\"id\": …}]}"))
    }

    /// Runs `attempt` until it succeeds, fails for good, or runs out of
    /// retries or time (see the crate docs for the policy). The error that
    /// comes out is redacted.
    async fn with_retries<T, F, Fut>(&self, started: Instant, mut attempt: F) -> Result<T, LlmError>
    where
        F: FnMut() -> Fut,
        Fut: Future<Output = Result<T, LlmError>>,
    {
        let deadline = self.deadline(started);
        let mut attempts: u32 = 0;
        loop {
            attempts += 1;
            let err = match attempt().await {
                Ok(v) => return Ok(v),
                Err(e) => e,
            };
            let retryable = err.is_retryable() && attempts <= self.settings.max_retries;
            let delay = backoff(&self.settings, attempts - 1, err.retry_after);
            if !retryable || Instant::now() + delay >= deadline {
                return Err(self.give_up(err, attempts));
            }
            tracing::info!(
                attempt = attempts,
                code = %err.code,
                http_status = err.http_status,
                delay_ms = u64::try_from(delay.as_millis()).unwrap_or(u64::MAX),
                "retrying"
            );
            tokio::time::sleep(delay).await;
        }
    }

    fn give_up(&self, err: LlmError, attempts: u32) -> LlmError {
        let mut err = self.redactor.apply(err);
        if attempts > 1 {
            err.message = format!("{} (gave up after {attempts} attempts)", err.message);
        }
        err
    }
}

/// The wait before retry number `retry + 1`: the upstream's `Retry-After`
/// when it sent one, else `base × 2^retry` with "equal jitter" (half fixed,
/// half random, so retries of many runs spread out but never come at
/// once); both capped at `backoff_max`.
fn backoff(s: &ClientSettings, retry: u32, retry_after: Option<Duration>) -> Duration {
    if let Some(ra) = retry_after {
        return ra.min(s.backoff_max);
    }
    let exp = s
        .backoff_base
        .saturating_mul(2u32.saturating_pow(retry))
        .min(s.backoff_max);
    let half = exp / 2;
    let jitter = u64::try_from(half.as_nanos()).unwrap_or(u64::MAX);
    half + Duration::from_nanos(rand::rng().random_range(0..=jitter))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_with_jitter_and_honours_retry_after_up_to_the_cap() {
        let s = ClientSettings {
            backoff_base: Duration::from_millis(100),
            backoff_max: Duration::from_millis(1000),
            ..ClientSettings::default()
        };
        for _ in 0..50 {
            let d0 = backoff(&s, 0, None);
            assert!(d0 >= Duration::from_millis(50) && d0 <= Duration::from_millis(100));
            let d2 = backoff(&s, 2, None);
            assert!(d2 >= Duration::from_millis(200) && d2 <= Duration::from_millis(400));
            let d9 = backoff(&s, 9, None);
            assert!(d9 >= Duration::from_millis(500) && d9 <= Duration::from_millis(1000));
        }
        assert_eq!(
            backoff(&s, 0, Some(Duration::from_millis(300))),
            Duration::from_millis(300)
        );
        assert_eq!(
            backoff(&s, 0, Some(Duration::from_secs(60))),
            Duration::from_millis(1000)
        );
    }

    #[test]
    fn endpoints_keep_the_base_path_and_query() {
        let base = Url::parse("https://x.example/openai/v1?api-version=1").unwrap();
        assert_eq!(
            endpoint(&base, &["chat", "completions"]).as_str(),
            "https://x.example/openai/v1/chat/completions?api-version=1"
        );
        let base = Url::parse("http://127.0.0.1:1/v1").unwrap();
        assert_eq!(
            endpoint(&base, &["models"]).as_str(),
            "http://127.0.0.1:1/v1/models"
        );
    }
}
