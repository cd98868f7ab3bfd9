//! One experiment (`/app/experiments/{id}`): its variants, its progress
//! (read here first, then followed over `GET /api/experiments/{id}/events`
//! by `app.js`, so a reload shows the same page), Pause / Resume / Cancel,
//! the summary once it has ended, and its results, filtered, sorted and
//! paged in the server. `…/results` answers the results alone, which the
//! script fetches again as cells finish.

use askama::Template;
use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::{Html, IntoResponse, Redirect};
use promptrefine_app::AppError;
use promptrefine_app::experiments::browse::{BrowseResults, ResultFilter, ResultSort};
use promptrefine_app::experiments::{ListExperiments, ResultsPage};
use promptrefine_core::{CellStatus, Experiment, ExperimentId, ExperimentStatus};
use promptrefine_eval::{Score, Summary};
use serde::Deserialize;
use time::OffsetDateTime;

use super::display_name;
use crate::pages::Chrome;
use crate::pages::params::{PageId, nonempty, url_enc};
use crate::pages::support::{Errors, PageResult, PageUser, PostForm, fmt_cost, fmt_opt};
use crate::state::AppState;

/// Rows per results page.
const RESULTS_PER_PAGE: i64 = 25;
/// Characters of an output the results table shows.
const EXCERPT_CHARS: usize = 160;

/// Progress as the page first draws it (the script redraws the same parts).
pub(super) struct ProgressView {
    pub total: i64,
    pub ended: i64,
    pub succeeded: i64,
    pub failed: i64,
    pub cancelled: i64,
    pub running: i64,
    pub pending: i64,
    pub spent: String,
    pub reserved: String,
    pub budget: String,
    pub eta: String,
}

fn progress_view(e: &Experiment) -> ProgressView {
    let p = &e.progress;
    let ended = p.succeeded + p.failed + p.cancelled;
    ProgressView {
        total: p.total,
        ended,
        succeeded: p.succeeded,
        failed: p.failed,
        cancelled: p.cancelled,
        running: p.running,
        pending: p.pending,
        spent: fmt_cost(Some(e.cost_micro_usd)),
        reserved: fmt_cost(Some(e.reserved_micro_usd)),
        budget: e
            .max_cost_micro_usd
            .map_or_else(|| "no cap".to_string(), |m| fmt_cost(Some(m))),
        eta: eta(e, ended, OffsetDateTime::now_utc()),
    }
}

/// How long the rest will take at the pace so far; empty when unknown.
fn eta(e: &Experiment, ended: i64, now: OffsetDateTime) -> String {
    if e.status != ExperimentStatus::Running || ended == 0 {
        return String::new();
    }
    let Some(started) = e.started_at else {
        return String::new();
    };
    let elapsed = (now - started).as_seconds_f64().max(0.0);
    let left = (e.progress.total - ended).max(0) as f64 * elapsed / ended as f64;
    fmt_secs(left)
}

fn fmt_secs(s: f64) -> String {
    let s = s.round() as i64;
    if s < 60 {
        format!("about {s} s left")
    } else {
        format!("about {} min {} s left", s / 60, s % 60)
    }
}

pub(super) struct VariantView {
    pub n: usize,
    pub version: String,
    pub model: String,
    pub params: String,
}

/// One evaluator of one variant in the summary.
pub(super) struct SummaryView {
    pub variant: u32,
    pub evaluator: String,
    pub mean: String,
    pub pass_rate: String,
    pub errors: usize,
}

pub(super) fn fmt_score(v: Option<f64>) -> String {
    v.map_or_else(|| "—".into(), |v| format!("{v:.3}"))
}

pub(super) fn fmt_ci(v: Option<f64>, ci: Option<[f64; 2]>) -> String {
    match (v, ci) {
        (Some(v), Some([lo, hi])) => format!("{v:.3} [{lo:.3}, {hi:.3}]"),
        (v, _) => fmt_score(v),
    }
}

fn summary_rows(s: &Summary) -> Vec<SummaryView> {
    s.variants
        .iter()
        .flat_map(|v| {
            v.evaluators.iter().map(move |e| SummaryView {
                variant: v.variant + 1,
                evaluator: e.evaluator.clone(),
                mean: fmt_ci(e.mean, e.ci),
                pass_rate: fmt_ci(e.pass_rate, e.pass_ci),
                errors: e.errors,
            })
        })
        .collect()
}

/// A score as a chip.
pub(super) struct Chip {
    pub evaluator: String,
    pub text: String,
    /// `pass`, `fail`, `error` or `score`.
    pub class: &'static str,
    pub reason: String,
}

pub(super) fn chip(s: &Score) -> Chip {
    let (class, text) = match (&s.error, s.pass, s.value) {
        (Some(_), _, _) => ("error", "error".to_string()),
        (None, Some(true), v) => ("pass", format!("pass {}", fmt_score(v))),
        (None, Some(false), v) => ("fail", format!("fail {}", fmt_score(v))),
        (None, None, v) => ("score", fmt_score(v)),
    };
    Chip {
        evaluator: s.evaluator.clone(),
        text,
        class,
        reason: s
            .error
            .clone()
            .or_else(|| s.reason.clone())
            .unwrap_or_default(),
    }
}

pub(super) struct CellView {
    pub href: String,
    pub repeat: i64,
    pub status: &'static str,
    pub excerpt: String,
    pub chips: Vec<Chip>,
    pub cost: String,
    pub latency: String,
}

pub(super) struct RowView {
    pub position: i64,
    pub vars: String,
    /// One list of cells (its repeats) per variant.
    pub variants: Vec<Vec<CellView>>,
}

pub(super) fn excerpt(text: &str, max: usize) -> String {
    let mut out: String = text.chars().take(max).collect();
    if text.chars().count() > max {
        out.push('…');
    }
    out
}

fn rows(id: ExperimentId, page: &ResultsPage) -> Vec<RowView> {
    let variants = page.experiment.variants.len();
    page.rows
        .iter()
        .map(|r| {
            let mut by_variant: Vec<Vec<CellView>> = (0..variants).map(|_| vec![]).collect();
            for c in &r.cells {
                let scores: Vec<Score> = c
                    .scores
                    .as_ref()
                    .and_then(|s| serde_json::from_value(s.clone()).ok())
                    .unwrap_or_default();
                if let Some(list) = by_variant.get_mut(c.variant as usize) {
                    list.push(CellView {
                        href: format!(
                            "/app/experiments/{id}/cells/{}/{}/{}",
                            r.position + 1,
                            c.variant,
                            c.repeat
                        ),
                        repeat: c.repeat + 1,
                        status: c.status.as_str(),
                        excerpt: match c.status {
                            CellStatus::Pending | CellStatus::Running => String::new(),
                            _ => excerpt(c.output.as_deref().unwrap_or(""), EXCERPT_CHARS),
                        },
                        chips: scores.iter().map(chip).collect(),
                        cost: fmt_cost(c.cost_micro_usd),
                        latency: fmt_opt(c.latency_ms, " ms"),
                    });
                }
            }
            RowView {
                position: r.position + 1,
                vars: excerpt(
                    &r.variables
                        .iter()
                        .map(|(k, v)| format!("{k}={v}"))
                        .collect::<Vec<_>>()
                        .join(" · "),
                    EXCERPT_CHARS,
                ),
                variants: by_variant,
            }
        })
        .collect()
}

#[derive(Deserialize, Default, Clone)]
pub(crate) struct ResultsQuery {
    ok: Option<String>,
    /// `all`, `failed`, `regressed`, `flaky` or `ev:<evaluator>`.
    show: Option<String>,
    sort: Option<String>,
    cursor: Option<String>,
}

impl ResultsQuery {
    fn browse(&self) -> BrowseResults {
        let show = self.show.as_deref().unwrap_or("all");
        // Unknown words in the address show everything, not an error page.
        let filter = match show {
            "failed" => ResultFilter::Failed,
            "regressed" => ResultFilter::Regressed,
            "flaky" => ResultFilter::Flaky,
            s => s.strip_prefix("ev:").map_or(ResultFilter::All, |e| {
                ResultFilter::Evaluator(e.to_string())
            }),
        };
        BrowseResults {
            filter,
            sort: self
                .sort
                .as_deref()
                .and_then(ResultSort::parse)
                .unwrap_or_default(),
            cursor: nonempty(self.cursor.clone()),
            limit: Some(RESULTS_PER_PAGE),
        }
    }

    /// The query string of these results (without a cursor).
    fn base(&self) -> String {
        format!(
            "show={}&sort={}",
            url_enc(self.show.as_deref().unwrap_or("all")),
            url_enc(self.sort.as_deref().unwrap_or("item"))
        )
    }
}

#[derive(Template)]
#[template(path = "_results.html")]
pub(super) struct ResultsView {
    pub variants: Vec<usize>,
    pub rows: Vec<RowView>,
    pub next_url: Option<String>,
    pub first_url: Option<String>,
}

async fn results_view(
    state: &AppState,
    id: ExperimentId,
    q: &ResultsQuery,
) -> PageResult<(ResultsView, Experiment)> {
    let page = match state.app.browse_results(id, q.browse()).await {
        // A cursor from an older link: the first page, not an error page.
        Err(AppError::Invalid(_)) => {
            let mut q = q.clone();
            q.cursor = None;
            state.app.browse_results(id, q.browse()).await?
        }
        other => other?,
    };
    let base = format!("/app/experiments/{id}?{}", q.base());
    let view = ResultsView {
        variants: (1..=page.experiment.variants.len()).collect(),
        rows: rows(id, &page),
        next_url: page
            .next_cursor
            .as_deref()
            .map(|c| format!("{base}&cursor={}#results", url_enc(c))),
        first_url: q.cursor.is_some().then(|| format!("{base}#results")),
    };
    Ok((view, page.experiment))
}

#[derive(Template)]
#[template(path = "experiment.html")]
struct ExperimentPage {
    chrome: Chrome,
    id: String,
    name: String,
    prompt_id: String,
    prompt_title: String,
    dataset_id: String,
    dataset_version: i64,
    status: &'static str,
    live: bool,
    paused: bool,
    budget_paused: bool,
    can_pause: bool,
    error: String,
    progress: ProgressView,
    repeats: i64,
    concurrency: i64,
    evaluators: Vec<String>,
    variants: Vec<VariantView>,
    summary: Vec<SummaryView>,
    results_html: String,
    results_src: String,
    show_options: Vec<(String, String, bool)>,
    sorts: Vec<(&'static str, bool)>,
    errors: Errors,
    resume_budget: String,
    /// Variants of the prompt's other ended experiments to compare this
    /// one against: (`experiment:variant`, label).
    other_variants: Vec<(String, String)>,
}

/// Other ended experiments of the prompt that this one can be compared
/// with, newest first: one choice per variant.
const OTHER_EXPERIMENTS: i64 = 50;

async fn other_variants(state: &AppState, e: &Experiment) -> PageResult<Vec<(String, String)>> {
    if !e.status.is_final() {
        return Ok(vec![]);
    }
    let page = state
        .app
        .list_experiments(ListExperiments {
            prompt_id: Some(e.prompt_id),
            dataset_id: None,
            cursor: None,
            limit: Some(OTHER_EXPERIMENTS),
        })
        .await?;
    Ok(page
        .items
        .iter()
        .filter(|o| o.id != e.id && o.status.is_final())
        .flat_map(|o| {
            (0..o.variants.len()).map(move |i| {
                (
                    format!("{}:{i}", o.id),
                    format!("{} — variant {}", display_name(o), variant_label(o, i)),
                )
            })
        })
        .collect())
}

pub(super) fn variant_label(e: &Experiment, i: usize) -> String {
    e.variants.get(i).map_or_else(
        || format!("variant {}", i + 1),
        |v| match &v.label {
            Some(l) => format!("{} · v{} ({l}) · {}", i + 1, v.version_number, v.model),
            None => format!("{} · v{} · {}", i + 1, v.version_number, v.model),
        },
    )
}

async fn render(
    state: &AppState,
    user: &PageUser,
    id: ExperimentId,
    q: ResultsQuery,
    errors: Errors,
    resume_budget: String,
) -> PageResult<String> {
    let (results, e) = results_view(state, id, &q).await?;
    let prompt_title = state.app.get_prompt(e.prompt_id).await?.prompt.title;
    let other_variants = other_variants(state, &e).await?;
    let summary = if e.status.is_final() {
        summary_rows(&state.app.experiment_summary(id).await?)
    } else {
        vec![]
    };
    let evaluators: Vec<String> =
        promptrefine_eval::EvaluatorSpec::parse_list(&e.evaluators, "evaluators")
            .map(|specs| specs.into_iter().map(|s| s.name).collect())
            .unwrap_or_default();
    let show = q.show.as_deref().unwrap_or("all");
    let sort = q.browse().sort.as_str();
    let mut show_options: Vec<(String, String, bool)> = [
        ("all", "all items"),
        ("failed", "failed (a call or a score)"),
        ("regressed", "regressed against variant 1"),
        ("flaky", "flaky (repeats disagree)"),
    ]
    .iter()
    .map(|(v, t)| (v.to_string(), t.to_string(), *v == show))
    .collect();
    show_options.extend(evaluators.iter().map(|e| {
        let v = format!("ev:{e}");
        let sel = v == show;
        (v, format!("failed {e}"), sel)
    }));
    Ok(ExperimentPage {
        chrome: Chrome::for_user(user, q.ok.as_deref()),
        id: id.to_string(),
        name: display_name(&e),
        prompt_id: e.prompt_id.to_string(),
        prompt_title,
        dataset_id: e.dataset_id.to_string(),
        dataset_version: e.dataset_version,
        status: e.status.as_str(),
        live: !e.status.is_final(),
        paused: e.status == ExperimentStatus::Paused,
        budget_paused: e.status == ExperimentStatus::Paused
            && e.pause_reason.as_deref() == Some("budget"),
        can_pause: matches!(
            e.status,
            ExperimentStatus::Queued | ExperimentStatus::Running
        ),
        error: e.error_message.clone().unwrap_or_default(),
        progress: progress_view(&e),
        repeats: e.repeats,
        concurrency: e.concurrency,
        evaluators,
        variants: e
            .variants
            .iter()
            .enumerate()
            .map(|(i, v)| VariantView {
                n: i + 1,
                version: match &v.label {
                    Some(l) => format!("v{} ({l})", v.version_number),
                    None => format!("v{}", v.version_number),
                },
                model: format!("{}/{}", v.provider, v.model),
                params: serde_json::to_string(&v.params).unwrap_or_default(),
            })
            .collect(),
        summary,
        results_html: results.render()?,
        results_src: format!(
            "/app/experiments/{id}/results?{}{}",
            q.base(),
            q.cursor
                .as_deref()
                .map(|c| format!("&cursor={}", url_enc(c)))
                .unwrap_or_default()
        ),
        show_options,
        sorts: ResultSort::ALL
            .iter()
            .map(|(_, n)| (*n, *n == sort))
            .collect(),
        errors,
        resume_budget,
        other_variants,
    }
    .render()?)
}

pub(crate) async fn show(
    user: PageUser,
    State(state): State<AppState>,
    PageId(id): PageId<ExperimentId>,
    Query(q): Query<ResultsQuery>,
) -> PageResult {
    let html = render(&state, &user, id, q, Errors::default(), String::new()).await?;
    Ok(Html(html).into_response())
}

/// The results table alone (the script swaps it in as cells finish).
pub(crate) async fn results_fragment(
    _user: PageUser,
    State(state): State<AppState>,
    PageId(id): PageId<ExperimentId>,
    Query(q): Query<ResultsQuery>,
) -> PageResult {
    let (view, _) = results_view(&state, id, &q).await?;
    Ok(Html(view.render()?).into_response())
}

/// After a control: back to the page, or the page again with the reason.
async fn after(
    state: &AppState,
    user: &PageUser,
    id: ExperimentId,
    result: Result<Experiment, AppError>,
    ok: &str,
    resume_budget: String,
) -> PageResult {
    match result {
        Ok(_) => Ok(Redirect::to(&format!("/app/experiments/{id}?ok={ok}")).into_response()),
        Err(e @ (AppError::Invalid(_) | AppError::Conflict { .. })) => {
            let status = match e {
                AppError::Conflict { .. } => StatusCode::CONFLICT,
                _ => StatusCode::UNPROCESSABLE_ENTITY,
            };
            let errors = Errors(
                Errors::of(&e)
                    .0
                    .into_iter()
                    .map(|(f, m)| {
                        (
                            if f == "maxCostUsd" {
                                "budget".into()
                            } else {
                                f
                            },
                            m,
                        )
                    })
                    .collect(),
            );
            let html = render(
                state,
                user,
                id,
                ResultsQuery::default(),
                errors,
                resume_budget,
            )
            .await?;
            Ok((status, Html(html)).into_response())
        }
        Err(e) => Err(e.into()),
    }
}

pub(crate) async fn pause(
    State(state): State<AppState>,
    PageId(id): PageId<ExperimentId>,
    PostForm { user, .. }: PostForm,
) -> PageResult {
    let r = state.app.pause_experiment(id).await;
    after(&state, &user, id, r, "paused", String::new()).await
}

pub(crate) async fn cancel(
    State(state): State<AppState>,
    PageId(id): PageId<ExperimentId>,
    PostForm { user, .. }: PostForm,
) -> PageResult {
    let r = state.app.cancel_experiment(id).await;
    after(&state, &user, id, r, "cancelled", String::new()).await
}

pub(crate) async fn resume(
    State(state): State<AppState>,
    PageId(id): PageId<ExperimentId>,
    PostForm { user, form }: PostForm,
) -> PageResult {
    let text = form.get("budget").trim().to_string();
    let budget = if text.is_empty() {
        None
    } else {
        match text.parse::<f64>() {
            Ok(v) => Some(v),
            Err(_) => {
                let errors = Errors(vec![(
                    "budget".into(),
                    format!("the budget must be a number of USD (got {text:?})"),
                )]);
                let html = render(&state, &user, id, ResultsQuery::default(), errors, text).await?;
                return Ok((StatusCode::UNPROCESSABLE_ENTITY, Html(html)).into_response());
            }
        }
    };
    let r = state.app.resume_experiment(id, budget).await;
    after(&state, &user, id, r, "resumed", text).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_eta_is_the_pace_so_far_times_what_is_left() {
        assert_eq!(fmt_secs(12.4), "about 12 s left");
        assert_eq!(fmt_secs(125.0), "about 2 min 5 s left");
        assert_eq!(excerpt("abcdef", 3), "abc…");
        assert_eq!(excerpt("abc", 3), "abc");
    }
}
