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
use super::service::{Registered, RunService};
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
        let registered = self.register(id, cancel.clone());
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
                    Err(_) => finish(&store, id, &panicked()).await,
                };
                // In this order, so whoever hears the run is done finds it
                // stored and its permit back.
                drop(permit);
                drop(registered);
                if let (Some(observer), Ok(run)) = (observer, &result) {
                    observer.run_finished(run);
                }
                result
            }
            .instrument(span),
        )
    }
}

/// A cell's run that ended and is not stored yet: the experiment engine
/// stores it with its cell, in one transaction for the cells that ended
/// together. Until then it stays in the registry (`registered`), so a
/// cancel of it waits for the write, as for any run.
pub(crate) struct Unstored {
    /// The run as it will be stored (without its request body).
    pub run: Run,
    pub outcome: RunOutcome,
    /// The provider's `Retry-After`, when the call failed with one.
    pub retry_after: Option<Duration>,
    pub registered: Registered,
}

impl RunService {
    /// [`Self::launch`] for a run the caller stored as started and stores
    /// as ended (the experiment engine, in batches): the task writes
    /// nothing, gives the permit back when the call ends, and answers the
    /// outcome.
    pub(super) fn launch_unstored(
        self: &Arc<Self>,
        plan: RunPlan,
        permit: OwnedSemaphorePermit,
    ) -> JoinHandle<Unstored> {
        let cancel = CancellationToken::new();
        let registered = self.register(plan.new.id, cancel.clone());
        let service = self.clone();
        let span = tracing::info_span!("run", run_id = %plan.new.id, provider = %plan.new.provider, model = %plan.new.model);
        tokio::spawn(
            async move {
                let started_at = time::OffsetDateTime::now_utc();
                // No one listens to the deltas: dropping the stream makes
                // the feed keep nothing.
                let (feed, events) = super::handle::feed();
                drop(events);
                let (retry_tx, retry_rx) = oneshot::channel();
                let prices = plan.prices.clone();
                let body = call(
                    prices.as_deref().unwrap_or(&service.prices),
                    &plan,
                    cancel,
                    &feed,
                    Some(retry_tx),
                );
                let outcome = AssertUnwindSafe(body)
                    .catch_unwind()
                    .await
                    .unwrap_or_else(|_| panicked());
                drop(permit);
                let run = as_stored(plan.new, &outcome, started_at);
                tracing::info!(
                    status = run.status.as_str(),
                    output_len = run.output.len(),
                    "run ended"
                );
                Unstored {
                    run,
                    outcome,
                    retry_after: retry_rx.await.ok(),
                    registered,
                }
            }
            .instrument(span),
        )
    }
}

/// The run `new` becomes when `outcome` is stored now (its request body
/// left out: no one in the process reads it back).
fn as_stored(
    new: promptrefine_store::NewRun,
    outcome: &RunOutcome,
    created_at: time::OffsetDateTime,
) -> Run {
    let cell = new.cell;
    Run {
        id: new.id,
        prompt_id: new.prompt_id,
        version_id: new.version_id,
        provider: new.provider,
        model: new.model,
        params: new.params,
        variables: new.variables,
        input: new.input,
        output: outcome.output.clone(),
        finish_reason: outcome.finish_reason.clone(),
        status: outcome.status.unwrap_or(RunStatus::Failed),
        error_code: outcome.error_code.clone(),
        error_message: outcome.error_message.clone(),
        prompt_tokens: outcome.prompt_tokens,
        completion_tokens: outcome.completion_tokens,
        total_tokens: outcome.total_tokens,
        tokens_estimated: outcome.tokens_estimated,
        cost_micro_usd: outcome.cost_micro_usd,
        latency_ms: outcome.latency_ms,
        ttft_ms: outcome.ttft_ms,
        request_id: new.request_id,
        created_at,
        finished_at: Some(time::OffsetDateTime::now_utc()),
        experiment_id: cell.map(|c| c.experiment_id),
        item_id: cell.map(|c| c.item_id),
        variant: cell.map(|c| c.variant),
        repeat: cell.map(|c| c.repeat),
        attempt: cell.map(|c| c.attempt),
        kind: if new.judge_of.is_some() {
            promptrefine_core::RunKind::Judge
        } else {
            promptrefine_core::RunKind::Test
        },
        judge_of: new.judge_of,
        request_body: None,
        response_id: outcome.response_id.clone(),
        response_model: outcome.response_model.clone(),
        system_fingerprint: outcome.system_fingerprint.clone(),
        tool_calls: outcome.tool_calls.clone(),
        replay_of: new.replay_of,
    }
}

/// The outcome of a run whose task panicked.
fn panicked() -> RunOutcome {
    tracing::error!("the run task panicked");
    RunOutcome {
        status: Some(RunStatus::Failed),
        error_code: Some("internal".into()),
        error_message: Some("the run failed unexpectedly".into()),
        ..Default::default()
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
    let outcome = call(prices, &plan, cancel, &feed, retry_after).await;
    finish(store, id, &outcome).await
}

/// Calls upstream, relaying deltas and watching for a cancel, and answers
/// how the run ended (storing nothing).
async fn call(
    prices: &PriceTable,
    plan: &RunPlan,
    cancel: CancellationToken,
    feed: &FeedSender,
    retry_after: Option<oneshot::Sender<Duration>>,
) -> RunOutcome {
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
                relay(feed, &mut output, &delta);
            }
            result = &mut call => break Ended::Done(result),
        }
    };
    drop(call);
    // Deltas sent just before the call returned (or was dropped) still count.
    while let Ok(delta) = rx.try_recv() {
        ttft_ms.get_or_insert_with(|| elapsed_ms(started));
        relay(feed, &mut output, &delta);
    }
    let latency_ms = Some(elapsed_ms(started));

    match ended {
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
    }
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
