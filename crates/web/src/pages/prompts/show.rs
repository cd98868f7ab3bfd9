//! The prompt page: editor, version history, run panel and run history;
//! saving a version and changing the details re-render it on a failure.

use askama::Template;
use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::{Html, IntoResponse, Redirect};
use promptrefine_app::AppError;
use promptrefine_app::prompts::{OverviewFilters, PromptOverview, SaveVersion, UpdatePrompt};
use promptrefine_core::{PromptId, PromptType, RunStatus};
use promptrefine_store::ListedRun;
use serde::Deserialize;

use super::editor::Editor;
use crate::pages::Chrome;
use crate::pages::params::{PageId, nonempty, split_tags, url_enc};
use crate::pages::support::{
    Errors, PageResult, PageUser, PostForm, fmt_cost, fmt_opt, fmt_time, iso_time,
};
use crate::state::AppState;

pub(super) struct VersionRow {
    pub number: i64,
    pub note: String,
    pub time: String,
    pub iso: String,
    pub labels: Vec<String>,
    pub current: bool,
}

pub(super) struct RunRow {
    pub id: String,
    pub status: &'static str,
    pub version: String,
    pub model: String,
    pub tokens: String,
    pub cost: String,
    pub latency: String,
    pub time: String,
    pub iso: String,
}

pub(super) fn run_row(listed: &ListedRun) -> RunRow {
    let r = &listed.run;
    RunRow {
        id: r.id.to_string(),
        status: r.status.as_str(),
        version: format!("v{}", listed.version_number),
        model: format!("{}/{}", r.provider, r.model),
        tokens: match (fmt_opt(r.total_tokens, ""), r.tokens_estimated) {
            (t, true) if !t.is_empty() => format!("{t} (estimated)"),
            (t, _) => t,
        },
        cost: fmt_cost(r.cost_micro_usd),
        latency: fmt_opt(r.latency_ms, " ms"),
        time: fmt_time(r.created_at),
        iso: iso_time(r.created_at),
    }
}

#[derive(Template)]
#[template(path = "prompt.html")]
struct PromptPage {
    chrome: Chrome,
    id: String,
    title: String,
    slug: String,
    tags: Vec<String>,
    is_chat: bool,
    current_number: i64,
    next_number: i64,
    /// Link to the next (older) page of the version history.
    versions_next: Option<String>,
    /// Whether the history shows an older page (offers a way back).
    versions_paged: bool,
    current_version_id: String,
    editor: Editor,
    errors: Errors,
    meta_errors: Errors,
    meta_title: String,
    meta_tags: String,
    versions: Vec<VersionRow>,
    runs: Vec<RunRow>,
    runs_next: Option<String>,
    run_version: String,
    run_status: String,
    statuses: Vec<&'static str>,
    roles: [&'static str; 5],
    /// The newest experiment: (id, name, status, verdict or empty).
    latest: Option<(String, String, &'static str, &'static str)>,
}

#[derive(Deserialize, Default)]
pub(crate) struct ShowQuery {
    ok: Option<String>,
    run_version: Option<String>,
    run_status: Option<String>,
    run_cursor: Option<String>,
    /// Version history page (`nextCursor` of the previous page).
    version_cursor: Option<String>,
}

/// What a re-render after a failed save or rename keeps.
#[derive(Default)]
struct Pending {
    editor: Option<Editor>,
    errors: Errors,
    meta: Option<(String, String, Errors)>,
}

/// Versions per page of the history on the prompt page.
const VERSIONS_PER_PAGE: i64 = 50;
/// Runs per page of the run history on the prompt page.
const RUNS_PER_PAGE: i64 = 20;

async fn render_prompt(
    state: &AppState,
    user: &PageUser,
    id: PromptId,
    q: ShowQuery,
    pending: Pending,
) -> PageResult<String> {
    let version_cursor = nonempty(q.version_cursor);
    let versions_paged = version_cursor.is_some();
    let run_version = nonempty(q.run_version);
    // An unknown status in the address is ignored, not an error page.
    let run_status = nonempty(q.run_status).filter(|s| RunStatus::parse(s).is_some());
    let filters = OverviewFilters {
        version_cursor,
        versions_limit: Some(VERSIONS_PER_PAGE),
        run_version: run_version.clone(),
        run_status: run_status.clone(),
        run_cursor: nonempty(q.run_cursor),
        runs_limit: Some(RUNS_PER_PAGE),
    };
    let PromptOverview {
        detail,
        newest_version,
        versions,
        runs,
        latest_experiment,
    } = state.app.prompt_overview(id, filters).await?;
    let latest = latest_experiment.map(|l| {
        (
            l.experiment.id.to_string(),
            crate::pages::experiments_display_name(&l.experiment),
            l.experiment.status.as_str(),
            l.verdict.map_or("", crate::pages::verdict_word),
        )
    });
    let kind = detail.prompt.prompt_type;
    let versions_next = versions
        .next_cursor
        .as_deref()
        .map(|c| format!("/app/prompts/{id}?version_cursor={}#history", url_enc(c)));
    let current = detail.current_version.as_ref();
    let version_rows = versions
        .items
        .iter()
        .map(|v| VersionRow {
            number: v.version,
            note: v.note.clone().unwrap_or_default(),
            time: fmt_time(v.created_at),
            iso: iso_time(v.created_at),
            labels: detail.labels_of(v.id),
            current: Some(v.id) == current.map(|c| c.id),
        })
        .collect();
    let runs_next = runs.next_cursor.map(|c| {
        format!(
            "/app/prompts/{id}?run_version={}&run_status={}&run_cursor={}#runs",
            url_enc(run_version.as_deref().unwrap_or("")),
            url_enc(run_status.as_deref().unwrap_or("")),
            url_enc(&c)
        )
    });
    let (meta_title, meta_tags, meta_errors) = pending.meta.unwrap_or_else(|| {
        (
            detail.prompt.title.clone(),
            detail.prompt.tags.join(", "),
            Errors::default(),
        )
    });
    Ok(PromptPage {
        chrome: Chrome::for_user(user, q.ok.as_deref()),
        id: id.to_string(),
        title: detail.prompt.title.clone(),
        slug: detail.prompt.slug.clone(),
        tags: detail.prompt.tags.clone(),
        is_chat: kind == PromptType::Chat,
        current_number: current.map(|v| v.version).unwrap_or(0),
        next_number: newest_version.unwrap_or(0) + 1,
        versions_next,
        versions_paged,
        current_version_id: current.map(|v| v.id.to_string()).unwrap_or_default(),
        editor: pending.editor.unwrap_or_else(|| Editor::of(current, kind)),
        errors: pending.errors,
        meta_errors,
        meta_title,
        meta_tags,
        versions: version_rows,
        runs: runs.items.iter().map(run_row).collect(),
        runs_next,
        run_version: run_version.unwrap_or_default(),
        run_status: run_status.unwrap_or_default(),
        statuses: RunStatus::ALL.iter().map(|s| s.as_str()).collect(),
        roles: ["system", "user", "assistant", "developer", "tool"],
        latest,
    }
    .render()?)
}

pub(crate) async fn show(
    user: PageUser,
    State(state): State<AppState>,
    PageId(id): PageId<PromptId>,
    Query(q): Query<ShowQuery>,
) -> PageResult {
    Ok(Html(render_prompt(&state, &user, id, q, Pending::default()).await?).into_response())
}

pub(crate) async fn save(
    State(state): State<AppState>,
    PageId(id): PageId<PromptId>,
    PostForm { user, form }: PostForm,
) -> PageResult {
    let detail = state.app.get_prompt(id).await?;
    let kind = detail.prompt.prompt_type;
    let editor = Editor::from_form(&form, kind);
    let base = detail
        .current_version
        .as_ref()
        .map(|v| v.settings.clone())
        .unwrap_or_default();
    let result = match editor.settings(&base) {
        Err(errors) => Err(errors),
        Ok(settings) => match state
            .app
            .save_version(
                id,
                SaveVersion {
                    content: editor.content(kind),
                    settings,
                    note: Some(editor.note.trim().to_string()).filter(|n| !n.is_empty()),
                },
                Some(user.user_id),
            )
            .await
        {
            Ok(saved) => Ok(saved),
            // What the person can correct is shown next to the fields…
            Err(
                e @ (AppError::Invalid(_) | AppError::Conflict { .. } | AppError::BadRequest(_)),
            ) => Err(Errors::of(&e)),
            // …anything else is a page failure, rendered (and logged) by PageError.
            Err(other) => return Err(other.into()),
        },
    };
    match result {
        Ok(_) => Ok(Redirect::to(&format!("/app/prompts/{id}?ok=saved")).into_response()),
        Err(errors) => {
            let mut editor = editor;
            if kind == PromptType::Chat {
                editor
                    .messages
                    .push(("user".into(), String::new(), String::new()));
            }
            let pending = Pending {
                editor: Some(editor),
                errors,
                meta: None,
            };
            let html = render_prompt(&state, &user, id, ShowQuery::default(), pending).await?;
            Ok((StatusCode::UNPROCESSABLE_ENTITY, Html(html)).into_response())
        }
    }
}

pub(crate) async fn rename(
    State(state): State<AppState>,
    PageId(id): PageId<PromptId>,
    PostForm { user, form }: PostForm,
) -> PageResult {
    let title = form.get("title").to_string();
    let tags = form.get("tags").to_string();
    let result = state
        .app
        .update_prompt(
            id,
            UpdatePrompt {
                title: Some(title.clone()),
                slug: None,
                tags: Some(split_tags(&tags)),
            },
        )
        .await;
    match result {
        Ok(_) => Ok(Redirect::to(&format!("/app/prompts/{id}?ok=renamed")).into_response()),
        Err(e @ (AppError::Invalid(_) | AppError::Conflict { .. })) => {
            let pending = Pending {
                meta: Some((title, tags, Errors::of(&e))),
                ..Pending::default()
            };
            let html = render_prompt(&state, &user, id, ShowQuery::default(), pending).await?;
            Ok((StatusCode::UNPROCESSABLE_ENTITY, Html(html)).into_response())
        }
        Err(e) => Err(e.into()),
    }
}
