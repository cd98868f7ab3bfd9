//! One adaptive concurrency limit per provider, shared by every experiment
//! on this instance: additive increase (+1 per `limit` successes, so about
//! +1 per round of calls), multiplicative decrease (halved on a 429), and a
//! pause until the provider's `Retry-After` has passed.
//!
//! Hand-written because it is small and the crates that do AIMD are either
//! tied to a client middleware or not maintained; the policy is the one TCP
//! congestion control made standard.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::sync::Notify;
use tokio::time::Instant;

/// Pause after a 429 that names no `Retry-After`.
const DEFAULT_BACKOFF: Duration = Duration::from_secs(1);

#[derive(Debug)]
struct State {
    limit: f64,
    in_flight: usize,
    paused_until: Option<Instant>,
}

#[derive(Debug)]
pub(crate) struct Limiter {
    state: Mutex<State>,
    max: f64,
    changed: Notify,
}

/// A slot; given back when dropped.
pub(crate) struct Slot {
    limiter: Arc<Limiter>,
}

impl Drop for Slot {
    fn drop(&mut self) {
        let mut s = self.limiter.lock();
        s.in_flight = s.in_flight.saturating_sub(1);
        drop(s);
        self.limiter.changed.notify_waiters();
    }
}

impl Limiter {
    /// Starts at `max` (the server-wide cap bounds it anyway) and never
    /// goes below one call at a time.
    pub(crate) fn new(max: usize) -> Arc<Limiter> {
        let max = max.max(1) as f64;
        Arc::new(Limiter {
            state: Mutex::new(State {
                limit: max,
                in_flight: 0,
                paused_until: None,
            }),
            max,
            changed: Notify::new(),
        })
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        // A panic while holding this lock leaves plain numbers: still usable.
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The current limit (whole calls).
    #[cfg(test)]
    fn limit(&self) -> usize {
        self.lock().limit.floor() as usize
    }

    /// Waits for a slot: fewer than `limit` calls in flight and no pause.
    pub(crate) async fn acquire(self: &Arc<Self>) -> Slot {
        loop {
            let changed = self.changed.notified();
            tokio::pin!(changed);
            changed.as_mut().enable();
            let wait_until = {
                let mut s = self.lock();
                let now = Instant::now();
                match s.paused_until {
                    Some(t) if t > now => Some(t),
                    _ => {
                        s.paused_until = None;
                        if (s.in_flight as f64) < s.limit.floor().max(1.0) {
                            s.in_flight += 1;
                            return Slot {
                                limiter: self.clone(),
                            };
                        }
                        None
                    }
                }
            };
            match wait_until {
                Some(t) => tokio::time::sleep_until(t).await,
                None => changed.await,
            }
        }
    }

    /// A call succeeded: grow by 1/limit (one whole call per round).
    pub(crate) fn succeeded(&self) {
        let mut s = self.lock();
        s.limit = (s.limit + 1.0 / s.limit.max(1.0)).min(self.max);
        drop(s);
        self.changed.notify_waiters();
    }

    /// The provider said 429: halve, and pause for its `Retry-After`.
    pub(crate) fn rate_limited(&self, retry_after: Option<Duration>) {
        let mut s = self.lock();
        s.limit = (s.limit / 2.0).max(1.0);
        let until = Instant::now() + retry_after.unwrap_or(DEFAULT_BACKOFF);
        s.paused_until = Some(s.paused_until.map_or(until, |t| t.max(until)));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_429_halves_the_limit_and_successes_grow_it_back() {
        let l = Limiter::new(16);
        assert_eq!(l.limit(), 16);
        l.rate_limited(None);
        assert_eq!(l.limit(), 8);
        l.rate_limited(None);
        l.rate_limited(None);
        l.rate_limited(None);
        l.rate_limited(None);
        assert_eq!(l.limit(), 1, "never below one");
        for _ in 0..3 {
            l.succeeded();
        }
        assert_eq!(l.limit(), 2, "1 → 2 after one round of successes");
        for _ in 0..200 {
            l.succeeded();
        }
        assert_eq!(l.limit(), 16, "capped at the maximum");
    }

    #[tokio::test]
    async fn acquire_waits_at_the_limit_and_during_retry_after() {
        let l = Limiter::new(2);
        let a = l.acquire().await;
        let _b = l.acquire().await;
        let third = tokio::spawn({
            let l = l.clone();
            async move { l.acquire().await }
        });
        assert!(
            tokio::time::timeout(Duration::from_millis(50), &mut Box::pin(l.acquire()))
                .await
                .is_err(),
            "no third slot at a limit of two"
        );
        drop(a);
        let _c = tokio::time::timeout(Duration::from_secs(10), third)
            .await
            .expect("a slot given back wakes a waiter")
            .unwrap();

        let l = Limiter::new(4);
        l.rate_limited(Some(Duration::from_secs(3600)));
        assert!(
            tokio::time::timeout(Duration::from_millis(50), l.acquire())
                .await
                .is_err(),
            "no slot while the provider's Retry-After lasts"
        );
    }
}
