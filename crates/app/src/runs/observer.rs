//! A hook that hears about every finished run, so something outside the app
//! (the web layer's Prometheus metrics) can count runs, tokens, cost and
//! upstream latency without the app knowing about metrics.
//!
//! It is called by the run's task once the outcome is stored and the permit
//! released, so it also hears about runs whose HTTP client hung up. An observer must be quick and must not fail: it is
//! told, it does not decide.

use promptrefine_core::Run;

/// See the module docs.
pub trait RunObserver: Send + Sync + 'static {
    /// `run` is the stored, finished run (any final status).
    fn run_finished(&self, run: &Run);
}
