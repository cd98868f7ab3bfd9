//! Bodies of `GET /api/models`.

use promptrefine_app::runs as app;
use serde::Serialize;
use utoipa::ToSchema;

/// Where a model list came from.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum ModelSource {
    /// The provider's `GET /models`.
    Live,
    /// The configured list: the provider could not be asked.
    Fallback,
}

/// One provider's models.
#[derive(Clone, Debug, PartialEq, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ModelList {
    pub provider: String,
    pub models: Vec<String>,
    pub source: ModelSource,
    /// Whether an API key is configured (the key itself is never shown).
    pub has_key: bool,
}

impl From<app::ModelList> for ModelList {
    fn from(l: app::ModelList) -> Self {
        ModelList {
            provider: l.provider,
            models: l.models,
            source: match l.source {
                app::ModelSource::Live => ModelSource::Live,
                app::ModelSource::Fallback => ModelSource::Fallback,
            },
            has_key: l.has_key,
        }
    }
}
