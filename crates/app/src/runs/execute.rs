//! The spawned half of a run: store it, call upstream while relaying deltas
//! and watching for a cancel, then store the outcome — whatever happens to
//! the request that started it. See the lifecycle in the parent module.

use std::panic::AssertUnwindSafe;
use std::sync::Arc;
use std::time::Duration;

use futures::FutureExt;
use promptrefine_core::{Run, RunStatus};
use promptrefine_llm::tokens::estimate_usage;
use promptrefine_llm::{ChatRequest, Completion, LlmError, PriceTable, Usage};
use promptrefine_store::{RunOutcome, Store};
use tokio::sync::mpsc;
use tokio::sync::{OwnedSemaphorePermit, oneshot};
use tokio::task::JoinHandle;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;
use tracing::Instrument;

use super::RunPlan;
use super::handle::FeedSender;
use super::observer::RunObserver;
use super::service::RunService;
use crate::error::{AppError, Result};

/// Deltas buffered between the upstream reader and the run's task. The task
/// only appends them to the output and the feed, so a few suffice.
const UPSTREAM_DELTAS: usize = 32;

/// Where a run's task reports to: the run as started (once), its deltas,
/// and, when it is stored, the observer.
pub(super) struct Listeners {
    pub started: oneshot::Sender<Run>,
    pub feed: FeedSender,
    pub observer: Option<Arc<dyn RunObserver>>,
    /// Told the provider's `Retry-After` when the call failed with one (the
    /// experiment engine's rate limiter listens).
    pub retry_after: Option<oneshot::Sender<Duration>>,
}

/// Attempts at writing an outcome before giving up (the run then stays
/// `running` until the next start-up marks it `interrupted`).
const FINISH_ATTEMPTS: u32 = 5;
const FINISH_BACKOFF: Duration = Duration::from_millis(200);

impl RunService {
    /// Spawns the run. The task owns the permit and releases it only after
    /// the outcome is stored; dropping the handle does not stop the run.
    pub(super) fn launch(
        self: &Arc<Self>,
        store: Store,
        plan: RunPlan,
        permit: OwnedSemaphorePermit,
        listeners: Listeners,
    ) -> JoinHandle<Result<Run>> {
        let id = plan.new.id;
        let cancel = CancellationToken::new();
        // Registered before the task exists, so a cancel can never miss it.
        let done = self.register(id, cancel.clone());
        let service = self.clone();
        let Listeners {
            started,
            feed,
            observer,
            retry_after,
        } = listeners;
        let span = tracing::info_span!("run", run_id = %id, provider = %plan.new.provider, model = %plan.new.model);
        tokio::spawn(
            async move {
                let own_prices = plan.prices.clone();
                let body = execute(
                    &store,
                    own_prices.as_deref().unwrap_or(&service.prices),
                    plan,
                    cancel,
                    started,
                    feed,
                    retry_after,
                );
                let result = match AssertUnwindSafe(body).catch_unwind().await {
                    Ok(result) => result,
                    Err(_) => {
                        tracing::error!("the run task panicked");
                        let outcome = RunOutcome {
                            status: Some(RunStatus::Failed),
                            error_code: Some("internal".into()),
                            error_message: Some("the run failed unexpectedly".into()),
                            ..Default::default()
                        };
                        finish(&store, id, &outcome).await
                    }
                };
                // In this order, so whoever hears `done` finds the run
                // stored and its permit back.
                service.unregister(id);
                drop(permit);
                let _ = done.send(true);
                if let (Some(observer), Ok(run)) = (observer, &result) {
                    observer.run_finished(run);
                }
                result
            }
            .instrument(span),
        )
    }
}

/// How the upstream call ended.
enum Ended {
    Done(std::result::Result<Completion, LlmError>),
    Cancelled,
}

async fn execute(
    store: &Store,
    prices: &PriceTable,
    plan: RunPlan,
    cancel: CancellationToken,
    started_tx: oneshot::Sender<Run>,
    feed: FeedSender,
    retry_after: Option<oneshot::Sender<Duration>>,
) -> Result<Run> {
    let id = plan.new.id;
    let mut plan = plan;
    // The body is stored as the exact text the provider sends (a replay
    // brings its own), so the run shows, and can repeat, what went out.
    plan.new.request_body = Some(plan.request.body_text());
    let started_run = store.runs().start(&plan.new).await?;
    // The starter may be gone (its request was dropped): the run goes on.
    let _ = started_tx.send(started_run);
    tracing::info!(messages = plan.request.messages.len(), "run started");

    let started = Instant::now();
    let (tx, mut rx) = mpsc::channel::<String>(UPSTREAM_DELTAS);
    // Boxed so it can be dropped (closing the upstream connection) as soon
    // as the run is cancelled, before the outcome is written.
    let mut call = Box::pin(plan.provider.chat(&plan.request, Some(tx)));
    let mut output = String::new();
    let mut ttft_ms = None;
    let ended = loop {
        tokio::select! {
            biased;
            () = cancel.cancelled() => break Ended::Cancelled,
            Some(delta) = rx.recv() => {
                ttft_ms.get_or_insert_with(|| elapsed_ms(started));
                relay(&feed, &mut output, &delta);
            }
            result = &mut call => break Ended::Done(result),
        }
    };
    drop(call);
    // Deltas sent just before the call returned (or was dropped) still count.
    while let Ok(delta) = rx.try_recv() {
        ttft_ms.get_or_insert_with(|| elapsed_ms(started));
        relay(&feed, &mut output, &delta);
    }
    let latency_ms = Some(elapsed_ms(started));

    let outcome = match ended {
        Ended::Done(Ok(c)) => {
            // Several compatible servers send no usage in a stream: count
            // the tokens here instead, and say they are counted.
            let tokens_estimated = c.usage.is_none();
            let usage = match c.usage {
                Some(usage) => usage,
                None => estimate_off_thread(&plan.request, &c.output).await,
            };
            RunOutcome {
                status: Some(RunStatus::Succeeded),
                cost_micro_usd: prices.cost_micro_usd(
                    &plan.new.model,
                    usage.prompt_tokens,
                    usage.completion_tokens,
                ),
                prompt_tokens: Some(usage.prompt_tokens),
                completion_tokens: Some(usage.completion_tokens),
                total_tokens: Some(usage.total_tokens),
                tokens_estimated,
                output: c.output,
                finish_reason: c.finish_reason,
                latency_ms: Some(c.latency_ms),
                ttft_ms: c.ttft_ms.or(ttft_ms),
                response_id: c.upstream_id,
                response_model: c.model,
                system_fingerprint: c.system_fingerprint,
                tool_calls: (!c.tool_calls.is_empty()).then_some(c.tool_calls),
                ..Default::default()
            }
        }
        Ended::Done(Err(e)) => {
            if let (Some(tx), Some(after)) = (retry_after, e.retry_after) {
                let _ = tx.send(after);
            }
            tracing::info!(code = %e.code, http_status = e.http_status, partial_len = e.partial_output.len(), "run failed");
            RunOutcome {
                status: Some(RunStatus::Failed),
                // Both are the text streamed so far; the longer one wins in
                // case a delta never made it through the channel.
                output: if e.partial_output.len() > output.len() {
                    e.partial_output
                } else {
                    output
                },
                error_code: Some(e.code.as_str().to_owned()),
                error_message: Some(e.message),
                latency_ms,
                ttft_ms,
                ..Default::default()
            }
        }
        Ended::Cancelled => {
            tracing::info!(partial_len = output.len(), "run cancelled");
            RunOutcome {
                output,
                latency_ms,
                ttft_ms,
                ..cancelled_outcome()
            }
        }
    };
    finish(store, id, &outcome).await
}

/// Counting a long answer with a BPE table (parsed the first time it is
/// needed) is CPU work: it runs on a blocking thread, not the run's.
async fn estimate_off_thread(request: &ChatRequest, output: &str) -> Usage {
    let (model, messages, text) = (
        request.model.clone(),
        request.messages.clone(),
        output.to_owned(),
    );
    tokio::task::spawn_blocking(move || estimate_usage(&model, &messages, &text))
        .await
        // A panic while counting: the approximation (model "") still gives a number.
        .unwrap_or_else(|_| estimate_usage("", &request.messages, output))
}

/// The outcome of a cancelled run, before its output and timings.
pub(super) fn cancelled_outcome() -> RunOutcome {
    RunOutcome {
        status: Some(RunStatus::Cancelled),
        error_code: Some("cancelled".into()),
        error_message: Some("the run was cancelled".into()),
        ..Default::default()
    }
}

/// Writes the outcome, retrying transient store errors, and reads the run
/// back. A run that something else finished first (a cancel from another
/// replica) keeps that outcome.
async fn finish(store: &Store, id: promptrefine_core::RunId, outcome: &RunOutcome) -> Result<Run> {
    let mut attempt = 0;
    loop {
        attempt += 1;
        match store.runs().finish_returning(id, outcome).await {
            // Stored as this call wrote it.
            Ok(Some(run)) => break log_finished(run),
            // Something else finished it first: read what it stored.
            Ok(None) => break log_finished(store.runs().get(id).await?),
            Err(e) if attempt < FINISH_ATTEMPTS => {
                tracing::warn!(attempt, error = %e, "could not store the run's outcome; retrying");
                tokio::time::sleep(FINISH_BACKOFF * 2u32.pow(attempt - 1)).await;
            }
            Err(e) => {
                tracing::error!(error = %e, "could not store the run's outcome; it stays running until restart");
                return Err(AppError::from(e));
            }
        }
    }
}

fn log_finished(run: Run) -> Result<Run> {
    tracing::info!(
        status = run.status.as_str(),
        output_len = run.output.len(),
        "run finished"
    );
    Ok(run)
}

fn relay(feed: &FeedSender, output: &mut String, delta: &str) {
    output.push_str(delta);
    feed.push(delta);
}

fn elapsed_ms(since: Instant) -> i64 {
    i64::try_from(since.elapsed().as_millis()).unwrap_or(i64::MAX)
}
