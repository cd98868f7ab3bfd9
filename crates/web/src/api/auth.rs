//! `/api/auth/*`: login, logout, me and first-run setup.

use axum::extract::State;
use axum::http::request::Parts;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use promptrefine_core::User;
use secrecy::SecretString;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::api::envelope::{ApiError, Created, Data, Envelope, ErrorEnvelope};
use crate::api::extract::ApiJson;
use crate::auth::{CurrentUser, client_addr, cookie, csrf};
use crate::state::AppState;

pub(super) fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(login))
        .routes(routes!(logout))
        .routes(routes!(me))
        .routes(routes!(setup))
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(super) struct LoginRequest {
    email: String,
    #[schema(value_type = String, format = Password)]
    password: SecretString,
}

/// Signs in; sets the session cookie. Wrong email and wrong password give the
/// same 401; repeated failures get 429 with `Retry-After`.
#[utoipa::path(post, path = "/api/auth/login", tag = "auth", request_body = LoginRequest, security(()),
    responses((status = 200, body = Envelope<User>), (status = 401, body = ErrorEnvelope), (status = 429, body = ErrorEnvelope)))]
async fn login(
    State(state): State<AppState>,
    parts: Parts,
    ApiJson(input): ApiJson<LoginRequest>,
) -> Result<Response, ApiError> {
    refuse_cross_site(&parts, &state)?;
    let addr = client_addr(&parts, &state);
    let session = state.app.login(&input.email, input.password, addr).await?;
    let mut res = Data(session.user).into_response();
    cookie::attach_session(&mut res, &session.session_id, &parts, &state);
    Ok(res)
}

/// Login CSRF: a form on another site must not sign the browser in.
fn refuse_cross_site(parts: &Parts, state: &AppState) -> Result<(), ApiError> {
    if csrf::cross_site_browser_request(parts, state) {
        return Err(ApiError::new(
            StatusCode::FORBIDDEN,
            "csrf_rejected",
            "cross-site request refused",
        ));
    }
    Ok(())
}

#[derive(Serialize, ToSchema)]
pub(super) struct SignedOut {
    signed_out: bool,
}

/// Signs out: deletes the session server-side and clears the cookie.
#[utoipa::path(post, path = "/api/auth/logout", tag = "auth",
    responses((status = 200, body = Envelope<SignedOut>), (status = 401, body = ErrorEnvelope)))]
async fn logout(
    _user: CurrentUser,
    State(state): State<AppState>,
    parts: Parts,
) -> Result<Response, ApiError> {
    if let Some(raw) = cookie::session_cookie(&parts, &state) {
        state.app.logout(&raw).await?;
    }
    let mut res = Data(SignedOut { signed_out: true }).into_response();
    res.headers_mut().insert(
        header::SET_COOKIE,
        cookie::clear_session(cookie::secure(&parts, &state)),
    );
    Ok(res)
}

/// Who is signed in.
#[utoipa::path(get, path = "/api/auth/me", tag = "auth",
    responses((status = 200, body = Envelope<User>), (status = 401, body = ErrorEnvelope)))]
async fn me(user: CurrentUser, State(state): State<AppState>) -> Result<Data<User>, ApiError> {
    Ok(Data(state.app.user(user.user_id).await?))
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(super) struct SetupRequest {
    token: String,
    email: String,
    #[schema(value_type = String, format = Password)]
    password: SecretString,
}

/// First run: creates the admin with the one-time setup token (printed by the
/// server at start) and signs in. Gone once a user exists.
#[utoipa::path(post, path = "/api/auth/setup", tag = "auth", request_body = SetupRequest, security(()),
    responses((status = 201, body = Envelope<User>), (status = 403, body = ErrorEnvelope), (status = 422, body = ErrorEnvelope)))]
async fn setup(
    State(state): State<AppState>,
    parts: Parts,
    ApiJson(input): ApiJson<SetupRequest>,
) -> Result<Response, ApiError> {
    refuse_cross_site(&parts, &state)?;
    let session = state
        .app
        .complete_setup(&input.token, &input.email, input.password)
        .await?;
    let mut res = Created(session.user).into_response();
    cookie::attach_session(&mut res, &session.session_id, &parts, &state);
    Ok(res)
}
