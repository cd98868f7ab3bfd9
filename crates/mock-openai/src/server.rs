//! Shared state, the router, request recording and the small endpoints.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::{Request, State};
use axum::http::{StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use serde_json::{Value, json};
use tokio::sync::watch;

use crate::behavior::{Behavior, error_body};
use crate::chat;

/// Request bodies above this are refused (413) rather than recorded.
const MAX_BODY_BYTES: usize = 16 * 1024 * 1024;
/// The oldest recorded requests are forgotten beyond this, so a long
/// benchmark does not grow without bound.
const MAX_RECORDED: usize = 10_000;

/// The models `GET /v1/models` lists until `set_models` changes them.
pub(crate) fn default_models() -> Vec<String> {
    ["mock-echo", "mock-slow", "gpt-4o-mini"]
        .map(String::from)
        .to_vec()
}

/// One request as the mock received it.
#[derive(Clone, Debug, PartialEq)]
pub struct RecordedRequest {
    pub method: String,
    /// The path without the query string, e.g. `/v1/chat/completions`.
    pub path: String,
    /// Every header, names lowercased, in the order received.
    pub headers: Vec<(String, String)>,
    /// The body as JSON; `Null` when empty, a JSON string when not JSON.
    pub body: Value,
}

impl RecordedRequest {
    /// The first value of a header (name matched case-insensitively).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

struct MockState {
    queue: VecDeque<Behavior>,
    default: Behavior,
    requests: VecDeque<RecordedRequest>,
    models: Vec<String>,
    fail_models: bool,
    /// When set, `GET /v1/models` answers 401 unless sent `Bearer` this.
    models_key: Option<String>,
}

impl MockState {
    fn new() -> Self {
        MockState {
            queue: VecDeque::new(),
            default: Behavior::Echo,
            requests: VecDeque::new(),
            models: default_models(),
            fail_models: false,
            models_key: None,
        }
    }
}

/// Everything the handlers and the `MockOpenAi` handle share.
pub(crate) struct Shared {
    state: Mutex<MockState>,
    shutdown: watch::Sender<bool>,
    next_id: AtomicU64,
    /// Chat requests being answered now (a stream until its body ends),
    /// and the most there have been at once since the last reset.
    chats_now: AtomicU64,
    chats_peak: AtomicU64,
}

impl Shared {
    pub(crate) fn new() -> Self {
        Shared {
            state: Mutex::new(MockState::new()),
            shutdown: watch::channel(false).0,
            next_id: AtomicU64::new(1),
            chats_now: AtomicU64::new(0),
            chats_peak: AtomicU64::new(0),
        }
    }

    /// Counts a chat request as being answered until the guard drops.
    pub(crate) fn chat_started(self: &Arc<Self>) -> ChatGuard {
        let now = self.chats_now.fetch_add(1, Ordering::SeqCst) + 1;
        self.chats_peak.fetch_max(now, Ordering::SeqCst);
        ChatGuard(self.clone())
    }

    pub(crate) fn chats_peak(&self) -> u64 {
        self.chats_peak.load(Ordering::SeqCst)
    }

    fn lock(&self) -> MutexGuard<'_, MockState> {
        // A panicking test thread must not make every later call panic too.
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    pub(crate) fn enqueue(&self, b: Behavior) {
        self.lock().queue.push_back(b);
    }

    pub(crate) fn set_default(&self, b: Behavior) {
        self.lock().default = b;
    }

    pub(crate) fn set_models(&self, models: Vec<String>) {
        self.lock().models = models;
    }

    pub(crate) fn fail_models(&self, fail: bool) {
        self.lock().fail_models = fail;
    }

    pub(crate) fn require_models_key(&self, key: Option<String>) {
        self.lock().models_key = key;
    }

    pub(crate) fn requests(&self) -> Vec<RecordedRequest> {
        self.lock().requests.iter().cloned().collect()
    }

    pub(crate) fn reset(&self) {
        *self.lock() = MockState::new();
        self.chats_peak
            .store(self.chats_now.load(Ordering::SeqCst), Ordering::SeqCst);
    }

    fn record(&self, r: RecordedRequest) {
        let mut st = self.lock();
        if st.requests.len() >= MAX_RECORDED {
            st.requests.pop_front();
        }
        st.requests.push_back(r);
    }

    /// The queued behaviour, else the one the model name selects, else the
    /// default.
    pub(crate) fn next_behavior(&self, model: &str, streaming: bool) -> Behavior {
        let mut st = self.lock();
        st.queue
            .pop_front()
            .or_else(|| Behavior::for_model(model, streaming))
            .unwrap_or_else(|| st.default.clone())
    }

    pub(crate) fn next_id(&self) -> u64 {
        self.next_id.fetch_add(1, Ordering::Relaxed)
    }

    pub(crate) fn begin_shutdown(&self) {
        self.shutdown.send_replace(true);
    }

    pub(crate) fn shutdown_receiver(&self) -> watch::Receiver<bool> {
        self.shutdown.subscribe()
    }

    /// Resolves once shutdown has begun.
    pub(crate) async fn shutting_down(&self) {
        let mut rx = self.shutdown.subscribe();
        // An error means the sender is gone, which is a shutdown as well.
        let _ = rx.wait_for(|stop| *stop).await;
    }

    /// Sleeps `d`; false when shutdown began first.
    pub(crate) async fn sleep(&self, d: Duration) -> bool {
        if d.is_zero() {
            return true;
        }
        tokio::select! {
            () = tokio::time::sleep(d) => true,
            () = self.shutting_down() => false,
        }
    }
}

pub(crate) fn router(shared: Arc<Shared>) -> Router {
    Router::new()
        .route("/v1/chat/completions", post(chat::handle))
        .route("/v1/models", get(models))
        .fallback(not_found)
        .layer(middleware::from_fn_with_state(shared.clone(), record))
        .with_state(shared)
}

/// Records every request (whatever its route) before it is answered, so a
/// request that hangs or fails is recorded too.
async fn record(State(shared): State<Arc<Shared>>, req: Request, next: Next) -> Response {
    let (parts, body) = req.into_parts();
    let Ok(bytes) = axum::body::to_bytes(body, MAX_BODY_BYTES).await else {
        return openai_error(
            StatusCode::PAYLOAD_TOO_LARGE,
            "The request body is too large.",
            "invalid_request_error",
        );
    };
    let body = if bytes.is_empty() {
        Value::Null
    } else {
        serde_json::from_slice(&bytes)
            .unwrap_or_else(|_| Value::String(String::from_utf8_lossy(&bytes).into_owned()))
    };
    shared.record(RecordedRequest {
        method: parts.method.to_string(),
        path: parts.uri.path().to_owned(),
        headers: parts
            .headers
            .iter()
            .map(|(n, v)| {
                let value = String::from_utf8_lossy(v.as_bytes()).into_owned();
                (n.as_str().to_owned(), value)
            })
            .collect(),
        body,
    });
    next.run(Request::from_parts(parts, Body::from(bytes)))
        .await
}

async fn models(State(shared): State<Arc<Shared>>, headers: axum::http::HeaderMap) -> Response {
    let (models, fail, key) = {
        let st = shared.lock();
        (st.models.clone(), st.fail_models, st.models_key.clone())
    };
    if let Some(key) = key {
        let sent = headers
            .get(axum::http::header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok());
        if sent != Some(format!("Bearer {key}").as_str()) {
            return openai_error(
                StatusCode::UNAUTHORIZED,
                "Incorrect API key provided.",
                "invalid_request_error",
            );
        }
    }
    if fail {
        return openai_error(
            StatusCode::INTERNAL_SERVER_ERROR,
            "The server had an error while listing models.",
            "server_error",
        );
    }
    let data: Vec<Value> = models
        .iter()
        .map(|id| json!({ "id": id, "object": "model", "created": 1_700_000_000, "owned_by": "mock-openai" }))
        .collect();
    axum::Json(json!({ "object": "list", "data": data })).into_response()
}

async fn not_found(req: Request) -> Response {
    let message = format!(
        "Unknown request URL: {} {}.",
        req.method(),
        req.uri().path()
    );
    openai_error(StatusCode::NOT_FOUND, &message, "invalid_request_error")
}

/// A response with an OpenAI-shaped error body.
pub(crate) fn openai_error(status: StatusCode, message: &str, kind: &str) -> Response {
    json_text(status, error_body(message, kind, None, None))
}

/// A response whose body is already JSON text.
pub(crate) fn json_text(status: StatusCode, body: impl Into<Bytes>) -> Response {
    (
        status,
        [(header::CONTENT_TYPE, "application/json")],
        body.into(),
    )
        .into_response()
}

/// A chat request being answered (see [`Shared::chat_started`]).
pub(crate) struct ChatGuard(Arc<Shared>);

impl Drop for ChatGuard {
    fn drop(&mut self) {
        self.0.chats_now.fetch_sub(1, Ordering::SeqCst);
    }
}
