//! Replay: a stored run's exact request body, sent again as a new run.
//!
//! The body is the text the first run stored (migration 0009), sent byte
//! for byte: not rebuilt from the version, so a change of the version, of
//! the server's request builder or of a default since then changes nothing.
//! The new run names the first in `replay_of` and copies its prompt,
//! version, provider, model, settings, variables and rendered input, so its
//! history row reads like the first's.

use promptrefine_core::{Run, RunId};
use promptrefine_llm::ChatRequest;
use promptrefine_store::NewRun;

use super::{RunHandle, RunPlan};
use crate::App;
use crate::error::{AppError, Result};

impl App {
    /// Sends run `id`'s stored request again as a new run. A run from before
    /// requests were stored, or whose provider is no longer configured, is a
    /// 422 naming the reason; nothing is stored then.
    #[tracing::instrument(skip_all, fields(run_id = %id))]
    pub async fn replay_run(&self, id: RunId, request_id: Option<String>) -> Result<RunHandle> {
        let first: Run = self.get_run(id).await?;
        let Some(body) = &first.request_body else {
            return Err(AppError::invalid(
                "requestBody",
                "required",
                "this run was stored before runs kept their request; it cannot be replayed",
            ));
        };
        // The stored text, not the parsed value: what goes out is what was sent.
        let text = self
            .store
            .runs()
            .request_body(id)
            .await?
            .unwrap_or_default();
        let Some(provider) = self.find_provider(Some(&first.provider)).await? else {
            return Err(AppError::invalid(
                "provider",
                "oneOf",
                format!(
                    "the run's provider {:?} is not configured on this server",
                    first.provider
                ),
            ));
        };
        let stream = body.get("stream").and_then(|s| s.as_bool()) == Some(true);
        let permit = self.runs.try_permit()?;
        let plan = RunPlan {
            prices: self.provider_prices(provider.name()),
            new: NewRun {
                id: RunId::new(),
                prompt_id: first.prompt_id,
                version_id: first.version_id,
                provider: first.provider.clone(),
                model: first.model.clone(),
                params: first.params.clone(),
                variables: first.variables.clone(),
                input: first.input.clone(),
                request_id: request_id.clone(),
                owner: self.instance,
                cell: None,
                judge_of: None,
                request_body: Some(text.clone()),
                replay_of: Some(first.id),
            },
            request: ChatRequest {
                model: first.model.clone(),
                messages: first.input.clone(),
                settings: first.params.clone(),
                request_id,
                stream,
                raw_body: Some(text),
            },
            provider,
        };
        self.launch_plan(plan, permit).await
    }
}
