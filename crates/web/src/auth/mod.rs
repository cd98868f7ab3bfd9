//! Who is calling: a session cookie (pages and the browser) or an
//! `Authorization: Bearer` API token, both giving the same [`CurrentUser`].
//!
//! Handlers state what they need by taking `CurrentUser` (JSON 401 when
//! absent) or `PageUser` (redirect to `/login?next=…`). A test walks every
//! route to prove none is left open by accident.
//!
//! CSRF: a cookie-authenticated request that changes state must come from this
//! site, as its `Sec-Fetch-Site` or `Origin` header shows; tokens are exempt
//! (a browser never attaches them on its own).

pub mod cookie;
pub mod csrf;

use std::net::{IpAddr, SocketAddr};

use axum::extract::{ConnectInfo, FromRequestParts};
use axum::http::request::Parts;
use axum::http::{StatusCode, header};
use promptrefine_core::UserId;

use crate::api::envelope::ApiError;
use crate::state::AppState;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AuthMethod {
    Session,
    Token,
}

/// The signed-in user of this request.
#[derive(Clone, Debug)]
pub struct CurrentUser {
    pub user_id: UserId,
    pub method: AuthMethod,
    /// The session's CSRF token (for forms); None for token auth.
    pub csrf_token: Option<String>,
    /// The user's email, read with the session; None for token auth.
    pub email: Option<String>,
}

/// Looks the caller up; Ok(None) when no credentials were sent or they are invalid.
pub async fn authenticate(
    parts: &Parts,
    state: &AppState,
) -> Result<Option<CurrentUser>, ApiError> {
    if let Some(auth) = parts.headers.get(header::AUTHORIZATION) {
        let raw = auth
            .to_str()
            .ok()
            .and_then(|v| v.strip_prefix("Bearer "))
            .map(str::trim);
        let Some(raw) = raw else { return Ok(None) };
        return Ok(state.app.token_user(raw).await?.map(|user_id| CurrentUser {
            user_id,
            method: AuthMethod::Token,
            csrf_token: None,
            email: None,
        }));
    }
    let Some(raw) = cookie::session_cookie(parts, state) else {
        return Ok(None);
    };
    Ok(state.app.session(&raw).await?.map(|s| CurrentUser {
        user_id: s.user.id,
        method: AuthMethod::Session,
        csrf_token: Some(s.csrf_token),
        email: Some(s.user.email),
    }))
}

impl FromRequestParts<AppState> for CurrentUser {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        let user = authenticate(parts, state)
            .await?
            .ok_or_else(ApiError::unauthorized)?;
        if user.method == AuthMethod::Session && !csrf::same_site_or_safe(parts, state) {
            return Err(ApiError::new(
                StatusCode::FORBIDDEN,
                "csrf_rejected",
                "cross-site request refused: send it from this site, or use an API token",
            ));
        }
        Ok(user)
    }
}

/// A signed-in user who came with a session cookie: what managing API tokens
/// takes. No credentials: 401; a bearer token: 403.
#[derive(Clone, Debug)]
pub struct SessionUser(pub CurrentUser);

impl FromRequestParts<AppState> for SessionUser {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        let user = CurrentUser::from_request_parts(parts, state).await?;
        if user.method != AuthMethod::Session {
            return Err(ApiError::new(
                StatusCode::FORBIDDEN,
                "forbidden",
                "managing API tokens needs a signed-in session, not an API token",
            ));
        }
        Ok(SessionUser(user))
    }
}

/// The client's address: the peer, or, when the proxy is trusted, the last
/// `X-Forwarded-For` entry. That is the one the proxy appended (nginx's
/// `$proxy_add_x_forwarded_for` adds the address it saw to whatever the
/// client sent), so a client cannot choose it; the entries before it can be.
pub fn client_addr(parts: &Parts, state: &AppState) -> Option<IpAddr> {
    if state.config.trust_proxy {
        let appended = parts
            .headers
            .get_all("x-forwarded-for")
            .iter()
            .next_back()
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.rsplit(',').next())
            .and_then(|ip| ip.trim().parse().ok());
        if appended.is_some() {
            return appended;
        }
    }
    parts
        .extensions
        .get::<ConnectInfo<SocketAddr>>()
        .map(|c| c.0.ip())
}
