//! `/login`, `/logout` and first-run `/setup`.

use askama::Template;
use axum::extract::{Query, State};
use axum::http::header;
use axum::http::request::Parts;
use axum::response::{Html, IntoResponse, Redirect, Response};
use promptrefine_app::AppError;
use promptrefine_app::auth::NewSession;
use secrecy::{ExposeSecret, SecretString};
use serde::Deserialize;

use super::Chrome;
use super::support::{Errors, PageResult, PostForm, SignedOutForm, safe_next};
use crate::auth::{AuthMethod, authenticate, client_addr, cookie};
use crate::state::AppState;

#[derive(Template)]
#[template(path = "login.html")]
struct LoginPage {
    chrome: Chrome,
    next: String,
    email: String,
    error: String,
}

#[derive(Deserialize)]
pub(super) struct NextQuery {
    next: Option<String>,
    ok: Option<String>,
}

pub(super) async fn show(
    State(state): State<AppState>,
    parts: Parts,
    Query(q): Query<NextQuery>,
) -> PageResult {
    let next = safe_next(q.next.as_deref());
    let signed_in = authenticate(&parts, &state)
        .await
        .ok()
        .flatten()
        .is_some_and(|u| u.method == AuthMethod::Session);
    if signed_in {
        return Ok(Redirect::to(&next).into_response());
    }
    if state.app.user_count().await? == 0 {
        // Nobody to sign in as yet: say how to get started.
        let mut chrome = Chrome::signed_out();
        chrome.flash =
            Some("No account exists yet: open the setup link the server printed at start-up.");
        return render_login(chrome, next, String::new(), String::new());
    }
    let mut chrome = Chrome::signed_out();
    chrome.flash = super::support::flash(q.ok.as_deref());
    render_login(chrome, next, String::new(), String::new())
}

/// A redirect to `to` that sets the new session's cookie.
fn redirect_signed_in(to: &str, session: &NewSession, parts: &Parts, state: &AppState) -> Response {
    let mut res = Redirect::to(to).into_response();
    res.headers_mut().insert(
        header::SET_COOKIE,
        cookie::set_session(
            session.session_id.expose_secret(),
            state.config.session_absolute.as_secs(),
            cookie::secure(parts, state),
        ),
    );
    res
}

fn render_login(chrome: Chrome, next: String, email: String, error: String) -> PageResult {
    Ok(Html(
        LoginPage {
            chrome,
            next,
            email,
            error,
        }
        .render()?,
    )
    .into_response())
}

pub(super) async fn submit(
    State(state): State<AppState>,
    SignedOutForm { parts, form }: SignedOutForm,
) -> PageResult {
    let next = safe_next(Some(form.get("next")));
    let email = form.get("email").to_string();
    let password = SecretString::from(form.get("password").to_string());
    match state
        .app
        .login(&email, password, client_addr(&parts, &state))
        .await
    {
        Ok(session) => Ok(redirect_signed_in(&next, &session, &parts, &state)),
        Err(e @ (AppError::Unauthorized(_) | AppError::Throttled { .. })) => {
            let message = match e {
                AppError::Throttled { retry_after_secs } => {
                    format!("Too many failed attempts. Try again in {retry_after_secs} seconds.")
                }
                _ => "Wrong email or password.".to_string(),
            };
            let mut res = render_login(Chrome::signed_out(), next, email, message)?;
            *res.status_mut() = axum::http::StatusCode::UNAUTHORIZED;
            if let AppError::Throttled { retry_after_secs } = e {
                too_many(&mut res, retry_after_secs);
            }
            Ok(res)
        }
        Err(AppError::Invalid(_)) => {
            let mut res = render_login(
                Chrome::signed_out(),
                next,
                email,
                "Wrong email or password.".into(),
            )?;
            *res.status_mut() = axum::http::StatusCode::UNAUTHORIZED;
            Ok(res)
        }
        Err(e) => Err(e.into()),
    }
}

pub(super) async fn logout(
    State(state): State<AppState>,
    parts: Parts,
    post: PostForm,
) -> PageResult {
    let _ = post.user;
    if let Some(raw) = cookie::session_cookie(&parts, &state) {
        state.app.logout(&raw).await?;
    }
    let mut res = Redirect::to("/login?ok=signedout").into_response();
    res.headers_mut().insert(
        header::SET_COOKIE,
        cookie::clear_session(cookie::secure(&parts, &state)),
    );
    Ok(res)
}

#[derive(Template)]
#[template(path = "setup.html")]
struct SetupPage {
    chrome: Chrome,
    token: String,
    email: String,
    error: String,
    errors: Errors,
}

#[derive(Deserialize)]
pub(super) struct SetupQuery {
    token: Option<String>,
}

pub(super) async fn setup_show(
    State(state): State<AppState>,
    Query(q): Query<SetupQuery>,
) -> PageResult {
    if state.app.user_count().await? > 0 {
        return Ok(Redirect::to("/login").into_response());
    }
    let token = q.token.unwrap_or_default();
    let error = if token.is_empty() || !state.app.setup_token_valid(&token).await? {
        "This setup link is invalid or expired. Use the link the server printed at start-up."
            .to_string()
    } else {
        String::new()
    };
    Ok(Html(
        SetupPage {
            chrome: Chrome::signed_out(),
            token,
            email: String::new(),
            error,
            errors: Errors::default(),
        }
        .render()?,
    )
    .into_response())
}

pub(super) async fn setup_submit(
    State(state): State<AppState>,
    SignedOutForm { parts, form }: SignedOutForm,
) -> PageResult {
    if state.app.user_count().await? > 0 {
        return Ok(Redirect::to("/login").into_response());
    }
    let token = form.get("token").to_string();
    let email = form.get("email").to_string();
    let password = SecretString::from(form.get("password").to_string());
    match state.app.complete_setup(&token, &email, password).await {
        Ok(session) => Ok(redirect_signed_in("/app", &session, &parts, &state)),
        Err(e) => {
            let (error, errors) = match &e {
                AppError::Invalid(_) => (String::new(), Errors::of(&e)),
                AppError::Forbidden(m) => (m.to_string(), Errors::default()),
                AppError::Throttled { .. } => (
                    "The server is busy. Try again in a moment.".to_string(),
                    Errors::default(),
                ),
                _ => return Err(e.into()),
            };
            let mut res = Html(
                SetupPage {
                    chrome: Chrome::signed_out(),
                    token,
                    email,
                    error,
                    errors,
                }
                .render()?,
            )
            .into_response();
            *res.status_mut() = axum::http::StatusCode::UNPROCESSABLE_ENTITY;
            if let AppError::Throttled { retry_after_secs } = e {
                too_many(&mut res, retry_after_secs);
            }
            Ok(res)
        }
    }
}

/// 429 with `Retry-After`, as the API answers.
fn too_many(res: &mut axum::response::Response, retry_after_secs: u64) {
    *res.status_mut() = axum::http::StatusCode::TOO_MANY_REQUESTS;
    res.headers_mut()
        .insert(header::RETRY_AFTER, retry_after_secs.into());
}
