//! What [`crate::App::start_run`] hands back: the run as stored when it
//! started, its output as a stream of [`RunEvent`]s, and its outcome.
//!
//! The events never make the run wait. The run's task appends each delta to
//! a buffer and wakes the listener, which takes everything pending at once:
//! a listener that keeps up sees every delta as it came, a slow one (a slow
//! SSE client) sees them coalesced into fewer, larger deltas. The buffer is
//! bounded by the cap on a run's output (`ClientSettings::max_output_bytes`),
//! nothing is dropped, and the stored output is always complete. Without a
//! listener (the events were dropped, as a caller that only wants the
//! outcome does) nothing is buffered at all: a flag is read per delta.

use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::task::{Context, Poll};

use futures::Stream;
use futures::stream::BoxStream;
use promptrefine_core::Run;
use tokio::sync::Notify;
use tokio::task::JoinHandle;

use crate::error::{AppError, Result};

/// What a listener sees while a run is in flight.
#[derive(Clone, Debug, PartialEq)]
pub enum RunEvent {
    /// Output, in order. The concatenation of all deltas is the output.
    Delta(String),
}

/// A started run. Dropping any part of it stops nothing: the run goes on,
/// is stored when it ends and releases its permit (cancel with
/// [`crate::App::cancel_run`]).
pub struct RunHandle {
    /// The run as stored when it started (`running`).
    pub run: Run,
    /// Its output as it arrives; ends when the run ends.
    pub events: RunEvents,
    /// The stored, finished run (any final status).
    pub done: RunDone,
}

impl std::fmt::Debug for RunHandle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RunHandle")
            .field("run", &self.run.id)
            .finish_non_exhaustive()
    }
}

struct Feed {
    pending: Mutex<Pending>,
    notify: Notify,
    listening: AtomicBool,
}

#[derive(Default)]
struct Pending {
    text: String,
    closed: bool,
}

impl Feed {
    fn lock(&self) -> std::sync::MutexGuard<'_, Pending> {
        // A push or a take cannot leave the buffer half-written.
        self.pending.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// The run task's end of the feed. Dropping it ends the events.
pub(super) struct FeedSender(Arc<Feed>);

impl FeedSender {
    pub(super) fn push(&self, delta: &str) {
        if delta.is_empty() || !self.0.listening.load(Ordering::Relaxed) {
            return;
        }
        self.0.lock().text.push_str(delta);
        self.0.notify.notify_one();
    }
}

impl Drop for FeedSender {
    fn drop(&mut self) {
        self.0.lock().closed = true;
        self.0.notify.notify_one();
    }
}

/// The listener's end: a [`Stream`] of [`RunEvent`]s.
pub struct RunEvents {
    feed: Arc<Feed>,
    stream: BoxStream<'static, RunEvent>,
}

pub(super) fn feed() -> (FeedSender, RunEvents) {
    let feed = Arc::new(Feed {
        pending: Mutex::new(Pending::default()),
        notify: Notify::new(),
        listening: AtomicBool::new(true),
    });
    let stream = futures::stream::unfold(feed.clone(), |feed| async move {
        next(&feed).await.map(|ev| (ev, feed))
    });
    let events = RunEvents {
        feed: feed.clone(),
        stream: Box::pin(stream),
    };
    (FeedSender(feed), events)
}

async fn next(feed: &Feed) -> Option<RunEvent> {
    loop {
        // Registered before the check, so a push in between is not missed
        // (`notify_one` also keeps a permit when nobody waits).
        let notified = feed.notify.notified();
        {
            let mut pending = feed.lock();
            if !pending.text.is_empty() {
                return Some(RunEvent::Delta(std::mem::take(&mut pending.text)));
            }
            if pending.closed {
                return None;
            }
        }
        notified.await;
    }
}

impl Stream for RunEvents {
    type Item = RunEvent;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<RunEvent>> {
        self.stream.as_mut().poll_next(cx)
    }
}

impl Drop for RunEvents {
    fn drop(&mut self) {
        self.feed.listening.store(false, Ordering::Relaxed);
        self.feed.lock().text = String::new();
    }
}

/// The outcome of a run: a future of the stored, finished run.
pub struct RunDone(Inner);

enum Inner {
    Task(JoinHandle<Result<Run>>),
    Ready(Option<Box<Result<Run>>>),
}

impl RunDone {
    pub(super) fn task(task: JoinHandle<Result<Run>>) -> RunDone {
        RunDone(Inner::Task(task))
    }

    pub(super) fn ready(result: Result<Run>) -> RunDone {
        RunDone(Inner::Ready(Some(Box::new(result))))
    }
}

impl Future for RunDone {
    type Output = Result<Run>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Result<Run>> {
        match &mut self.0 {
            Inner::Task(task) => Pin::new(task).poll(cx).map(|joined| {
                joined.unwrap_or_else(|e| {
                    Err(AppError::Internal(format!("the run task failed: {e}")))
                })
            }),
            Inner::Ready(result) => Poll::Ready(result.take().map_or_else(
                || Err(AppError::Internal("polled after completion".into())),
                |r| *r,
            )),
        }
    }
}

#[cfg(test)]
mod tests {
    use futures::StreamExt;

    use super::*;

    #[tokio::test]
    async fn a_slow_listener_gets_everything_coalesced_and_a_fast_one_each_delta() {
        let (tx, mut events) = feed();
        tx.push("a");
        assert_eq!(events.next().await, Some(RunEvent::Delta("a".into())));
        // Nobody reads while these arrive: they wait as one.
        for d in ["b", "c", "d"] {
            tx.push(d);
        }
        assert_eq!(events.next().await, Some(RunEvent::Delta("bcd".into())));
        drop(tx);
        assert_eq!(events.next().await, None);
    }

    #[tokio::test]
    async fn without_a_listener_nothing_is_buffered() {
        let (tx, events) = feed();
        let feed = events.feed.clone();
        drop(events);
        tx.push(&"x".repeat(1 << 20));
        assert!(feed.lock().text.is_empty());
    }

    #[tokio::test]
    async fn the_events_end_when_the_run_does() {
        let (tx, events) = feed();
        let reader = tokio::spawn(events.collect::<Vec<_>>());
        tx.push("one ");
        tokio::task::yield_now().await;
        tx.push("two");
        drop(tx);
        let all = reader.await.unwrap();
        let text: String = all.into_iter().map(|RunEvent::Delta(d)| d).collect();
        assert_eq!(text, "one two");
    }
}
