//! [`RunService`]: what runs share across requests in one process — the
//! configured providers, the price table, the cap on runs in flight, the
//! registry through which a run is cancelled, and the model-list cache.
//!
//! It is in-process state on purpose: a permit or a cancellation handle
//! cannot live in a database. What must survive the process (the runs
//! themselves) is in the store.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use promptrefine_core::RunId;
use promptrefine_llm::{ClientSettings, ConfigError, PriceTable, Provider, ProviderConfig};
use secrecy::SecretString;
use tokio::sync::{OwnedSemaphorePermit, Semaphore, TryAcquireError, watch};
use tokio_util::sync::CancellationToken;

use super::models::{ModelCache, ModelList};
use crate::error::{AppError, Result};

/// How runs are made: the providers (the first is the default), timeouts
/// and retries, the cap on runs in flight, and prices.
#[derive(Clone, Debug)]
pub struct RunSettings {
    pub providers: Vec<ProviderConfig>,
    pub client: ClientSettings,
    /// Runs in flight in this process; one more is refused with 429.
    pub max_in_flight: usize,
    pub prices: PriceTable,
}

impl Default for RunSettings {
    fn default() -> Self {
        RunSettings {
            providers: Vec::new(),
            client: ClientSettings::default(),
            max_in_flight: 32,
            prices: PriceTable::default(),
        }
    }
}

/// The default OpenAI provider, named `openai`, following the official SDKs'
/// convention: `base_url` (`OPENAI_BASE_URL`) includes `/v1` and defaults to
/// `https://api.openai.com/v1`; `api_key` comes from `OPENAI_API_KEY`.
pub fn openai_provider(api_key: Option<SecretString>, base_url: Option<String>) -> ProviderConfig {
    ProviderConfig {
        name: "openai".into(),
        base_url: base_url
            .filter(|u| !u.trim().is_empty())
            .unwrap_or_else(|| "https://api.openai.com/v1".into()),
        api_key,
        models: [
            "gpt-4o-mini",
            "gpt-4o",
            "gpt-4.1-mini",
            "gpt-4.1",
            "o4-mini",
        ]
        .map(String::from)
        .to_vec(),
        extra_headers: Vec::new(),
    }
}

/// A configuration that cannot be served. Never contains a secret.
#[derive(Debug, thiserror::Error)]
pub enum RunSetupError {
    #[error("provider {name:?}: {source}")]
    Provider {
        name: String,
        #[source]
        source: ConfigError,
    },
    #[error("provider names must be 1–50 characters of a–z, 0–9, '-', '_' or '.': {0:?}")]
    InvalidName(String),
    #[error("the provider name {0:?} is configured twice")]
    DuplicateName(String),
    #[error("max_in_flight must be from 1 to {MAX_IN_FLIGHT}")]
    InvalidCap,
}

/// The largest cap accepted: far beyond what one process can serve, and
/// small enough for a semaphore to take every permit at once (`drain`).
pub(super) const MAX_IN_FLIGHT: usize = 100_000;

/// A run in flight in this process, as the cancel path sees it.
struct InFlight {
    cancel: CancellationToken,
    /// Turns true once the run's outcome is stored.
    done: watch::Receiver<bool>,
}

/// See the module docs. Shared by every clone of [`crate::App`].
pub struct RunService {
    providers: Vec<Provider>,
    /// Also what providers stored in the database are built with.
    client: ClientSettings,
    pub(super) prices: Arc<PriceTable>,
    permits: Arc<Semaphore>,
    cap: usize,
    in_flight: Mutex<HashMap<RunId, InFlight>>,
    pub(super) models: ModelCache,
    max_rendered_bytes: usize,
}

impl std::fmt::Debug for RunService {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RunService")
            .field("providers", &self.providers)
            .field("cap", &self.cap)
            .field("in_flight", &self.in_flight())
            .finish_non_exhaustive()
    }
}

impl RunService {
    pub fn new(settings: RunSettings) -> Result<RunService, RunSetupError> {
        if !(1..=MAX_IN_FLIGHT).contains(&settings.max_in_flight) {
            return Err(RunSetupError::InvalidCap);
        }
        let mut providers: Vec<Provider> = Vec::with_capacity(settings.providers.len());
        for config in settings.providers {
            let name = config.name.clone();
            if !is_provider_name(&name) {
                return Err(RunSetupError::InvalidName(name));
            }
            if providers.iter().any(|p| p.name() == name) {
                return Err(RunSetupError::DuplicateName(name));
            }
            let provider = Provider::new(config, settings.client.clone())
                .map_err(|source| RunSetupError::Provider { name, source })?;
            providers.push(provider);
        }
        Ok(RunService {
            providers,
            client: settings.client,
            prices: Arc::new(settings.prices),
            permits: Arc::new(Semaphore::new(settings.max_in_flight)),
            cap: settings.max_in_flight,
            in_flight: Mutex::new(HashMap::new()),
            models: ModelCache::default(),
            max_rendered_bytes: promptrefine_core::template::DEFAULT_MAX_RENDERED_BYTES,
        })
    }

    /// No providers: every run is refused with a 422 naming `provider`.
    pub fn disabled() -> RunService {
        RunService::new(RunSettings {
            max_in_flight: 1,
            ..RunSettings::default()
        })
        .expect("an empty configuration is valid")
    }

    /// How long a live model list is reused (default five minutes).
    pub fn with_models_ttl(mut self, ttl: Duration) -> RunService {
        self.models = ModelCache::new(ttl);
        self
    }

    /// The cap on a rendered prompt, for runs and the render route
    /// (default [`promptrefine_core::template::DEFAULT_MAX_RENDERED_BYTES`]).
    pub fn with_max_rendered_bytes(mut self, limit: usize) -> RunService {
        self.max_rendered_bytes = limit;
        self
    }

    /// The price list runs are costed with (and experiment budgets reserved from).
    pub fn prices(&self) -> &PriceTable {
        &self.prices
    }

    /// [`RunService::prices`], shared.
    pub fn shared_prices(&self) -> Arc<PriceTable> {
        self.prices.clone()
    }

    pub fn max_rendered_bytes(&self) -> usize {
        self.max_rendered_bytes
    }

    /// Timeouts and retries of every provider call.
    pub fn client_settings(&self) -> &ClientSettings {
        &self.client
    }

    pub fn providers(&self) -> &[Provider] {
        &self.providers
    }

    pub fn provider_names(&self) -> Vec<&str> {
        self.providers.iter().map(|p| p.name()).collect()
    }

    /// By name; `None` means the default (the first configured).
    pub fn provider(&self, name: Option<&str>) -> Option<&Provider> {
        match name {
            None => self.providers.first(),
            Some(n) => self.providers.iter().find(|p| p.name() == n),
        }
    }

    pub fn max_in_flight(&self) -> usize {
        self.cap
    }

    pub fn in_flight(&self) -> usize {
        self.cap - self.permits.available_permits()
    }

    /// A place for one more run, or 429 at once: a full house never queues.
    pub(super) fn try_permit(&self) -> Result<OwnedSemaphorePermit> {
        self.permits
            .clone()
            .try_acquire_owned()
            .map_err(|e| match e {
                TryAcquireError::NoPermits | TryAcquireError::Closed => {
                    AppError::TooManyRuns(self.cap)
                }
            })
    }

    /// Registers a run about to be launched, until the returned guard is
    /// dropped: that says its outcome is stored.
    pub(super) fn register(self: &Arc<Self>, id: RunId, cancel: CancellationToken) -> Registered {
        let (done_tx, done) = watch::channel(false);
        self.registry().insert(id, InFlight { cancel, done });
        Registered {
            service: self.clone(),
            id,
            done: done_tx,
        }
    }

    /// Cancels a run in flight in this process and waits until its outcome
    /// is stored. False when this process has no such run.
    pub(crate) async fn cancel_local(&self, id: RunId) -> bool {
        let done = {
            let registry = self.registry();
            let Some(run) = registry.get(&id) else {
                return false;
            };
            run.cancel.cancel();
            run.done.clone()
        };
        wait_done(done, CANCEL_WAIT).await;
        true
    }

    /// See [`crate::App::drain_runs`].
    pub(super) async fn drain(&self, grace: Duration) -> usize {
        if self.wait_idle(grace).await {
            return 0;
        }
        let waiting: Vec<watch::Receiver<bool>> = {
            let registry = self.registry();
            registry
                .values()
                .map(|r| {
                    r.cancel.cancel();
                    r.done.clone()
                })
                .collect()
        };
        let cancelled = waiting.len();
        tracing::warn!(cancelled, "runs still in flight at shutdown were cancelled");
        for done in waiting {
            wait_done(done, CANCEL_WAIT).await;
        }
        cancelled
    }

    /// True once every permit is back, false when `limit` passed first.
    async fn wait_idle(&self, limit: Duration) -> bool {
        let all = u32::try_from(self.cap).expect("the cap is at most MAX_IN_FLIGHT");
        matches!(
            tokio::time::timeout(limit, self.permits.acquire_many(all)).await,
            Ok(Ok(_))
        )
    }

    /// The environment's providers' models, then those of `stored`.
    pub(super) async fn list_models(&self, stored: Vec<Provider>) -> Vec<ModelList> {
        let mut all = self.providers.clone();
        all.extend(stored);
        self.models.list(&all).await
    }

    fn registry(&self) -> std::sync::MutexGuard<'_, HashMap<RunId, InFlight>> {
        // The map stays consistent even if a holder panicked: each operation
        // is a single insert, remove or read.
        self.in_flight
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }
}

/// A run in the registry: dropped once its outcome is stored, it leaves the
/// registry and whoever waits on its cancel hears it is done. A cell's run
/// carries it to the experiment engine's writer, which stores the run with
/// its cell.
pub(crate) struct Registered {
    service: Arc<RunService>,
    id: RunId,
    done: watch::Sender<bool>,
}

impl Drop for Registered {
    fn drop(&mut self) {
        self.service.registry().remove(&self.id);
        let _ = self.done.send(true);
    }
}

/// How long a cancel request waits for the run to store its outcome.
const CANCEL_WAIT: Duration = Duration::from_secs(10);

async fn wait_done(mut done: watch::Receiver<bool>, limit: Duration) {
    // An error means the task is gone without saying so (a hard stop):
    // there is nothing left to wait for.
    let _ = tokio::time::timeout(limit, done.wait_for(|d| *d)).await;
}

/// Names end up in run records and URLs: keep them plain.
pub(crate) fn is_provider_name(name: &str) -> bool {
    (1..=50).contains(&name.len())
        && name.bytes().all(|b| {
            b.is_ascii_lowercase() || b.is_ascii_digit() || matches!(b, b'-' | b'_' | b'.')
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(name: &str) -> ProviderConfig {
        ProviderConfig {
            name: name.into(),
            base_url: "http://127.0.0.1:9/v1".into(),
            api_key: None,
            models: vec![],
            extra_headers: vec![],
        }
    }

    #[test]
    fn the_first_provider_is_the_default_and_names_are_unique() {
        let s = RunSettings {
            providers: vec![config("openai"), config("ollama")],
            ..Default::default()
        };
        let svc = RunService::new(s).unwrap();
        assert_eq!(svc.provider(None).unwrap().name(), "openai");
        assert_eq!(svc.provider(Some("ollama")).unwrap().name(), "ollama");
        assert!(svc.provider(Some("nope")).is_none());

        let twice = RunSettings {
            providers: vec![config("a"), config("a")],
            ..Default::default()
        };
        assert!(matches!(
            RunService::new(twice),
            Err(RunSetupError::DuplicateName(_))
        ));
        let bad = RunSettings {
            providers: vec![config("Has Space")],
            ..Default::default()
        };
        assert!(matches!(
            RunService::new(bad),
            Err(RunSetupError::InvalidName(_))
        ));
        let zero = RunSettings {
            max_in_flight: 0,
            ..Default::default()
        };
        assert!(matches!(
            RunService::new(zero),
            Err(RunSetupError::InvalidCap)
        ));
    }

    #[test]
    fn a_full_house_is_refused_at_once() {
        let svc = RunService::new(RunSettings {
            max_in_flight: 2,
            ..Default::default()
        })
        .unwrap();
        let a = svc.try_permit().unwrap();
        let _b = svc.try_permit().unwrap();
        assert_eq!(svc.in_flight(), 2);
        assert!(matches!(svc.try_permit(), Err(AppError::TooManyRuns(2))));
        drop(a);
        assert!(svc.try_permit().is_ok());
    }

    #[test]
    fn the_openai_default_follows_the_sdk_convention() {
        let c = openai_provider(None, None);
        assert_eq!(
            (c.name.as_str(), c.base_url.as_str()),
            ("openai", "https://api.openai.com/v1")
        );
        let c = openai_provider(None, Some("http://localhost:8080/v1".into()));
        assert_eq!(c.base_url, "http://localhost:8080/v1");
    }
}
