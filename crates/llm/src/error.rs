//! The one error a provider call returns, its stable codes, and the
//! redaction that keeps secrets out of it.

use std::fmt;
use std::time::Duration;

use secrecy::{ExposeSecret, SecretString};
use serde_json::Value;

/// A stable, snake_case classification of what went wrong; stored with a
/// failed run and shown to users. See the crate docs for the mapping.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ErrorCode {
    AuthFailed,
    InvalidRequest,
    RateLimited,
    UpstreamError,
    Timeout,
    UpstreamProtocol,
    ConnectionFailed,
    /// The answer passed [`crate::ClientSettings::max_output_bytes`] or
    /// `max_stream_events`; the output up to the cap is kept.
    OutputTooLarge,
}

impl ErrorCode {
    pub const ALL: [ErrorCode; 8] = [
        ErrorCode::AuthFailed,
        ErrorCode::InvalidRequest,
        ErrorCode::RateLimited,
        ErrorCode::UpstreamError,
        ErrorCode::Timeout,
        ErrorCode::UpstreamProtocol,
        ErrorCode::ConnectionFailed,
        ErrorCode::OutputTooLarge,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            ErrorCode::AuthFailed => "auth_failed",
            ErrorCode::InvalidRequest => "invalid_request",
            ErrorCode::RateLimited => "rate_limited",
            ErrorCode::UpstreamError => "upstream_error",
            ErrorCode::Timeout => "timeout",
            ErrorCode::UpstreamProtocol => "upstream_protocol",
            ErrorCode::ConnectionFailed => "connection_failed",
            ErrorCode::OutputTooLarge => "output_too_large",
        }
    }

    pub fn parse(s: &str) -> Option<ErrorCode> {
        Self::ALL.into_iter().find(|c| c.as_str() == s)
    }
}

impl fmt::Display for ErrorCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A failed provider call.
///
/// `message` is fit to show a user and never contains the API key or an
/// extra header value. `Debug` prints the length of `partial_output`, not
/// its text (model output can be sensitive and does not belong in logs).
#[derive(Clone, PartialEq, Eq)]
pub struct LlmError {
    pub code: ErrorCode,
    pub message: String,
    /// What the model had streamed before the failure.
    pub partial_output: String,
    /// The upstream's status when it answered with one.
    pub http_status: Option<u16>,
    /// The upstream's `Retry-After`, as sent (not capped).
    pub retry_after: Option<Duration>,
}

impl LlmError {
    pub fn new(code: ErrorCode, message: impl Into<String>) -> LlmError {
        LlmError {
            code,
            message: message.into(),
            partial_output: String::new(),
            http_status: None,
            retry_after: None,
        }
    }

    pub(crate) fn with_partial(mut self, partial: &str) -> LlmError {
        self.partial_output = partial.to_owned();
        self
    }

    /// Worth another attempt: nothing has reached the caller yet, and the
    /// failure may be transient.
    pub(crate) fn is_retryable(&self) -> bool {
        self.partial_output.is_empty()
            && matches!(
                self.code,
                ErrorCode::RateLimited | ErrorCode::UpstreamError | ErrorCode::ConnectionFailed
            )
    }
}

impl fmt::Display for LlmError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.code, self.message)
    }
}

impl fmt::Debug for LlmError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("LlmError")
            .field("code", &self.code)
            .field("message", &self.message)
            .field("partial_output_len", &self.partial_output.len())
            .field("http_status", &self.http_status)
            .field("retry_after", &self.retry_after)
            .finish()
    }
}

impl std::error::Error for LlmError {}

/// Replaces every configured secret in a text with `[redacted]`.
#[derive(Clone, Default)]
pub(crate) struct Redactor {
    /// Longest first, so a secret that contains another goes whole.
    secrets: Vec<SecretString>,
}

impl Redactor {
    /// Secrets shorter than this are not redacted: they are not secret
    /// (Ollama's documented key is `ollama`, but some configs use `x`), and
    /// replacing every `x` would wreck the message.
    const MIN_LEN: usize = 4;

    pub(crate) fn new(secrets: impl IntoIterator<Item = String>) -> Redactor {
        let mut secrets: Vec<String> = secrets
            .into_iter()
            .filter(|s| s.trim().len() >= Self::MIN_LEN)
            .collect();
        secrets.sort_by_key(|s| std::cmp::Reverse(s.len()));
        secrets.dedup();
        Redactor {
            secrets: secrets.into_iter().map(SecretString::from).collect(),
        }
    }

    pub(crate) fn redact(&self, text: &str) -> String {
        let mut out = text.to_owned();
        for s in &self.secrets {
            let s = s.expose_secret();
            if out.contains(s) {
                out = out.replace(s, "[redacted]");
            }
        }
        out
    }

    /// Redacts, then cuts the message to [`MAX_MESSAGE_CHARS`]: in this
    /// order, because a secret cut in two by the cut would no longer match.
    pub(crate) fn apply(&self, mut err: LlmError) -> LlmError {
        err.message = truncate_chars(&self.redact(&err.message), MAX_MESSAGE_CHARS);
        err
    }
}

/// The longest error message kept (after redaction).
pub(crate) const MAX_MESSAGE_CHARS: usize = 500;

/// At most `max` characters, with `…` when something was cut.
pub(crate) fn truncate_chars(text: &str, max: usize) -> String {
    match text.char_indices().nth(max) {
        Some((i, _)) => format!("{}…", &text[..i]),
        None => text.to_owned(),
    }
}

/// A readable message from an error body, whatever its shape:
/// `{error:{message}}` (OpenAI), `{error:"…"}` (Ollama), `{message}`,
/// `{detail}` (FastAPI), or plain text. `None` when there is nothing usable
/// (empty, or an HTML error page).
pub(crate) fn upstream_message(body: &[u8]) -> Option<String> {
    if let Ok(v) = serde_json::from_slice::<Value>(body) {
        return message_from_json(&v)
            .map(|m| tidy(&m))
            .filter(|m| !m.is_empty());
    }
    let text = String::from_utf8_lossy(body);
    let text = text.trim();
    if text.is_empty() || text.starts_with('<') {
        return None;
    }
    Some(tidy(text))
}

/// The message of an error value found in a JSON body, if it has one.
pub(crate) fn message_from_json(v: &Value) -> Option<String> {
    let pick = |v: &Value| -> Option<String> {
        match v {
            Value::String(s) => Some(s.clone()),
            Value::Null => None,
            other => Some(other.to_string()),
        }
    };
    match v.get("error") {
        Some(Value::Object(e)) => {
            if let Some(m) = e.get("message").and_then(pick) {
                return Some(m);
            }
        }
        Some(e @ Value::String(_)) => return pick(e),
        _ => {}
    }
    ["message", "detail", "error"]
        .iter()
        .find_map(|k| v.get(*k).and_then(pick))
}

/// One line. Not cut here: the message is cut only after redaction
/// ([`Redactor::apply`]), or a secret at the cut would escape it.
fn tidy(text: &str) -> String {
    text.split_whitespace().collect::<Vec<_>>().join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_round_trip_through_text() {
        for c in ErrorCode::ALL {
            assert_eq!(ErrorCode::parse(c.as_str()), Some(c));
        }
    }

    #[test]
    fn messages_come_from_every_common_error_shape() {
        let m = |b: &str| upstream_message(b.as_bytes());
        assert_eq!(
            m(r#"{"error":{"message":"bad model","type":"x","param":null,"code":null}}"#)
                .as_deref(),
            Some("bad model")
        );
        assert_eq!(
            m(r#"{"error":"model 'x' not found"}"#).as_deref(),
            Some("model 'x' not found")
        );
        assert_eq!(m(r#"{"detail":"Not Found"}"#).as_deref(), Some("Not Found"));
        assert_eq!(m(r#"{"message":"nope"}"#).as_deref(), Some("nope"));
        assert_eq!(
            m("upstream\n  exploded").as_deref(),
            Some("upstream exploded")
        );
        assert_eq!(m("<html><body>502</body></html>"), None);
        assert_eq!(m(""), None);
    }

    #[test]
    fn messages_are_cut_only_after_redaction() {
        let key = "sk-boundary-0123456789";
        let r = Redactor::new([key.to_owned()]);
        // The key starts just before the cut: cutting first would leave a
        // prefix of it that no longer matches.
        let text = format!("{}{key} and more", "x".repeat(MAX_MESSAGE_CHARS - 5));
        let message = upstream_message(text.as_bytes()).unwrap();
        let e = r.apply(LlmError::new(ErrorCode::InvalidRequest, message));
        assert!(!e.message.contains("sk-bo"), "{}", e.message);
        assert_eq!(e.message.chars().count(), MAX_MESSAGE_CHARS + 1);
        assert!(e.message.ends_with('…'));
        let long = r.apply(LlmError::new(ErrorCode::InvalidRequest, "y".repeat(2000)));
        assert_eq!(long.message.chars().count(), MAX_MESSAGE_CHARS + 1);
    }

    #[test]
    fn redaction_replaces_every_secret_and_skips_tiny_ones() {
        let r = Redactor::new(["sk-secret-123".to_owned(), "x".to_owned()]);
        assert_eq!(
            r.redact("bad key sk-secret-123 (x)"),
            "bad key [redacted] (x)"
        );
    }
}
