//! The models each provider offers, for the UI's selector: asked of the
//! provider (`GET {base}/models`), cached, with the configured list as a
//! fallback so the selector still works when a provider is down or has no
//! model endpoint.

use std::collections::HashMap;
use std::sync::{Mutex, PoisonError};
use std::time::Duration;

use futures::future::join_all;
use promptrefine_llm::Provider;
use tokio::time::Instant;

/// Where a model list came from. (Its wire form, `live`/`fallback`, is
/// `web::api::dto::models`.)
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ModelSource {
    /// The provider's `GET /models`.
    Live,
    /// The configured list: the provider could not be asked.
    Fallback,
}

impl ModelSource {
    /// How the settings page names it.
    pub fn as_str(self) -> &'static str {
        match self {
            ModelSource::Live => "live",
            ModelSource::Fallback => "fallback",
        }
    }
}

/// One provider's models.
#[derive(Clone, Debug, PartialEq)]
pub struct ModelList {
    pub provider: String,
    pub models: Vec<String>,
    pub source: ModelSource,
    /// Whether an API key is configured (the key itself is never shown).
    pub has_key: bool,
}

/// A live list is reused this long.
const LIVE_TTL: Duration = Duration::from_secs(5 * 60);
/// A failed lookup is not retried for this long, so a provider that is down
/// does not slow every page that shows the selector.
const FALLBACK_TTL: Duration = Duration::from_secs(30);
/// The model list is a convenience: never wait long for it.
const LOOKUP_TIMEOUT: Duration = Duration::from_secs(10);

struct Cached {
    at: Instant,
    models: Vec<String>,
    source: ModelSource,
}

pub(super) struct ModelCache {
    ttl: Duration,
    entries: Mutex<HashMap<String, Cached>>,
}

impl Default for ModelCache {
    fn default() -> Self {
        ModelCache::new(LIVE_TTL)
    }
}

impl ModelCache {
    pub(super) fn new(ttl: Duration) -> ModelCache {
        ModelCache {
            ttl,
            entries: Mutex::new(HashMap::new()),
        }
    }

    /// Every provider's list, in configuration order; providers are asked
    /// concurrently. Two callers racing on a stale entry may both ask: cheap.
    pub(super) async fn list(&self, providers: &[Provider]) -> Vec<ModelList> {
        join_all(providers.iter().map(|p| self.one(p))).await
    }

    async fn one(&self, provider: &Provider) -> ModelList {
        let name = provider.name().to_owned();
        let fresh = self.lookup(&name);
        let (models, source) = match fresh {
            Some(hit) => hit,
            None => {
                let (models, source) = fetch(provider).await;
                self.entries().insert(
                    name.clone(),
                    Cached {
                        at: Instant::now(),
                        models: models.clone(),
                        source,
                    },
                );
                (models, source)
            }
        };
        ModelList {
            provider: name,
            models,
            source,
            has_key: provider.has_key(),
        }
    }

    fn lookup(&self, name: &str) -> Option<(Vec<String>, ModelSource)> {
        let entries = self.entries();
        let c = entries.get(name)?;
        let ttl = match c.source {
            ModelSource::Live => self.ttl,
            ModelSource::Fallback => FALLBACK_TTL.min(self.ttl),
        };
        (c.at.elapsed() < ttl).then(|| (c.models.clone(), c.source))
    }

    fn entries(&self) -> std::sync::MutexGuard<'_, HashMap<String, Cached>> {
        self.entries.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

async fn fetch(provider: &Provider) -> (Vec<String>, ModelSource) {
    match tokio::time::timeout(LOOKUP_TIMEOUT, provider.list_models()).await {
        Ok(Ok(mut models)) => {
            models.sort();
            models.dedup();
            (models, ModelSource::Live)
        }
        Ok(Err(e)) => {
            tracing::warn!(provider = provider.name(), code = %e.code, "model list unavailable; using the configured list");
            (provider.fallback_models().to_vec(), ModelSource::Fallback)
        }
        Err(_) => {
            tracing::warn!(
                provider = provider.name(),
                "model list timed out; using the configured list"
            );
            (provider.fallback_models().to_vec(), ModelSource::Fallback)
        }
    }
}
