//! `/api/providers`: provider connections, the environment's (read-only,
//! `source: "env"`) and the ones stored here. `{id}` is a stored
//! provider's id or any provider's name.

use axum::extract::{Path, State};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::dto::prompts::Deleted;
use super::dto::providers::{ConnectionTestBody, CreateProvider, ProviderBody, UpdateProvider};
use super::envelope::{ApiError, Created, Data, Envelope, ErrorEnvelope};
use super::extract::ApiJson;
use crate::auth::CurrentUser;
use crate::state::AppState;

pub(super) fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list, create))
        .routes(routes!(get_one, update, delete))
}

/// The connection test waits for the provider: no request timeout.
pub(super) fn long_running_routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(test_connection))
}

/// Every provider: the environment's first (in configuration order), then
/// the stored ones by name.
#[utoipa::path(get, path = "/api/providers", tag = "providers",
    responses((status = 200, body = Envelope<Vec<ProviderBody>>), (status = 401, body = ErrorEnvelope)))]
async fn list(
    _user: CurrentUser,
    State(state): State<AppState>,
) -> Result<Data<Vec<ProviderBody>>, ApiError> {
    let all = state.app.list_providers().await?;
    Ok(Data(all.into_iter().map(ProviderBody::from).collect()))
}

/// Stores a provider; its key and header values are encrypted at rest and
/// never answered.
#[utoipa::path(post, path = "/api/providers", tag = "providers", request_body = CreateProvider,
    responses((status = 201, body = Envelope<ProviderBody>), (status = 401, body = ErrorEnvelope), (status = 409, body = ErrorEnvelope), (status = 422, body = ErrorEnvelope)))]
async fn create(
    _user: CurrentUser,
    State(state): State<AppState>,
    ApiJson(input): ApiJson<CreateProvider>,
) -> Result<Created<ProviderBody>, ApiError> {
    Ok(Created(
        state.app.create_provider(input.into()).await?.into(),
    ))
}

#[utoipa::path(get, path = "/api/providers/{id}", tag = "providers",
    params(("id" = String, Path, description = "A stored provider's id, or any provider's name")),
    responses((status = 200, body = Envelope<ProviderBody>), (status = 404, body = ErrorEnvelope)))]
async fn get_one(
    _user: CurrentUser,
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<Data<ProviderBody>, ApiError> {
    Ok(Data(state.app.get_provider(&id).await?.into()))
}

/// Changes a stored provider (the environment's are read-only: 422 on `source`).
#[utoipa::path(patch, path = "/api/providers/{id}", tag = "providers", params(("id" = String, Path)), request_body = UpdateProvider,
    responses((status = 200, body = Envelope<ProviderBody>), (status = 404, body = ErrorEnvelope), (status = 409, body = ErrorEnvelope), (status = 422, body = ErrorEnvelope)))]
async fn update(
    _user: CurrentUser,
    State(state): State<AppState>,
    Path(id): Path<String>,
    ApiJson(input): ApiJson<UpdateProvider>,
) -> Result<Data<ProviderBody>, ApiError> {
    Ok(Data(
        state.app.update_provider(&id, input.into()).await?.into(),
    ))
}

/// Deletes a stored provider. Runs made with it keep its name.
#[utoipa::path(delete, path = "/api/providers/{id}", tag = "providers", params(("id" = String, Path)),
    responses((status = 200, body = Envelope<Deleted>), (status = 404, body = ErrorEnvelope), (status = 422, body = ErrorEnvelope)))]
async fn delete(
    _user: CurrentUser,
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<Data<Deleted>, ApiError> {
    let id = state.app.delete_provider(&id).await?;
    Ok(Data(Deleted {
        id: id.to_string(),
        deleted: true,
    }))
}

/// Lists the provider's models with its key (`GET {baseUrl}/models`), as a
/// run would reach it. A failure is a 200 with `ok: false` and the error
/// code a run would have stored.
#[utoipa::path(post, path = "/api/providers/{id}/test", tag = "providers", params(("id" = String, Path)),
    responses((status = 200, body = Envelope<ConnectionTestBody>), (status = 404, body = ErrorEnvelope), (status = 422, body = ErrorEnvelope)))]
async fn test_connection(
    _user: CurrentUser,
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<Data<ConnectionTestBody>, ApiError> {
    Ok(Data(state.app.test_provider(&id).await?.into()))
}
