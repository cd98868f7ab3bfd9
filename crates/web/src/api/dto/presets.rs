//! Bodies of `/api/model-presets`.

use promptrefine_app::presets::{NewPreset, PresetPatch};
use promptrefine_core::{ModelSettings, PresetId};
use promptrefine_store::PresetRecord;
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;
use utoipa::ToSchema;

/// A named provider + model + parameters, offered in the run panel and as
/// experiment variants (`preset` on `POST /api/test-runs` and on a variant).
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ModelPreset {
    pub id: PresetId,
    pub name: String,
    /// Null: the server's default provider when the preset is used.
    pub provider: Option<String>,
    pub model: String,
    /// Overrides of the version's settings (never `model`).
    pub params: ModelSettings,
    #[serde(with = "time::serde::rfc3339")]
    #[schema(value_type = String, format = DateTime)]
    pub created_at: OffsetDateTime,
    #[serde(with = "time::serde::rfc3339")]
    #[schema(value_type = String, format = DateTime)]
    pub updated_at: OffsetDateTime,
}

impl From<PresetRecord> for ModelPreset {
    fn from(r: PresetRecord) -> Self {
        ModelPreset {
            id: r.id,
            name: r.name,
            provider: r.provider,
            model: r.model,
            params: r.params,
            created_at: r.created_at,
            updated_at: r.updated_at,
        }
    }
}

/// `POST /api/model-presets`.
#[derive(Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct CreatePreset {
    /// 1–50 of a–z, 0–9, '-', '_', '.'; what runs and variants name it by.
    name: String,
    /// A configured provider's name; absent: the default provider.
    #[serde(default)]
    provider: Option<String>,
    model: String,
    /// Overrides of the version's settings, field by field (not `model`).
    #[serde(default)]
    params: Option<ModelSettings>,
}

impl From<CreatePreset> for NewPreset {
    fn from(b: CreatePreset) -> Self {
        NewPreset {
            name: b.name,
            provider: b.provider,
            model: b.model,
            params: b.params,
        }
    }
}

/// `PATCH /api/model-presets/{id}`: the fields sent change; `provider:
/// null` switches to the default provider; `params` is replaced whole.
#[derive(Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct UpdatePreset {
    #[serde(default)]
    name: Option<String>,
    #[serde(default, deserialize_with = "super::present")]
    #[schema(value_type = Option<String>)]
    provider: Option<Option<String>>,
    #[serde(default)]
    model: Option<String>,
    #[serde(default)]
    params: Option<ModelSettings>,
}

impl From<UpdatePreset> for PresetPatch {
    fn from(b: UpdatePreset) -> Self {
        PresetPatch {
            name: b.name,
            provider: b.provider,
            model: b.model,
            params: b.params,
        }
    }
}
