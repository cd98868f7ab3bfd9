//! Bodies of `/api/prompts` (create, list, read, update, delete, by-slug,
//! render).

use std::collections::BTreeMap;

use promptrefine_app::prompts as app;
use promptrefine_core::{
    Content, Label, ModelSettings, Prompt, PromptId, PromptType, Version, VersionId,
};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

/// `POST /api/prompts`.
#[derive(Clone, Debug, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct CreatePrompt {
    pub title: String,
    #[serde(rename = "type")]
    pub prompt_type: PromptType,
    #[serde(default)]
    pub tags: Vec<String>,
    /// Derived from the title when absent.
    #[serde(default)]
    pub slug: Option<String>,
    /// An optional first body: creates version 1 in the same transaction.
    #[serde(default, alias = "body")]
    pub content: Option<Content>,
    #[serde(default)]
    pub settings: Option<ModelSettings>,
    #[serde(default)]
    pub note: Option<String>,
}

impl From<CreatePrompt> for app::CreatePrompt {
    fn from(b: CreatePrompt) -> Self {
        app::CreatePrompt {
            title: b.title,
            prompt_type: b.prompt_type,
            tags: b.tags,
            slug: b.slug,
            content: b.content,
            settings: b.settings,
            note: b.note,
        }
    }
}

/// `PATCH /api/prompts/{id}`: title, slug and/or tags only.
#[derive(Clone, Debug, Default, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct UpdatePrompt {
    #[serde(default)]
    pub title: Option<String>,
    #[serde(default)]
    pub slug: Option<String>,
    #[serde(default)]
    pub tags: Option<Vec<String>>,
}

impl From<UpdatePrompt> for app::UpdatePrompt {
    fn from(b: UpdatePrompt) -> Self {
        app::UpdatePrompt {
            title: b.title,
            slug: b.slug,
            tags: b.tags,
        }
    }
}

/// A prompt with its current version and labels (`GET /api/prompts/{id}`).
#[derive(Clone, Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct PromptDetail {
    #[serde(flatten)]
    pub prompt: Prompt,
    pub current_version: Option<Version>,
    pub labels: Vec<Label>,
}

impl From<app::PromptDetail> for PromptDetail {
    fn from(d: app::PromptDetail) -> Self {
        PromptDetail {
            prompt: d.prompt,
            current_version: d.current_version,
            labels: d.labels,
        }
    }
}

#[derive(Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct ListQuery {
    /// Only prompts with this tag.
    tag: Option<String>,
    /// `text` or `chat`.
    #[serde(rename = "type")]
    #[param(rename = "type")]
    prompt_type: Option<String>,
    /// Substring of the title or slug.
    q: Option<String>,
    /// `nextCursor` of the previous page.
    cursor: Option<String>,
    /// 1–100, default 20.
    limit: Option<i64>,
}

impl From<ListQuery> for app::ListPrompts {
    fn from(q: ListQuery) -> Self {
        app::ListPrompts {
            tag: q.tag,
            prompt_type: q.prompt_type,
            q: q.q,
            cursor: q.cursor,
            limit: q.limit,
        }
    }
}

#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct PromptPage {
    pub items: Vec<Prompt>,
    pub next_cursor: Option<String>,
}

#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Deleted {
    pub id: String,
    pub deleted: bool,
}

#[derive(Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct SlugQuery {
    /// A label such as `production`; default `current`.
    pub label: Option<String>,
    /// A version number instead of a label (a pinned version).
    pub version: Option<i64>,
}

#[derive(Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct WatchQuery {
    /// A label such as `production`; default `current`.
    pub label: Option<String>,
}

/// One event of a watch stream (`event: prompt`, its `id` the ETag).
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct WatchEvent {
    /// The ETag `by-slug` answers with now; null once the label no longer
    /// resolves (the prompt or label was deleted).
    pub etag: Option<String>,
    /// The version number the label points at now.
    pub version: Option<i64>,
}

/// What an application fetches at runtime.
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ResolvedPrompt {
    id: PromptId,
    slug: String,
    title: String,
    #[serde(rename = "type")]
    prompt_type: PromptType,
    tags: Vec<String>,
    /// The label asked for; absent when a version was asked for by number.
    #[serde(skip_serializing_if = "Option::is_none")]
    label: Option<String>,
    version: Version,
}

impl From<app::Resolved> for ResolvedPrompt {
    fn from(r: app::Resolved) -> Self {
        ResolvedPrompt {
            id: r.prompt.id,
            slug: r.prompt.slug,
            title: r.prompt.title,
            prompt_type: r.prompt.prompt_type,
            tags: r.prompt.tags,
            label: Some(r.label).filter(|l| !l.is_empty()),
            version: r.version,
        }
    }
}

#[derive(Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct RenderRequest {
    /// Default: the current version.
    #[serde(default)]
    pub version_id: Option<VersionId>,
    #[serde(default)]
    pub variables: BTreeMap<String, String>,
}

/// A version rendered with variable values.
#[derive(Clone, Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Rendered {
    pub version_id: VersionId,
    pub version: i64,
    /// Same shape as the version's content, with the variables filled in.
    pub content: Content,
    /// The messages a Chat Completions request would carry.
    pub messages: Vec<promptrefine_core::ChatMessage>,
}

impl From<app::Rendered> for Rendered {
    fn from(r: app::Rendered) -> Self {
        Rendered {
            version_id: r.version_id,
            version: r.version,
            content: r.content,
            messages: r.messages,
        }
    }
}
