//! Prometheus metrics: what is recorded, and where it is kept.
//!
//! # One recorder per server, not per process
//!
//! The `metrics` crate's macros normally write to a process-global recorder.
//! That does not fit here: a test process runs dozens of servers side by
//! side, and each must count only its own requests. So each [`AppState`]
//! owns a [`Metrics`]: a `PrometheusRecorder` of its own, never installed
//! globally. Recording goes through [`Metrics::record`], which runs the
//! usual `counter!`/`histogram!` macros under
//! [`metrics::with_local_recorder`] (a synchronous, thread-local scope, so
//! nothing leaks across an `.await` or into another server), and `GET
//! /metrics` renders that recorder's handle. A global recorder, if some
//! other code installs one, is never touched.
//!
//! Histograms keep their samples until drained; a scrape drains them, and so
//! does a background task every few seconds (it ends when the state is
//! dropped), so a server nobody scrapes does not grow without bound.
//!
//! # What is recorded
//!
//! * `http_requests_total{route,method,status}` and
//!   `http_request_duration_seconds{route,method}`: per *matched route*
//!   (`/api/prompts/{id}`), never the raw path, so label values stay few;
//!   requests that match no route count as `route="unmatched"` ([`http`]).
//! * `runs_total{status,provider}`, `upstream_latency_seconds{provider}`,
//!   `upstream_first_token_seconds{provider}`, `tokens_total{kind}` and
//!   `cost_micro_usd_total`: from every finished run of this process (the
//!   app's [`RunObserver`] hook).
//! * Gauges read at scrape time: `runs_in_flight`, `db_pool_connections`,
//!   `db_pool_idle_connections`.

pub mod endpoint;
pub mod http;

use std::sync::{Arc, Weak};
use std::time::Duration;

use metrics::{counter, describe_counter, describe_gauge, describe_histogram, gauge, histogram};
use metrics_exporter_prometheus::{
    Matcher, PrometheusBuilder, PrometheusHandle, PrometheusRecorder,
};
use promptrefine_app::runs::RunObserver;
use promptrefine_core::Run;

#[cfg(doc)]
use crate::state::AppState;

/// Request durations: 5 ms to 30 s.
const HTTP_BUCKETS: &[f64] = &[
    0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0,
];
/// Model calls: 100 ms to 5 min (the longest request timeout).
const UPSTREAM_BUCKETS: &[f64] = &[
    0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 20.0, 30.0, 60.0, 120.0, 300.0,
];
/// How often histogram samples are folded into buckets when nobody scrapes.
const UPKEEP_EVERY: Duration = Duration::from_secs(5);

/// This server's metrics (see the module docs). Cheap to clone.
#[derive(Clone)]
pub struct Metrics {
    inner: Option<Arc<Inner>>,
}

struct Inner {
    recorder: PrometheusRecorder,
    handle: PrometheusHandle,
}

impl Metrics {
    /// A recorder of its own; spawns the upkeep task when a runtime is there.
    pub fn new() -> Metrics {
        let recorder = PrometheusBuilder::new()
            .set_buckets_for_metric(
                Matcher::Full("http_request_duration_seconds".into()),
                HTTP_BUCKETS,
            )
            .and_then(|b| {
                b.set_buckets_for_metric(Matcher::Prefix("upstream_".into()), UPSTREAM_BUCKETS)
            })
            .expect("bucket lists are not empty")
            .build_recorder();
        let handle = recorder.handle();
        let inner = Arc::new(Inner { recorder, handle });
        metrics::with_local_recorder(&inner.recorder, describe);
        if let Ok(rt) = tokio::runtime::Handle::try_current() {
            rt.spawn(upkeep(Arc::downgrade(&inner)));
        }
        Metrics { inner: Some(inner) }
    }

    /// Records nothing and renders nothing (`METRICS=off`).
    pub fn disabled() -> Metrics {
        Metrics { inner: None }
    }

    pub fn is_enabled(&self) -> bool {
        self.inner.is_some()
    }

    /// Runs `f` with this server's recorder as the target of the `metrics`
    /// macros; a no-op when disabled.
    pub fn record(&self, f: impl FnOnce()) {
        if let Some(inner) = &self.inner {
            metrics::with_local_recorder(&inner.recorder, f);
        }
    }

    /// The Prometheus text exposition, with the scrape-time gauges set first.
    pub fn render(&self, app: &promptrefine_app::App) -> String {
        let Some(inner) = &self.inner else {
            return String::new();
        };
        let (size, idle) = app.store().pool_usage();
        let in_flight = app.runs_in_flight();
        self.record(|| {
            gauge!("runs_in_flight").set(in_flight as f64);
            gauge!("db_pool_connections").set(f64::from(size));
            gauge!("db_pool_idle_connections").set(idle as f64);
        });
        inner.handle.render()
    }

    /// The hook the app calls for every finished run.
    pub fn run_observer(&self) -> Arc<dyn RunObserver> {
        Arc::new(self.clone())
    }
}

impl Default for Metrics {
    fn default() -> Self {
        Metrics::new()
    }
}

impl RunObserver for Metrics {
    fn run_finished(&self, run: &Run) {
        self.record(|| {
            let provider = run.provider.clone();
            counter!("runs_total", "status" => run.status.as_str(), "provider" => provider.clone())
                .increment(1);
            if let Some(ms) = run.latency_ms {
                histogram!("upstream_latency_seconds", "provider" => provider.clone())
                    .record(ms as f64 / 1000.0);
            }
            if let Some(ms) = run.ttft_ms {
                histogram!("upstream_first_token_seconds", "provider" => provider)
                    .record(ms as f64 / 1000.0);
            }
            let tokens = [
                ("prompt", run.prompt_tokens),
                ("completion", run.completion_tokens),
            ];
            for (kind, n) in tokens {
                if let Some(n) = n.and_then(|n| u64::try_from(n).ok()) {
                    counter!("tokens_total", "kind" => kind).increment(n);
                }
            }
            if let Some(c) = run.cost_micro_usd.and_then(|c| u64::try_from(c).ok()) {
                counter!("cost_micro_usd_total").increment(c);
            }
        });
    }
}

/// HELP lines, so a scrape explains itself.
fn describe() {
    describe_counter!(
        "http_requests_total",
        "HTTP requests answered, by matched route, method and status"
    );
    describe_histogram!(
        "http_request_duration_seconds",
        "time to the response head, by matched route and method"
    );
    describe_counter!(
        "runs_total",
        "model runs finished by this process, by final status and provider"
    );
    describe_histogram!(
        "upstream_latency_seconds",
        "duration of a run's model call, retries included"
    );
    describe_histogram!(
        "upstream_first_token_seconds",
        "time from sending a run to its first output"
    );
    describe_counter!(
        "tokens_total",
        "tokens reported by providers, by kind (prompt, completion)"
    );
    describe_counter!(
        "cost_micro_usd_total",
        "estimated cost of finished runs, in millionths of a US dollar"
    );
    describe_gauge!("runs_in_flight", "model runs executing in this process");
    describe_gauge!(
        "db_pool_connections",
        "open database connections (all pools)"
    );
    describe_gauge!(
        "db_pool_idle_connections",
        "idle database connections (all pools)"
    );
}

async fn upkeep(inner: Weak<Inner>) {
    let mut tick = tokio::time::interval(UPKEEP_EVERY);
    tick.tick().await;
    loop {
        tick.tick().await;
        let Some(inner) = inner.upgrade() else { return };
        inner.handle.run_upkeep();
    }
}
