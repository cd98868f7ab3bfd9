//! `/api/prompts`: create, list, read, rename/retag, delete; lookup by slug
//! (the runtime endpoint applications call, with ETag/304); render.

use axum::extract::{Path, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use promptrefine_app::delivery::{Delivered, Selector};
use promptrefine_core::{Prompt, PromptId};
use serde_json::json;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::dto::prompts::{
    CreatePrompt, Deleted, ListQuery, PromptDetail, PromptPage, RenderRequest, Rendered,
    ResolvedPrompt, SlugQuery, UpdatePrompt,
};
use super::envelope::{ApiError, Created, Data, Envelope, ErrorEnvelope};
use super::extract::{ApiJson, ApiQuery, IdPath};
use crate::auth::CurrentUser;
use crate::state::AppState;

pub(super) fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list, create))
        .routes(routes!(get_one, update, delete))
        .routes(routes!(get_by_slug))
        .routes(routes!(render))
}

/// Prompts, newest change first.
#[utoipa::path(get, path = "/api/prompts", tag = "prompts", params(ListQuery),
    responses((status = 200, body = Envelope<PromptPage>), (status = 422, body = ErrorEnvelope)))]
async fn list(
    _user: CurrentUser,
    State(state): State<AppState>,
    ApiQuery(q): ApiQuery<ListQuery>,
) -> Result<Data<PromptPage>, ApiError> {
    let page = state.app.list_prompts(q.into()).await?;
    Ok(Data(PromptPage {
        items: page.items,
        next_cursor: page.next_cursor,
    }))
}

/// Creates a prompt; with `content`, also its version 1.
#[utoipa::path(post, path = "/api/prompts", tag = "prompts", request_body = CreatePrompt,
    responses((status = 201, body = Envelope<PromptDetail>), (status = 409, body = ErrorEnvelope), (status = 422, body = ErrorEnvelope)))]
async fn create(
    user: CurrentUser,
    State(state): State<AppState>,
    ApiJson(input): ApiJson<CreatePrompt>,
) -> Result<Created<PromptDetail>, ApiError> {
    let detail = state
        .app
        .create_prompt(input.into(), Some(user.user_id))
        .await?;
    Ok(Created(detail.into()))
}

/// A prompt with its current version and labels, from the delivery cache
/// (a hit makes no query). Answers with an `ETag`; send it back in
/// `If-None-Match` to get a 304 while nothing changed.
#[utoipa::path(get, path = "/api/prompts/{id}", tag = "prompts",
    params(("id" = String, Path, description = "The prompt's id, or its slug"), ("If-None-Match" = Option<String>, Header)),
    responses((status = 200, body = Envelope<PromptDetail>), (status = 304), (status = 404, body = ErrorEnvelope)))]
async fn get_one(
    _user: CurrentUser,
    State(state): State<AppState>,
    Path(id): Path<String>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let answer = state
        .app
        .deliver_detail(&id, |detail| {
            // The same bytes `Data` would write.
            let body = json!({ "data": PromptDetail::from(detail), "error": null });
            Bytes::from(serde_json::to_vec(&body).expect("an answer serializes"))
        })
        .await?;
    Ok(cached_answer(&answer, &headers))
}

/// Renames, re-slugs or retags a prompt. Nothing else can change here.
#[utoipa::path(patch, path = "/api/prompts/{id}", tag = "prompts", params(("id" = String, Path)), request_body = UpdatePrompt,
    responses((status = 200, body = Envelope<Prompt>), (status = 404, body = ErrorEnvelope), (status = 409, body = ErrorEnvelope), (status = 422, body = ErrorEnvelope)))]
async fn update(
    _user: CurrentUser,
    State(state): State<AppState>,
    IdPath(id): IdPath<PromptId>,
    ApiJson(input): ApiJson<UpdatePrompt>,
) -> Result<Data<Prompt>, ApiError> {
    Ok(Data(state.app.update_prompt(id, input.into()).await?))
}

/// Deletes a prompt with its versions, labels and runs.
#[utoipa::path(delete, path = "/api/prompts/{id}", tag = "prompts", params(("id" = String, Path)),
    responses((status = 200, body = Envelope<Deleted>), (status = 404, body = ErrorEnvelope)))]
async fn delete(
    _user: CurrentUser,
    State(state): State<AppState>,
    IdPath(id): IdPath<PromptId>,
) -> Result<Data<Deleted>, ApiError> {
    state.app.delete_prompt(id).await?;
    Ok(Data(Deleted {
        id: id.to_string(),
        deleted: true,
    }))
}

/// The version a label (or `version` number) points at, by slug: the
/// runtime lookup applications make, answered from the delivery cache (a hit,
/// 200 or 304, makes no database query). Answers with an `ETag`; send it back
/// in `If-None-Match` to get a 304 while nothing changed.
#[utoipa::path(get, path = "/api/prompts/by-slug/{slug}", tag = "prompts",
    params(("slug" = String, Path), SlugQuery, ("If-None-Match" = Option<String>, Header)),
    responses((status = 200, body = Envelope<ResolvedPrompt>), (status = 304), (status = 404, body = ErrorEnvelope), (status = 422, body = ErrorEnvelope)))]
async fn get_by_slug(
    _user: CurrentUser,
    State(state): State<AppState>,
    Path(slug): Path<String>,
    ApiQuery(q): ApiQuery<SlugQuery>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let selector = Selector::parse(q.label.as_deref(), q.version)?;
    let answer = state
        .app
        .deliver(&slug, selector, |resolved| {
            // The same bytes `Data` would write.
            let body = json!({ "data": ResolvedPrompt::from(resolved), "error": null });
            Bytes::from(serde_json::to_vec(&body).expect("an answer serializes"))
        })
        .await?;
    Ok(cached_answer(&answer, &headers))
}

/// A cached answer: 304 when `If-None-Match` names its ETag, else its body.
fn cached_answer(answer: &Delivered, headers: &HeaderMap) -> Response {
    let cache = [
        (
            header::ETAG,
            HeaderValue::from_str(&answer.etag).expect("hex etag"),
        ),
        (
            header::CACHE_CONTROL,
            HeaderValue::from_static("private, no-cache"),
        ),
    ];
    let matches = headers
        .get(header::IF_NONE_MATCH)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| {
            v.split(',')
                .any(|t| t.trim() == answer.etag || t.trim() == "*")
        });
    if matches {
        return (StatusCode::NOT_MODIFIED, cache).into_response();
    }
    let json = [(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    )];
    (cache, json, answer.body.clone()).into_response()
}

/// Renders a version with variable values; 422 lists every missing variable.
#[utoipa::path(post, path = "/api/prompts/{id}/render", tag = "prompts", params(("id" = String, Path)), request_body = RenderRequest,
    responses((status = 200, body = Envelope<Rendered>), (status = 404, body = ErrorEnvelope), (status = 422, body = ErrorEnvelope)))]
async fn render(
    _user: CurrentUser,
    State(state): State<AppState>,
    IdPath(id): IdPath<PromptId>,
    ApiJson(input): ApiJson<RenderRequest>,
) -> Result<Data<Rendered>, ApiError> {
    let rendered = state
        .app
        .render(id, input.version_id, &input.variables)
        .await?;
    Ok(Data(rendered.into()))
}
