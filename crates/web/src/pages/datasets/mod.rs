//! Datasets in the browser: the list and the new-dataset form
//! (`/app/datasets`); one dataset with its items in [`show`], its item forms
//! in [`items`], and the upload with a preview in [`import`].

mod import;
mod items;
mod show;

use askama::Template;
use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::{Html, IntoResponse, Redirect};
use promptrefine_app::AppError;
use promptrefine_app::datasets::{CreateDataset, ListDatasets};
use promptrefine_core::Dataset;
use serde::Deserialize;

use super::Chrome;
use super::params::{nonempty, url_enc};
use super::support::{Errors, PageResult, PageUser, PostForm, fmt_time, iso_time};
use crate::state::AppState;

pub(super) use import::import;
pub(super) use items::{add_item, delete_item, edit_item};
pub(super) use show::show;

/// A dataset as the list and its page show it.
pub(super) struct DatasetRow {
    pub id: String,
    pub name: String,
    pub slug: String,
    pub description: String,
    pub items: i64,
    pub version: i64,
    pub updated: String,
    pub updated_iso: String,
}

impl From<&Dataset> for DatasetRow {
    fn from(d: &Dataset) -> Self {
        DatasetRow {
            id: d.id.to_string(),
            name: d.name.clone(),
            slug: d.slug.clone(),
            description: d.description.clone().unwrap_or_default(),
            items: d.item_count,
            version: d.version,
            updated: fmt_time(d.updated_at),
            updated_iso: iso_time(d.updated_at),
        }
    }
}

#[derive(Template)]
#[template(path = "datasets.html")]
struct ListPage {
    chrome: Chrome,
    rows: Vec<DatasetRow>,
    q: String,
    next_url: Option<String>,
    name: String,
    description: String,
    errors: Errors,
}

#[derive(Deserialize, Default)]
pub(super) struct ListQuery {
    q: Option<String>,
    cursor: Option<String>,
    ok: Option<String>,
}

async fn render_list(
    state: &AppState,
    user: &PageUser,
    q: ListQuery,
    (name, description): (String, String),
    errors: Errors,
) -> PageResult<String> {
    let search = nonempty(q.q);
    let page = state
        .app
        .list_datasets(ListDatasets {
            q: search.clone(),
            cursor: nonempty(q.cursor),
            limit: Some(25),
        })
        .await?;
    let next_url = page.next_cursor.map(|c| {
        format!(
            "/app/datasets?q={}&cursor={}",
            url_enc(search.as_deref().unwrap_or("")),
            url_enc(&c)
        )
    });
    Ok(ListPage {
        chrome: Chrome::for_user(user, q.ok.as_deref()),
        rows: page.items.iter().map(DatasetRow::from).collect(),
        q: search.unwrap_or_default(),
        next_url,
        name,
        description,
        errors,
    }
    .render()?)
}

pub(super) async fn list(
    user: PageUser,
    State(state): State<AppState>,
    Query(q): Query<ListQuery>,
) -> PageResult {
    let html = render_list(&state, &user, q, Default::default(), Errors::default()).await?;
    Ok(Html(html).into_response())
}

pub(super) async fn create(
    State(state): State<AppState>,
    PostForm { user, form }: PostForm,
) -> PageResult {
    let name = form.get("name").to_string();
    let description = form.get("description").to_string();
    let input = CreateDataset {
        name: name.clone(),
        description: nonempty(Some(description.clone())),
    };
    match state.app.create_dataset(input).await {
        Ok(d) => Ok(Redirect::to(&format!("/app/datasets/{}?ok=dataset", d.id)).into_response()),
        Err(e @ (AppError::Invalid(_) | AppError::Conflict { .. })) => {
            let html = render_list(
                &state,
                &user,
                ListQuery::default(),
                (name, description),
                Errors::of(&e),
            )
            .await?;
            Ok((StatusCode::UNPROCESSABLE_ENTITY, Html(html)).into_response())
        }
        Err(e) => Err(e.into()),
    }
}
