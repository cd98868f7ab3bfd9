//! Test runs against the mock OpenAI server, on both backends: success
//! streamed and not and what is sent upstream ([`lifecycle`]), every upstream
//! failure, cancel, the cap, disconnects and shutdown ([`failures`]), history
//! and interrupted runs ([`history`]), the model list ([`models`]), and the
//! API key kept out of answers, rows and logs ([`secrets`]). The helpers here
//! start runs and read Server-Sent Events as they arrive.

mod failures;
mod history;
mod lifecycle;
mod limits;
mod models;
mod recipe;
mod secrets;

use std::time::{Duration, Instant};

use futures::StreamExt;
use promptrefine_llm::sse::{SseDecoder, SseEvent};
use serde_json::Value;

use crate::helpers::TestApp;

pub(crate) async fn text_prompt(app: &TestApp, body: &str) -> (String, String) {
    let p = app.create_prompt("Greeter", Some(body)).await;
    (
        p["id"].as_str().unwrap().to_string(),
        p["currentVersion"]["id"].as_str().unwrap().to_string(),
    )
}

pub(crate) async fn run(app: &TestApp, body: Value) -> Value {
    let (status, json) = app.post("/api/test-runs", body).await;
    assert_eq!(status, 201, "{json}");
    json["data"].clone()
}

/// One Server-Sent Event: its name and its data as JSON.
#[derive(Debug)]
pub(crate) struct Sse {
    pub event: String,
    pub data: Value,
}

/// Reads events off a streamed response as they arrive, with the product's
/// own decoder (`promptrefine_llm::sse`), not a second parser.
pub(crate) struct SseReader {
    body: futures::stream::BoxStream<'static, reqwest::Result<bytes::Bytes>>,
    decoder: SseDecoder,
    ready: std::collections::VecDeque<SseEvent>,
    ended: bool,
}

impl SseReader {
    pub(crate) fn new(res: reqwest::Response) -> SseReader {
        assert_eq!(res.status(), 200);
        let ct = res.headers()["content-type"].to_str().unwrap().to_string();
        assert!(ct.starts_with("text/event-stream"), "{ct}");
        SseReader {
            body: res.bytes_stream().boxed(),
            decoder: SseDecoder::default(),
            ready: Default::default(),
            ended: false,
        }
    }

    /// The id of the run, from the stream's first event (`started`).
    pub(crate) async fn run_id(&mut self) -> String {
        let first = self.next().await.expect("a first event");
        first.data["id"].as_str().expect("the run's id").to_string()
    }

    pub(crate) async fn next(&mut self) -> Option<Sse> {
        loop {
            if let Some(e) = self.ready.pop_front() {
                let data = serde_json::from_str(&e.data()).expect("event data is JSON");
                let event = e.event.unwrap_or_else(|| "message".to_owned());
                return Some(Sse { event, data });
            }
            if self.ended {
                return None;
            }
            let mut out = Vec::new();
            match self.body.next().await {
                Some(chunk) => self
                    .decoder
                    .push(&chunk.expect("the stream reads"), &mut out)
                    .expect("a well-formed event stream"),
                None => {
                    self.ended = true;
                    self.decoder
                        .finish(&mut out)
                        .expect("a well-formed event stream");
                }
            }
            self.ready.extend(out);
        }
    }

    pub(crate) async fn all(mut self) -> Vec<Sse> {
        let mut out = Vec::new();
        while let Some(e) = self.next().await {
            out.push(e);
        }
        out
    }
}

pub(crate) async fn stream(app: &TestApp, body: Value) -> SseReader {
    let res = app
        .api
        .post(app.url("/api/test-runs"))
        .json(&body)
        .send()
        .await
        .unwrap();
    SseReader::new(res)
}

/// Polls until `check` holds, for up to ten seconds.
pub(crate) async fn eventually<F, Fut>(what: &str, mut check: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let deadline = Instant::now() + Duration::from_secs(10);
    while !check().await {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
}
