//! `/api/prompts/{id}/labels`: named pointers to versions.

use axum::extract::{Path, State};
use promptrefine_core::{Label, PromptId};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::dto::labels::{Removed, SetLabel};
use super::envelope::{ApiError, Data, Envelope, ErrorEnvelope};
use super::extract::{ApiJson, parse_id};
use crate::auth::CurrentUser;
use crate::state::AppState;

pub(super) fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list))
        .routes(routes!(set, remove))
}

/// A prompt's labels.
#[utoipa::path(get, path = "/api/prompts/{id}/labels", tag = "labels", params(("id" = String, Path, description = "The prompt's id, or its slug")),
    responses((status = 200, body = Envelope<Vec<Label>>), (status = 404, body = ErrorEnvelope)))]
async fn list(
    _user: CurrentUser,
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<Data<Vec<Label>>, ApiError> {
    let id = state.app.prompt_ref(&id).await?;
    Ok(Data(state.app.list_labels(id).await?))
}

/// Points a label at a version of this prompt (creates or moves it).
#[utoipa::path(put, path = "/api/prompts/{id}/labels/{label}", tag = "labels",
    params(("id" = String, Path), ("label" = String, Path)), request_body = SetLabel,
    responses((status = 200, body = Envelope<Vec<Label>>), (status = 404, body = ErrorEnvelope), (status = 422, body = ErrorEnvelope)))]
async fn set(
    _user: CurrentUser,
    State(state): State<AppState>,
    Path((id, label)): Path<(String, String)>,
    ApiJson(input): ApiJson<SetLabel>,
) -> Result<Data<Vec<Label>>, ApiError> {
    let id: PromptId = parse_id(&id, "prompt")?;
    Ok(Data(
        state.app.set_label(id, &label, input.version_id).await?,
    ))
}

/// Removes a label.
#[utoipa::path(delete, path = "/api/prompts/{id}/labels/{label}", tag = "labels",
    params(("id" = String, Path), ("label" = String, Path)),
    responses((status = 200, body = Envelope<Removed>), (status = 404, body = ErrorEnvelope)))]
async fn remove(
    _user: CurrentUser,
    State(state): State<AppState>,
    Path((id, label)): Path<(String, String)>,
) -> Result<Data<Removed>, ApiError> {
    let id: PromptId = parse_id(&id, "prompt")?;
    state.app.remove_label(id, &label).await?;
    Ok(Data(Removed { removed: true }))
}
