//! Use cases: what a user can do, with validation and transactions, in terms
//! of domain types. No HTTP and no SQL text live here: `web` calls these
//! functions, and these call the store's repositories.

#![warn(clippy::unwrap_used)]

pub mod auth;
pub mod datasets;
pub mod delivery;
pub mod error;
pub mod experiments;
pub mod instance;
pub mod presets;
pub mod prompts;
pub mod providers;
pub mod runs;
pub mod secrets;
pub mod seed;

use std::sync::Arc;

use promptrefine_store::Store;

pub use error::{AppError, Result};

/// The application: a handle every request shares. Cheap to clone.
#[derive(Clone)]
pub struct App {
    store: Store,
    /// The owner of the work this process starts (see [`instance`]).
    instance: promptrefine_core::InstanceId,
    auth: auth::AuthState,
    /// Providers, the in-flight cap and cancel registry (see [`runs`]).
    runs: Arc<runs::RunService>,
    /// Stored provider connections: the sealing key and built clients
    /// (see [`providers`]).
    providers: Arc<providers::ProviderRegistry>,
    /// Told about every finished run (metrics); see [`runs::RunObserver`].
    observer: Option<Arc<dyn runs::RunObserver>>,
    /// The experiment engine's wake-up and rate limiters (see [`experiments`]).
    engine: Arc<experiments::EngineShared>,
    /// What applications fetch, from memory (see [`delivery`]).
    delivery: Arc<delivery::Delivery>,
    /// What evaluators that call out may do (see [`experiments::scoring`]).
    evaluation: Arc<experiments::EvaluationSettings>,
    /// Ended experiments' verdicts (see [`experiments::VerdictCache`]).
    verdicts: Arc<experiments::VerdictCache>,
}

impl App {
    pub fn new(store: Store, auth: auth::AuthPolicy) -> App {
        // On PostgreSQL other replicas write too: the cache waits for its
        // listener (see delivery::listener) before it serves.
        let serving = matches!(store.backend(), promptrefine_store::Backend::Sqlite { .. });
        App {
            delivery: Arc::new(delivery::Delivery::new(serving)),
            store,
            instance: promptrefine_core::InstanceId::new(),
            auth: auth::AuthState::new(auth),
            runs: Arc::new(runs::RunService::disabled()),
            providers: Arc::default(),
            observer: None,
            engine: Arc::default(),
            evaluation: Arc::default(),
            verdicts: Arc::default(),
        }
    }

    /// This app, letting `http` evaluators call these hosts (none by
    /// default: calling out is off unless configured).
    pub fn with_evaluator_hosts(mut self, hosts: Vec<String>) -> App {
        self.evaluation = Arc::new(experiments::EvaluationSettings::new(hosts));
        self
    }

    /// This app, running tests against the providers of `runs` (without it,
    /// no provider is configured and every run is refused).
    pub fn with_runs(mut self, runs: runs::RunService) -> App {
        self.runs = Arc::new(runs);
        self
    }

    /// This app, keeping provider connections in the database sealed under
    /// `settings.key` (without it, none can be stored or used).
    pub fn with_providers(mut self, settings: providers::ProviderSettings) -> App {
        self.providers = Arc::new(providers::ProviderRegistry::new(settings));
        self
    }

    /// This app, telling `observer` about every run it finishes.
    pub fn with_run_observer(mut self, observer: Arc<dyn runs::RunObserver>) -> App {
        self.observer = Some(observer);
        self
    }

    pub fn run_service(&self) -> &runs::RunService {
        &self.runs
    }

    pub fn store(&self) -> &Store {
        &self.store
    }
}

/// Page size rules shared by every list: default 20, at most 100.
pub fn page_limit(limit: Option<i64>) -> Result<usize> {
    match limit {
        None => Ok(20),
        Some(n) if (1..=100).contains(&n) => Ok(n as usize),
        Some(_) => Err(AppError::invalid(
            "limit",
            "range",
            "limit must be between 1 and 100",
        )),
    }
}

#[cfg(test)]
mod layering {
    /// The wire contract (OpenAPI schemas, JSON renames) lives in `web`:
    /// this crate takes neither utoipa nor core's `openapi` feature.
    #[test]
    fn the_app_crate_does_not_depend_on_the_openapi_machinery() {
        let manifest = include_str!("../Cargo.toml");
        let deps = manifest
            .lines()
            .skip_while(|l| l.trim() != "[dependencies]")
            .skip(1)
            .take_while(|l| !l.starts_with('['))
            .filter(|l| !l.trim_start().starts_with('#'));
        for line in deps {
            assert!(!line.starts_with("utoipa"), "app depends on utoipa: {line}");
            assert!(
                !line.contains("openapi"),
                "app enables core's openapi: {line}"
            );
            assert!(
                !line.starts_with("serde "),
                "app has no serde types: {line}"
            );
            assert!(
                !line.starts_with("serde."),
                "app has no serde types: {line}"
            );
        }
    }
}
