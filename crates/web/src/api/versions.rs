//! `/api/prompts/{id}/versions`, restore and diff. Versions are immutable:
//! there is no route that edits one.

use axum::extract::{Path, State};
use promptrefine_core::{PromptId, Version, VersionNumber};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::dto::prompts::PromptDetail;
use super::dto::versions::{
    DiffQuery, DiffResult, PageQuery, RestoreRequest, SaveVersion, VersionPage,
};
use super::envelope::{ApiError, Created, Data, Envelope, ErrorEnvelope};
use super::extract::{ApiJson, ApiQuery, IdPath, parse_id};
use crate::auth::CurrentUser;
use crate::state::AppState;

pub(super) fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list, save))
        .routes(routes!(get_one))
        .routes(routes!(restore))
        .routes(routes!(diff))
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
    IdPath(id): IdPath<PromptId>,
    ApiJson(input): ApiJson<SaveVersion>,
) -> Result<Created<Version>, ApiError> {
    Ok(Created(
        state
            .app
            .save_version(id, input.into(), Some(user.user_id))
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
    let number = VersionNumber::new(number).ok_or_else(|| ApiError::not_found("version"))?;
    Ok(Data(state.app.get_version(id, number).await?))
}

/// Makes an old version current again (no new version is written).
#[utoipa::path(post, path = "/api/prompts/{id}/restore", tag = "versions", params(("id" = String, Path)), request_body = RestoreRequest,
    responses((status = 200, body = Envelope<PromptDetail>), (status = 404, body = ErrorEnvelope), (status = 422, body = ErrorEnvelope)))]
async fn restore(
    _user: CurrentUser,
    State(state): State<AppState>,
    IdPath(id): IdPath<PromptId>,
    ApiJson(input): ApiJson<RestoreRequest>,
) -> Result<Data<PromptDetail>, ApiError> {
    let detail = state.app.restore_version(id, input.version_id).await?;
    Ok(Data(detail.into()))
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
    let number = |n: i64| VersionNumber::new(n).ok_or_else(|| ApiError::not_found("version"));
    let (from, to) = (number(q.from)?, q.to.map(number).transpose()?);
    Ok(Data(state.app.diff_versions(id, from, to).await?.into()))
}
