//! `/app/settings/providers`: the provider connections — the environment's
//! shown read-only, the stored ones added, edited, tested and deleted.
//!
//! No page ever holds a key or a header value: the list shows whether a key
//! is set and the header names, and a form that fails comes back without
//! the key and headers typed (they are asked for again).

use askama::Template;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{Html, IntoResponse, Redirect};
use promptrefine_app::AppError;
use promptrefine_app::providers::{ConnectionTest, ProviderSource, ProviderView};
use promptrefine_core::ProviderId;
use serde::Deserialize;

use super::super::Chrome;
use super::super::params::PageId;
use super::super::support::{Errors, PageResult, PageUser, PostForm};
use super::provider_form::{FormErrors, ProviderForm, show_prices};
use crate::state::AppState;

pub(in crate::pages) struct ProviderRow {
    /// What the test form addresses it by: a stored one's id, else its name.
    pub key: String,
    pub name: String,
    pub base_url: String,
    pub has_key: bool,
    pub header_names: String,
    pub models: String,
    pub stored: bool,
}

impl From<&ProviderView> for ProviderRow {
    fn from(p: &ProviderView) -> Self {
        ProviderRow {
            key: p
                .id
                .map(|id| id.to_string())
                .unwrap_or_else(|| p.name.clone()),
            name: p.name.clone(),
            base_url: p.base_url.clone(),
            has_key: p.has_key,
            header_names: p.header_names.join(", "),
            models: p.models.join(", "),
            stored: p.source == ProviderSource::Stored,
        }
    }
}

/// What "Test connection" found, for the page it answers with.
pub(in crate::pages) struct TestResult {
    pub name: String,
    pub ok: bool,
    pub models: Vec<String>,
    pub code: String,
    pub message: String,
}

#[derive(Template)]
#[template(path = "providers.html")]
struct ListPage {
    chrome: Chrome,
    rows: Vec<ProviderRow>,
    test: Option<TestResult>,
    form: ProviderForm,
    errors: Errors,
    // What the shared form fields ask of an edit page, false here.
    editing: bool,
    has_key: bool,
    header_names: String,
}

#[derive(Template)]
#[template(path = "provider.html")]
struct EditPage {
    chrome: Chrome,
    id: String,
    /// The name as stored (the form may hold a new one).
    title: String,
    editing: bool,
    has_key: bool,
    header_names: String,
    form: ProviderForm,
    errors: Errors,
}

#[derive(Deserialize)]
pub(in crate::pages) struct FlashQuery {
    ok: Option<String>,
}

impl FlashQuery {
    pub(in crate::pages) fn flash(&self) -> Option<&str> {
        self.ok.as_deref()
    }
}

async fn render_list(
    state: &AppState,
    user: &PageUser,
    flash: Option<&str>,
    test: Option<TestResult>,
    form: ProviderForm,
    errors: Errors,
) -> PageResult<String> {
    let all = state.app.list_providers().await?;
    Ok(ListPage {
        chrome: Chrome::for_user(user, flash),
        rows: all.iter().map(ProviderRow::from).collect(),
        test,
        form,
        errors,
        editing: false,
        has_key: false,
        header_names: String::new(),
    }
    .render()?)
}

fn blank() -> ProviderForm {
    ProviderForm::shown("", "", &[], "")
}

pub(in crate::pages) async fn list(
    user: PageUser,
    State(state): State<AppState>,
    Query(q): Query<FlashQuery>,
) -> PageResult {
    let html = render_list(
        &state,
        &user,
        q.ok.as_deref(),
        None,
        blank(),
        Errors::default(),
    )
    .await?;
    Ok(Html(html).into_response())
}

pub(in crate::pages) async fn create(
    State(state): State<AppState>,
    PostForm { user, form }: PostForm,
) -> PageResult {
    let form = ProviderForm::read(&form);
    let errors = match form.to_new() {
        Err(found) => Errors(found),
        Ok(input) => match state.app.create_provider(input).await {
            Ok(_) => {
                return Ok(
                    Redirect::to("/app/settings/providers?ok=provider_added").into_response()
                );
            }
            Err(e) => Errors::fixable(e)?,
        },
    };
    let html = render_list(&state, &user, None, None, form, errors).await?;
    Ok((StatusCode::UNPROCESSABLE_ENTITY, Html(html)).into_response())
}

async fn render_edit(
    state: &AppState,
    user: &PageUser,
    id: ProviderId,
    form: Option<ProviderForm>,
    errors: Errors,
) -> PageResult<String> {
    let p = state.app.get_provider(&id.to_string()).await?;
    let form = form.unwrap_or_else(|| {
        ProviderForm::shown(&p.name, &p.base_url, &p.models, &show_prices(&p.prices))
    });
    Ok(EditPage {
        chrome: Chrome::for_user(user, None),
        id: id.to_string(),
        title: p.name,
        editing: true,
        has_key: p.has_key,
        header_names: p.header_names.join(", "),
        form,
        errors,
    }
    .render()?)
}

pub(in crate::pages) async fn edit(
    user: PageUser,
    State(state): State<AppState>,
    PageId(id): PageId<ProviderId>,
) -> PageResult {
    let html = render_edit(&state, &user, id, None, Errors::default()).await?;
    Ok(Html(html).into_response())
}

pub(in crate::pages) async fn update(
    State(state): State<AppState>,
    PageId(id): PageId<ProviderId>,
    PostForm { user, form }: PostForm,
) -> PageResult {
    let form = ProviderForm::read(&form);
    let errors = match form.to_patch() {
        Err(found) => Errors(found),
        Ok(patch) => match state.app.update_provider(&id.to_string(), patch).await {
            Ok(_) => {
                return Ok(
                    Redirect::to("/app/settings/providers?ok=provider_saved").into_response()
                );
            }
            Err(e) => Errors::fixable(e)?,
        },
    };
    let html = render_edit(&state, &user, id, Some(form), errors).await?;
    Ok((StatusCode::UNPROCESSABLE_ENTITY, Html(html)).into_response())
}

pub(in crate::pages) async fn delete(
    State(state): State<AppState>,
    PageId(id): PageId<ProviderId>,
    PostForm { user: _, form: _ }: PostForm,
) -> PageResult {
    state.app.delete_provider(&id.to_string()).await?;
    Ok(Redirect::to("/app/settings/providers?ok=provider_deleted").into_response())
}

/// Asks the provider for its models and answers with the list page showing
/// what it found (not a redirect: the result is not a fixed message).
pub(in crate::pages) async fn test(
    State(state): State<AppState>,
    Path(key): Path<String>,
    PostForm { user, form: _ }: PostForm,
) -> PageResult {
    let name = state.app.get_provider(&key).await?.name;
    let test = match state.app.test_provider(&key).await {
        Ok(ConnectionTest::Ok { models }) => TestResult {
            name,
            ok: true,
            models,
            code: String::new(),
            message: String::new(),
        },
        Ok(ConnectionTest::Failed {
            code,
            message,
            http_status,
        }) => TestResult {
            name,
            ok: false,
            models: Vec::new(),
            code: match http_status {
                Some(s) => format!("{code} (HTTP {s})"),
                None => code.to_owned(),
            },
            message,
        },
        // A stored provider that cannot be used as it is (its secrets do
        // not open with this server's key, its address is now refused).
        Err(e @ AppError::Invalid(_)) => TestResult {
            name,
            ok: false,
            models: Vec::new(),
            code: "invalid_provider".into(),
            message: messages(&Errors::of(&e).0),
        },
        Err(e) => return Err(e.into()),
    };
    let html = render_list(&state, &user, None, Some(test), blank(), Errors::default()).await?;
    Ok(Html(html).into_response())
}

fn messages(errors: &FormErrors) -> String {
    errors
        .iter()
        .map(|(_, m)| m.as_str())
        .collect::<Vec<_>>()
        .join(" ")
}
