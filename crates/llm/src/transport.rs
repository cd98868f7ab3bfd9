//! One HTTP exchange under our timeouts, and the mapping of what can go
//! wrong in it (status, transport error, timeout) to an [`LlmError`].

use std::time::Duration;

use bytes::Bytes;
use reqwest::header::{HeaderMap, LOCATION, RETRY_AFTER};
use reqwest::{RequestBuilder, Response, StatusCode};
use tokio::time::{Instant, timeout_at};

use crate::error::{ErrorCode, LlmError, upstream_message};
use crate::provider::Inner;

/// A successful body larger than this is refused rather than buffered.
const MAX_BODY_BYTES: usize = 32 * 1024 * 1024;
/// Only this much of an error body is read: it is for a message.
const MAX_ERROR_BODY_BYTES: usize = 64 * 1024;

impl Inner {
    /// Sends, and waits for the response headers at most `first_byte_timeout`.
    pub(crate) async fn send(
        &self,
        rb: RequestBuilder,
        deadline: Instant,
    ) -> Result<Response, LlmError> {
        let limit = (Instant::now() + self.settings.first_byte_timeout).min(deadline);
        match timeout_at(limit, rb.send()).await {
            Err(_) if limit >= deadline => Err(self.total_timeout()),
            Err(_) => Err(LlmError::new(
                ErrorCode::Timeout,
                format!(
                    "the upstream did not answer within {}",
                    human(self.settings.first_byte_timeout)
                ),
            )),
            Ok(Err(e)) => Err(self.reqwest_error(e)),
            Ok(Ok(resp)) => Ok(resp),
        }
    }

    /// The response when it is a success, else its error (from its status,
    /// `Retry-After` and as much of its body as says why).
    pub(crate) async fn check_status(
        &self,
        mut resp: Response,
        deadline: Instant,
    ) -> Result<Response, LlmError> {
        let status = resp.status();
        if status.is_success() {
            return Ok(resp);
        }
        let retry_after = parse_retry_after(resp.headers());
        let location = resp
            .headers()
            .get(LOCATION)
            .and_then(|v| v.to_str().ok())
            .map(|l| self.redirect_target(l));
        let mut body = Vec::new();
        // A broken or slow error body must not hide the status: keep what came.
        while body.len() < MAX_ERROR_BODY_BYTES {
            match self.next_chunk(&mut resp, deadline).await {
                Ok(Some(b)) => body.extend_from_slice(&b),
                Ok(None) | Err(_) => break,
            }
        }
        let mut err = status_error(status, &body, location.as_deref());
        err.retry_after = retry_after;
        Err(err)
    }

    /// The next piece of the body, waiting at most `idle_stream_timeout`.
    pub(crate) async fn next_chunk(
        &self,
        resp: &mut Response,
        deadline: Instant,
    ) -> Result<Option<Bytes>, LlmError> {
        let limit = (Instant::now() + self.settings.idle_stream_timeout).min(deadline);
        match timeout_at(limit, resp.chunk()).await {
            Err(_) if limit >= deadline => Err(self.total_timeout()),
            Err(_) => Err(LlmError::new(
                ErrorCode::Timeout,
                format!(
                    "the upstream stalled: no data for {}",
                    human(self.settings.idle_stream_timeout)
                ),
            )),
            Ok(Err(e)) => Err(self.reqwest_error(e)),
            Ok(Ok(chunk)) => Ok(chunk),
        }
    }

    /// The whole (successful) body.
    pub(crate) async fn read_body(
        &self,
        mut resp: Response,
        deadline: Instant,
    ) -> Result<Vec<u8>, LlmError> {
        let mut body = Vec::new();
        while let Some(b) = self.next_chunk(&mut resp, deadline).await? {
            if body.len() + b.len() > MAX_BODY_BYTES {
                return Err(protocol(format!(
                    "the response body is larger than {MAX_BODY_BYTES} bytes"
                )));
            }
            body.extend_from_slice(&b);
        }
        Ok(body)
    }

    /// Where a redirect points, fit for a message: scheme, host, port and
    /// path only. Its user-info and query (a signed URL, a token) are
    /// dropped; what is left is redacted like every message.
    fn redirect_target(&self, location: &str) -> String {
        match self.chat_url.join(location) {
            Ok(url) => {
                let port = url.port().map(|p| format!(":{p}")).unwrap_or_default();
                let host = url.host_str().unwrap_or_default();
                format!("{}://{host}{port}{}", url.scheme(), url.path())
            }
            Err(_) => "an invalid location".to_owned(),
        }
    }

    pub(crate) fn total_timeout(&self) -> LlmError {
        LlmError::new(
            ErrorCode::Timeout,
            format!(
                "the request did not finish within {}",
                human(self.settings.request_timeout)
            ),
        )
    }

    pub(crate) fn reqwest_error(&self, e: reqwest::Error) -> LlmError {
        let e = e.without_url();
        let detail = error_chain(&e);
        let (code, message) = if e.is_timeout() && e.is_connect() {
            let t = human(self.settings.connect_timeout);
            let m = format!("could not connect to {} within {t}", self.authority);
            (ErrorCode::Timeout, m)
        } else if e.is_timeout() {
            (
                ErrorCode::Timeout,
                format!("the request timed out: {detail}"),
            )
        } else if e.is_connect() {
            let m = format!("could not connect to {}: {detail}", self.authority);
            (ErrorCode::ConnectionFailed, m)
        } else if e.is_body() || e.is_decode() {
            let m = format!("the connection broke while reading the answer: {detail}");
            (ErrorCode::ConnectionFailed, m)
        } else if e.is_redirect() || e.is_builder() {
            (ErrorCode::UpstreamProtocol, detail)
        } else {
            (
                ErrorCode::ConnectionFailed,
                format!("the request failed: {detail}"),
            )
        };
        LlmError::new(code, message)
    }
}

/// The error an upstream status means. See the crate docs for the table.
pub(crate) fn status_error(status: StatusCode, body: &[u8], location: Option<&str>) -> LlmError {
    let upstream = upstream_message(body);
    let code_num = status.as_u16();
    let reason = status.canonical_reason().unwrap_or("unknown status");
    let said = |fallback: &str| upstream.clone().unwrap_or_else(|| fallback.to_owned());
    let (code, message) = match code_num {
        401 | 403 => (
            ErrorCode::AuthFailed,
            format!(
                "the upstream refused the credentials (HTTP {code_num}): {}",
                said("check the API key")
            ),
        ),
        429 => (
            ErrorCode::RateLimited,
            format!("rate limited by the upstream (HTTP 429): {}", said(reason)),
        ),
        500..=599 => (
            ErrorCode::UpstreamError,
            format!("the upstream failed (HTTP {code_num}): {}", said(reason)),
        ),
        400..=499 => (
            ErrorCode::InvalidRequest,
            // The upstream's own words are the most useful message here.
            said(&format!(
                "the upstream rejected the request (HTTP {code_num} {reason})"
            )),
        ),
        300..=399 => (
            ErrorCode::UpstreamProtocol,
            format!(
                "the upstream redirected (HTTP {code_num}) to {}: check the base URL",
                location.unwrap_or("nowhere")
            ),
        ),
        _ => (
            ErrorCode::UpstreamProtocol,
            format!("unexpected HTTP status {code_num} from the upstream"),
        ),
    };
    let mut err = LlmError::new(code, message);
    err.http_status = Some(code_num);
    err
}

pub(crate) fn protocol(message: impl Into<String>) -> LlmError {
    LlmError::new(ErrorCode::UpstreamProtocol, message)
}

/// `retry-after-ms` (OpenAI sends it), else `retry-after` in seconds. The
/// HTTP-date form is ignored: our own backoff applies then.
pub(crate) fn parse_retry_after(headers: &HeaderMap) -> Option<Duration> {
    let number = |name: &str| -> Option<f64> {
        let v: f64 = headers.get(name)?.to_str().ok()?.trim().parse().ok()?;
        (v.is_finite() && v >= 0.0).then_some(v)
    };
    if let Some(ms) = number("retry-after-ms") {
        return Duration::try_from_secs_f64(ms / 1000.0).ok();
    }
    Duration::try_from_secs_f64(number(RETRY_AFTER.as_str())?).ok()
}

/// An error and its causes, `: `-separated, without repeats (reqwest and
/// hyper often say the same thing twice).
fn error_chain(e: &(dyn std::error::Error + 'static)) -> String {
    let mut parts: Vec<String> = Vec::new();
    let mut cur = Some(e);
    while let Some(err) = cur {
        let s = err.to_string();
        if !parts.iter().any(|p| p.contains(&s)) {
            parts.push(s);
        }
        cur = err.source();
    }
    parts.join(": ")
}

/// `1.5s`, `300ms`: how a timeout reads in a message.
pub(crate) fn human(d: Duration) -> String {
    let ms = d.as_millis();
    if ms < 1000 {
        format!("{ms}ms")
    } else if d.subsec_millis() == 0 {
        format!("{}s", ms / 1000)
    } else {
        format!("{:.1}s", d.as_secs_f64())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_read_naturally() {
        assert_eq!(human(Duration::from_millis(300)), "300ms");
        assert_eq!(human(Duration::from_millis(1500)), "1.5s");
        assert_eq!(human(Duration::from_secs(60)), "60s");
    }

    #[test]
    fn retry_after_reads_seconds_and_milliseconds() {
        let mut h = HeaderMap::new();
        assert_eq!(parse_retry_after(&h), None);
        h.insert(RETRY_AFTER, "2".parse().unwrap());
        assert_eq!(parse_retry_after(&h), Some(Duration::from_secs(2)));
        h.insert("retry-after-ms", "250".parse().unwrap());
        assert_eq!(parse_retry_after(&h), Some(Duration::from_millis(250)));
        let mut h = HeaderMap::new();
        h.insert(
            RETRY_AFTER,
            "Wed, 21 Oct 2015 07:28:00 GMT".parse().unwrap(),
        );
        assert_eq!(parse_retry_after(&h), None);
    }

    #[test]
    fn statuses_map_to_codes() {
        let code = |s: u16| status_error(StatusCode::from_u16(s).unwrap(), b"", None).code;
        assert_eq!(code(401), ErrorCode::AuthFailed);
        assert_eq!(code(403), ErrorCode::AuthFailed);
        assert_eq!(code(400), ErrorCode::InvalidRequest);
        assert_eq!(code(404), ErrorCode::InvalidRequest);
        assert_eq!(code(422), ErrorCode::InvalidRequest);
        assert_eq!(code(429), ErrorCode::RateLimited);
        assert_eq!(code(503), ErrorCode::UpstreamError);
        assert_eq!(code(302), ErrorCode::UpstreamProtocol);
        let e = status_error(
            StatusCode::BAD_REQUEST,
            br#"{"error":{"message":"bad temperature","type":"invalid_request_error"}}"#,
            None,
        );
        assert_eq!(e.message, "bad temperature");
        assert_eq!(e.http_status, Some(400));
    }
}
