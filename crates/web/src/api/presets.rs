//! `/api/model-presets`: named provider + model + parameters. `{id}` is a
//! preset's id or its name.

use axum::extract::{Path, State};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::dto::presets::{CreatePreset, ModelPreset, UpdatePreset};
use super::dto::prompts::Deleted;
use super::envelope::{ApiError, Created, Data, Envelope, ErrorEnvelope};
use super::extract::ApiJson;
use crate::auth::CurrentUser;
use crate::state::AppState;

pub(super) fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list, create))
        .routes(routes!(get_one, update, delete))
}

/// Every preset, by name.
#[utoipa::path(get, path = "/api/model-presets", tag = "model-presets",
    responses((status = 200, body = Envelope<Vec<ModelPreset>>), (status = 401, body = ErrorEnvelope)))]
async fn list(
    _user: CurrentUser,
    State(state): State<AppState>,
) -> Result<Data<Vec<ModelPreset>>, ApiError> {
    let all = state.app.list_presets().await?;
    Ok(Data(all.into_iter().map(ModelPreset::from).collect()))
}

/// Stores a preset; its provider must be configured now.
#[utoipa::path(post, path = "/api/model-presets", tag = "model-presets", request_body = CreatePreset,
    responses((status = 201, body = Envelope<ModelPreset>), (status = 401, body = ErrorEnvelope), (status = 409, body = ErrorEnvelope), (status = 422, body = ErrorEnvelope)))]
async fn create(
    _user: CurrentUser,
    State(state): State<AppState>,
    ApiJson(input): ApiJson<CreatePreset>,
) -> Result<Created<ModelPreset>, ApiError> {
    Ok(Created(state.app.create_preset(input.into()).await?.into()))
}

#[utoipa::path(get, path = "/api/model-presets/{id}", tag = "model-presets",
    params(("id" = String, Path, description = "A preset's id or name")),
    responses((status = 200, body = Envelope<ModelPreset>), (status = 404, body = ErrorEnvelope)))]
async fn get_one(
    _user: CurrentUser,
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<Data<ModelPreset>, ApiError> {
    Ok(Data(state.app.get_preset(&id).await?.into()))
}

/// Changes a preset. Runs and experiments made with it keep what it was.
#[utoipa::path(patch, path = "/api/model-presets/{id}", tag = "model-presets", params(("id" = String, Path)), request_body = UpdatePreset,
    responses((status = 200, body = Envelope<ModelPreset>), (status = 404, body = ErrorEnvelope), (status = 409, body = ErrorEnvelope), (status = 422, body = ErrorEnvelope)))]
async fn update(
    _user: CurrentUser,
    State(state): State<AppState>,
    Path(id): Path<String>,
    ApiJson(input): ApiJson<UpdatePreset>,
) -> Result<Data<ModelPreset>, ApiError> {
    Ok(Data(
        state.app.update_preset(&id, input.into()).await?.into(),
    ))
}

/// Deletes a preset. Runs and experiments made with it keep what it was.
#[utoipa::path(delete, path = "/api/model-presets/{id}", tag = "model-presets", params(("id" = String, Path)),
    responses((status = 200, body = Envelope<Deleted>), (status = 404, body = ErrorEnvelope)))]
async fn delete(
    _user: CurrentUser,
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<Data<Deleted>, ApiError> {
    let id = state.app.delete_preset(&id).await?;
    Ok(Data(Deleted {
        id: id.to_string(),
        deleted: true,
    }))
}
