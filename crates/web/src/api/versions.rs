//! `/api/prompts/{id}/versions`, restore and diff. Versions are immutable:
//! there is no route that edits one.

use axum::extract::{Path, State};
use promptrefine_app::prompts::{DiffResult, PromptDetail, SaveVersion};
use promptrefine_core::{PromptId, Version, VersionId};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::envelope::{ApiError, Created, Data, Envelope, ErrorEnvelope};
use super::extract::{ApiJson, ApiQuery, parse_id};
use crate::auth::CurrentUser;
use crate::state::AppState;

pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list, save))
        .routes(routes!(get_one))
        .routes(routes!(restore))
        .routes(routes!(diff))
}

#[derive(Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct PageQuery {
    cursor: Option<String>,
    /// 1–100, default 20.
    limit: Option<i64>,
}

#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct VersionPage {
    items: Vec<Version>,
    next_cursor: Option<String>,
}

/// A prompt's versions, newest first.
#[utoipa::path(get, path = "/api/prompts/{id}/versions", tag = "versions", params(("id" = String, Path, description = "The prompt's id, or its slug"), PageQuery),
    responses((status = 200, body = Envelope<VersionPage>), (status = 404, body = ErrorEnvelope), (status = 422, body = ErrorEnvelope)))]
async fn list(
    _user: CurrentUser,
    State(state): State<AppState>,
    Path(id): Path<String>,
    ApiQuery(q): ApiQuery<PageQuery>,
) -> Result<Data<VersionPage>, ApiError> {
    let id = state.app.prompt_ref(&id).await?;
    let page = state
        .app
        .list_versions(id, q.cursor.as_deref(), q.limit)
        .await?;
    Ok(Data(VersionPage {
        items: page.items,
        next_cursor: page.next_cursor,
    }))
}

/// Saves a new immutable version; it becomes current.
#[utoipa::path(post, path = "/api/prompts/{id}/versions", tag = "versions", params(("id" = String, Path)), request_body = SaveVersion,
    responses((status = 201, body = Envelope<Version>), (status = 404, body = ErrorEnvelope), (status = 422, body = ErrorEnvelope)))]
async fn save(
    user: CurrentUser,
    State(state): State<AppState>,
    Path(id): Path<String>,
    ApiJson(input): ApiJson<SaveVersion>,
) -> Result<Created<Version>, ApiError> {
    let id: PromptId = parse_id(&id, "prompt")?;
    Ok(Created(
        state
            .app
            .save_version(id, input, Some(user.user_id))
            .await?,
    ))
}

/// One version by its number.
#[utoipa::path(get, path = "/api/prompts/{id}/versions/{number}", tag = "versions",
    params(("id" = String, Path, description = "The prompt's id, or its slug"), ("number" = i64, Path)),
    responses((status = 200, body = Envelope<Version>), (status = 404, body = ErrorEnvelope)))]
async fn get_one(
    _user: CurrentUser,
    State(state): State<AppState>,
    Path((id, number)): Path<(String, String)>,
) -> Result<Data<Version>, ApiError> {
    let id = state.app.prompt_ref(&id).await?;
    let number: i64 = parse_id(&number, "version")?;
    Ok(Data(state.app.get_version(id, number).await?))
}

#[derive(Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct RestoreRequest {
    version_id: VersionId,
}

/// Makes an old version current again (no new version is written).
#[utoipa::path(post, path = "/api/prompts/{id}/restore", tag = "versions", params(("id" = String, Path)), request_body = RestoreRequest,
    responses((status = 200, body = Envelope<PromptDetail>), (status = 404, body = ErrorEnvelope), (status = 422, body = ErrorEnvelope)))]
async fn restore(
    _user: CurrentUser,
    State(state): State<AppState>,
    Path(id): Path<String>,
    ApiJson(input): ApiJson<RestoreRequest>,
) -> Result<Data<PromptDetail>, ApiError> {
    let id: PromptId = parse_id(&id, "prompt")?;
    Ok(Data(state.app.restore_version(id, input.version_id).await?))
}

#[derive(Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct DiffQuery {
    /// The older version number.
    from: i64,
    /// The newer version number; default: the current version.
    to: Option<i64>,
}

/// A line diff of two versions' bodies and settings.
#[utoipa::path(get, path = "/api/prompts/{id}/diff", tag = "versions", params(("id" = String, Path, description = "The prompt's id, or its slug"), DiffQuery),
    responses((status = 200, body = Envelope<DiffResult>), (status = 404, body = ErrorEnvelope), (status = 422, body = ErrorEnvelope)))]
async fn diff(
    _user: CurrentUser,
    State(state): State<AppState>,
    Path(id): Path<String>,
    ApiQuery(q): ApiQuery<DiffQuery>,
) -> Result<Data<DiffResult>, ApiError> {
    let id = state.app.prompt_ref(&id).await?;
    Ok(Data(state.app.diff_versions(id, q.from, q.to).await?))
}
