//! Model presets (issue 17): a named provider + model + parameters, chosen
//! in the run panel (`preset` on `POST /api/test-runs`) and as experiment
//! variants (`variants[i].preset`).
//!
//! A preset is resolved when a run or an experiment is planned: what it
//! names is copied into the run (its provider, model and settings) or the
//! variant (which also keeps the preset's name, for display). Editing or
//! deleting a preset later changes nothing already run or planned.
//!
//! What the request gives itself wins over the preset: `provider`, `model`
//! (or `params.model`), and each field of `params` over the preset's.

use promptrefine_core::validate::{self, ModelName, Violations};
use promptrefine_core::{ModelSettings, PresetId};
use promptrefine_store::{PresetRecord, PresetWrite, StoreError};

use crate::error::{AppError, OrNotFound, Result, check};
use crate::{App, runs::is_provider_name};

/// A preset to store.
#[derive(Clone, Debug, Default)]
pub struct NewPreset {
    pub name: String,
    /// `None`: the server's default provider when the preset is used.
    pub provider: Option<String>,
    pub model: String,
    pub params: Option<ModelSettings>,
}

/// What PATCH may change: `None` keeps a field; `provider: Some(None)`
/// switches to the default provider.
#[derive(Clone, Debug, Default)]
pub struct PresetPatch {
    pub name: Option<String>,
    pub provider: Option<Option<String>>,
    pub model: Option<String>,
    pub params: Option<ModelSettings>,
}

/// The choice of a model that a run or a variant makes, before and after
/// its preset is applied.
#[derive(Clone, Debug, Default, PartialEq)]
pub(crate) struct ModelChoice {
    pub provider: Option<String>,
    pub model: Option<String>,
    pub params: Option<ModelSettings>,
}

impl ModelChoice {
    /// This choice with the gaps filled from `preset` (see the module docs).
    pub(crate) fn over(self, preset: &PresetRecord) -> ModelChoice {
        let own_model = self
            .model
            .or_else(|| self.params.as_ref().and_then(|p| p.model.clone()));
        let params = match self.params {
            Some(own) => preset.params.overridden_by(&own),
            None => preset.params.clone(),
        };
        ModelChoice {
            provider: self.provider.or_else(|| preset.provider.clone()),
            model: Some(own_model.unwrap_or_else(|| preset.model.clone())),
            params: Some(params),
        }
    }
}

impl App {
    /// Every preset by name.
    pub async fn list_presets(&self) -> Result<Vec<PresetRecord>> {
        Ok(self.store.presets().list().await?)
    }

    /// By id or by name.
    pub async fn get_preset(&self, id_or_name: &str) -> Result<PresetRecord> {
        let found = match id_or_name.parse::<PresetId>() {
            Ok(id) => self.store.presets().get(id).await,
            Err(_) if is_provider_name(id_or_name) => {
                self.store.presets().get_by_name(id_or_name).await
            }
            Err(_) => Err(StoreError::NotFound),
        };
        found.or_not_found("model preset")
    }

    #[tracing::instrument(skip_all, fields(name = %input.name))]
    pub async fn create_preset(&self, input: NewPreset) -> Result<PresetRecord> {
        let write = PresetWrite {
            name: input.name.trim().to_owned(),
            provider: input.provider.map(|p| p.trim().to_owned()),
            model: input.model.trim().to_owned(),
            params: input.params.unwrap_or_default(),
        };
        self.check_preset(&write).await?;
        let record = self.store.presets().create(PresetId::new(), &write).await?;
        tracing::info!(preset_id = %record.id, "model preset stored");
        Ok(record)
    }

    #[tracing::instrument(skip_all)]
    pub async fn update_preset(
        &self,
        id_or_name: &str,
        patch: PresetPatch,
    ) -> Result<PresetRecord> {
        let record = self.get_preset(id_or_name).await?;
        let write = PresetWrite {
            name: patch
                .name
                .map_or(record.name.clone(), |n| n.trim().to_owned()),
            provider: patch
                .provider
                .unwrap_or(record.provider.clone())
                .map(|p| p.trim().to_owned()),
            model: patch
                .model
                .map_or(record.model.clone(), |m| m.trim().to_owned()),
            params: patch.params.unwrap_or(record.params.clone()),
        };
        self.check_preset(&write).await?;
        match self
            .store
            .presets()
            .update(record.id, record.updated_at, &write)
            .await
        {
            Err(StoreError::NotFound) => Err(AppError::Conflict {
                field: "preset",
                message: "the preset was changed or deleted meanwhile; read it and try again"
                    .into(),
            }),
            other => {
                tracing::info!(preset_id = %record.id, "model preset updated");
                Ok(other?)
            }
        }
    }

    #[tracing::instrument(skip_all)]
    pub async fn delete_preset(&self, id_or_name: &str) -> Result<PresetId> {
        let record = self.get_preset(id_or_name).await?;
        self.store
            .presets()
            .delete(record.id)
            .await
            .or_not_found("model preset")?;
        tracing::info!(preset_id = %record.id, "model preset deleted");
        Ok(record.id)
    }

    /// The preset a request names in `field`; a 422 naming the field when
    /// there is none by that name.
    pub(crate) async fn preset_for(&self, field: &str, name: &str) -> Result<PresetRecord> {
        match self.get_preset(name.trim()).await {
            Err(AppError::NotFound(_)) => {
                let known: Vec<String> = self
                    .list_presets()
                    .await
                    .unwrap_or_default()
                    .into_iter()
                    .map(|p| p.name)
                    .collect();
                let message = if known.is_empty() {
                    format!("no model preset named {name:?}; none is defined")
                } else {
                    format!(
                        "no model preset named {name:?}; defined: {}",
                        known.join(", ")
                    )
                };
                Err(AppError::invalid(field, "oneOf", message))
            }
            other => other,
        }
    }

    async fn check_preset(&self, w: &PresetWrite) -> Result<()> {
        let mut v = Violations::default();
        if !is_provider_name(&w.name) {
            v.push(
                "name",
                "characters",
                "name must be 1 to 50 characters of a-z, 0-9, '.', '_' or '-'",
            );
        }
        if let Err(e) = ModelName::parse("model", &w.model) {
            v.extend(e);
        }
        validate::settings(&mut v, "params", &w.params);
        if w.params.model.is_some() {
            v.push(
                "params.model",
                "oneOf",
                "a preset names its model in `model`, not in `params`",
            );
        }
        if let Some(p) = &w.provider
            && self.find_provider(Some(p)).await?.is_none()
        {
            v.push(
                "provider",
                "oneOf",
                format!(
                    "unknown provider {p:?}; configured: {}",
                    self.provider_names().await.join(", ")
                ),
            );
        }
        check(v)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::OffsetDateTime;

    fn preset() -> PresetRecord {
        PresetRecord {
            id: PresetId::new(),
            name: "cold".into(),
            provider: Some("local".into()),
            model: "m-1".into(),
            params: ModelSettings {
                temperature: Some(0.0),
                max_tokens: Some(50),
                ..Default::default()
            },
            created_at: OffsetDateTime::UNIX_EPOCH,
            updated_at: OffsetDateTime::UNIX_EPOCH,
        }
    }

    #[test]
    fn a_bare_choice_takes_everything_from_the_preset() {
        let got = ModelChoice::default().over(&preset());
        assert_eq!(got.provider.as_deref(), Some("local"));
        assert_eq!(got.model.as_deref(), Some("m-1"));
        assert_eq!(got.params, Some(preset().params));
    }

    #[test]
    fn what_the_request_gives_wins_field_by_field() {
        let own = ModelChoice {
            provider: Some("other".into()),
            model: None,
            params: Some(ModelSettings {
                model: Some("m-2".into()),
                temperature: Some(0.9),
                ..Default::default()
            }),
        };
        let got = own.over(&preset());
        assert_eq!(got.provider.as_deref(), Some("other"));
        assert_eq!(got.model.as_deref(), Some("m-2"), "params.model wins");
        let params = got.params.unwrap();
        assert_eq!(params.temperature, Some(0.9));
        assert_eq!(
            params.max_tokens,
            Some(50),
            "the preset's other fields stay"
        );
    }
}
