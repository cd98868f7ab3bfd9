//! A prompt's immutable versions: save, list, read, restore, diff, render.

use std::collections::BTreeMap;

use promptrefine_core::diff::{VersionDiff, diff_versions};
use promptrefine_core::template::content_variables;
use promptrefine_core::validate::{self, Violations};
use promptrefine_core::{
    ChatMessage, Content, ModelSettings, PromptId, PromptType, UserId, Version, VersionId,
    VersionNumber,
};
use promptrefine_store::{NewVersion, NumberCursor, Page};

use super::{PromptDetail, bad_cursor};
use crate::error::{AppError, OrNotFound, Result};
use crate::{App, page_limit};

/// A new version's body, settings and note.
#[derive(Clone, Debug)]
pub struct SaveVersion {
    pub content: Content,
    pub settings: ModelSettings,
    pub note: Option<String>,
}

/// Which versions a diff compares, and the line diffs.
#[derive(Clone, Debug)]
pub struct DiffResult {
    pub from: i64,
    pub to: i64,
    pub diff: VersionDiff,
}

/// A version rendered with variable values.
#[derive(Clone, Debug)]
pub struct Rendered {
    pub version_id: VersionId,
    pub version: i64,
    /// Same shape as the version's content, with the variables filled in.
    pub content: Content,
    /// The messages a Chat Completions request would carry.
    pub messages: Vec<ChatMessage>,
}

/// A version ready to store, or every rule its parts broke. The note is
/// trimmed, and a blank one is no note.
pub(super) fn new_version(
    prompt_type: PromptType,
    content: Content,
    settings: ModelSettings,
    note: Option<String>,
    author: Option<UserId>,
) -> Result<NewVersion, Violations> {
    let mut v = Violations::new();
    validate::content(&mut v, "content", &content, prompt_type);
    validate::settings(&mut v, "settings", &settings);
    let note = note.map(|n| n.trim().to_string()).filter(|n| !n.is_empty());
    validate::note(&mut v, "note", note.as_deref());
    v.or(NewVersion {
        variables: content_variables(&content),
        content,
        settings,
        note,
        author_id: author,
    })
}

impl App {
    /// Saves a new version and makes it current.
    ///
    /// The content says which type of prompt it is for, so it is checked
    /// for that type first and saved in one store call that matches the
    /// prompt's type too: no read of the prompt before. Only when that
    /// fails (invalid content, no such prompt, or a prompt of the other
    /// type) is the prompt read, to answer with the error its real type
    /// gives.
    pub async fn save_version(
        &self,
        prompt_id: PromptId,
        input: SaveVersion,
        author: Option<UserId>,
    ) -> Result<Version> {
        let implied = input.content.prompt_type();
        if let Ok(new) = new_version(
            implied,
            input.content.clone(),
            input.settings.clone(),
            input.note.clone(),
            author,
        ) {
            match self.store.versions().save(prompt_id, new).await {
                Ok(saved) => {
                    self.prompt_changed(prompt_id);
                    return Ok(saved);
                }
                Err(promptrefine_store::StoreError::NotFound) => {}
                Err(e) => return Err(e.into()),
            }
        }
        let prompt = self.require_prompt(prompt_id).await?;
        let new = new_version(
            prompt.prompt_type,
            input.content,
            input.settings,
            input.note,
            author,
        )
        .map_err(AppError::Invalid)?;
        // Valid for the prompt's real type: the fast path failed only
        // because the prompt was deleted or changed meanwhile.
        let saved = self
            .store
            .versions()
            .save(prompt_id, new)
            .await
            .or_not_found("prompt")?;
        self.prompt_changed(prompt_id);
        Ok(saved)
    }

    pub async fn list_versions(
        &self,
        prompt_id: PromptId,
        cursor: Option<&str>,
        limit: Option<i64>,
    ) -> Result<Page<Version>> {
        let limit = page_limit(limit)?;
        let cursor = number_cursor(cursor)?;
        self.require_prompt(prompt_id).await?;
        Ok(self.store.versions().list(prompt_id, cursor, limit).await?)
    }

    pub async fn get_version(&self, prompt_id: PromptId, number: VersionNumber) -> Result<Version> {
        self.store
            .versions()
            .get_by_number(prompt_id, number.get())
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

    /// The version `version_id` of this prompt, or its current version.
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
        self.prompt_changed(prompt_id);
        self.get_prompt(prompt_id).await
    }

    /// Diff of version `from` against `to`; `to` defaults to the current one.
    pub async fn diff_versions(
        &self,
        prompt_id: PromptId,
        from: VersionNumber,
        to: Option<VersionNumber>,
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

    /// Renders a version (default: current) with variable values.
    pub async fn render(
        &self,
        prompt_id: PromptId,
        version_id: Option<VersionId>,
        variables: &BTreeMap<String, String>,
    ) -> Result<Rendered> {
        let mut v = Violations::default();
        validate::variables(&mut v, "variables", variables);
        v.into_result().map_err(AppError::Invalid)?;
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
}

/// Renders content under the default cap; see [`crate::runs::render`].
/// A version-history cursor (empty: none); a forged one is a 422.
pub(crate) fn number_cursor(text: Option<&str>) -> Result<Option<NumberCursor>> {
    match text.filter(|c| !c.is_empty()) {
        None => Ok(None),
        Some(c) => NumberCursor::decode(c).map(Some).ok_or_else(bad_cursor),
    }
}

pub fn render(content: &Content, variables: &BTreeMap<String, String>) -> Result<Content> {
    crate::runs::render(
        content,
        variables,
        promptrefine_core::template::DEFAULT_MAX_RENDERED_BYTES,
    )
}
