//! `llm_judge` evaluators: the judge is a prompt of the registry, resolved
//! to one version when an experiment is made (and again by each instance
//! that runs it: a moved label is read once per process, and every judge run
//! records the version it used). Its call is a run of `kind: "judge"` naming
//! the judged run, through the same provider limiter and engine cap as the
//! cells, and its worst case is part of each cell's budget reservation: the
//! cap holds for judges too.
//!
//! `response_format` `json_schema` is asked for unless the judge's version
//! sets its own; a provider that refuses it (`invalid_request`) is asked
//! again without it, and not asked with it again by this process. The
//! answer is read leniently either way (`promptrefine_eval::judge`).

use std::collections::BTreeMap;
use std::sync::Arc;

use promptrefine_core::template::{RenderError, render_content_limited};
use promptrefine_core::validate::Violations;
use promptrefine_core::{ChatMessage, ModelSettings, PromptId, Run, RunId, RunStatus, Version};
use promptrefine_eval::{EvaluatorKind, EvaluatorSpec, Sample, Score};
use promptrefine_llm::tokens::estimate_usage;
use promptrefine_llm::{ChatRequest, PriceTable};
use promptrefine_store::{NewRun, StoreError};
use tokio::sync::Semaphore;

use super::limits::RESERVED_COMPLETION_TOKENS;
use crate::App;
use crate::error::{AppError, Result};

/// A judge resolved to what it calls.
#[derive(Clone, Debug)]
pub(crate) struct Judge {
    pub version: Arc<Version>,
    pub provider: String,
    pub model: String,
    /// The version's settings with the model, and `response_format` unless
    /// the version sets one.
    pub params: ModelSettings,
}

impl Judge {
    /// Completion tokens a judge call may take at most (its budget share).
    fn completion_bound(&self) -> i64 {
        self.params
            .max_tokens
            .map_or(RESERVED_COMPLETION_TOKENS, i64::from)
    }
}

/// What a judge is asked to judge, as text: a one-message prompt is its
/// content; more messages are `role: content` paragraphs.
pub(crate) fn input_text(messages: &[ChatMessage]) -> String {
    match messages {
        [only] => only.texts().concat(),
        many => many
            .iter()
            .map(|m| format!("{}: {}", m.role.as_str(), m.texts().concat()))
            .collect::<Vec<_>>()
            .join("\n\n"),
    }
}

/// The judges of a list of evaluators, by their index in it.
pub(crate) type Judges = BTreeMap<usize, Judge>;

/// One judge's worst-case and expected cost of judging one cell, in micro
/// USD (`None` without a price), from the judged call's rendered input and
/// its completion bound (the output the judge will read).
pub(crate) fn judge_cost(
    prices: &PriceTable,
    limit: usize,
    judge: &Judge,
    variables: &BTreeMap<String, String>,
    judged_input: &str,
    judged_completion: i64,
) -> std::result::Result<(Option<i64>, Option<i64>), RenderError> {
    let sample = Sample::new("").with_variables(variables);
    let vars = promptrefine_eval::judge::variables(&sample, judged_input);
    let messages = render_content_limited(&judge.version.content, &vars, limit)?.to_messages();
    let prompt = estimate_usage(&judge.model, &messages, "").prompt_tokens + judged_completion;
    let completion = judge.completion_bound();
    Ok((
        prices.cost_micro_usd(&judge.model, prompt, completion),
        prices.cost_micro_usd(&judge.model, prompt, completion / 4),
    ))
}

impl App {
    /// Resolves every `llm_judge` of `specs`: its prompt (id or slug), its
    /// version (label, id, or the current one) and model; each problem named
    /// under `evaluators[i]`.
    pub(crate) async fn resolve_judges(&self, specs: &[EvaluatorSpec]) -> Result<Judges> {
        let mut judges = Judges::new();
        let mut v = Violations::new();
        for (i, spec) in specs.iter().enumerate() {
            let EvaluatorKind::LlmJudge {
                prompt_id,
                label,
                version_id,
                ..
            } = &spec.kind
            else {
                continue;
            };
            match self
                .resolve_judge(prompt_id, label.as_deref(), version_id.as_deref())
                .await
            {
                Ok(judge) => {
                    judges.insert(i, judge);
                }
                Err((field, message)) => {
                    v.push(format!("evaluators[{i}].{field}"), "oneOf", message);
                } // (store errors are not the caller's: reported as they are)
            }
        }
        v.into_result().map_err(AppError::Invalid)?;
        Ok(judges)
    }

    async fn resolve_judge(
        &self,
        prompt: &str,
        label: Option<&str>,
        version_id: Option<&str>,
    ) -> std::result::Result<Judge, (&'static str, String)> {
        let found = match prompt.parse::<PromptId>() {
            Ok(id) => self.require_prompt(id).await,
            Err(_) => self.require_prompt_by_slug(prompt).await,
        };
        let prompt = found.map_err(|_| ("promptId", format!("no prompt {prompt:?}")))?;
        let version = match (label, version_id) {
            (Some(label), _) => self
                .store
                .labels()
                .resolve(prompt.id, label.trim())
                .await
                .map_err(|e| match e {
                    StoreError::NotFound => {
                        ("label", format!("the judge prompt has no label {label:?}"))
                    }
                    e => ("label", format!("cannot read the judge's label: {e}")),
                })?,
            (None, Some(id)) => {
                let id = id
                    .parse()
                    .map_err(|_| ("versionId", "not a version id".to_string()))?;
                self.get_version_by_id(prompt.id, id).await.map_err(|_| {
                    (
                        "versionId",
                        "no such version of the judge prompt".to_string(),
                    )
                })?
            }
            (None, None) => self
                .store
                .versions()
                .get_current(prompt.id)
                .await
                .map_err(|_| {
                    (
                        "promptId",
                        "the judge prompt has no saved version".to_string(),
                    )
                })?,
        };
        let Some(model) = version.settings.model.clone() else {
            return Err((
                "promptId",
                "the judge prompt's version names no model: set one in its settings".into(),
            ));
        };
        let provider = self.find_provider(None).await.map_err(|e| {
            (
                "promptId",
                format!("cannot resolve the judge's provider: {e}"),
            )
        })?;
        let Some(provider) = provider.map(|p| p.name().to_owned()) else {
            return Err((
                "promptId",
                "no model provider is configured on this server".into(),
            ));
        };
        let params = ModelSettings {
            model: Some(model.clone()),
            ..version.settings.clone()
        };
        Ok(Judge {
            version: Arc::new(version),
            provider,
            model,
            params,
        })
    }

    /// Calls judge `spec` (resolved as `judge`) on a succeeded run's output;
    /// its score, and what its run cost.
    pub(crate) async fn judge_output(
        &self,
        spec: &EvaluatorSpec,
        judge: &Judge,
        judged: JudgedRun<'_>,
        permits: &Arc<Semaphore>,
        on_start: impl Fn(RunId),
    ) -> (Score, Option<i64>) {
        let EvaluatorKind::LlmJudge { mode, .. } = &spec.kind else {
            return (Score::error(spec, "not an llm_judge evaluator"), None);
        };
        let vars = promptrefine_eval::judge::variables(&judged.sample, judged.input);
        let messages = match super::super::runs::render(
            &judge.version.content,
            &vars,
            self.runs.max_rendered_bytes(),
        ) {
            Ok(content) => content.to_messages(),
            Err(e) => {
                return (
                    Score::error(spec, format!("cannot render the judge prompt: {e}")),
                    None,
                );
            }
        };
        let provider = match self.find_provider(Some(&judge.provider)).await {
            Ok(p) => p,
            Err(e) => {
                return (
                    Score::error(spec, format!("cannot resolve the judge's provider: {e}")),
                    None,
                );
            }
        };
        let Some(provider) = provider else {
            return (
                Score::error(
                    spec,
                    format!(
                        "provider {} is not configured on this instance",
                        judge.provider
                    ),
                ),
                None,
            );
        };
        let structured = judge.params.response_format.is_none()
            && !self.engine.refuses_json_schema(&judge.provider);
        let mut params = judge.params.clone();
        if structured {
            params.response_format = Some(promptrefine_eval::judge::response_format(*mode));
        }
        let plan = self.judge_plan(
            judge,
            judged.run_id,
            &vars,
            messages.clone(),
            params,
            provider.clone(),
        );
        let run = match self.call_judge(plan, permits, &on_start).await {
            Ok(run) => run,
            Err(e) => return (Score::error(spec, e), None),
        };
        let mut cost = run.cost_micro_usd;
        let run = if structured && refused_schema(&run) {
            // Asked again without `response_format`, once; the provider is
            // remembered so later judge calls do not ask with it.
            self.engine.remember_refuses_json_schema(&judge.provider);
            let plan = self.judge_plan(
                judge,
                judged.run_id,
                &vars,
                messages,
                judge.params.clone(),
                provider,
            );
            match self.call_judge(plan, permits, &on_start).await {
                Ok(again) => {
                    cost = add(cost, again.cost_micro_usd);
                    again
                }
                Err(e) => return (Score::error(spec, e), cost),
            }
        } else {
            run
        };
        let score = match run.status {
            RunStatus::Succeeded => promptrefine_eval::judge::score_text(spec, &run.output),
            status => Score::error(
                spec,
                format!(
                    "the judge's run {} {}: {}",
                    run.id,
                    status.as_str(),
                    run.error_message.as_deref().unwrap_or("no answer")
                ),
            ),
        };
        (score, cost)
    }

    /// One judge call: a slot of the engine's cap (`permits`) and of the
    /// provider's limiter, like a cell.
    async fn call_judge(
        &self,
        plan: crate::runs::RunPlan,
        permits: &Arc<Semaphore>,
        on_start: &impl Fn(RunId),
    ) -> std::result::Result<Run, String> {
        let permit = permits
            .clone()
            .acquire_owned()
            .await
            .map_err(|_| "the server is stopping".to_string())?;
        on_start(plan.new.id);
        let limiter = self
            .engine
            .limiter(&plan.new.provider, self.runs.max_in_flight().max(1));
        let slot = limiter.acquire().await;
        let ran = self.run_judge_plan(plan, permit).await;
        drop(slot);
        match ran {
            Ok((run, retry_after)) => {
                if run.error_code.as_deref() == Some("rate_limited") {
                    limiter.rate_limited(retry_after);
                } else if run.status == RunStatus::Succeeded {
                    limiter.succeeded();
                }
                Ok(run)
            }
            Err(e) => Err(format!("the judge call failed: {e}")),
        }
    }

    fn judge_plan(
        &self,
        judge: &Judge,
        judged: RunId,
        vars: &BTreeMap<String, String>,
        messages: Vec<ChatMessage>,
        params: ModelSettings,
        provider: promptrefine_llm::Provider,
    ) -> crate::runs::RunPlan {
        crate::runs::RunPlan {
            // A judge's cost is settled against the reservation's prices.
            prices: None,
            new: NewRun {
                id: RunId::new(),
                prompt_id: judge.version.prompt_id,
                version_id: judge.version.id,
                provider: judge.provider.clone(),
                model: judge.model.clone(),
                params: params.clone(),
                variables: vars.clone(),
                input: messages.clone(),
                request_id: None,
                owner: self.instance,
                cell: None,
                judge_of: Some(judged),
                request_body: None,
                replay_of: None,
            },
            request: ChatRequest {
                model: judge.model.clone(),
                messages,
                settings: params,
                request_id: None,
                stream: true,
                raw_body: None,
            },
            provider,
        }
    }
}

/// The run a judge judges.
pub(crate) struct JudgedRun<'a> {
    pub run_id: RunId,
    /// Its rendered input as text ([`input_text`]).
    pub input: &'a str,
    pub sample: Sample<'a>,
}

/// A provider that does not take `response_format` answers 400.
fn refused_schema(run: &Run) -> bool {
    run.status == RunStatus::Failed && run.error_code.as_deref() == Some("invalid_request")
}

/// Two costs together; unknown only when both are.
pub(crate) fn add(a: Option<i64>, b: Option<i64>) -> Option<i64> {
    match (a, b) {
        (None, None) => None,
        (a, b) => Some(a.unwrap_or(0) + b.unwrap_or(0)),
    }
}
