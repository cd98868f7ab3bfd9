//! One dataset (`/app/datasets/{id}`): its items in a keyset-paged table,
//! the item forms, the upload, export links and the version history.
//! `?version=N` shows the dataset as it was then (read only).

use askama::Template;
use axum::extract::{Path, Query, State};
use axum::response::{Html, IntoResponse};
use promptrefine_app::datasets::ListItems;
use promptrefine_core::{DatasetId, DatasetItem};
use serde::Deserialize;
use serde_json::Value;

use super::DatasetRow;
use super::import::ImportForm;
use crate::pages::Chrome;
use crate::pages::params::{nonempty, url_enc};
use crate::pages::support::{Errors, PageResult, PageUser};
use crate::state::AppState;

/// Items per page: a page is one query however large the dataset.
const ITEMS_PER_PAGE: i64 = 50;
/// The history lists this many versions, newest first (older ones stay
/// reachable with `?version=`).
const VERSIONS_SHOWN: i64 = 30;

/// An item as its row and its edit form show it.
pub(in crate::pages) struct ItemRow {
    pub id: String,
    pub variables: Vec<(String, String)>,
    /// `name=value` lines, the edit form's format.
    pub variables_text: String,
    pub expected: String,
    pub metadata: String,
}

impl From<&promptrefine_core::datasets::ItemContent> for ItemRow {
    fn from(c: &promptrefine_core::datasets::ItemContent) -> Self {
        row(
            String::new(),
            &c.variables,
            c.expected.as_ref(),
            &c.metadata,
        )
    }
}

impl From<&DatasetItem> for ItemRow {
    fn from(i: &DatasetItem) -> Self {
        row(
            i.id.to_string(),
            &i.variables,
            i.expected.as_ref(),
            &i.metadata,
        )
    }
}

fn row(
    id: String,
    variables: &std::collections::BTreeMap<String, String>,
    expected: Option<&Value>,
    metadata: &serde_json::Map<String, Value>,
) -> ItemRow {
    ItemRow {
        id,
        variables: variables.clone().into_iter().collect(),
        variables_text: variables
            .iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect::<Vec<_>>()
            .join("\n"),
        expected: match expected {
            None => String::new(),
            Some(Value::String(s)) => s.clone(),
            Some(other) => other.to_string(),
        },
        metadata: if metadata.is_empty() {
            String::new()
        } else {
            Value::Object(metadata.clone()).to_string()
        },
    }
}

/// The add-item form's input (kept on an error).
#[derive(Default)]
pub(in crate::pages) struct ItemForm {
    pub variables: String,
    pub expected: String,
    pub metadata: String,
}

/// What a post re-renders the page with: the user's input and messages.
#[derive(Default)]
pub(in crate::pages) struct Extras {
    pub add: ItemForm,
    pub add_errors: Errors,
    /// The item whose edit failed, and why.
    pub edit_errors: Option<(String, Errors)>,
    pub import: ImportForm,
}

pub(in crate::pages) struct VersionLink {
    n: i64,
    /// The version this page shows.
    shown: bool,
    current: bool,
}

#[derive(Template)]
#[template(path = "dataset.html")]
struct DatasetPage {
    chrome: Chrome,
    ds: DatasetRow,
    /// `Some(n)` when an older version is shown (no forms then).
    past: Option<i64>,
    current_version: i64,
    items: Vec<ItemRow>,
    next_url: Option<String>,
    versions: Vec<VersionLink>,
    x: Extras,
}

impl DatasetPage {
    fn edit_error(&self, item: &str) -> String {
        match &self.x.edit_errors {
            Some((id, e)) if id == item => {
                e.0.iter()
                    .map(|(f, m)| {
                        if f.is_empty() || f == "form" {
                            m.clone()
                        } else {
                            format!("{f}: {m}")
                        }
                    })
                    .collect::<Vec<_>>()
                    .join(" ")
            }
            _ => String::new(),
        }
    }
}

#[derive(Deserialize, Default)]
pub(in crate::pages) struct ShowQuery {
    pub version: Option<i64>,
    pub cursor: Option<String>,
    pub ok: Option<String>,
}

pub(in crate::pages) async fn render(
    state: &AppState,
    user: &PageUser,
    id: DatasetId,
    q: ShowQuery,
    x: Extras,
) -> PageResult<String> {
    let current = state.app.get_dataset(id, None).await?;
    let (dataset, page) = state
        .app
        .list_items(
            id,
            ListItems {
                version: q.version,
                cursor: nonempty(q.cursor),
                limit: Some(ITEMS_PER_PAGE),
            },
        )
        .await?;
    let past = q.version.filter(|v| *v != current.version);
    let next_url = page.next_cursor.map(|c| {
        let version = past.map(|v| format!("version={v}&")).unwrap_or_default();
        format!("/app/datasets/{id}?{version}cursor={}", url_enc(&c))
    });
    let oldest = (current.version - VERSIONS_SHOWN + 1).max(0);
    Ok(DatasetPage {
        chrome: Chrome::for_user(user, q.ok.as_deref()),
        ds: DatasetRow::from(&dataset),
        past,
        current_version: current.version,
        items: page.items.iter().map(ItemRow::from).collect(),
        next_url,
        versions: (oldest..=current.version)
            .rev()
            .map(|n| VersionLink {
                n,
                shown: n == dataset.version,
                current: n == current.version,
            })
            .collect(),
        x,
    }
    .render()?)
}

pub(in crate::pages) async fn show(
    user: PageUser,
    State(state): State<AppState>,
    Path(id): Path<String>,
    Query(q): Query<ShowQuery>,
) -> PageResult {
    let id = state.app.dataset_ref(&id).await?;
    Ok(Html(render(&state, &user, id, q, Extras::default()).await?).into_response())
}
