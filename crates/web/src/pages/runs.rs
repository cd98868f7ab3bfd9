//! One run (`/app/runs/{id}`) and two runs side by side (`/app/runs/compare`).

use askama::Template;
use axum::extract::{RawQuery, State};
use axum::http::StatusCode;
use axum::response::{Html, IntoResponse, Redirect};
use promptrefine_app::AppError;
use promptrefine_app::datasets::{ListDatasets, RunToDataset};
use promptrefine_core::{Run, RunId};

use super::Chrome;
use super::params::{PageId, parse};
use super::support::{
    PageError, PageResult, PageUser, PostForm, fmt_cost, fmt_opt, fmt_time, iso_time,
};
use crate::state::AppState;
use promptrefine_core::diff::json_diff;

/// A run as the pages show it.
pub(super) struct RunView {
    pub id: String,
    pub prompt_id: String,
    pub prompt_title: String,
    pub version: String,
    pub status: &'static str,
    pub provider: String,
    pub model: String,
    pub params: String,
    pub variables: Vec<(String, String)>,
    pub input: Vec<(String, String)>,
    pub output: String,
    pub finish_reason: String,
    pub error: String,
    pub prompt_tokens: String,
    pub completion_tokens: String,
    pub total_tokens: String,
    /// The counts are the server's estimate (the upstream sent no usage).
    pub tokens_estimated: bool,
    pub cost: String,
    pub latency: String,
    pub ttft: String,
    pub time: String,
    pub iso: String,
    /// The answer's tool calls: name, id, arguments as pretty JSON.
    pub tool_calls: Vec<(String, String, String)>,
    /// What the answer said about itself: id, model, fingerprint ("" when not sent).
    pub response_id: String,
    pub response_model: String,
    pub system_fingerprint: String,
    /// The exact request body, pretty-printed ("" for runs from before 0009).
    pub request_body: String,
    pub replay_of: String,
}

/// A message as the page shows it: its text, then each image URL, tool
/// call and the call a tool message answers, one per line.
fn message_text(m: &promptrefine_core::ChatMessage) -> String {
    promptrefine_core::diff::message_as_text(m)
}

async fn view(state: &AppState, run: Run) -> PageResult<RunView> {
    // A run is deleted with its prompt (foreign key cascade), so both exist;
    // any failure here is a real one and goes to PageError, not a placeholder.
    let title = state.app.get_prompt(run.prompt_id).await?.prompt.title;
    let version = format!(
        "v{}",
        state
            .app
            .get_version_by_id(run.prompt_id, run.version_id)
            .await?
            .version
    );
    Ok(RunView {
        id: run.id.to_string(),
        prompt_id: run.prompt_id.to_string(),
        prompt_title: title,
        version,
        status: run.status.as_str(),
        provider: run.provider.clone(),
        model: run.model.clone(),
        params: serde_json::to_string_pretty(&run.params).unwrap_or_default(),
        variables: run.variables.clone().into_iter().collect(),
        input: run
            .input
            .iter()
            .map(|m| (m.role.as_str().to_string(), message_text(m)))
            .collect(),
        output: run.output.clone(),
        finish_reason: run.finish_reason.clone().unwrap_or_default(),
        error: match (&run.error_code, &run.error_message) {
            (Some(c), Some(m)) => format!("{m} (code: {c})"),
            (Some(c), None) => format!("code: {c}"),
            (None, Some(m)) => m.clone(),
            (None, None) => String::new(),
        },
        prompt_tokens: fmt_opt(run.prompt_tokens, ""),
        completion_tokens: fmt_opt(run.completion_tokens, ""),
        total_tokens: fmt_opt(run.total_tokens, ""),
        tokens_estimated: run.tokens_estimated,
        cost: fmt_cost(run.cost_micro_usd),
        latency: fmt_opt(run.latency_ms, " ms"),
        ttft: fmt_opt(run.ttft_ms, " ms"),
        time: fmt_time(run.created_at),
        iso: iso_time(run.created_at),
        tool_calls: run
            .tool_calls
            .iter()
            .flatten()
            .map(|c| {
                let args = serde_json::to_string_pretty(&c.arguments).unwrap_or_default();
                (c.name.clone(), c.id.clone(), args)
            })
            .collect(),
        response_id: run.response_id.clone().unwrap_or_default(),
        response_model: run.response_model.clone().unwrap_or_default(),
        system_fingerprint: run.system_fingerprint.clone().unwrap_or_default(),
        request_body: run
            .request_body
            .as_ref()
            .map(|b| serde_json::to_string_pretty(b).unwrap_or_default())
            .unwrap_or_default(),
        replay_of: run.replay_of.map(|r| r.to_string()).unwrap_or_default(),
    })
}

#[derive(Template)]
#[template(path = "run.html")]
struct RunPage {
    chrome: Chrome,
    run: RunView,
    /// The "Add to dataset" form's choices (id, name), newest change first.
    datasets: Vec<(String, String)>,
    /// Why the last "Add to dataset" failed, naming the field.
    to_dataset_error: String,
}

/// Datasets the run page offers; more than a page of them is rare, and the
/// dataset page's own forms reach the others.
const DATASET_CHOICES: i64 = 100;

async fn render_run(
    state: &AppState,
    user: &PageUser,
    id: RunId,
    to_dataset_error: String,
) -> PageResult<String> {
    let run = state.app.get_run(id).await?;
    let datasets = state
        .app
        .list_datasets(ListDatasets {
            limit: Some(DATASET_CHOICES),
            ..ListDatasets::default()
        })
        .await?
        .items
        .into_iter()
        .map(|d| (d.id.to_string(), d.name))
        .collect();
    Ok(RunPage {
        chrome: Chrome::for_user(user, None),
        run: view(state, run).await?,
        datasets,
        to_dataset_error,
    }
    .render()?)
}

pub(super) async fn show(
    user: PageUser,
    State(state): State<AppState>,
    PageId(id): PageId<RunId>,
) -> PageResult {
    Ok(Html(render_run(&state, &user, id, String::new()).await?).into_response())
}

/// "Add to dataset": the run's variables (and, if ticked, its output as the
/// expected answer) become a new item; then the dataset page shows it.
pub(super) async fn to_dataset(
    State(state): State<AppState>,
    PageId(id): PageId<RunId>,
    PostForm { user, form }: PostForm,
) -> PageResult {
    let dataset = form.get("dataset");
    let result = match dataset.parse() {
        Err(_) => Err(AppError::invalid(
            "dataset",
            promptrefine_core::validate::Rule::Required.as_str(),
            "choose a dataset",
        )),
        Ok(dataset_id) => {
            let input = RunToDataset {
                dataset_id,
                use_output_as_expected: form.get("keep_output") == "on",
            };
            state
                .app
                .run_to_dataset(id, input)
                .await
                .map(|_| dataset_id)
        }
    };
    match result {
        Ok(ds) => Ok(Redirect::to(&format!("/app/datasets/{ds}?ok=from_run")).into_response()),
        Err(e @ (AppError::Invalid(_) | AppError::NotFound("dataset"))) => {
            let message = match &e {
                // The app names the API's field; the page's checkbox says it.
                AppError::Invalid(v) => v
                    .0
                    .iter()
                    .map(|f| match f.field.as_str() {
                        "useOutputAsExpected" => format!("Keep output as expected: {}", f.message),
                        "dataset" => format!("Dataset: {}", f.message),
                        other => format!("{other}: {}", f.message),
                    })
                    .collect::<Vec<_>>()
                    .join(" "),
                _ => "Dataset: that dataset does not exist (any more).".to_string(),
            };
            let html = render_run(&state, &user, id, message).await?;
            Ok((StatusCode::UNPROCESSABLE_ENTITY, Html(html)).into_response())
        }
        Err(e) => Err(e.into()),
    }
}

#[derive(Template)]
#[template(path = "compare.html")]
struct ComparePage {
    chrome: Chrome,
    a: RunView,
    b: RunView,
    /// How B's request body differs from A's, value by value.
    changes: Vec<super::versions::ChangeRow>,
    /// Both runs kept their request (runs from before 0009 did not).
    both_requests: bool,
}

/// `?a=&b=`, or the history form's two checked `run` boxes.
pub(super) async fn compare(
    user: PageUser,
    State(state): State<AppState>,
    RawQuery(query): RawQuery,
) -> PageResult {
    let pairs: Vec<(String, String)> = form_urlencoded::parse(query.unwrap_or_default().as_bytes())
        .map(|(k, v)| (k.into_owned(), v.into_owned()))
        .collect();
    let ids: Vec<String> = ["a", "b", "run"]
        .iter()
        .flat_map(|name| pairs.iter().filter(move |(k, _)| k == name))
        .map(|(_, v)| v.clone())
        .filter(|v| !v.is_empty())
        .collect();
    if ids.len() != 2 {
        return Err(PageError::App(promptrefine_app::AppError::BadRequest(
            "Pick exactly two runs to compare.".into(),
        )));
    }
    let a = state.app.get_run(parse(&ids[0])?).await?;
    let b = state.app.get_run(parse(&ids[1])?).await?;
    let (changes, both_requests) = match (&a.request_body, &b.request_body) {
        (Some(x), Some(y)) => (json_diff(x, y), true),
        _ => (Vec::new(), false),
    };
    Ok(Html(
        ComparePage {
            chrome: Chrome::for_user(&user, None),
            a: view(&state, a).await?,
            b: view(&state, b).await?,
            changes: super::versions::change_rows(&changes),
            both_requests,
        }
        .render()?,
    )
    .into_response())
}
