//! One version read-only, restore, labels, and diffs between versions.

use askama::Template;
use axum::extract::{Path, Query, State};
use axum::response::{Html, IntoResponse, Redirect};
use promptrefine_core::PromptId;
use promptrefine_core::diff::{
    ChangeKind, DiffKind, DiffLine, JsonChange, content_as_text, settings_as_text,
};
use serde::Deserialize;

use super::Chrome;
use super::params::{PageId, parse, url_enc, version_number};
use super::support::{PageError, PageResult, PageUser, PostForm, fmt_time, iso_time};
use crate::state::AppState;

#[derive(Template)]
#[template(path = "version.html")]
struct VersionPage {
    chrome: Chrome,
    id: String,
    title: String,
    number: i64,
    current_number: i64,
    note: String,
    time: String,
    iso: String,
    body: String,
    settings: String,
    variables: Vec<String>,
    labels: Vec<String>,
}

pub(super) async fn show(
    user: PageUser,
    State(state): State<AppState>,
    Path((id, n)): Path<(String, String)>,
) -> PageResult {
    let id: PromptId = parse(&id)?;
    let n = version_number(parse(&n)?)?;
    let detail = state.app.get_prompt(id).await?;
    let v = state.app.get_version(id, n).await?;
    let labels = detail.labels_of(v.id);
    Ok(Html(
        VersionPage {
            chrome: Chrome::for_user(&user, None),
            id: id.to_string(),
            title: detail.prompt.title,
            number: v.version,
            current_number: detail
                .current_version
                .as_ref()
                .map(|c| c.version)
                .unwrap_or(0),
            note: v.note.clone().unwrap_or_default(),
            time: fmt_time(v.created_at),
            iso: iso_time(v.created_at),
            body: content_as_text(&v.content),
            settings: settings_as_text(&v.settings),
            variables: v.variables.clone(),
            labels,
        }
        .render()?,
    )
    .into_response())
}

pub(super) async fn restore(
    State(state): State<AppState>,
    Path((id, n)): Path<(String, String)>,
    PostForm { user: _, form: _ }: PostForm,
) -> PageResult {
    let id: PromptId = parse(&id)?;
    let n = version_number(parse(&n)?)?;
    let v = state.app.get_version(id, n).await?;
    state.app.restore_version(id, v.id).await?;
    Ok(Redirect::to(&format!("/app/prompts/{id}?ok=restored")).into_response())
}

pub(super) async fn set_label(
    State(state): State<AppState>,
    PageId(id): PageId<PromptId>,
    PostForm { user: _, form }: PostForm,
) -> PageResult {
    let n: i64 = form
        .get("version")
        .trim_start_matches('v')
        .parse()
        .map_err(|_| PageError::from_status(axum::http::StatusCode::BAD_REQUEST))?;
    let v = state.app.get_version(id, version_number(n)?).await?;
    state
        .app
        .set_label(id, form.get("label").trim(), v.id)
        .await?;
    Ok(Redirect::to(&format!("/app/prompts/{id}?ok=label#history")).into_response())
}

pub(super) async fn remove_label(
    State(state): State<AppState>,
    Path((id, label)): Path<(String, String)>,
    PostForm { user: _, form: _ }: PostForm,
) -> PageResult {
    let id: PromptId = parse(&id)?;
    state.app.remove_label(id, &label).await?;
    Ok(Redirect::to(&format!("/app/prompts/{id}?ok=unlabel#history")).into_response())
}

/// One row of a side-by-side diff: old on the left, new on the right.
pub(super) struct SplitRow {
    pub left_no: String,
    pub left: String,
    pub left_kind: &'static str,
    pub right_no: String,
    pub right: String,
    pub right_kind: &'static str,
}

pub(super) struct InlineRow {
    pub old_no: String,
    pub new_no: String,
    pub sign: &'static str,
    pub kind: &'static str,
    pub text: String,
}

fn kind(k: DiffKind) -> &'static str {
    match k {
        DiffKind::Equal => "eq",
        DiffKind::Insert => "ins",
        DiffKind::Delete => "del",
    }
}

fn num(n: Option<u32>) -> String {
    n.map(|n| n.to_string()).unwrap_or_default()
}

fn inline(lines: &[DiffLine]) -> Vec<InlineRow> {
    lines
        .iter()
        .map(|l| InlineRow {
            old_no: num(l.old_line),
            new_no: num(l.new_line),
            sign: match l.kind {
                DiffKind::Equal => " ",
                DiffKind::Insert => "+",
                DiffKind::Delete => "−",
            },
            kind: kind(l.kind),
            text: l.text.clone(),
        })
        .collect()
}

/// Pairs each block of deletions with the insertions that follow it.
fn split(lines: &[DiffLine]) -> Vec<SplitRow> {
    let mut rows = Vec::new();
    let mut i = 0;
    while i < lines.len() {
        if lines[i].kind == DiffKind::Equal {
            let l = &lines[i];
            rows.push(SplitRow {
                left_no: num(l.old_line),
                left: l.text.clone(),
                left_kind: "eq",
                right_no: num(l.new_line),
                right: l.text.clone(),
                right_kind: "eq",
            });
            i += 1;
            continue;
        }
        let dels: Vec<&DiffLine> = lines[i..]
            .iter()
            .take_while(|l| l.kind == DiffKind::Delete)
            .collect();
        i += dels.len();
        let ins: Vec<&DiffLine> = lines[i..]
            .iter()
            .take_while(|l| l.kind == DiffKind::Insert)
            .collect();
        i += ins.len();
        for k in 0..dels.len().max(ins.len()) {
            let (d, n) = (dels.get(k), ins.get(k));
            rows.push(SplitRow {
                left_no: d.map(|l| num(l.old_line)).unwrap_or_default(),
                left: d.map(|l| l.text.clone()).unwrap_or_default(),
                left_kind: if d.is_some() { "del" } else { "none" },
                right_no: n.map(|l| num(l.new_line)).unwrap_or_default(),
                right: n.map(|l| l.text.clone()).unwrap_or_default(),
                right_kind: if n.is_some() { "ins" } else { "none" },
            });
        }
    }
    rows
}

#[derive(Template)]
#[template(path = "diff.html")]
struct DiffPage {
    chrome: Chrome,
    id: String,
    title: String,
    from: i64,
    to: i64,
    numbers: Vec<i64>,
    split_mode: bool,
    changed: bool,
    body_split: Vec<SplitRow>,
    body_inline: Vec<InlineRow>,
    settings_split: Vec<SplitRow>,
    settings_inline: Vec<InlineRow>,
    /// The settings compared value by value (tools, schemas …).
    changes: Vec<ChangeRow>,
    other_mode_url: String,
}

/// One JSON-aware change as the pages show it.
pub(super) struct ChangeRow {
    pub path: String,
    /// `added`, `removed` or `changed` (also the row's class).
    pub kind: &'static str,
    pub old: String,
    pub new: String,
}

pub(super) fn change_rows(changes: &[JsonChange]) -> Vec<ChangeRow> {
    let text = |v: &Option<serde_json::Value>| {
        v.as_ref()
            .map(|v| serde_json::to_string(v).unwrap_or_default())
            .unwrap_or_default()
    };
    changes
        .iter()
        .map(|c| ChangeRow {
            path: c.path.clone(),
            kind: match c.kind {
                ChangeKind::Added => "added",
                ChangeKind::Removed => "removed",
                ChangeKind::Changed => "changed",
            },
            old: text(&c.old),
            new: text(&c.new),
        })
        .collect()
}

#[derive(Deserialize)]
pub(super) struct DiffQuery {
    from: Option<String>,
    to: Option<String>,
    mode: Option<String>,
}

pub(super) async fn diff(
    user: PageUser,
    State(state): State<AppState>,
    PageId(id): PageId<PromptId>,
    Query(q): Query<DiffQuery>,
) -> PageResult {
    let detail = state.app.get_prompt(id).await?;
    let current = detail
        .current_version
        .as_ref()
        .map(|v| v.version)
        .unwrap_or(1);
    let pick = |s: Option<&str>| s.and_then(|s| s.trim_start_matches('v').parse::<i64>().ok());
    let to = pick(q.to.as_deref()).unwrap_or(current);
    let from = pick(q.from.as_deref()).unwrap_or((to - 1).max(1));
    let result = state
        .app
        .diff_versions(id, version_number(from)?, Some(version_number(to)?))
        .await?;
    let versions = state.app.list_versions(id, None, Some(100)).await?;
    let split_mode = q.mode.as_deref() != Some("inline");
    Ok(Html(
        DiffPage {
            chrome: Chrome::for_user(&user, None),
            id: id.to_string(),
            title: detail.prompt.title,
            from,
            to,
            numbers: versions.items.iter().map(|v| v.version).collect(),
            split_mode,
            changed: result.diff.changed,
            body_split: split(&result.diff.content),
            body_inline: inline(&result.diff.content),
            settings_split: split(&result.diff.settings),
            settings_inline: inline(&result.diff.settings),
            changes: change_rows(&result.diff.setting_changes),
            other_mode_url: format!(
                "/app/prompts/{id}/diff?from={from}&to={to}&mode={}",
                url_enc(if split_mode { "inline" } else { "split" })
            ),
        }
        .render()?,
    )
    .into_response())
}
