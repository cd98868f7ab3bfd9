//! Reading a successful answer: one JSON `chat.completion`, or an event
//! stream of `chat.completion.chunk`s whose content is forwarded as it comes.

use reqwest::Response;
use reqwest::header::CONTENT_TYPE;
use serde_json::Value;
use tokio::sync::mpsc::UnboundedSender;
use tokio::time::Instant;

use crate::error::{ErrorCode, LlmError, message_from_json, upstream_message};
use crate::provider::Inner;
use crate::sse::{SseDecoder, SseEvent};
use crate::transport::protocol;
use crate::wire::WireResponse;
use crate::{Completion, Usage};

pub(crate) fn elapsed_ms(since: Instant) -> i64 {
    i64::try_from(since.elapsed().as_millis()).unwrap_or(i64::MAX)
}

/// A non-streamed answer. Its whole text goes out as one delta, so a caller
/// that shows deltas shows it too.
pub(crate) fn parse_completion(
    body: &[u8],
    started: Instant,
    deltas: Option<&UnboundedSender<String>>,
    streamed: bool,
) -> Result<Completion, LlmError> {
    let resp: WireResponse = serde_json::from_slice(body)
        .map_err(|e| protocol(format!("the answer is not a chat completion: {e}")))?;
    if resp.choices.is_none() {
        if resp.error.is_some() {
            // Some servers say 200 and put an error in the body.
            let message = upstream_message(body).unwrap_or_else(|| "no message".into());
            let message = format!("the upstream reported an error: {message}");
            return Err(LlmError::new(ErrorCode::UpstreamError, message));
        }
        return Err(protocol(
            "the answer is not a chat completion: it has no choices",
        ));
    }
    let choice = resp.choice();
    let output = choice.map(|c| c.text()).unwrap_or_default();
    let latency_ms = elapsed_ms(started);
    if let (Some(tx), false) = (deltas, output.is_empty()) {
        // The receiver may be gone: the caller no longer wants deltas.
        let _ = tx.send(output.clone());
    }
    Ok(Completion {
        finish_reason: choice.and_then(|c| c.finish_reason.clone()),
        usage: resp.usage(),
        latency_ms,
        ttft_ms: streamed.then_some(latency_ms),
        upstream_id: resp.id.clone(),
        output,
    })
}

impl Inner {
    /// Reads an event stream to `[DONE]`, forwarding each content delta.
    pub(crate) async fn read_stream(
        &self,
        mut resp: Response,
        started: Instant,
        deadline: Instant,
        deltas: Option<&UnboundedSender<String>>,
    ) -> Result<Completion, LlmError> {
        let content_type = resp
            .headers()
            .get(CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
            .to_ascii_lowercase();
        if content_type.starts_with("application/json") {
            // Some servers ignore `stream: true` and answer in one piece.
            let body = self.read_body(resp, deadline).await?;
            return parse_completion(&body, started, deltas, true);
        }
        let mut acc = Accumulator::new(started, deltas);
        let mut decoder = SseDecoder::default();
        let mut events = Vec::new();
        loop {
            let chunk = self
                .next_chunk(&mut resp, deadline)
                .await
                .map_err(|e| e.with_partial(&acc.output))?;
            let ended = chunk.is_none();
            match chunk {
                Some(bytes) => decoder.push(&bytes, &mut events),
                None => decoder.finish(&mut events),
            }
            .map_err(|m| protocol(m).with_partial(&acc.output))?;
            for ev in events.drain(..) {
                if acc.apply(&ev).map_err(|e| e.with_partial(&acc.output))? {
                    return Ok(acc.finish());
                }
            }
            if ended {
                return acc.ended_without_done();
            }
        }
    }
}

struct Accumulator<'a> {
    started: Instant,
    deltas: Option<&'a UnboundedSender<String>>,
    output: String,
    finish_reason: Option<String>,
    usage: Option<Usage>,
    upstream_id: Option<String>,
    ttft_ms: Option<i64>,
    events: usize,
}

impl<'a> Accumulator<'a> {
    fn new(started: Instant, deltas: Option<&'a UnboundedSender<String>>) -> Self {
        Accumulator {
            started,
            deltas,
            output: String::new(),
            finish_reason: None,
            usage: None,
            upstream_id: None,
            ttft_ms: None,
            events: 0,
        }
    }

    /// Takes one event; true at `[DONE]`.
    fn apply(&mut self, ev: &SseEvent) -> Result<bool, LlmError> {
        self.events += 1;
        let data = ev.data();
        let data = data.trim();
        if ev.event.as_deref() == Some("error") {
            let message = upstream_message(data.as_bytes()).unwrap_or_else(|| "no message".into());
            let message = format!("the upstream failed mid-stream: {message}");
            return Err(LlmError::new(ErrorCode::UpstreamError, message));
        }
        if data == "[DONE]" {
            return Ok(true);
        }
        if data.is_empty() {
            return Ok(false);
        }
        let chunk: WireResponse = match serde_json::from_str(data) {
            Ok(chunk) => chunk,
            // Some servers send one JSON per `data:` line without the blank
            // line between events.
            Err(_) if ev.data_lines.len() > 1 => {
                for line in &ev.data_lines {
                    let single = SseEvent {
                        event: None,
                        data_lines: vec![line.clone()],
                    };
                    if self.apply(&single)? {
                        return Ok(true);
                    }
                }
                return Ok(false);
            }
            Err(e) => {
                return Err(protocol(format!(
                    "a stream event is not a valid chunk: {e}"
                )));
            }
        };
        if chunk.error.is_some() {
            let v: Value = serde_json::from_str(data).unwrap_or_default();
            let message = message_from_json(&v).unwrap_or_else(|| "no message".into());
            let message = format!("the upstream failed mid-stream: {message}");
            return Err(LlmError::new(ErrorCode::UpstreamError, message));
        }
        if self.upstream_id.is_none() {
            self.upstream_id = chunk.id.clone().filter(|id| !id.is_empty());
        }
        if let Some(choice) = chunk.choice() {
            let text = choice.text();
            if !text.is_empty() {
                if self.ttft_ms.is_none() {
                    self.ttft_ms = Some(elapsed_ms(self.started));
                }
                self.output.push_str(&text);
                if let Some(tx) = self.deltas {
                    let _ = tx.send(text);
                }
            }
            if let Some(reason) = &choice.finish_reason {
                self.finish_reason = Some(reason.clone());
            }
        }
        // On a `choices: []` chunk, on the finish chunk, or on every chunk:
        // servers differ; the last one wins.
        if let Some(usage) = chunk.usage() {
            self.usage = Some(usage);
        }
        Ok(false)
    }

    /// The body ended before `[DONE]`.
    fn ended_without_done(self) -> Result<Completion, LlmError> {
        if self.events == 0 {
            return Err(protocol(
                "the answer is not an event stream: it has no events",
            ));
        }
        if self.finish_reason.is_some() {
            // The answer is complete; only the terminator is missing.
            return Ok(self.finish());
        }
        let partial = self.output.clone();
        Err(LlmError::new(
            ErrorCode::ConnectionFailed,
            "the stream ended before the answer was complete",
        )
        .with_partial(&partial))
    }

    fn finish(self) -> Completion {
        Completion {
            output: self.output,
            finish_reason: self.finish_reason,
            usage: self.usage,
            latency_ms: elapsed_ms(self.started),
            ttft_ms: self.ttft_ms,
            upstream_id: self.upstream_id,
        }
    }
}
