//! `/api/prompts`: create, list, read, rename/retag, delete; lookup by slug
//! (the runtime endpoint applications call, with ETag/304); render.

use std::collections::BTreeMap;

use axum::extract::{Path, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use promptrefine_app::prompts::{CreatePrompt, ListPrompts, PromptDetail, Rendered, UpdatePrompt};
use promptrefine_core::{Prompt, PromptId, PromptType, Version, VersionId};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::envelope::{ApiError, Created, Data, Envelope, ErrorEnvelope};
use super::extract::{ApiJson, ApiQuery, parse_id};
use crate::auth::CurrentUser;
use crate::state::AppState;

pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list, create))
        .routes(routes!(get_one, update, delete))
        .routes(routes!(get_by_slug))
        .routes(routes!(render))
}

#[derive(Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct ListQuery {
    /// Only prompts with this tag.
    tag: Option<String>,
    /// `text` or `chat`.
    #[serde(rename = "type")]
    #[param(rename = "type")]
    prompt_type: Option<String>,
    /// Substring of the title or slug.
    q: Option<String>,
    /// `nextCursor` of the previous page.
    cursor: Option<String>,
    /// 1–100, default 20.
    limit: Option<i64>,
}

#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct PromptPage {
    items: Vec<Prompt>,
    next_cursor: Option<String>,
}

/// Prompts, newest change first.
#[utoipa::path(get, path = "/api/prompts", tag = "prompts", params(ListQuery),
    responses((status = 200, body = Envelope<PromptPage>), (status = 422, body = ErrorEnvelope)))]
async fn list(
    _user: CurrentUser,
    State(state): State<AppState>,
    ApiQuery(q): ApiQuery<ListQuery>,
) -> Result<Data<PromptPage>, ApiError> {
    let page = state
        .app
        .list_prompts(ListPrompts {
            tag: q.tag,
            prompt_type: q.prompt_type,
            q: q.q,
            cursor: q.cursor,
            limit: q.limit,
        })
        .await?;
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
    Ok(Created(
        state.app.create_prompt(input, Some(user.user_id)).await?,
    ))
}

/// A prompt with its current version and labels.
#[utoipa::path(get, path = "/api/prompts/{id}", tag = "prompts", params(("id" = String, Path, description = "The prompt's id, or its slug")),
    responses((status = 200, body = Envelope<PromptDetail>), (status = 404, body = ErrorEnvelope)))]
async fn get_one(
    _user: CurrentUser,
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<Data<PromptDetail>, ApiError> {
    let id = state.app.prompt_ref(&id).await?;
    Ok(Data(state.app.get_prompt(id).await?))
}

/// Renames, re-slugs or retags a prompt. Nothing else can change here.
#[utoipa::path(patch, path = "/api/prompts/{id}", tag = "prompts", params(("id" = String, Path)), request_body = UpdatePrompt,
    responses((status = 200, body = Envelope<Prompt>), (status = 404, body = ErrorEnvelope), (status = 409, body = ErrorEnvelope), (status = 422, body = ErrorEnvelope)))]
async fn update(
    _user: CurrentUser,
    State(state): State<AppState>,
    Path(id): Path<String>,
    ApiJson(input): ApiJson<UpdatePrompt>,
) -> Result<Data<Prompt>, ApiError> {
    let id: PromptId = parse_id(&id, "prompt")?;
    Ok(Data(state.app.update_prompt(id, input).await?))
}

#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Deleted {
    id: String,
    deleted: bool,
}

/// Deletes a prompt with its versions, labels and runs.
#[utoipa::path(delete, path = "/api/prompts/{id}", tag = "prompts", params(("id" = String, Path)),
    responses((status = 200, body = Envelope<Deleted>), (status = 404, body = ErrorEnvelope)))]
async fn delete(
    _user: CurrentUser,
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<Data<Deleted>, ApiError> {
    let id: PromptId = parse_id(&id, "prompt")?;
    state.app.delete_prompt(id).await?;
    Ok(Data(Deleted {
        id: id.to_string(),
        deleted: true,
    }))
}

#[derive(Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct SlugQuery {
    /// A label such as `production`; default `current`.
    label: Option<String>,
}

/// What an application fetches at runtime.
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ResolvedPrompt {
    id: PromptId,
    slug: String,
    title: String,
    #[serde(rename = "type")]
    prompt_type: PromptType,
    tags: Vec<String>,
    label: String,
    version: Version,
}

/// The version a label points at, by slug. Answers with an `ETag`; send it
/// back in `If-None-Match` to get a 304 while nothing changed.
#[utoipa::path(get, path = "/api/prompts/by-slug/{slug}", tag = "prompts",
    params(("slug" = String, Path), SlugQuery, ("If-None-Match" = Option<String>, Header)),
    responses((status = 200, body = Envelope<ResolvedPrompt>), (status = 304), (status = 404, body = ErrorEnvelope)))]
async fn get_by_slug(
    _user: CurrentUser,
    State(state): State<AppState>,
    Path(slug): Path<String>,
    ApiQuery(q): ApiQuery<SlugQuery>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let (prompt, version) = state.app.resolve(&slug, q.label.as_deref()).await?;
    let label = q
        .label
        .filter(|l| !l.is_empty())
        .unwrap_or_else(|| "current".into());
    let etag = etag(&[
        version.id.to_string().as_bytes(),
        label.as_bytes(),
        prompt
            .updated_at
            .unix_timestamp_nanos()
            .to_string()
            .as_bytes(),
    ]);
    let cache = [
        (
            header::ETAG,
            HeaderValue::from_str(&etag).expect("hex etag"),
        ),
        (
            header::CACHE_CONTROL,
            HeaderValue::from_static("private, no-cache"),
        ),
    ];
    let matches = headers
        .get(header::IF_NONE_MATCH)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.split(',').any(|t| t.trim() == etag || t.trim() == "*"));
    if matches {
        return Ok((StatusCode::NOT_MODIFIED, cache).into_response());
    }
    let body = ResolvedPrompt {
        id: prompt.id,
        slug: prompt.slug,
        title: prompt.title,
        prompt_type: prompt.prompt_type,
        tags: prompt.tags,
        label,
        version,
    };
    Ok((cache, Data(body)).into_response())
}

fn etag(parts: &[&[u8]]) -> String {
    let mut h = Sha256::new();
    for p in parts {
        h.update(p);
        h.update([0]);
    }
    let digest = h.finalize();
    let hex: String = digest.iter().take(12).map(|b| format!("{b:02x}")).collect();
    format!("\"{hex}\"")
}

#[derive(Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct RenderRequest {
    /// Default: the current version.
    #[serde(default)]
    version_id: Option<VersionId>,
    #[serde(default)]
    variables: BTreeMap<String, String>,
}

/// Renders a version with variable values; 422 lists every missing variable.
#[utoipa::path(post, path = "/api/prompts/{id}/render", tag = "prompts", params(("id" = String, Path)), request_body = RenderRequest,
    responses((status = 200, body = Envelope<Rendered>), (status = 404, body = ErrorEnvelope), (status = 422, body = ErrorEnvelope)))]
async fn render(
    _user: CurrentUser,
    State(state): State<AppState>,
    Path(id): Path<String>,
    ApiJson(input): ApiJson<RenderRequest>,
) -> Result<Data<Rendered>, ApiError> {
    let id: PromptId = parse_id(&id, "prompt")?;
    Ok(Data(
        state
            .app
            .render(id, input.version_id, &input.variables)
            .await?,
    ))
}
