//! The client for OpenAI-compatible Chat Completions servers (OpenAI, Azure
//! OpenAI, Ollama, vLLM, llama.cpp server, LiteLLM, OpenRouter …): streaming
//! with usage, timeouts, retries, error mapping, pricing.
//!
//! ```no_run
//! # async fn demo() -> Result<(), Box<dyn std::error::Error>> {
//! use promptrefine_llm::{ChatRequest, ClientSettings, Provider, ProviderConfig};
//!
//! let provider = Provider::new(
//!     ProviderConfig {
//!         name: "openai".into(),
//!         base_url: "https://api.openai.com/v1".into(),
//!         api_key: std::env::var("OPENAI_API_KEY").ok().map(Into::into),
//!         models: vec!["gpt-4o-mini".into()],
//!         extra_headers: vec![],
//!     },
//!     ClientSettings::default(),
//! )?;
//! let (tx, mut rx) = tokio::sync::mpsc::channel(64);
//! let req = ChatRequest {
//!     model: "gpt-4o-mini".into(),
//!     messages: vec![],
//!     settings: Default::default(),
//!     request_id: None,
//!     stream: true,
//!     raw_body: None,
//! };
//! let run = provider.chat(&req, Some(tx)); // deltas arrive on `rx` meanwhile
//! # let _ = (run.await, rx.recv().await);
//! # Ok(()) }
//! ```
//!
//! # Error mapping
//!
//! Every failure is an [`LlmError`] whose [`ErrorCode`] is stored with the
//! run; `message` is for people and never holds the API key or an extra
//! header value (they are replaced by `[redacted]`, even when the upstream
//! echoes them back).
//!
//! | upstream outcome | code | retried |
//! |---|---|---|
//! | 401, 403 | `auth_failed` | no |
//! | 400, 404, 422 and other 4xx (message: the upstream's `error.message`) | `invalid_request` | no |
//! | 429 | `rate_limited` | yes |
//! | 5xx; a 200 body or stream event that is an error object | `upstream_error` | yes, before any output |
//! | connect / first-byte / idle-gap / total timeout | `timeout` | no |
//! | 1xx, 3xx (redirects are not followed); a body that is not JSON or not a completion; a broken event stream | `upstream_protocol` | no |
//! | connection refused or reset, before or during the answer; a stream cut before `[DONE]` | `connection_failed` | yes, before any output |
//! | more output than `max_output_bytes`, or more stream events than `max_stream_events` (the output up to the cap is kept) | `output_too_large` | no |
//!
//! Error bodies are read in any common shape (`{error:{message}}`,
//! `{error:"…"}`, `{message}`, `{detail}`, plain text; HTML pages fall back
//! to the status reason). A stream that failed after content arrived keeps
//! that content in `partial_output`.
//!
//! # Retry policy
//!
//! A failure marked "retried" above is tried again only while nothing has
//! been streamed to the caller — once output has started, it is never
//! retried (the caller has shown it, and a new answer would differ). Up to
//! [`ClientSettings::max_retries`] retries follow the first attempt. The wait
//! is the upstream's `Retry-After` (or `retry-after-ms`) when sent, else
//! `backoff_base × 2^n` with equal jitter; either is capped at `backoff_max`.
//! Timeouts are not retried (an upstream that is slow once is usually slow
//! again, and the user is already waiting). [`ClientSettings::request_timeout`]
//! bounds the whole call, retries and waits included: when the next wait
//! would pass it, the last error is returned at once.
//!
//! # Timeouts
//!
//! `connect_timeout` (TCP + TLS), `first_byte_timeout` (request sent → response
//! headers), `idle_stream_timeout` (the longest gap between two pieces of any
//! body, streamed or not), `request_timeout` (the whole call).
//!
//! # Tolerated wire variations
//!
//! `usage` on a `choices: []` chunk, on a chunk with one choice and an empty
//! delta, on every chunk (the last wins), or not at all; SSE comment lines;
//! `data:` with or without a space; `\r\n` line ends; unknown fields; content
//! as a string or a list of text parts; a server that ignores `stream: true`
//! and answers one JSON completion; a stream that ends without `[DONE]` after
//! its `finish_reason`.

#![warn(clippy::unwrap_used)]

mod answer;
mod config;
mod error;
mod guard;
mod provider;
pub mod sse;
mod transport;
mod webhook;
mod wire;

pub mod pricing;
pub mod tokens;

pub use config::{ClientSettings, ConfigError, ProviderConfig};
pub use error::{ErrorCode, LlmError};
pub use guard::Refuse;
pub use pricing::{Price, PriceTable};
pub use provider::{ChatRequest, Completion, Provider, Usage};
pub use webhook::WebhookClient;
