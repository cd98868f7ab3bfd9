//! The prompt list (`/app`), the new-prompt form and deleting a prompt; the
//! prompt page itself (editor, history, run panel, run history, details) is
//! in [`show`], its editor form in [`editor`].

mod editor;
mod show;

use askama::Template;
use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::{Html, IntoResponse, Redirect};
use promptrefine_app::AppError;
use promptrefine_app::prompts::{CreatePrompt, ListPrompts};
use promptrefine_core::validate::Rule;
use promptrefine_core::{ChatMessage, Content, Prompt, PromptId, PromptType, Role};
use serde::Deserialize;

use super::Chrome;
use super::params::{PageId, nonempty, split_tags, url_enc};
use super::support::{Errors, PageResult, PageUser, PostForm, fmt_time, iso_time};
use crate::state::AppState;

pub(super) use show::{rename, save, show};

// --- list and create ---------------------------------------------------------

pub(super) struct PromptRow {
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
pub(super) struct NewForm {
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
pub(super) struct ListQuery {
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

pub(super) async fn list(
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

pub(super) async fn create(
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
        None => Err(AppError::invalid(
            "type",
            Rule::OneOf.as_str(),
            "choose text or chat",
        )),
        Some(prompt_type) => {
            let body = new.body.trim();
            let content = (!body.is_empty()).then(|| match prompt_type {
                PromptType::Text => Content::Text(new.body.clone()),
                PromptType::Chat => Content::Chat(vec![ChatMessage {
                    role: Role::User,
                    content: new.body.clone(),
                    ..Default::default()
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

#[derive(Template)]
#[template(path = "delete.html")]
struct DeletePage {
    chrome: Chrome,
    id: String,
    title: String,
}

pub(super) async fn confirm_delete(
    user: PageUser,
    State(state): State<AppState>,
    PageId(id): PageId<PromptId>,
) -> PageResult {
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

pub(super) async fn delete(
    State(state): State<AppState>,
    PageId(id): PageId<PromptId>,
    PostForm { user: _, form: _ }: PostForm,
) -> PageResult {
    state.app.delete_prompt(id).await?;
    Ok(Redirect::to("/app?ok=deleted").into_response())
}
