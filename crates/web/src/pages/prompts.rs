//! The prompt list (`/app`), the new-prompt form, the prompt page (editor,
//! history, run panel, run history), rename/retag and delete.

use std::collections::HashMap;
use std::str::FromStr;

use askama::Template;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{Html, IntoResponse, Redirect};
use promptrefine_app::AppError;
use promptrefine_app::prompts::{CreatePrompt, ListPrompts, SaveVersion, UpdatePrompt};
use promptrefine_app::runs::ListRuns;
use promptrefine_core::template::content_variables;
use promptrefine_core::{
    ChatMessage, Content, ModelSettings, Prompt, PromptId, PromptType, Role, RunStatus, Version,
    VersionId,
};
use serde::Deserialize;

use super::Chrome;
use super::support::{
    Errors, FormData, PageError, PageResult, PageUser, PostForm, fmt_cost, fmt_opt, fmt_time,
    iso_time,
};
use crate::state::AppState;

pub fn parse<T: FromStr>(text: &str) -> Result<T, PageError> {
    text.parse().map_err(|_| PageError::not_found())
}

fn nonempty(s: Option<String>) -> Option<String> {
    s.map(|s| s.trim().to_string()).filter(|s| !s.is_empty())
}

pub fn url_enc(s: &str) -> String {
    form_urlencoded::byte_serialize(s.as_bytes()).collect()
}

// --- list and create ---------------------------------------------------------

pub struct PromptRow {
    pub id: String,
    pub title: String,
    pub slug: String,
    pub kind: &'static str,
    pub tags: Vec<String>,
    pub updated: String,
    pub updated_iso: String,
}

impl From<&Prompt> for PromptRow {
    fn from(p: &Prompt) -> Self {
        PromptRow {
            id: p.id.to_string(),
            title: p.title.clone(),
            slug: p.slug.clone(),
            kind: p.prompt_type.as_str(),
            tags: p.tags.clone(),
            updated: fmt_time(p.updated_at),
            updated_iso: iso_time(p.updated_at),
        }
    }
}

/// What the new-prompt form shows (the user's input on an error).
#[derive(Default)]
pub struct NewForm {
    pub title: String,
    pub kind: String,
    pub tags: String,
    pub body: String,
}

#[derive(Template)]
#[template(path = "prompts.html")]
struct ListPage {
    chrome: Chrome,
    rows: Vec<PromptRow>,
    q: String,
    tag: String,
    kind: String,
    next_url: Option<String>,
    filtered: bool,
    new: NewForm,
    errors: Errors,
}

#[derive(Deserialize, Default)]
pub struct ListQuery {
    q: Option<String>,
    tag: Option<String>,
    #[serde(rename = "type")]
    kind: Option<String>,
    cursor: Option<String>,
    ok: Option<String>,
}

async fn render_list(
    state: &AppState,
    user: &PageUser,
    q: ListQuery,
    new: NewForm,
    errors: Errors,
) -> PageResult<String> {
    let (search, tag, kind) = (nonempty(q.q), nonempty(q.tag), nonempty(q.kind));
    let page = state
        .app
        .list_prompts(ListPrompts {
            tag: tag.clone(),
            prompt_type: kind.clone(),
            q: search.clone(),
            cursor: nonempty(q.cursor),
            limit: Some(25),
        })
        .await?;
    let next_url = page.next_cursor.map(|c| {
        format!(
            "/app?q={}&tag={}&type={}&cursor={}",
            url_enc(search.as_deref().unwrap_or("")),
            url_enc(tag.as_deref().unwrap_or("")),
            url_enc(kind.as_deref().unwrap_or("")),
            url_enc(&c)
        )
    });
    let filtered = search.is_some() || tag.is_some() || kind.is_some();
    Ok(ListPage {
        chrome: Chrome::for_user(user, q.ok.as_deref()),
        rows: page.items.iter().map(PromptRow::from).collect(),
        q: search.unwrap_or_default(),
        tag: tag.unwrap_or_default(),
        kind: kind.unwrap_or_default(),
        next_url,
        filtered,
        new,
        errors,
    }
    .render()?)
}

pub async fn list(
    user: PageUser,
    State(state): State<AppState>,
    Query(q): Query<ListQuery>,
) -> PageResult {
    let new = NewForm {
        kind: "text".into(),
        ..NewForm::default()
    };
    Ok(Html(render_list(&state, &user, q, new, Errors::default()).await?).into_response())
}

pub fn split_tags(text: &str) -> Vec<String> {
    text.split(',')
        .map(|t| t.trim().to_string())
        .filter(|t| !t.is_empty())
        .collect()
}

pub async fn create(
    State(state): State<AppState>,
    PostForm { user, form }: PostForm,
) -> PageResult {
    let new = NewForm {
        title: form.get("title").to_string(),
        kind: form.get("type").to_string(),
        tags: form.get("tags").to_string(),
        body: form.get("body").to_string(),
    };
    let prompt_type = PromptType::parse(&new.kind);
    let result = match prompt_type {
        None => Err(AppError::invalid("type", "one_of", "choose text or chat")),
        Some(prompt_type) => {
            let body = new.body.trim();
            let content = (!body.is_empty()).then(|| match prompt_type {
                PromptType::Text => Content::Text(new.body.clone()),
                PromptType::Chat => Content::Chat(vec![ChatMessage {
                    role: Role::User,
                    content: new.body.clone(),
                }]),
            });
            state
                .app
                .create_prompt(
                    CreatePrompt {
                        title: new.title.clone(),
                        prompt_type,
                        tags: split_tags(&new.tags),
                        slug: None,
                        content,
                        settings: None,
                        note: None,
                    },
                    Some(user.user_id),
                )
                .await
        }
    };
    match result {
        Ok(detail) => Ok(
            Redirect::to(&format!("/app/prompts/{}?ok=created", detail.prompt.id)).into_response(),
        ),
        Err(e @ (AppError::Invalid(_) | AppError::Conflict { .. })) => {
            let html =
                render_list(&state, &user, ListQuery::default(), new, Errors::of(&e)).await?;
            Ok((StatusCode::UNPROCESSABLE_ENTITY, Html(html)).into_response())
        }
        Err(e) => Err(e.into()),
    }
}

// --- the prompt page ---------------------------------------------------------

pub struct VersionRow {
    pub number: i64,
    pub note: String,
    pub time: String,
    pub iso: String,
    pub labels: Vec<String>,
    pub current: bool,
}

pub struct RunRow {
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

pub fn run_row(r: &promptrefine_core::Run, numbers: &HashMap<VersionId, i64>) -> RunRow {
    RunRow {
        id: r.id.to_string(),
        status: r.status.as_str(),
        version: numbers
            .get(&r.version_id)
            .map(|n| format!("v{n}"))
            .unwrap_or_else(|| "—".into()),
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

/// The editor's fields, as saved or as the user typed them.
pub struct Editor {
    pub text: String,
    pub messages: Vec<(String, String)>,
    pub model: String,
    pub temperature: String,
    pub max_tokens: String,
    pub top_p: String,
    pub stop: String,
    pub note: String,
    pub variables: Vec<String>,
}

impl Editor {
    fn of(version: Option<&Version>, kind: PromptType) -> Editor {
        let settings = version.map(|v| v.settings.clone()).unwrap_or_default();
        let (text, mut messages) = match version.map(|v| &v.content) {
            Some(Content::Text(t)) => (t.clone(), vec![]),
            Some(Content::Chat(m)) => (
                String::new(),
                m.iter()
                    .map(|m| (m.role.as_str().to_string(), m.content.clone()))
                    .collect(),
            ),
            None => (String::new(), vec![]),
        };
        if kind == PromptType::Chat {
            // One blank message to type into (dropped on save when left empty).
            if messages.is_empty() {
                messages.push(("system".into(), String::new()));
            }
            messages.push(("user".into(), String::new()));
        }
        Editor {
            text,
            messages,
            model: settings.model.unwrap_or_default(),
            temperature: settings
                .temperature
                .map(|t| t.to_string())
                .unwrap_or_default(),
            max_tokens: settings
                .max_tokens
                .map(|t| t.to_string())
                .unwrap_or_default(),
            top_p: settings.top_p.map(|t| t.to_string()).unwrap_or_default(),
            stop: settings.stop.unwrap_or_default().join("\n"),
            note: String::new(),
            variables: version.map(|v| v.variables.clone()).unwrap_or_default(),
        }
    }

    fn from_form(form: &FormData, kind: PromptType) -> Editor {
        let messages: Vec<(String, String)> = form
            .all("role")
            .into_iter()
            .zip(form.all("content"))
            .collect();
        let mut editor = Editor {
            text: form.get("body").to_string(),
            messages,
            model: form.get("model").to_string(),
            temperature: form.get("temperature").to_string(),
            max_tokens: form.get("max_tokens").to_string(),
            top_p: form.get("top_p").to_string(),
            stop: form.get("stop").to_string(),
            note: form.get("note").to_string(),
            variables: vec![],
        };
        editor.variables = content_variables(&editor.content(kind));
        editor
    }

    fn content(&self, kind: PromptType) -> Content {
        match kind {
            PromptType::Text => Content::Text(self.text.clone()),
            PromptType::Chat => Content::Chat(
                self.messages
                    .iter()
                    .filter(|(_, c)| !c.trim().is_empty())
                    .map(|(r, c)| ChatMessage {
                        role: parse_role(r),
                        content: c.clone(),
                    })
                    .collect(),
            ),
        }
    }

    /// The settings, or the fields that do not parse.
    fn settings(&self, base: &ModelSettings) -> Result<ModelSettings, Errors> {
        let mut errors = Errors::default();
        let mut num = |field: &str, text: &str| -> Option<f64> {
            let text = text.trim();
            if text.is_empty() {
                return None;
            }
            text.parse::<f64>().ok().or_else(|| {
                errors
                    .0
                    .push((format!("settings.{field}"), "must be a number".into()));
                None
            })
        };
        let temperature = num("temperature", &self.temperature);
        let top_p = num("topP", &self.top_p);
        let max_tokens = match self.max_tokens.trim() {
            "" => None,
            t => t.parse::<u32>().ok().or_else(|| {
                errors
                    .0
                    .push(("settings.maxTokens".into(), "must be a whole number".into()));
                None
            }),
        };
        if !errors.is_empty() {
            return Err(errors);
        }
        let stop: Vec<String> = self
            .stop
            .lines()
            .map(str::to_string)
            .filter(|s| !s.is_empty())
            .collect();
        Ok(ModelSettings {
            model: Some(self.model.trim().to_string()).filter(|m| !m.is_empty()),
            temperature,
            max_tokens,
            top_p,
            stop: (!stop.is_empty()).then_some(stop),
            seed: base.seed,
            response_format: base.response_format.clone(),
        })
    }
}

fn parse_role(r: &str) -> Role {
    match r {
        "system" => Role::System,
        "assistant" => Role::Assistant,
        "developer" => Role::Developer,
        _ => Role::User,
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
    roles: [&'static str; 4],
}

#[derive(Deserialize, Default)]
pub struct ShowQuery {
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

async fn render_prompt(
    state: &AppState,
    user: &PageUser,
    id: PromptId,
    q: ShowQuery,
    pending: Pending,
) -> PageResult<String> {
    let detail = state.app.get_prompt(id).await?;
    let kind = detail.prompt.prompt_type;
    let version_cursor = nonempty(q.version_cursor);
    let versions_paged = version_cursor.is_some();
    let versions = state
        .app
        .list_versions(id, version_cursor.as_deref(), Some(VERSIONS_PER_PAGE))
        .await?;
    // The newest number comes from the first page, wherever the history is paged to.
    let newest = match version_cursor {
        Some(_) => state
            .app
            .list_versions(id, None, Some(1))
            .await?
            .items
            .first()
            .map(|v| v.version),
        None => versions.items.first().map(|v| v.version),
    };
    let versions_next = versions
        .next_cursor
        .as_deref()
        .map(|c| format!("/app/prompts/{id}?version_cursor={}#history", url_enc(c)));
    let mut numbers: HashMap<VersionId, i64> =
        versions.items.iter().map(|v| (v.id, v.version)).collect();
    let current = detail.current_version.as_ref();
    let version_rows = versions
        .items
        .iter()
        .map(|v| VersionRow {
            number: v.version,
            note: v.note.clone().unwrap_or_default(),
            time: fmt_time(v.created_at),
            iso: iso_time(v.created_at),
            labels: detail
                .labels
                .iter()
                .filter(|l| l.version_id == v.id)
                .map(|l| l.label.clone())
                .collect(),
            current: Some(v.id) == current.map(|c| c.id),
        })
        .collect();
    let run_version = nonempty(q.run_version);
    let run_status = nonempty(q.run_status).filter(|s| RunStatus::parse(s).is_some());
    let version_filter = match run_version.as_deref() {
        Some(n) => match n.trim_start_matches('v').parse::<i64>() {
            Ok(n) => state.app.get_version(id, n).await.ok().map(|v| v.id),
            Err(_) => None,
        },
        None => None,
    };
    let runs = if run_version.is_some() && version_filter.is_none() {
        promptrefine_store::Page {
            items: vec![],
            next_cursor: None,
        }
    } else {
        state
            .app
            .list_runs(
                id,
                ListRuns {
                    version_id: version_filter,
                    status: run_status.clone(),
                    cursor: nonempty(q.run_cursor),
                    limit: Some(20),
                },
            )
            .await?
    };
    // Runs of versions older than the page shown: look their numbers up
    // (at most one page of runs, and only when the history is long).
    for r in &runs.items {
        if !numbers.contains_key(&r.version_id)
            && let Ok(v) = state.app.get_version_by_id(id, r.version_id).await
        {
            numbers.insert(v.id, v.version);
        }
    }
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
        next_number: newest.unwrap_or(0) + 1,
        versions_next,
        versions_paged,
        current_version_id: current.map(|v| v.id.to_string()).unwrap_or_default(),
        editor: pending.editor.unwrap_or_else(|| Editor::of(current, kind)),
        errors: pending.errors,
        meta_errors,
        meta_title,
        meta_tags,
        versions: version_rows,
        runs: runs.items.iter().map(|r| run_row(r, &numbers)).collect(),
        runs_next,
        run_version: run_version.unwrap_or_default(),
        run_status: run_status.unwrap_or_default(),
        statuses: RunStatus::ALL.iter().map(|s| s.as_str()).collect(),
        roles: ["system", "user", "assistant", "developer"],
    }
    .render()?)
}

pub async fn show(
    user: PageUser,
    State(state): State<AppState>,
    Path(id): Path<String>,
    Query(q): Query<ShowQuery>,
) -> PageResult {
    let id: PromptId = parse(&id)?;
    Ok(Html(render_prompt(&state, &user, id, q, Pending::default()).await?).into_response())
}

pub async fn save(
    State(state): State<AppState>,
    Path(id): Path<String>,
    PostForm { user, form }: PostForm,
) -> PageResult {
    let id: PromptId = parse(&id)?;
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
        Ok(settings) => state
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
            .map_err(|e| match e {
                AppError::Invalid(_) | AppError::Conflict { .. } | AppError::BadRequest(_) => {
                    Errors::of(&e)
                }
                other => Errors(vec![("!".into(), other.to_string())]),
            }),
    };
    match result {
        Ok(_) => Ok(Redirect::to(&format!("/app/prompts/{id}?ok=saved")).into_response()),
        Err(errors) if errors.0.iter().any(|(f, _)| f == "!") => {
            Err(PageError::from_status(StatusCode::SERVICE_UNAVAILABLE))
        }
        Err(errors) => {
            let mut editor = editor;
            if kind == PromptType::Chat {
                editor.messages.push(("user".into(), String::new()));
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

pub async fn rename(
    State(state): State<AppState>,
    Path(id): Path<String>,
    PostForm { user, form }: PostForm,
) -> PageResult {
    let id: PromptId = parse(&id)?;
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

#[derive(Template)]
#[template(path = "delete.html")]
struct DeletePage {
    chrome: Chrome,
    id: String,
    title: String,
}

pub async fn confirm_delete(
    user: PageUser,
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> PageResult {
    let id: PromptId = parse(&id)?;
    let detail = state.app.get_prompt(id).await?;
    Ok(Html(
        DeletePage {
            chrome: Chrome::for_user(&user, None),
            id: id.to_string(),
            title: detail.prompt.title,
        }
        .render()?,
    )
    .into_response())
}

pub async fn delete(
    State(state): State<AppState>,
    Path(id): Path<String>,
    PostForm { user: _, form: _ }: PostForm,
) -> PageResult {
    let id: PromptId = parse(&id)?;
    state.app.delete_prompt(id).await?;
    Ok(Redirect::to("/app?ok=deleted").into_response())
}
