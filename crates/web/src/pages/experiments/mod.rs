//! Experiments in the browser: the launch form on a prompt ([`launch`]),
//! the list per prompt or dataset (`/app/experiments`), one experiment with
//! its live progress, controls and results ([`show`]), one cell
//! ([`cell`]) and a comparison of two variants ([`compare`]).

mod cell;
mod compare;
mod launch;
mod show;

use askama::Template;
use axum::extract::{Query, State};
use axum::response::{Html, IntoResponse};
use promptrefine_app::experiments::ListExperiments;
use promptrefine_core::Experiment;
use serde::Deserialize;

use super::Chrome;
use super::params::{nonempty, url_enc};
use super::support::{PageResult, PageUser, fmt_cost, fmt_time, iso_time};
use crate::state::AppState;

pub(super) use cell::cell;
pub(super) use compare::compare;
pub(super) use compare::verdict_word;
pub(super) use launch::{create, new};
pub(super) use show::{cancel, pause, results_fragment, resume, show};

/// An experiment as lists show it.
pub(super) struct ExperimentRow {
    pub id: String,
    pub name: String,
    pub status: &'static str,
    pub variants: usize,
    pub done: i64,
    pub total: i64,
    pub cost: String,
    pub time: String,
    pub iso: String,
}

impl From<&Experiment> for ExperimentRow {
    fn from(e: &Experiment) -> Self {
        let p = &e.progress;
        ExperimentRow {
            id: e.id.to_string(),
            name: display_name(e),
            status: e.status.as_str(),
            variants: e.variants.len(),
            done: p.succeeded + p.failed + p.cancelled,
            total: p.total,
            cost: fmt_cost(Some(e.cost_micro_usd)),
            time: fmt_time(e.created_at),
            iso: iso_time(e.created_at),
        }
    }
}

/// The experiment's name, or when it has none, when it was made.
pub(super) fn display_name(e: &Experiment) -> String {
    if e.name.trim().is_empty() {
        format!("Experiment of {}", fmt_time(e.created_at))
    } else {
        e.name.clone()
    }
}

#[derive(Template)]
#[template(path = "experiments.html")]
struct ListPage {
    chrome: Chrome,
    heading: String,
    back: Option<(String, String)>,
    rows: Vec<ExperimentRow>,
    next_url: Option<String>,
    new_url: Option<String>,
}

#[derive(Deserialize, Default)]
pub(super) struct ListQuery {
    prompt: Option<String>,
    dataset: Option<String>,
    cursor: Option<String>,
}

/// Experiments of a prompt or of a dataset (or all), newest first.
pub(super) async fn list(
    user: PageUser,
    State(state): State<AppState>,
    Query(q): Query<ListQuery>,
) -> PageResult {
    // An id that does not parse names nothing: the empty list of all.
    let prompt = nonempty(q.prompt).and_then(|p| p.parse().ok());
    let dataset = nonempty(q.dataset).and_then(|d| d.parse().ok());
    let page = state
        .app
        .list_experiments(ListExperiments {
            prompt_id: prompt,
            dataset_id: dataset,
            cursor: nonempty(q.cursor),
            limit: Some(25),
        })
        .await?;
    let (heading, back, new_url) = match (prompt, dataset) {
        (Some(p), _) => {
            let title = state.app.get_prompt(p).await?.prompt.title;
            (
                format!("Experiments of {title}"),
                Some((format!("/app/prompts/{p}"), title)),
                Some(format!("/app/prompts/{p}/experiments/new")),
            )
        }
        (None, Some(d)) => {
            let name = state.app.get_dataset(d, None).await?.name;
            (
                format!("Experiments on {name}"),
                Some((format!("/app/datasets/{d}"), name)),
                None,
            )
        }
        (None, None) => ("Experiments".to_string(), None, None),
    };
    let filter = match (prompt, dataset) {
        (Some(p), _) => format!("prompt={p}&"),
        (None, Some(d)) => format!("dataset={d}&"),
        _ => String::new(),
    };
    let next_url = page
        .next_cursor
        .map(|c| format!("/app/experiments?{filter}cursor={}", url_enc(&c)));
    Ok(Html(
        ListPage {
            chrome: Chrome::for_user(&user, None),
            heading,
            back,
            rows: page.items.iter().map(ExperimentRow::from).collect(),
            next_url,
            new_url,
        }
        .render()?,
    )
    .into_response())
}
