//! A hook that hears about every finished run, so something outside the app
//! (the web layer's Prometheus metrics) can count runs, tokens, cost and
//! upstream latency without the app knowing about metrics.
//!
//! It is called from a task of its own once the run's outcome is stored, so
//! it also hears about runs whose HTTP client hung up, and it runs after the
//! permit is released. An observer must be quick and must not fail: it is
//! told, it does not decide.

use std::sync::Arc;

use promptrefine_core::Run;
use tokio::task::JoinHandle;

use crate::error::Result;

/// See the module docs.
pub trait RunObserver: Send + Sync + 'static {
    /// `run` is the stored, finished run (any final status).
    fn run_finished(&self, run: &Run);
}

/// `task`, with `observer` told about its run once it is stored. The wrapper
/// is spawned, so dropping the returned handle stops neither the run nor the
/// observation.
pub(super) fn observed(
    task: JoinHandle<Result<Run>>,
    observer: Option<Arc<dyn RunObserver>>,
) -> JoinHandle<Result<Run>> {
    let Some(observer) = observer else {
        return task;
    };
    tokio::spawn(async move {
        let result = task.await;
        if let Ok(Ok(run)) = &result {
            observer.run_finished(run);
        }
        result.unwrap_or_else(|e| {
            Err(crate::AppError::Internal(format!(
                "the run task failed: {e}"
            )))
        })
    })
}
