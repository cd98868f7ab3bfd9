//! Reading a successful answer: one JSON `chat.completion`, or an event
//! stream of `chat.completion.chunk`s whose content is forwarded as it comes.
//!
//! Both are capped: at most `max_output_bytes` of output (the output is cut
//! there, at a character boundary, and kept) and `max_stream_events` events,
//! so an upstream that streams forever ends as `output_too_large` instead of
//! filling memory and then the database. Deltas go out on a bounded channel:
//! a slow consumer slows the reading down, it never grows a buffer.

use reqwest::Response;
use reqwest::header::CONTENT_TYPE;
use serde_json::Value;
use tokio::sync::mpsc::Sender;
use tokio::time::Instant;

use crate::error::{ErrorCode, LlmError, message_from_json, upstream_message};
use crate::provider::Inner;
use crate::sse::{SseDecoder, SseEvent};
use crate::transport::protocol;
use crate::wire::{ToolCallParts, WireResponse};
use crate::{ClientSettings, Completion, Usage};

pub(crate) fn elapsed_ms(since: Instant) -> i64 {
    i64::try_from(since.elapsed().as_millis()).unwrap_or(i64::MAX)
}

/// A non-streamed answer. Its whole text goes out as one delta, so a caller
/// that shows deltas shows it too.
pub(crate) async fn parse_completion(
    body: &[u8],
    started: Instant,
    deltas: Option<&Sender<String>>,
    streamed: bool,
    settings: &ClientSettings,
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
    let mut output = choice.map(|c| c.text()).unwrap_or_default();
    let mut calls = ToolCallParts::default();
    if let Some(pieces) = choice
        .and_then(|c| c.message.as_ref().or(c.delta.as_ref()))
        .and_then(|m| m.tool_calls.as_deref())
    {
        calls.add(pieces);
    }
    let too_large = output.len() > settings.max_output_bytes;
    if too_large {
        output.truncate(floor_char_boundary(&output, settings.max_output_bytes));
    }
    let latency_ms = elapsed_ms(started);
    if let (Some(tx), false) = (deltas, output.is_empty()) {
        // The receiver may be gone: the caller no longer wants deltas.
        let _ = tx.send(output.clone()).await;
    }
    if too_large {
        return Err(output_too_large(settings).with_partial(&output));
    }
    Ok(Completion {
        finish_reason: choice.and_then(|c| c.finish_reason.clone()),
        usage: resp.usage(),
        latency_ms,
        ttft_ms: streamed.then_some(latency_ms),
        upstream_id: resp.id.clone(),
        model: resp.model.clone(),
        system_fingerprint: resp.system_fingerprint.clone(),
        tool_calls: calls.finish(),
        output,
    })
}

fn output_too_large(settings: &ClientSettings) -> LlmError {
    LlmError::new(
        ErrorCode::OutputTooLarge,
        format!(
            "the answer passed the cap of {} bytes of output; it was cut there",
            settings.max_output_bytes
        ),
    )
}

/// The largest index `<= at` that is a character boundary of `s`.
fn floor_char_boundary(s: &str, at: usize) -> usize {
    if at >= s.len() {
        return s.len();
    }
    (0..=at).rev().find(|&i| s.is_char_boundary(i)).unwrap_or(0)
}

impl Inner {
    /// Reads an event stream to `[DONE]`, forwarding each content delta.
    pub(crate) async fn read_stream(
        &self,
        mut resp: Response,
        started: Instant,
        deadline: Instant,
        deltas: Option<&Sender<String>>,
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
            return parse_completion(&body, started, deltas, true, &self.settings).await;
        }
        let mut acc = Accumulator::new(started, &self.settings);
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
                let applied = acc.apply(&ev);
                // What this event added goes out before any error it caused,
                // so a consumer's copy is the partial output too.
                if let (Some(tx), false) = (deltas, acc.fresh.is_empty()) {
                    // The receiver may be gone: the caller no longer wants deltas.
                    let _ = tx.send(std::mem::take(&mut acc.fresh)).await;
                }
                acc.fresh.clear();
                match applied {
                    Ok(true) => return Ok(acc.finish()),
                    Ok(false) => {}
                    Err(e) => return Err(e.with_partial(&acc.output)),
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
    settings: &'a ClientSettings,
    output: String,
    /// Content added by the last event, not yet forwarded.
    fresh: String,
    finish_reason: Option<String>,
    usage: Option<Usage>,
    upstream_id: Option<String>,
    model: Option<String>,
    system_fingerprint: Option<String>,
    tool_calls: ToolCallParts,
    ttft_ms: Option<i64>,
    events: usize,
}

impl<'a> Accumulator<'a> {
    fn new(started: Instant, settings: &'a ClientSettings) -> Self {
        Accumulator {
            started,
            settings,
            output: String::new(),
            fresh: String::new(),
            finish_reason: None,
            usage: None,
            upstream_id: None,
            model: None,
            system_fingerprint: None,
            tool_calls: ToolCallParts::default(),
            ttft_ms: None,
            events: 0,
        }
    }

    /// Takes one event; true at `[DONE]`.
    fn apply(&mut self, ev: &SseEvent) -> Result<bool, LlmError> {
        self.events += 1;
        if self.events > self.settings.max_stream_events {
            return Err(LlmError::new(
                ErrorCode::OutputTooLarge,
                format!(
                    "the answer passed the cap of {} stream events; it was cut there",
                    self.settings.max_stream_events
                ),
            ));
        }
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
        if self.model.is_none() {
            self.model = chunk.model.clone().filter(|m| !m.is_empty());
        }
        if chunk.system_fingerprint.is_some() {
            self.system_fingerprint = chunk.system_fingerprint.clone();
        }
        if let Some(choice) = chunk.choice() {
            if let Some(pieces) = choice.delta.as_ref().and_then(|d| d.tool_calls.as_deref()) {
                if self.ttft_ms.is_none() {
                    self.ttft_ms = Some(elapsed_ms(self.started));
                }
                self.tool_calls.add(pieces);
                if self.tool_calls.bytes + self.output.len() > self.settings.max_output_bytes {
                    return Err(output_too_large(self.settings));
                }
            }
            let text = choice.text();
            if !text.is_empty() {
                if self.ttft_ms.is_none() {
                    self.ttft_ms = Some(elapsed_ms(self.started));
                }
                let room = self.settings.max_output_bytes - self.output.len();
                if text.len() > room {
                    let fits = &text[..floor_char_boundary(&text, room)];
                    self.output.push_str(fits);
                    self.fresh.push_str(fits);
                    return Err(output_too_large(self.settings));
                }
                self.output.push_str(&text);
                self.fresh.push_str(&text);
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
            model: self.model,
            system_fingerprint: self.system_fingerprint,
            tool_calls: self.tool_calls.finish(),
        }
    }
}
