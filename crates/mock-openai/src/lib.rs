//! A scriptable OpenAI-compatible server on loopback, for tests, demos and
//! benchmarks: real HTTP (axum), real SSE framing, scripted faults.
//!
//! ```no_run
//! # async fn demo() {
//! use promptrefine_mock_openai::{Behavior, MockOpenAi};
//!
//! let mock = MockOpenAi::start().await; // 127.0.0.1, a free port
//! let base = mock.base_url(); // "http://127.0.0.1:PORT/v1"
//! mock.enqueue(Behavior::error(429)); // the next chat request gets a 429
//! // … point a client at `base` …
//! let sent = mock.chat_requests(); // what the client really sent
//! # }
//! ```
//!
//! # Routes
//!
//! - `POST /v1/chat/completions`: a JSON `chat.completion` with `usage`, or,
//!   with `"stream": true`, a `text/event-stream` of `chat.completion.chunk`
//!   events (`data: {json}\n\n`, one leading `: comment` line, ending with
//!   `data: [DONE]\n\n`). With `stream_options.include_usage` a last chunk has
//!   `choices: []` and `usage`. `max_tokens` (or `max_completion_tokens`)
//!   truncates the answer to that many words with `finish_reason: "length"`.
//! - `GET /v1/models`: `{object:"list", data:[{id, object:"model", created, owned_by}]}`,
//!   by default `mock-echo`, `mock-slow`, `gpt-4o-mini` (see
//!   [`MockOpenAi::set_models`], [`MockOpenAi::fail_models`]).
//! - Anything else: 404 with an OpenAI-shaped error body.
//!
//! # Choosing a behaviour
//!
//! Each chat request takes, in this order: the next [`Behavior`] from the FIFO
//! queue ([`MockOpenAi::enqueue`]); else the behaviour its magic model name
//! selects; else the default ([`MockOpenAi::set_default`], initially
//! [`Behavior::Echo`]). Magic model names let browser tests, demos and
//! benchmarks trigger faults without code:
//!
//! | model | behaviour |
//! |---|---|
//! | `mock-echo`, any other name | the default (`Echo: ` + the last user message) |
//! | `mock-slow` | `Stream { tokens: 20, interval: 150ms }` |
//! | `mock-stream-{N}x{MS}ms` | `Stream { tokens: N, interval: MS ms }` |
//! | `mock-error-{400..599}` | that status, OpenAI error body; 429 has `retry-after: 1` |
//! | `mock-garbage` | `MalformedSse` when streaming, else `MalformedJson` |
//! | `mock-drop` | `DropAfter { tokens: 3 }` |
//! | `mock-hang` | `Hang` |
//! | `mock-no-usage` | `NoUsage(Echo)` |
//! | `mock-usage-in-choice` | `UsageInLastChoiceChunk` |
//! | `mock-tool-calls` | `ToolCalls`: `get_weather` and `get_time`, arguments in 5-byte pieces |
//! | `mock-forever` | `Forever { piece: "lorem ipsum " }` (never ends) |
//!
//! Token usage is deterministic: the prompt counts the whitespace-separated
//! words of all message contents, the completion the words it answers
//! ([`count_tokens`]).
//!
//! Every request is recorded, its JSON body included, ([`MockOpenAi::requests`]) before it is answered,
//! so hanging and failing requests are recorded too.
//!
//! Connections are tokio tasks (no thread per connection): a thousand
//! concurrent streams are fine.

mod behavior;
mod chat;
mod server;

use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::serve::ListenerExt;
use tokio::net::TcpListener;
use tokio::task::JoinHandle;

pub use behavior::{Behavior, MockToolCall, count_tokens, stream_text};
pub use server::RecordedRequest;
use server::Shared;

/// A running mock server. Shuts down when dropped.
pub struct MockOpenAi {
    addr: SocketAddr,
    shared: Arc<Shared>,
    task: Option<JoinHandle<io::Result<()>>>,
}

impl std::fmt::Debug for MockOpenAi {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MockOpenAi")
            .field("addr", &self.addr)
            .finish()
    }
}

impl MockOpenAi {
    /// Starts a mock on `127.0.0.1` and a free port.
    ///
    /// # Panics
    /// When no loopback port can be bound: a test cannot go on without one.
    pub async fn start() -> MockOpenAi {
        Self::start_on(SocketAddr::from(([127, 0, 0, 1], 0)))
            .await
            .expect("bind the mock OpenAI server to 127.0.0.1:0")
    }

    /// Starts a mock on `addr` (port 0 picks a free one).
    pub async fn start_on(addr: SocketAddr) -> io::Result<MockOpenAi> {
        let listener = TcpListener::bind(addr).await?;
        let addr = listener.local_addr()?;
        let shared = Arc::new(Shared::new());
        let task = tokio::spawn(run(listener, shared.clone(), std::future::pending()));
        Ok(MockOpenAi {
            addr,
            shared,
            task: Some(task),
        })
    }

    /// `http://127.0.0.1:PORT/v1`: what a client takes as its base URL.
    pub fn base_url(&self) -> String {
        format!("http://{}/v1", self.addr)
    }

    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Queues a behaviour for the next chat request that finds the queue
    /// non-empty (one behaviour per request, first in first out).
    pub fn enqueue(&self, behavior: Behavior) {
        self.shared.enqueue(behavior);
    }

    /// The behaviour for chat requests when the queue is empty and the model
    /// name is not magic.
    pub fn set_default(&self, behavior: Behavior) {
        self.shared.set_default(behavior);
    }

    /// Every request received so far (the oldest are forgotten past 10,000).
    pub fn requests(&self) -> Vec<RecordedRequest> {
        self.shared.requests()
    }

    /// The recorded `POST /v1/chat/completions` requests.
    pub fn chat_requests(&self) -> Vec<RecordedRequest> {
        let mut all = self.requests();
        all.retain(|r| r.method == "POST" && r.path == "/v1/chat/completions");
        all
    }

    /// The most chat requests answered at once since the start or the last
    /// [`Self::reset`] (a streamed answer counts until its last chunk): what
    /// a test checks a client's concurrency cap against.
    pub fn peak_chats_in_flight(&self) -> u64 {
        self.shared.chats_peak()
    }

    /// Back to the state at start: no recorded requests, an empty queue, the
    /// `Echo` default, the default models, models not failing, the peak of
    /// chats in flight counted again from those in flight now.
    pub fn reset(&self) {
        self.shared.reset();
    }

    /// The model ids `GET /v1/models` lists.
    pub fn set_models(&self, models: Vec<String>) {
        self.shared.set_models(models);
    }

    /// When set, `GET /v1/models` answers 401 unless the request carries
    /// `Authorization: Bearer KEY` (a connection test with a wrong key).
    pub fn require_models_key(&self, key: Option<&str>) {
        self.shared.require_models_key(key.map(str::to_owned));
    }

    /// When true, `GET /v1/models` answers 500.
    pub fn fail_models(&self, fail: bool) {
        self.shared.fail_models(fail);
    }

    /// Stops accepting, ends streams and hanging requests, and waits (up to
    /// five seconds) for the connections to close.
    pub async fn shutdown(mut self) {
        self.shared.begin_shutdown();
        if let Some(task) = self.task.take() {
            let _ = tokio::time::timeout(Duration::from_secs(5), task).await;
        }
    }
}

impl Drop for MockOpenAi {
    fn drop(&mut self) {
        self.shared.begin_shutdown();
    }
}

/// Serves a fresh mock (default behaviours, magic model names) on `listener`
/// until `shutdown` resolves: what `promptrefine mock-llm --port N` runs in
/// the foreground.
pub async fn serve(
    listener: TcpListener,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> io::Result<()> {
    run(listener, Arc::new(Shared::new()), shutdown).await
}

async fn run(
    listener: TcpListener,
    shared: Arc<Shared>,
    external_shutdown: impl Future<Output = ()> + Send + 'static,
) -> io::Result<()> {
    let app = server::router(shared.clone());
    // Token chunks are tiny writes: without NODELAY, Nagle would hold them back.
    let listener = listener.tap_io(|tcp| {
        let _ = tcp.set_nodelay(true);
    });
    let signal = async move {
        tokio::select! {
            () = external_shutdown => {},
            () = shared.shutting_down() => {},
        }
        // Ends open streams and hanging requests, so the graceful shutdown
        // does not wait for them.
        shared.begin_shutdown();
    };
    axum::serve(listener, app)
        .with_graceful_shutdown(signal)
        .await
}
