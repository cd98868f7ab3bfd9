//! Labels (named pointers to versions) and the runtime lookup applications
//! make: the version a label points at, by slug.

use promptrefine_core::{Label, LabelName, Prompt, PromptId, Version, VersionId};

use crate::App;
use crate::delivery::Selector;
use crate::error::{AppError, OrNotFound, Result};

/// What an application fetches at runtime: a prompt, the label asked for
/// (`current` when none; empty for a version asked for by number), and the
/// version it points at.
#[derive(Clone, Debug)]
pub struct Resolved {
    pub prompt: Prompt,
    pub label: String,
    pub version: Version,
}

impl App {
    pub async fn list_labels(&self, prompt_id: PromptId) -> Result<Vec<Label>> {
        self.require_prompt(prompt_id).await?;
        Ok(self.store.labels().list(prompt_id).await?)
    }

    pub async fn set_label(
        &self,
        prompt_id: PromptId,
        label: &str,
        version_id: VersionId,
    ) -> Result<Vec<Label>> {
        let label = LabelName::parse("label", label).map_err(AppError::Invalid)?;
        self.require_prompt(prompt_id).await?;
        self.store
            .labels()
            .set(prompt_id, label.as_str(), version_id)
            .await
            .or_not_found("version")?;
        self.prompt_changed(prompt_id);
        Ok(self.store.labels().list(prompt_id).await?)
    }

    pub async fn remove_label(&self, prompt_id: PromptId, label: &str) -> Result<()> {
        // A name no label can have names none, without a query.
        let name = LabelName::parse("label", label).map_err(|_| AppError::NotFound("label"))?;
        self.store
            .labels()
            .remove(prompt_id, name.as_str())
            .await
            .or_not_found("label")?;
        self.prompt_changed(prompt_id);
        Ok(())
    }

    /// The version `label` (default `current`) of the prompt with this slug,
    /// in one query (uncached; applications go through [`App::deliver`]).
    pub async fn resolve(&self, slug: &str, label: Option<&str>) -> Result<Resolved> {
        self.pick(slug, &Selector::parse(label, None)?).await
    }
}
