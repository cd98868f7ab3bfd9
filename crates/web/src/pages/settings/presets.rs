//! `/app/settings/presets`: the model presets — a named provider, model
//! and parameters that the run panel and the experiment form offer —
//! listed, added, edited and deleted.
//!
//! The parameters are edited as the settings object's JSON (camelCase, as
//! the API takes it), so every setting a preset can hold can be set here.

use askama::Template;
use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::{Html, IntoResponse, Redirect};
use promptrefine_app::presets::{NewPreset, PresetPatch};
use promptrefine_core::{ModelSettings, PresetId};
use promptrefine_store::PresetRecord;
use serde_json::Value;

use super::super::Chrome;
use super::super::params::PageId;
use super::super::support::{Errors, FormData, PageResult, PageUser, PostForm};
use super::providers::FlashQuery;
use crate::state::AppState;

pub(in crate::pages) struct PresetRow {
    pub id: String,
    pub name: String,
    /// Empty: the default provider.
    pub provider: String,
    pub model: String,
    pub params: String,
}

impl From<&PresetRecord> for PresetRow {
    fn from(p: &PresetRecord) -> Self {
        PresetRow {
            id: p.id.to_string(),
            name: p.name.clone(),
            provider: p.provider.clone().unwrap_or_default(),
            model: p.model.clone(),
            params: params_summary(&p.params),
        }
    }
}

/// `temperature 0.2 · maxTokens 50 · stop …`: scalar settings with their
/// value, the others by name only.
pub(in crate::pages) fn params_summary(params: &ModelSettings) -> String {
    let Ok(Value::Object(map)) = serde_json::to_value(params) else {
        return String::new();
    };
    map.iter()
        .map(|(k, v)| match v {
            Value::Number(n) => format!("{k} {n}"),
            Value::Bool(b) => format!("{k} {b}"),
            Value::String(s) if s.chars().count() <= 20 => format!("{k} {s}"),
            _ => format!("{k} …"),
        })
        .collect::<Vec<_>>()
        .join(" · ")
}

/// What the form sent, as typed.
pub(in crate::pages) struct PresetForm {
    pub name: String,
    /// Empty: the default provider.
    pub provider: String,
    pub model: String,
    pub params: String,
}

impl PresetForm {
    fn read(form: &FormData) -> PresetForm {
        PresetForm {
            name: form.get("name").trim().to_owned(),
            provider: form.get("provider").trim().to_owned(),
            model: form.get("model").trim().to_owned(),
            params: form.get("params").to_owned(),
        }
    }

    fn shown(p: &PresetRecord) -> PresetForm {
        let params = if p.params == ModelSettings::default() {
            String::new()
        } else {
            promptrefine_core::diff::settings_as_text(&p.params)
        };
        PresetForm {
            name: p.name.clone(),
            provider: p.provider.clone().unwrap_or_default(),
            model: p.model.clone(),
            params,
        }
    }

    fn blank() -> PresetForm {
        PresetForm {
            name: String::new(),
            provider: String::new(),
            model: String::new(),
            params: String::new(),
        }
    }

    fn provider(&self) -> Option<String> {
        (!self.provider.is_empty()).then(|| self.provider.clone())
    }

    /// The JSON settings object; empty text is no overrides. A message
    /// naming `params` when it does not read.
    fn settings(&self) -> Result<ModelSettings, Vec<(String, String)>> {
        if self.params.trim().is_empty() {
            return Ok(ModelSettings::default());
        }
        let fail = |m: String| vec![("params".to_owned(), m)];
        let value: Value = serde_json::from_str(&self.params)
            .map_err(|e| fail(format!("the parameters are not JSON: {e}")))?;
        if !value.is_object() {
            return Err(fail(
                "the parameters must be a JSON object, such as {\"temperature\": 0.2}".into(),
            ));
        }
        serde_json::from_value(value)
            .map_err(|e| fail(format!("the parameters do not read as settings: {e}")))
    }

    fn to_new(&self) -> Result<NewPreset, Vec<(String, String)>> {
        Ok(NewPreset {
            name: self.name.clone(),
            provider: self.provider(),
            model: self.model.clone(),
            params: Some(self.settings()?),
        })
    }

    /// Every field is sent: the form shows them all.
    fn to_patch(&self) -> Result<PresetPatch, Vec<(String, String)>> {
        Ok(PresetPatch {
            name: Some(self.name.clone()),
            provider: Some(self.provider()),
            model: Some(self.model.clone()),
            params: Some(self.settings()?),
        })
    }
}

#[derive(Template)]
#[template(path = "presets.html")]
struct ListPage {
    chrome: Chrome,
    rows: Vec<PresetRow>,
    providers: Vec<String>,
    form: PresetForm,
    errors: Errors,
}

#[derive(Template)]
#[template(path = "preset.html")]
struct EditPage {
    chrome: Chrome,
    id: String,
    /// The name as stored (the form may hold a new one).
    title: String,
    providers: Vec<String>,
    form: PresetForm,
    errors: Errors,
}

/// The providers the select offers, with the form's own choice kept even
/// if that provider is gone (the app then names it unknown).
async fn provider_names(state: &AppState, chosen: &str) -> PageResult<Vec<String>> {
    let mut names: Vec<String> = state
        .app
        .list_providers()
        .await?
        .into_iter()
        .map(|p| p.name)
        .collect();
    if !chosen.is_empty() && !names.iter().any(|n| n == chosen) {
        names.push(chosen.to_owned());
    }
    Ok(names)
}

async fn render_list(
    state: &AppState,
    user: &PageUser,
    flash: Option<&str>,
    form: PresetForm,
    errors: Errors,
) -> PageResult<String> {
    let all = state.app.list_presets().await?;
    Ok(ListPage {
        chrome: Chrome::for_user(user, flash),
        rows: all.iter().map(PresetRow::from).collect(),
        providers: provider_names(state, &form.provider).await?,
        form,
        errors,
    }
    .render()?)
}

pub(in crate::pages) async fn list(
    user: PageUser,
    State(state): State<AppState>,
    Query(q): Query<FlashQuery>,
) -> PageResult {
    let html = render_list(
        &state,
        &user,
        q.flash(),
        PresetForm::blank(),
        Errors::default(),
    )
    .await?;
    Ok(Html(html).into_response())
}

pub(in crate::pages) async fn create(
    State(state): State<AppState>,
    PostForm { user, form }: PostForm,
) -> PageResult {
    let form = PresetForm::read(&form);
    let errors = match form.to_new() {
        Err(found) => Errors(found),
        Ok(input) => match state.app.create_preset(input).await {
            Ok(_) => {
                return Ok(Redirect::to("/app/settings/presets?ok=preset_added").into_response());
            }
            Err(e) => Errors::fixable(e)?,
        },
    };
    let html = render_list(&state, &user, None, form, errors).await?;
    Ok((StatusCode::UNPROCESSABLE_ENTITY, Html(html)).into_response())
}

async fn render_edit(
    state: &AppState,
    user: &PageUser,
    id: PresetId,
    form: Option<PresetForm>,
    errors: Errors,
) -> PageResult<String> {
    let p = state.app.get_preset(&id.to_string()).await?;
    let form = form.unwrap_or_else(|| PresetForm::shown(&p));
    Ok(EditPage {
        chrome: Chrome::for_user(user, None),
        id: id.to_string(),
        title: p.name,
        providers: provider_names(state, &form.provider).await?,
        form,
        errors,
    }
    .render()?)
}

pub(in crate::pages) async fn edit(
    user: PageUser,
    State(state): State<AppState>,
    PageId(id): PageId<PresetId>,
) -> PageResult {
    let html = render_edit(&state, &user, id, None, Errors::default()).await?;
    Ok(Html(html).into_response())
}

pub(in crate::pages) async fn update(
    State(state): State<AppState>,
    PageId(id): PageId<PresetId>,
    PostForm { user, form }: PostForm,
) -> PageResult {
    let form = PresetForm::read(&form);
    let errors = match form.to_patch() {
        Err(found) => Errors(found),
        Ok(patch) => match state.app.update_preset(&id.to_string(), patch).await {
            Ok(_) => {
                return Ok(Redirect::to("/app/settings/presets?ok=preset_saved").into_response());
            }
            Err(e) => Errors::fixable(e)?,
        },
    };
    let html = render_edit(&state, &user, id, Some(form), errors).await?;
    Ok((StatusCode::UNPROCESSABLE_ENTITY, Html(html)).into_response())
}

pub(in crate::pages) async fn delete(
    State(state): State<AppState>,
    PageId(id): PageId<PresetId>,
    PostForm { user: _, form: _ }: PostForm,
) -> PageResult {
    state.app.delete_preset(&id.to_string()).await?;
    Ok(Redirect::to("/app/settings/presets?ok=preset_deleted").into_response())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn form(pairs: &[(&str, &str)]) -> PresetForm {
        PresetForm::read(&FormData(
            pairs
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
        ))
    }

    #[test]
    fn params_are_read_as_the_settings_json_and_a_bad_one_names_params() {
        let f = form(&[
            ("name", " cold "),
            ("provider", ""),
            ("model", "m"),
            (
                "params",
                r#"{"temperature": 0.2, "maxTokens": 50, "seed": 7}"#,
            ),
        ]);
        let new = f.to_new().unwrap();
        assert_eq!(new.name, "cold");
        assert_eq!(new.provider, None, "empty: the default provider");
        let p = new.params.unwrap();
        assert_eq!(
            (p.temperature, p.max_tokens, p.seed),
            (Some(0.2), Some(50), Some(7))
        );
        assert_eq!(
            form(&[("params", "  ")]).to_new().unwrap().params,
            Some(ModelSettings::default())
        );
        for bad in ["{", "[1]", r#"{"temperature": "hot"}"#] {
            let errors = form(&[("params", bad)]).to_patch().err().unwrap();
            assert_eq!(errors[0].0, "params", "{bad}");
        }
        let patch = form(&[("provider", "local"), ("model", "m")])
            .to_patch()
            .unwrap();
        assert_eq!(patch.provider, Some(Some("local".into())));
    }

    #[test]
    fn the_summary_shows_scalars_with_their_values_and_the_rest_by_name() {
        let s = ModelSettings {
            temperature: Some(0.5),
            max_tokens: Some(10),
            stop: Some(vec!["x".into()]),
            ..Default::default()
        };
        let summary = params_summary(&s);
        for part in ["temperature 0.5", "maxTokens 10", "stop …"] {
            assert!(summary.contains(part), "{summary}");
        }
        assert_eq!(params_summary(&ModelSettings::default()), "");
    }
}
