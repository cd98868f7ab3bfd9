//! One cell (`/app/experiments/{id}/cells/{position}/{variant}/{repeat}`):
//! the item, the rendered input, the whole output, every score with its
//! reason, and links to the cell's run and to its judges' runs.

use askama::Template;
use axum::extract::{Path, State};
use axum::response::{Html, IntoResponse};
use promptrefine_core::ExperimentId;

use super::display_name;
use super::show::{Chip, chip, variant_label};
use crate::pages::Chrome;
use crate::pages::params::parse;
use crate::pages::support::{PageResult, PageUser, fmt_cost, fmt_opt};
use crate::state::AppState;

#[derive(Template)]
#[template(path = "experiment_cell.html")]
struct CellPage {
    chrome: Chrome,
    id: String,
    name: String,
    position: i64,
    variant: String,
    repeat: i64,
    status: &'static str,
    attempts: i64,
    variables: Vec<(String, String)>,
    expected: String,
    input: Vec<(String, String)>,
    output: String,
    error: String,
    scores: Vec<Chip>,
    run_id: String,
    judges: Vec<(String, String)>,
    cost: String,
    latency: String,
    tokens: String,
}

pub(crate) async fn cell(
    user: PageUser,
    State(state): State<AppState>,
    Path((id, position, variant, repeat)): Path<(String, String, String, String)>,
) -> PageResult {
    let id: ExperimentId = parse(&id)?;
    let (position, variant, repeat): (i64, i64, i64) =
        (parse(&position)?, parse(&variant)?, parse(&repeat)?);
    let d = state
        .app
        .cell_detail(id, position.saturating_sub(1), variant, repeat)
        .await?;
    let run = d.run.as_ref();
    let page = CellPage {
        chrome: Chrome::for_user(&user, None),
        id: id.to_string(),
        name: display_name(&d.experiment),
        position,
        variant: variant_label(&d.experiment, variant as usize),
        repeat: repeat + 1,
        status: d.cell.status.as_str(),
        attempts: d.cell.attempts,
        variables: d.row.variables.clone().into_iter().collect(),
        expected: match &d.row.expected {
            None => String::new(),
            Some(serde_json::Value::String(s)) => s.clone(),
            Some(v) => serde_json::to_string_pretty(v).unwrap_or_default(),
        },
        input: run.map_or_else(Vec::new, |r| {
            r.input
                .iter()
                .map(|m| (m.role.as_str().to_string(), m.content.clone()))
                .collect()
        }),
        output: run.map_or_else(String::new, |r| r.output.clone()),
        error: run
            .and_then(|r| r.error_message.clone())
            .unwrap_or_default(),
        scores: d.scores.iter().map(chip).collect(),
        run_id: d.cell.run_id.map(|r| r.to_string()).unwrap_or_default(),
        judges: d
            .judges
            .iter()
            .map(|j| {
                (
                    j.id.to_string(),
                    format!("{} · {}", j.model, j.status.as_str()),
                )
            })
            .collect(),
        cost: fmt_cost(d.cell.cost_micro_usd),
        latency: fmt_opt(d.cell.latency_ms, " ms"),
        tokens: fmt_opt(d.cell.total_tokens, ""),
    };
    Ok(Html(page.render()?).into_response())
}
