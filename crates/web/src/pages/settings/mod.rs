//! `/app/settings`: API tokens and the providers runs can use; the
//! providers are managed in [`providers`] (`/app/settings/providers`), the
//! model presets in [`presets`] (`/app/settings/presets`).

use askama::Template;
use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::{Html, IntoResponse, Redirect};
use promptrefine_app::AppError;
use promptrefine_core::TokenId;
use secrecy::ExposeSecret;
use serde::Deserialize;

pub(super) mod presets;
mod provider_form;
pub(super) mod providers;

use super::Chrome;
use super::params::PageId;
use super::support::{Errors, PageResult, PageUser, PostForm, fmt_time};
use crate::state::AppState;

pub(super) struct TokenRow {
    pub id: String,
    pub name: String,
    pub prefix: String,
    pub created: String,
    pub last_used: String,
    pub revoked: bool,
}

pub(super) struct ProviderRow {
    pub name: String,
    pub models: String,
    pub source: String,
    pub has_key: bool,
}

#[derive(Template)]
#[template(path = "settings.html")]
struct SettingsPage {
    chrome: Chrome,
    tokens: Vec<TokenRow>,
    providers: Vec<ProviderRow>,
    new_token: String,
    new_name: String,
    errors: Errors,
}

#[derive(Deserialize)]
pub(super) struct SettingsQuery {
    ok: Option<String>,
}

async fn render(
    state: &AppState,
    user: &PageUser,
    flash: Option<&str>,
    new_token: String,
    new_name: String,
    errors: Errors,
) -> PageResult<String> {
    let tokens = state.app.list_tokens(user.user_id).await?;
    let providers = state.app.list_models().await;
    Ok(SettingsPage {
        chrome: Chrome::for_user(user, flash),
        tokens: tokens
            .iter()
            .map(|t| TokenRow {
                id: t.id.to_string(),
                name: t.name.clone(),
                prefix: t.prefix.clone(),
                created: fmt_time(t.created_at),
                last_used: t
                    .last_used_at
                    .map(fmt_time)
                    .unwrap_or_else(|| "never".into()),
                revoked: t.revoked_at.is_some(),
            })
            .collect(),
        providers: providers
            .iter()
            .map(|p| ProviderRow {
                name: p.provider.clone(),
                models: p.models.join(", "),
                source: p.source.as_str().to_owned(),
                has_key: p.has_key,
            })
            .collect(),
        new_token,
        new_name,
        errors,
    }
    .render()?)
}

pub(super) async fn show(
    user: PageUser,
    State(state): State<AppState>,
    Query(q): Query<SettingsQuery>,
) -> PageResult {
    let html = render(
        &state,
        &user,
        q.ok.as_deref(),
        String::new(),
        String::new(),
        Errors::default(),
    )
    .await?;
    Ok(Html(html).into_response())
}

/// Shows the new token once, on this response only (no redirect: the secret
/// must not travel in a URL or a flash cookie).
pub(super) async fn create_token(
    State(state): State<AppState>,
    PostForm { user, form }: PostForm,
) -> PageResult {
    let name = form.get("name").trim().to_string();
    match state.app.create_token(user.user_id, &name).await {
        Ok((_, secret)) => {
            let html = render(
                &state,
                &user,
                None,
                secret.expose_secret().to_string(),
                String::new(),
                Errors::default(),
            )
            .await?;
            Ok((
                [(axum::http::header::CACHE_CONTROL, "no-store")],
                Html(html),
            )
                .into_response())
        }
        Err(e @ (AppError::Invalid(_) | AppError::Conflict { .. })) => {
            let html = render(&state, &user, None, String::new(), name, Errors::of(&e)).await?;
            Ok((StatusCode::UNPROCESSABLE_ENTITY, Html(html)).into_response())
        }
        Err(e) => Err(e.into()),
    }
}

pub(super) async fn revoke_token(
    State(state): State<AppState>,
    PageId(id): PageId<TokenId>,
    PostForm { user, form: _ }: PostForm,
) -> PageResult {
    state.app.revoke_token(user.user_id, id).await?;
    Ok(Redirect::to("/app/settings?ok=revoked").into_response())
}
