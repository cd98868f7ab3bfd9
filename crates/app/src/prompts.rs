//! Prompts, their immutable versions, labels, diffs and rendering.

use std::collections::BTreeMap;

use promptrefine_core::diff::{VersionDiff, diff_versions};
use promptrefine_core::template::content_variables;
use promptrefine_core::validate::{self, Violations};
use promptrefine_core::{
    Content, Label, ModelSettings, Prompt, PromptId, PromptType, UserId, Version, VersionId, slug,
};
use promptrefine_store::{
    Cursor, NewPrompt, NewVersion, NumberCursor, Page, PromptFilter, PromptPatch, StoreError,
};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::error::{AppError, OrNotFound, Result, check};
use crate::{App, page_limit};

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

/// `POST /api/prompts/{id}/versions`.
#[derive(Clone, Debug, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct SaveVersion {
    pub content: Content,
    #[serde(default)]
    pub settings: ModelSettings,
    #[serde(default)]
    pub note: Option<String>,
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

/// The answer of a diff: which versions, and the line diffs.
#[derive(Clone, Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct DiffResult {
    pub from: i64,
    pub to: i64,
    #[serde(flatten)]
    pub diff: VersionDiff,
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

/// Prompts list filters, as the API receives them.
#[derive(Clone, Debug, Default)]
pub struct ListPrompts {
    pub tag: Option<String>,
    pub prompt_type: Option<String>,
    pub q: Option<String>,
    pub cursor: Option<String>,
    pub limit: Option<i64>,
}

impl App {
    pub async fn create_prompt(
        &self,
        input: CreatePrompt,
        author: Option<UserId>,
    ) -> Result<PromptDetail> {
        let title = input.title.trim().to_string();
        let tags = input.tags;
        let mut v = Violations::default();
        validate::title(&mut v, "title", &title);
        validate::tags(&mut v, "tags", &tags);
        if let Some(s) = &input.slug {
            validate::slug(&mut v, "slug", s);
            reserved_slug(&mut v, s);
        }
        let first_version = match input.content {
            Some(content) => {
                let settings = input.settings.unwrap_or_default();
                Some(self.new_version(
                    &mut v,
                    input.prompt_type,
                    content,
                    settings,
                    input.note,
                    author,
                ))
            }
            None => {
                if input.settings.is_some() || input.note.is_some() {
                    v.push(
                        "content",
                        "required",
                        "settings and note need a content to save as version 1",
                    );
                }
                None
            }
        };
        check(v)?;

        let explicit_slug = input.slug.is_some();
        let mut slug = match input.slug {
            Some(s) => s,
            None => self.free_slug(&slug::slugify(&title)).await?,
        };
        // A derived slug can still be taken by a concurrent create: try a few more.
        for attempt in 0..5 {
            let new = NewPrompt {
                title: title.clone(),
                slug: slug.clone(),
                prompt_type: input.prompt_type,
                tags: tags.clone(),
                first_version: first_version.clone(),
            };
            match self.store.prompts().create(new).await {
                Ok((prompt, current_version)) => {
                    return Ok(PromptDetail {
                        prompt,
                        current_version,
                        labels: vec![],
                    });
                }
                Err(StoreError::Conflict(_)) if !explicit_slug && attempt < 4 => {
                    slug = self.free_slug(&slug::slugify(&title)).await?;
                }
                Err(StoreError::Conflict(_)) => return Err(slug_taken(&slug)),
                Err(e) => return Err(e.into()),
            }
        }
        Err(slug_taken(&slug))
    }

    /// `base`, or `base-2`, `base-3` … whichever is free.
    async fn free_slug(&self, base: &str) -> Result<String> {
        let mut candidate = base.to_string();
        for n in 2..1000 {
            if candidate != RESERVED_SLUG && !self.store.prompts().slug_exists(&candidate).await? {
                return Ok(candidate);
            }
            let suffix = format!("-{n}");
            let keep = base
                .len()
                .min(validate::limits::SLUG_MAX_CHARS - suffix.len());
            candidate = format!("{}{suffix}", base[..keep].trim_end_matches('-'));
        }
        Ok(format!(
            "{}-{}",
            &base[..base.len().min(60)],
            VersionId::new().0.simple()
        ))
    }

    fn new_version(
        &self,
        v: &mut Violations,
        prompt_type: PromptType,
        content: Content,
        settings: ModelSettings,
        note: Option<String>,
        author: Option<UserId>,
    ) -> NewVersion {
        validate::content(v, "content", &content, prompt_type);
        validate::settings(v, "settings", &settings);
        let note = note.map(|n| n.trim().to_string()).filter(|n| !n.is_empty());
        validate::note(v, "note", note.as_deref());
        NewVersion {
            variables: content_variables(&content),
            content,
            settings,
            note,
            author_id: author,
        }
    }

    pub async fn list_prompts(&self, q: ListPrompts) -> Result<Page<Prompt>> {
        let limit = page_limit(q.limit)?;
        let cursor = decode_cursor(q.cursor.as_deref())?;
        let prompt_type = match q.prompt_type.as_deref() {
            None | Some("") => None,
            Some(t) => Some(PromptType::parse(t).ok_or_else(|| {
                AppError::invalid("type", "oneOf", "type must be \"text\" or \"chat\"")
            })?),
        };
        let filter = PromptFilter {
            tag: q.tag.filter(|t| !t.is_empty()),
            prompt_type,
            q: q.q.map(|s| s.trim().to_string()).filter(|s| !s.is_empty()),
        };
        // No stored title, slug or tag holds a control character, and
        // PostgreSQL refuses NUL in text: refuse them here, not as a 5xx.
        for (field, text) in [("tag", &filter.tag), ("q", &filter.q)] {
            if text
                .as_ref()
                .is_some_and(|s| s.chars().any(char::is_control))
            {
                return Err(AppError::invalid(
                    field,
                    "chars",
                    format!("{field} must not contain control characters"),
                ));
            }
        }
        if filter.q.as_ref().is_some_and(|s| s.chars().count() > 200) {
            return Err(AppError::invalid(
                "q",
                "length",
                "q must be at most 200 characters",
            ));
        }
        Ok(self.store.prompts().list(&filter, cursor, limit).await?)
    }

    /// A prompt id from a path segment that holds an id or, for reads, a slug.
    pub async fn prompt_ref(&self, text: &str) -> Result<PromptId> {
        if let Ok(id) = text.parse::<PromptId>() {
            return Ok(id);
        }
        Ok(self.require_prompt_by_slug(text).await?.id)
    }

    /// The prompt, or a 404 naming it.
    async fn require_prompt(&self, id: PromptId) -> Result<Prompt> {
        self.store.prompts().get(id).await.or_not_found("prompt")
    }

    /// The prompt with this slug, or a 404. Text that cannot be a slug (a NUL
    /// byte, say) is unknown without a query: PostgreSQL refuses NUL in text,
    /// and that must not become a 5xx.
    async fn require_prompt_by_slug(&self, slug: &str) -> Result<Prompt> {
        if !slug::is_valid_slug(slug) {
            return Err(AppError::NotFound("prompt"));
        }
        self.store
            .prompts()
            .get_by_slug(slug)
            .await
            .or_not_found("prompt")
    }

    pub async fn get_prompt(&self, id: PromptId) -> Result<PromptDetail> {
        let prompt = self.require_prompt(id).await?;
        self.detail(prompt).await
    }

    pub async fn get_prompt_by_slug(&self, slug: &str) -> Result<PromptDetail> {
        let prompt = self.require_prompt_by_slug(slug).await?;
        self.detail(prompt).await
    }

    async fn detail(&self, prompt: Prompt) -> Result<PromptDetail> {
        let current_version = match prompt.current_version_id {
            Some(vid) => Some(
                self.store
                    .versions()
                    .get(vid)
                    .await
                    .or_not_found("version")?,
            ),
            None => None,
        };
        let labels = self.store.labels().list(prompt.id).await?;
        Ok(PromptDetail {
            prompt,
            current_version,
            labels,
        })
    }

    pub async fn update_prompt(&self, id: PromptId, input: UpdatePrompt) -> Result<Prompt> {
        let mut v = Violations::default();
        let title = input.title.map(|t| t.trim().to_string());
        if let Some(t) = &title {
            validate::title(&mut v, "title", t);
        }
        if let Some(s) = &input.slug {
            validate::slug(&mut v, "slug", s);
            reserved_slug(&mut v, s);
        }
        if let Some(t) = &input.tags {
            validate::tags(&mut v, "tags", t);
        }
        check(v)?;
        let slug = input.slug.clone();
        let patch = PromptPatch {
            title,
            slug: input.slug,
            tags: input.tags,
        };
        match self.store.prompts().update(id, patch).await {
            Err(StoreError::Conflict(_)) => Err(slug_taken(slug.as_deref().unwrap_or(""))),
            other => other.or_not_found("prompt"),
        }
    }

    pub async fn delete_prompt(&self, id: PromptId) -> Result<()> {
        self.store.prompts().delete(id).await.or_not_found("prompt")
    }

    pub async fn save_version(
        &self,
        prompt_id: PromptId,
        input: SaveVersion,
        author: Option<UserId>,
    ) -> Result<Version> {
        let prompt = self
            .store
            .prompts()
            .get(prompt_id)
            .await
            .or_not_found("prompt")?;
        let mut v = Violations::default();
        let new = self.new_version(
            &mut v,
            prompt.prompt_type,
            input.content,
            input.settings,
            input.note,
            author,
        );
        check(v)?;
        self.store
            .versions()
            .save(prompt_id, new)
            .await
            .or_not_found("prompt")
    }

    pub async fn list_versions(
        &self,
        prompt_id: PromptId,
        cursor: Option<&str>,
        limit: Option<i64>,
    ) -> Result<Page<Version>> {
        let limit = page_limit(limit)?;
        let cursor = match cursor.filter(|c| !c.is_empty()) {
            None => None,
            Some(c) => Some(NumberCursor::decode(c).ok_or_else(bad_cursor)?),
        };
        self.require_prompt(prompt_id).await?;
        Ok(self.store.versions().list(prompt_id, cursor, limit).await?)
    }

    pub async fn get_version(&self, prompt_id: PromptId, number: i64) -> Result<Version> {
        self.store
            .versions()
            .get_by_number(prompt_id, number)
            .await
            .or_not_found("version")
    }

    /// A version of this prompt by id (NotFound when it belongs to another).
    pub async fn get_version_by_id(&self, prompt_id: PromptId, id: VersionId) -> Result<Version> {
        let version = self
            .store
            .versions()
            .get(id)
            .await
            .or_not_found("version")?;
        if version.prompt_id != prompt_id {
            return Err(AppError::NotFound("version"));
        }
        Ok(version)
    }

    pub async fn restore_version(
        &self,
        prompt_id: PromptId,
        version_id: VersionId,
    ) -> Result<PromptDetail> {
        self.require_prompt(prompt_id).await?;
        self.store
            .versions()
            .restore(prompt_id, version_id)
            .await
            .or_not_found("version")?;
        self.get_prompt(prompt_id).await
    }

    /// Diff of version `from` against `to` (numbers); `to` defaults to current.
    pub async fn diff_versions(
        &self,
        prompt_id: PromptId,
        from: i64,
        to: Option<i64>,
    ) -> Result<DiffResult> {
        let old = self.get_version(prompt_id, from).await?;
        let new = match to {
            Some(n) => self.get_version(prompt_id, n).await?,
            None => self
                .store
                .versions()
                .get_current(prompt_id)
                .await
                .or_not_found("version")?,
        };
        Ok(DiffResult {
            from: old.version,
            to: new.version,
            diff: diff_versions(&old.content, &old.settings, &new.content, &new.settings),
        })
    }

    pub async fn set_label(
        &self,
        prompt_id: PromptId,
        label: &str,
        version_id: VersionId,
    ) -> Result<Vec<Label>> {
        let mut v = Violations::default();
        validate::label_name(&mut v, "label", label);
        check(v)?;
        self.require_prompt(prompt_id).await?;
        self.store
            .labels()
            .set(prompt_id, label, version_id)
            .await
            .or_not_found("version")?;
        Ok(self.store.labels().list(prompt_id).await?)
    }

    pub async fn remove_label(&self, prompt_id: PromptId, label: &str) -> Result<()> {
        self.store
            .labels()
            .remove(prompt_id, label)
            .await
            .or_not_found("label")
    }

    /// What an application fetches at runtime: the version a label (default
    /// `current`) points at, by slug.
    pub async fn resolve(&self, slug: &str, label: Option<&str>) -> Result<(Prompt, Version)> {
        let prompt = self.require_prompt_by_slug(slug).await?;
        // Text that cannot be a label is unknown without a query (see
        // require_prompt_by_slug).
        if let Some(l) = label.filter(|l| !l.is_empty() && *l != "current") {
            let mut v = Violations::default();
            validate::label_name(&mut v, "label", l);
            if !v.is_empty() {
                return Err(AppError::NotFound("label"));
            }
        }
        let version = match label.filter(|l| !l.is_empty() && *l != "current") {
            Some(l) => self
                .store
                .labels()
                .resolve(prompt.id, l)
                .await
                .or_not_found("label")?,
            None => self
                .store
                .versions()
                .get_current(prompt.id)
                .await
                .or_not_found("version")?,
        };
        Ok((prompt, version))
    }

    /// Renders a version (default: current) with variable values.
    pub async fn render(
        &self,
        prompt_id: PromptId,
        version_id: Option<VersionId>,
        variables: &BTreeMap<String, String>,
    ) -> Result<Rendered> {
        let mut v = Violations::default();
        validate::variables(&mut v, "variables", variables);
        check(v)?;
        let version = self.version_or_current(prompt_id, version_id).await?;
        let content =
            crate::runs::render(&version.content, variables, self.runs.max_rendered_bytes())?;
        Ok(Rendered {
            version_id: version.id,
            version: version.version,
            messages: content.to_messages(),
            content,
        })
    }

    pub async fn version_or_current(
        &self,
        prompt_id: PromptId,
        version_id: Option<VersionId>,
    ) -> Result<Version> {
        match version_id {
            Some(id) => self.get_version_by_id(prompt_id, id).await,
            None => {
                self.require_prompt(prompt_id).await?;
                self.store
                    .versions()
                    .get_current(prompt_id)
                    .await
                    .or_not_found("version")
            }
        }
    }
}

/// Renders content under the default cap; see [`crate::runs::render`].
pub fn render(content: &Content, variables: &BTreeMap<String, String>) -> Result<Content> {
    crate::runs::render(
        content,
        variables,
        promptrefine_core::template::DEFAULT_MAX_RENDERED_BYTES,
    )
}

/// `/api/prompts/by-slug/{slug}` is a route, so `by-slug` cannot also be a
/// prompt's slug (reads accept a slug where an id goes).
const RESERVED_SLUG: &str = "by-slug";

fn reserved_slug(v: &mut Violations, slug: &str) {
    if slug == RESERVED_SLUG {
        v.push(
            "slug",
            "reserved",
            format!("{RESERVED_SLUG:?} is reserved; choose another slug"),
        );
    }
}

fn slug_taken(slug: &str) -> AppError {
    AppError::Conflict {
        field: "slug",
        message: format!("the slug {slug:?} is already taken"),
    }
}

fn bad_cursor() -> AppError {
    AppError::invalid("cursor", "format", "cursor is not one this server gave out")
}

fn decode_cursor(text: Option<&str>) -> Result<Option<Cursor>> {
    match text.filter(|c| !c.is_empty()) {
        None => Ok(None),
        Some(c) => Cursor::decode(c).map(Some).ok_or_else(bad_cursor),
    }
}
