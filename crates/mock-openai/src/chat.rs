//! `POST /v1/chat/completions`: one behaviour, answered as a JSON
//! `chat.completion` or as a `text/event-stream` of `chat.completion.chunk`s.

use std::io;
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use axum::body::{Body, Bytes};
use axum::extract::State;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use futures::StreamExt;
use serde_json::{Value, json};

use crate::behavior::{Behavior, count_tokens, stream_text, tokenize};
use crate::server::{Shared, json_text, openai_error};

/// What the request asked for, as far as the mock cares.
struct Ctx {
    id: String,
    created: u64,
    model: String,
    stream: bool,
    include_usage: bool,
    max_tokens: Option<usize>,
    prompt_words: u32,
    last_user: String,
}

/// Where a streamed answer puts `usage`.
#[derive(Clone, Copy, PartialEq, Eq)]
enum UsageMode {
    /// A last chunk with `choices: []`, when `stream_options.include_usage`.
    FinalChunk,
    /// On the finish chunk (one choice, empty delta), always.
    InChoiceChunk,
    Never,
}

pub(crate) async fn handle(State(shared): State<Arc<Shared>>, body: Bytes) -> Response {
    // Counted until the answer is complete: a stream until its last chunk
    // is sent (or the client goes), any other answer as it is returned
    // (its delays are spent before that).
    let guard = shared.chat_started();
    let answer = answer_chat(&shared, &body).await;
    let streamed = answer
        .headers()
        .get(header::CONTENT_TYPE)
        .is_some_and(|t| t.as_bytes().starts_with(b"text/event-stream"));
    if !streamed {
        return answer;
    }
    let (parts, body) = answer.into_parts();
    // Not counted past `[DONE]`: the client may have its whole answer (and
    // send its next request) before this stream is polled to its end.
    let mut guard = Some(guard);
    let body = body.into_data_stream().map(move |chunk| {
        if let Ok(bytes) = &chunk
            && bytes.ends_with(b"data: [DONE]\n\n")
        {
            drop(guard.take());
        }
        chunk
    });
    Response::from_parts(parts, Body::from_stream(body))
}

async fn answer_chat(shared: &Arc<Shared>, body: &Bytes) -> Response {
    let Ok(req) = serde_json::from_slice::<Value>(body) else {
        return invalid("We could not parse the JSON body of your request.");
    };
    let Some(model) = req.get("model").and_then(Value::as_str) else {
        return invalid("You must provide a model parameter.");
    };
    let Some(messages) = req.get("messages").and_then(Value::as_array) else {
        return invalid("'messages' is a required property.");
    };
    let contents: Vec<(Option<&str>, String)> = messages
        .iter()
        .map(|m| {
            let role = m.get("role").and_then(Value::as_str);
            (role, content_text(m.get("content")))
        })
        .collect();
    let last_user = contents
        .iter()
        .rev()
        .find(|(role, _)| *role == Some("user"))
        .or(contents.last())
        .map(|(_, c)| c.clone())
        .unwrap_or_default();
    let stream = req.get("stream").and_then(Value::as_bool).unwrap_or(false);
    let ctx = Ctx {
        id: format!("chatcmpl-mock-{}", shared.next_id()),
        created: SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_secs()),
        model: model.to_owned(),
        stream,
        include_usage: req
            .pointer("/stream_options/include_usage")
            .and_then(Value::as_bool)
            .unwrap_or(false),
        max_tokens: req
            .get("max_completion_tokens")
            .or_else(|| req.get("max_tokens"))
            .and_then(Value::as_u64)
            .map(|n| usize::try_from(n).unwrap_or(usize::MAX)),
        prompt_words: contents.iter().map(|(_, c)| count_tokens(c)).sum(),
        last_user,
    };
    let behavior = shared.next_behavior(model, stream);
    respond(shared, &ctx, behavior).await
}

/// A message's text: a string, or the `text` of each part of a list.
fn content_text(content: Option<&Value>) -> String {
    match content {
        Some(Value::String(s)) => s.clone(),
        Some(Value::Array(parts)) => parts
            .iter()
            .filter_map(|p| p.get("text").and_then(Value::as_str))
            .collect(),
        _ => String::new(),
    }
}

fn invalid(message: &str) -> Response {
    openai_error(StatusCode::BAD_REQUEST, message, "invalid_request_error")
}

fn shutting_down() -> Response {
    openai_error(
        StatusCode::SERVICE_UNAVAILABLE,
        "The mock server is shutting down.",
        "server_error",
    )
}

async fn respond(shared: &Arc<Shared>, ctx: &Ctx, behavior: Behavior) -> Response {
    let mut b = behavior;
    let mut usage = UsageMode::FinalChunk;
    // Peel the wrappers off first; what is left answers.
    loop {
        match b {
            Behavior::Delay(d, inner) => {
                if !shared.sleep(d).await {
                    return shutting_down();
                }
                b = *inner;
            }
            Behavior::NoUsage(inner) => {
                usage = UsageMode::Never;
                b = *inner;
            }
            _ => break,
        }
    }
    let echo = || format!("Echo: {}", ctx.last_user);
    match b {
        Behavior::Reply {
            text,
            prompt_tokens,
            completion_tokens,
        } => {
            let counts = (prompt_tokens, completion_tokens);
            answer(shared, ctx, &text, counts, Duration::ZERO, usage).await
        }
        Behavior::Echo => answer(shared, ctx, &echo(), (None, None), Duration::ZERO, usage).await,
        Behavior::UsageInLastChoiceChunk => {
            if usage != UsageMode::Never {
                usage = UsageMode::InChoiceChunk;
            }
            answer(shared, ctx, &echo(), (None, None), Duration::ZERO, usage).await
        }
        Behavior::Stream { tokens, interval } => {
            let text = stream_text(tokens);
            answer(shared, ctx, &text, (None, None), interval, usage).await
        }
        Behavior::Status {
            status,
            body,
            retry_after,
        } => status_response(status, body, retry_after),
        Behavior::MalformedJson => json_text(
            StatusCode::OK,
            r#"{"id": "chatcmpl-mock", "choices": [ <html>this is not JSON"#,
        ),
        Behavior::MalformedSse => {
            let steps = vec![
                Step::Send(Bytes::from_static(b": mock-openai\n\n")),
                Step::Send(chunk(ctx, json!({"role": "assistant", "content": ""}), None)),
                Step::Send(chunk(ctx, json!({"content": "Hello "}), None)),
                Step::Send(Bytes::from_static(
                    b"data: {\"id\":\"chatcmpl-mock\",\"choices\":[{\"delta\":{\"content\":\"wor\n\n",
                )),
                Step::Send(Bytes::from_static(b"data: [DONE]\n\n")),
            ];
            event_stream(shared, steps)
        }
        Behavior::DropAfter { tokens } => {
            let pieces = tokenize(&stream_text(tokens));
            if ctx.stream {
                let mut steps = stream_head(ctx);
                for p in pieces {
                    steps.push(Step::Send(chunk(ctx, json!({ "content": p }), None)));
                }
                steps.extend(drop_steps());
                event_stream(shared, steps)
            } else {
                let head = format!(
                    r#"{{"id":"{}","object":"chat.completion","choices":[{{"index":0,"message":{{"role":"assistant","content":"{}"#,
                    ctx.id,
                    pieces.concat()
                );
                let mut steps = vec![Step::Send(Bytes::from(head))];
                steps.extend(drop_steps());
                let mut resp = Body::from_stream(plan_stream(shared, steps)).into_response();
                resp.headers_mut().insert(
                    header::CONTENT_TYPE,
                    HeaderValue::from_static("application/json"),
                );
                resp
            }
        }
        Behavior::Hang => {
            shared.shutting_down().await;
            shutting_down()
        }
        Behavior::Forever { piece } => {
            if ctx.stream {
                let head = stream_head(ctx).into_iter();
                let delta = chunk(ctx, json!({ "content": piece }), None);
                let endless = std::iter::repeat_with(move || Step::Send(delta.clone()));
                event_stream(shared, head.chain(endless))
            } else {
                let head = format!(
                    r#"{{"id":"{}","object":"chat.completion","choices":[{{"index":0,"message":{{"role":"assistant","content":""#,
                    ctx.id
                );
                let piece = Bytes::from(piece);
                let endless = std::iter::repeat_with(move || Step::Send(piece.clone()));
                let steps = std::iter::once(Step::Send(Bytes::from(head))).chain(endless);
                let mut resp = Body::from_stream(plan_stream(shared, steps)).into_response();
                resp.headers_mut().insert(
                    header::CONTENT_TYPE,
                    HeaderValue::from_static("application/json"),
                );
                resp
            }
        }
        Behavior::Redirect { status, location } => {
            let status = StatusCode::from_u16(status).unwrap_or(StatusCode::FOUND);
            let mut resp = status.into_response();
            if let Ok(v) = HeaderValue::from_str(&location) {
                resp.headers_mut().insert(header::LOCATION, v);
            }
            resp
        }
        Behavior::ToolCalls { calls, piece_len } => {
            tool_calls(shared, ctx, &calls, piece_len, usage)
        }
        Behavior::Delay(..) | Behavior::NoUsage(..) => unreachable!("peeled above"),
    }
}

fn status_response(status: u16, body: String, retry_after: Option<u64>) -> Response {
    let status = StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let content_type = if serde_json::from_str::<Value>(&body).is_ok() {
        "application/json"
    } else {
        "text/plain; charset=utf-8"
    };
    let mut resp = (status, [(header::CONTENT_TYPE, content_type)], body).into_response();
    if let Some(secs) = retry_after {
        resp.headers_mut()
            .insert(header::RETRY_AFTER, HeaderValue::from(secs));
    }
    resp
}

/// A successful answer of `text`, streamed `interval` apart or, non-streamed,
/// after `interval` × the number of pieces.
async fn answer(
    shared: &Arc<Shared>,
    ctx: &Ctx,
    text: &str,
    (prompt_tokens, completion_tokens): (Option<u32>, Option<u32>),
    interval: Duration,
    usage: UsageMode,
) -> Response {
    let mut pieces = tokenize(text);
    let mut finish_reason = "stop";
    let mut completion_tokens = completion_tokens;
    if let Some(max) = ctx.max_tokens.filter(|&m| pieces.len() > m) {
        pieces.truncate(max);
        finish_reason = "length";
        completion_tokens = None;
    }
    let text = pieces.concat();
    let prompt = prompt_tokens.unwrap_or(ctx.prompt_words);
    let completion = completion_tokens.unwrap_or_else(|| count_tokens(&text));
    let usage_json = json!({
        "prompt_tokens": prompt,
        "completion_tokens": completion,
        "total_tokens": prompt + completion,
    });

    if !ctx.stream {
        let total = interval.saturating_mul(u32::try_from(pieces.len()).unwrap_or(u32::MAX));
        if !shared.sleep(total).await {
            return shutting_down();
        }
        let mut body = json!({
            "id": ctx.id,
            "object": "chat.completion",
            "created": ctx.created,
            "model": ctx.model,
            "choices": [{
                "index": 0,
                "message": { "role": "assistant", "content": text, "refusal": null },
                "logprobs": null,
                "finish_reason": finish_reason,
            }],
            "system_fingerprint": "fp_mock",
        });
        if usage != UsageMode::Never {
            body["usage"] = usage_json;
        }
        return axum::Json(body).into_response();
    }

    let mut steps = stream_head(ctx);
    for (i, p) in pieces.into_iter().enumerate() {
        if i > 0 && !interval.is_zero() {
            steps.push(Step::Sleep(interval));
        }
        steps.push(Step::Send(chunk(ctx, json!({ "content": p }), None)));
    }
    let mut last = chunk_json(ctx, json!({}), Some(finish_reason));
    if usage == UsageMode::InChoiceChunk {
        last["usage"] = usage_json.clone();
    }
    steps.push(Step::Send(sse(&last)));
    if usage == UsageMode::FinalChunk && ctx.include_usage {
        let mut u = chunk_json(ctx, json!({}), None);
        u["choices"] = json!([]);
        u["usage"] = usage_json;
        steps.push(Step::Send(sse(&u)));
    }
    steps.push(Step::Send(Bytes::from_static(b"data: [DONE]\n\n")));
    event_stream(shared, steps)
}

/// Tool calls, as OpenAI sends them (see [`Behavior::ToolCalls`]).
fn tool_calls(
    shared: &Arc<Shared>,
    ctx: &Ctx,
    calls: &[crate::behavior::MockToolCall],
    piece_len: usize,
    usage: UsageMode,
) -> Response {
    let completion: u32 = calls.iter().map(|c| count_tokens(&c.arguments) + 1).sum();
    let usage_json = json!({
        "prompt_tokens": ctx.prompt_words,
        "completion_tokens": completion,
        "total_tokens": ctx.prompt_words + completion,
    });
    if !ctx.stream {
        let whole: Vec<Value> = calls
            .iter()
            .map(|c| json!({"id": c.id, "type": "function", "function": {"name": c.name, "arguments": c.arguments}}))
            .collect();
        let mut body = json!({
            "id": ctx.id,
            "object": "chat.completion",
            "created": ctx.created,
            "model": ctx.model,
            "choices": [{
                "index": 0,
                "message": { "role": "assistant", "content": null, "tool_calls": whole, "refusal": null },
                "logprobs": null,
                "finish_reason": "tool_calls",
            }],
            "system_fingerprint": "fp_mock",
        });
        if usage != UsageMode::Never {
            body["usage"] = usage_json;
        }
        return axum::Json(body).into_response();
    }
    let mut steps = vec![Step::Send(Bytes::from_static(b": mock-openai\n\n"))];
    for (i, c) in calls.iter().enumerate() {
        let mut open = json!({"tool_calls": [{
            "index": i, "id": c.id, "type": "function",
            "function": {"name": c.name, "arguments": ""}
        }]});
        if i == 0 {
            open["role"] = json!("assistant");
            open["content"] = Value::Null;
        }
        steps.push(Step::Send(chunk(ctx, open, None)));
        for piece in split_bytes(&c.arguments, piece_len.max(1)) {
            let delta = json!({"tool_calls": [{"index": i, "function": {"arguments": piece}}]});
            steps.push(Step::Send(chunk(ctx, delta, None)));
        }
    }
    steps.push(Step::Send(chunk(ctx, json!({}), Some("tool_calls"))));
    if usage == UsageMode::FinalChunk && ctx.include_usage {
        let mut u = chunk_json(ctx, json!({}), None);
        u["choices"] = json!([]);
        u["usage"] = usage_json;
        steps.push(Step::Send(sse(&u)));
    }
    steps.push(Step::Send(Bytes::from_static(b"data: [DONE]\n\n")));
    event_stream(shared, steps)
}

/// `s` in pieces of at most `n` bytes, cut at character boundaries.
fn split_bytes(s: &str, n: usize) -> Vec<String> {
    let mut out = Vec::new();
    let mut current = String::new();
    for c in s.chars() {
        if !current.is_empty() && current.len() + c.len_utf8() > n {
            out.push(std::mem::take(&mut current));
        }
        current.push(c);
    }
    if !current.is_empty() {
        out.push(current);
    }
    out
}

/// A comment line (real servers send them; clients must skip them) and the
/// chunk that opens the assistant message.
fn stream_head(ctx: &Ctx) -> Vec<Step> {
    vec![
        Step::Send(Bytes::from_static(b": mock-openai\n\n")),
        Step::Send(chunk(
            ctx,
            json!({"role": "assistant", "content": ""}),
            None,
        )),
    ]
}

fn chunk_json(ctx: &Ctx, delta: Value, finish_reason: Option<&str>) -> Value {
    json!({
        "id": ctx.id,
        "object": "chat.completion.chunk",
        "created": ctx.created,
        "model": ctx.model,
        "system_fingerprint": "fp_mock",
        "choices": [{ "index": 0, "delta": delta, "logprobs": null, "finish_reason": finish_reason }],
    })
}

fn chunk(ctx: &Ctx, delta: Value, finish_reason: Option<&str>) -> Bytes {
    sse(&chunk_json(ctx, delta, finish_reason))
}

fn sse(v: &Value) -> Bytes {
    Bytes::from(format!("data: {v}\n\n"))
}

/// One step of a scripted response body.
enum Step {
    Send(Bytes),
    Sleep(Duration),
    /// End the body with an error: hyper then closes the connection without
    /// finishing the response.
    Drop,
}

/// A pause, so what was sent reaches the client (hyper would otherwise
/// abort the connection before flushing it), then the drop.
fn drop_steps() -> [Step; 2] {
    [Step::Sleep(Duration::from_millis(20)), Step::Drop]
}

fn event_stream(
    shared: &Arc<Shared>,
    steps: impl IntoIterator<Item = Step, IntoIter: Send + 'static>,
) -> Response {
    let mut resp = Body::from_stream(plan_stream(shared, steps)).into_response();
    let h = resp.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/event-stream"),
    );
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    resp
}

/// The steps as a body stream; shutting the mock down ends it abruptly.
fn plan_stream(
    shared: &Arc<Shared>,
    steps: impl IntoIterator<Item = Step, IntoIter: Send + 'static>,
) -> impl futures::Stream<Item = io::Result<Bytes>> + Send + 'static {
    let rx = shared.shutdown_receiver();
    let steps: Box<dyn Iterator<Item = Step> + Send> = Box::new(steps.into_iter());
    futures::stream::unfold((steps, rx), |(mut steps, mut rx)| async move {
        loop {
            let err = match steps.next()? {
                Step::Send(bytes) => return Some((Ok(bytes), (steps, rx))),
                Step::Sleep(d) => {
                    tokio::select! {
                        () = tokio::time::sleep(d) => continue,
                        _ = rx.wait_for(|stop| *stop) => io::Error::other("mock shutting down"),
                    }
                }
                Step::Drop => io::Error::other("mock dropped the connection"),
            };
            let done: Box<dyn Iterator<Item = Step> + Send> = Box::new(std::iter::empty());
            return Some((Err(err), (done, rx)));
        }
    })
}
