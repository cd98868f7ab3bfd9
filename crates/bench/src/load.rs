//! The load generator: a fixed number of workers, each sending one request
//! after another for a fixed time, over one shared connection pool. Latency
//! goes into an HDR histogram (microseconds), so percentiles cost no memory
//! per sample.
//!
//! A short warm-up (connections opened, caches filled) runs first and is not
//! recorded.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::{Duration, Instant};

use hdrhistogram::Histogram;

/// One request; `true` when the answer was the expected one.
pub(crate) type Shot = Arc<dyn Fn(u64) -> Pin<Box<dyn Future<Output = bool> + Send>> + Send + Sync>;

/// Wraps a closure returning a future as a [`Shot`].
pub(crate) fn shot<F, Fut>(f: F) -> Shot
where
    F: Fn(u64) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = bool> + Send + 'static,
{
    Arc::new(move |i| Box::pin(f(i)))
}

/// What one measured phase gave.
#[derive(Clone, Debug)]
pub(crate) struct Stats {
    pub ok: u64,
    pub errors: u64,
    pub elapsed: Duration,
    /// Microseconds per request.
    pub hist: Histogram<u64>,
}

impl Stats {
    pub(crate) fn empty() -> Stats {
        Stats {
            ok: 0,
            errors: 0,
            elapsed: Duration::ZERO,
            hist: new_hist(),
        }
    }

    /// Requests per second (successful ones).
    pub(crate) fn rps(&self) -> f64 {
        if self.elapsed.is_zero() {
            return 0.0;
        }
        self.ok as f64 / self.elapsed.as_secs_f64()
    }

    pub(crate) fn p50_ms(&self) -> f64 {
        self.hist.value_at_quantile(0.50) as f64 / 1000.0
    }

    pub(crate) fn p99_ms(&self) -> f64 {
        self.hist.value_at_quantile(0.99) as f64 / 1000.0
    }

    pub(crate) fn record(&mut self, took: Duration, ok: bool) {
        if ok {
            self.ok += 1;
            let _ = self.hist.record(took.as_micros().max(1) as u64);
        } else {
            self.errors += 1;
        }
    }

    fn merge(&mut self, other: &Stats) {
        self.ok += other.ok;
        self.errors += other.errors;
        let _ = self.hist.add(&other.hist);
    }
}

pub(crate) fn new_hist() -> Histogram<u64> {
    // 1 µs .. 10 min, 3 significant digits.
    Histogram::new_with_bounds(1, 600_000_000, 3).expect("valid histogram bounds")
}

/// How long and how wide a phase runs.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Load {
    pub concurrency: usize,
    pub warmup: Duration,
    pub duration: Duration,
}

/// Runs `shot` from `load.concurrency` workers; each worker's request index is
/// `worker + k * concurrency`, so indexes are unique across workers.
pub(crate) async fn drive(load: Load, shot: Shot) -> Stats {
    let start = Instant::now();
    let measure_from = start + load.warmup;
    let end = measure_from + load.duration;
    let workers = load.concurrency.max(1);
    let mut tasks = Vec::with_capacity(workers);
    for w in 0..workers {
        let shot = shot.clone();
        tasks.push(tokio::spawn(async move {
            let mut stats = Stats::empty();
            let mut i = w as u64;
            loop {
                let t0 = Instant::now();
                if t0 >= end {
                    break;
                }
                let ok = shot(i).await;
                i += workers as u64;
                if t0 >= measure_from {
                    stats.record(t0.elapsed(), ok);
                }
            }
            stats
        }));
    }
    let mut total = Stats::empty();
    for t in tasks {
        if let Ok(s) = t.await {
            total.merge(&s);
        }
    }
    // Requests still in flight at `end` finish late; the window is what was asked.
    total.elapsed = load.duration;
    total
}
