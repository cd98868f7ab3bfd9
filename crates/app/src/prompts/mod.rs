//! Prompts: create, list, read, rename/retag, delete. Their immutable
//! versions (with diffs and rendering) are in [`versions`], labels and the
//! runtime lookup by slug in [`labels`] — the same split as the store.
//!
//! Inputs are plain structs of what a user typed; each use case parses them
//! into the core's validated types (`Title`, `Slug`, `Tags` …) and reports
//! every broken rule at once. The wire format (JSON field names, OpenAPI)
//! belongs to `web`, which maps its request bodies into these.

pub mod labels;
pub mod overview;
pub mod versions;

use promptrefine_core::validate::{AllValid, Rule, Violations, prompt_filter};
use promptrefine_core::{
    Content, Label, ModelSettings, Prompt, PromptId, PromptType, Slug, Tags, Title, UserId,
    Version, slug,
};
use promptrefine_store::{
    Constraint, Cursor, NewPrompt, Page, PromptFilter, PromptPatch, StoreError,
};

use crate::error::{AppError, OrNotFound, Result};
use crate::{App, page_limit};

pub use labels::Resolved;
pub use overview::{OverviewFilters, PromptOverview};
pub use versions::{DiffResult, Rendered, SaveVersion, render};

/// A new prompt, optionally with its version 1.
#[derive(Clone, Debug)]
pub struct CreatePrompt {
    pub title: String,
    pub prompt_type: PromptType,
    pub tags: Vec<String>,
    /// Derived from the title when absent.
    pub slug: Option<String>,
    /// An optional first body: creates version 1 in the same transaction.
    pub content: Option<Content>,
    pub settings: Option<ModelSettings>,
    pub note: Option<String>,
}

/// A change of title, slug and/or tags; `None` keeps the value.
#[derive(Clone, Debug, Default)]
pub struct UpdatePrompt {
    pub title: Option<String>,
    pub slug: Option<String>,
    pub tags: Option<Vec<String>>,
}

/// A prompt with its current version and labels.
#[derive(Clone, Debug)]
pub struct PromptDetail {
    pub prompt: Prompt,
    pub current_version: Option<Version>,
    pub labels: Vec<Label>,
}

impl PromptDetail {
    /// The names of the labels that point at `version`.
    pub fn labels_of(&self, version: promptrefine_core::VersionId) -> Vec<String> {
        self.labels
            .iter()
            .filter(|l| l.version_id == version)
            .map(|l| l.label.clone())
            .collect()
    }
}

/// Prompts list filters, as a user typed them (empty means "any").
#[derive(Clone, Debug, Default)]
pub struct ListPrompts {
    pub tag: Option<String>,
    pub prompt_type: Option<String>,
    pub q: Option<String>,
    pub cursor: Option<String>,
    pub limit: Option<i64>,
}

/// How often a create with a derived slug retries after losing a race.
const SLUG_ATTEMPTS: usize = 5;

impl App {
    pub async fn create_prompt(
        &self,
        input: CreatePrompt,
        author: Option<UserId>,
    ) -> Result<PromptDetail> {
        let first_version = match input.content {
            Some(content) => versions::new_version(
                input.prompt_type,
                content,
                input.settings.unwrap_or_default(),
                input.note,
                author,
            )
            .map(Some),
            None if input.settings.is_some() || input.note.is_some() => {
                let mut v = Violations::new();
                v.push(
                    "content",
                    Rule::Required,
                    "settings and note need a content to save as version 1",
                );
                Err(v)
            }
            None => Ok(None),
        };
        let (title, tags, slug, first_version) = (
            Title::parse("title", &input.title),
            Tags::parse("tags", &input.tags),
            input
                .slug
                .as_deref()
                .map(|s| Slug::parse("slug", s))
                .transpose(),
            first_version,
        )
            .all()
            .map_err(AppError::Invalid)?;
        let (title, tags) = (title.into_string(), tags.into_strings());

        let explicit_slug = slug.is_some();
        let mut slug = match slug {
            Some(s) => s.into_string(),
            None => self.free_slug(&slug::slugify(&title)).await?,
        };
        // A derived slug can still be taken by a concurrent create: try a few more.
        for attempt in 0..SLUG_ATTEMPTS {
            let new = NewPrompt {
                title: title.clone(),
                slug: slug.clone(),
                prompt_type: input.prompt_type,
                tags: tags.clone(),
                first_version: first_version.clone(),
            };
            match self.store.prompts().create(new).await {
                Ok((prompt, current_version)) => {
                    // Watchers of this slug (waiting for it to exist) hear of it.
                    self.prompt_changed(prompt.id);
                    return Ok(PromptDetail {
                        prompt,
                        current_version,
                        labels: vec![],
                    });
                }
                Err(StoreError::Conflict(Constraint::PromptSlug))
                    if !explicit_slug && attempt + 1 < SLUG_ATTEMPTS =>
                {
                    slug = self.free_slug(&slug::slugify(&title)).await?;
                }
                Err(StoreError::Conflict(Constraint::PromptSlug)) => return Err(slug_taken(&slug)),
                Err(e) => return Err(e.into()),
            }
        }
        Err(slug_taken(&slug))
    }

    /// `base`, or `base-2`, `base-3` … whichever is free (and not reserved).
    /// `base`, or `base-2`, `base-3` … whichever no prompt has and no route reserves.
    async fn free_slug(&self, base: &str) -> Result<String> {
        for candidate in slug::candidates(base) {
            if !slug::RESERVED_SLUGS.contains(&candidate.as_str())
                && !self.store.prompts().slug_exists(&candidate).await?
            {
                return Ok(candidate);
            }
        }
        Ok(slug::with_random_suffix(base))
    }

    pub async fn list_prompts(&self, q: ListPrompts) -> Result<Page<Prompt>> {
        let limit = page_limit(q.limit)?;
        let cursor = decode_cursor(q.cursor.as_deref())?;
        let prompt_type = match q.prompt_type.as_deref() {
            None | Some("") => None,
            Some(t) => Some(PromptType::parse(t).ok_or_else(|| {
                AppError::invalid(
                    "type",
                    Rule::OneOf.as_str(),
                    "type must be \"text\" or \"chat\"",
                )
            })?),
        };
        let filter = PromptFilter {
            tag: q.tag.filter(|t| !t.is_empty()),
            prompt_type,
            q: q.q.map(|s| s.trim().to_string()).filter(|s| !s.is_empty()),
        };
        prompt_filter(filter.tag.as_deref(), filter.q.as_deref())
            .map_err(|e| AppError::Invalid(e.into()))?;
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
    pub(crate) async fn require_prompt(&self, id: PromptId) -> Result<Prompt> {
        self.store.prompts().get(id).await.or_not_found("prompt")
    }

    /// The prompt with this slug, or a 404. Text that cannot be a slug (a NUL
    /// byte, say) is unknown without a query: PostgreSQL refuses NUL in text,
    /// and that must not become a 5xx.
    pub(crate) async fn require_prompt_by_slug(&self, slug: &str) -> Result<Prompt> {
        let slug = Slug::lookup(slug).ok_or(AppError::NotFound("prompt"))?;
        self.store
            .prompts()
            .get_by_slug(slug.as_str())
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
        let (title, slug, tags) = (
            input
                .title
                .as_deref()
                .map(|t| Title::parse("title", t))
                .transpose(),
            input
                .slug
                .as_deref()
                .map(|s| Slug::parse("slug", s))
                .transpose(),
            input
                .tags
                .as_deref()
                .map(|t| Tags::parse("tags", t))
                .transpose(),
        )
            .all()
            .map_err(AppError::Invalid)?;
        let slug = slug.map(Slug::into_string);
        let patch = PromptPatch {
            title: title.map(Title::into_string),
            slug: slug.clone(),
            tags: tags.map(Tags::into_strings),
        };
        match self.store.prompts().update(id, patch).await {
            Err(StoreError::Conflict(Constraint::PromptSlug)) => {
                Err(slug_taken(slug.as_deref().unwrap_or("")))
            }
            other => {
                let updated = other.or_not_found("prompt")?;
                self.prompt_changed(id);
                Ok(updated)
            }
        }
    }

    pub async fn delete_prompt(&self, id: PromptId) -> Result<()> {
        self.store
            .prompts()
            .delete(id)
            .await
            .or_not_found("prompt")?;
        self.prompt_changed(id);
        Ok(())
    }
}

fn slug_taken(slug: &str) -> AppError {
    AppError::Conflict {
        field: "slug",
        message: format!("the slug {slug:?} is already taken"),
    }
}

pub(crate) fn bad_cursor() -> AppError {
    AppError::invalid(
        "cursor",
        Rule::Format.as_str(),
        "cursor is not one this server gave out",
    )
}

fn decode_cursor(text: Option<&str>) -> Result<Option<Cursor>> {
    match text.filter(|c| !c.is_empty()) {
        None => Ok(None),
        Some(c) => Cursor::decode(c).map(Some).ok_or_else(bad_cursor),
    }
}
