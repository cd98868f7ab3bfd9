//! `/api/tokens`: the signed-in user's API tokens. Managing tokens takes a
//! session ([`SessionUser`]): a bearer token gets 403 here, so a leaked token
//! cannot list its siblings or mint a successor that outlives its revocation.

use axum::extract::State;
use promptrefine_core::TokenId;
use promptrefine_store::ApiToken;
use secrecy::ExposeSecret;
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::api::envelope::{ApiError, Created, Data, Envelope, ErrorEnvelope};
use crate::api::extract::{ApiJson, IdPath};
use crate::auth::SessionUser;
use crate::state::AppState;

pub(super) fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list_tokens, create_token))
        .routes(routes!(revoke_token))
}

/// A token as answered (never its secret or hash).
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct TokenInfo {
    id: TokenId,
    name: String,
    prefix: String,
    #[serde(with = "time::serde::rfc3339")]
    created_at: OffsetDateTime,
    #[serde(with = "time::serde::rfc3339::option")]
    last_used_at: Option<OffsetDateTime>,
    #[serde(with = "time::serde::rfc3339::option")]
    revoked_at: Option<OffsetDateTime>,
    /// Null: the token never expires.
    #[serde(with = "time::serde::rfc3339::option")]
    expires_at: Option<OffsetDateTime>,
}

impl From<ApiToken> for TokenInfo {
    fn from(t: ApiToken) -> Self {
        TokenInfo {
            id: t.id,
            name: t.name,
            prefix: t.prefix,
            created_at: t.created_at,
            last_used_at: t.last_used_at,
            revoked_at: t.revoked_at,
            expires_at: t.expires_at,
        }
    }
}

/// The signed-in user's API tokens (never their secrets).
#[utoipa::path(get, path = "/api/tokens", tag = "tokens",
    responses((status = 200, body = Envelope<Vec<Object>>), (status = 401, body = ErrorEnvelope), (status = 403, body = ErrorEnvelope)))]
async fn list_tokens(
    SessionUser(user): SessionUser,
    State(state): State<AppState>,
) -> Result<Data<Vec<TokenInfo>>, ApiError> {
    let tokens = state.app.list_tokens(user.user_id).await?;
    Ok(Data(tokens.into_iter().map(TokenInfo::from).collect()))
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub(super) struct CreateToken {
    name: String,
    /// Days until the token expires (1 to 3650); without it, it never does.
    #[schema(minimum = 1, maximum = 3650)]
    expires_in_days: Option<i64>,
}

#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub(super) struct CreatedToken {
    #[serde(flatten)]
    #[schema(value_type = Object)]
    info: TokenInfo,
    /// The secret, shown this once.
    token: String,
}

/// Creates a named API token. The secret is in this answer only.
#[utoipa::path(post, path = "/api/tokens", tag = "tokens", request_body = CreateToken,
    responses((status = 201, body = Envelope<CreatedToken>), (status = 401, body = ErrorEnvelope), (status = 403, body = ErrorEnvelope), (status = 422, body = ErrorEnvelope)))]
async fn create_token(
    SessionUser(user): SessionUser,
    State(state): State<AppState>,
    ApiJson(input): ApiJson<CreateToken>,
) -> Result<Created<CreatedToken>, ApiError> {
    let (info, secret) = state
        .app
        .create_token_expiring(user.user_id, &input.name, input.expires_in_days)
        .await?;
    Ok(Created(CreatedToken {
        info: info.into(),
        token: secret.expose_secret().to_string(),
    }))
}

#[derive(Serialize, ToSchema)]
pub(super) struct Revoked {
    revoked: bool,
}

/// Revokes a token at once.
#[utoipa::path(delete, path = "/api/tokens/{id}", tag = "tokens", params(("id" = String, Path)),
    responses((status = 200, body = Envelope<Revoked>), (status = 403, body = ErrorEnvelope), (status = 404, body = ErrorEnvelope)))]
async fn revoke_token(
    SessionUser(user): SessionUser,
    State(state): State<AppState>,
    IdPath(id): IdPath<TokenId>,
) -> Result<Data<Revoked>, ApiError> {
    state.app.revoke_token(user.user_id, id).await?;
    Ok(Data(Revoked { revoked: true }))
}
