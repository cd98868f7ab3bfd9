//! `GET /api/models`: what the UI's model selector offers, per provider —
//! live from the provider when it answers, else the configured list.

use axum::extract::State;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::dto::models::ModelList;
use super::envelope::{ApiError, Data, Envelope, ErrorEnvelope};
use crate::auth::CurrentUser;
use crate::state::AppState;

pub(super) fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(list))
}

/// Each configured provider's models, in configuration order (the first
/// provider is the default). `source` says whether the list is `live` (the
/// provider's `GET /models`, cached for a few minutes) or the configured
/// `fallback`; `hasKey` whether an API key is configured.
#[utoipa::path(get, path = "/api/models", tag = "runs",
    responses((status = 200, body = Envelope<Vec<ModelList>>), (status = 401, body = ErrorEnvelope)))]
async fn list(
    _user: CurrentUser,
    State(state): State<AppState>,
) -> Result<Data<Vec<ModelList>>, ApiError> {
    let lists = state.app.list_models().await;
    Ok(Data(lists.into_iter().map(ModelList::from).collect()))
}
