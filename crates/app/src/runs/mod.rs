//! Test runs: a version, rendered with variable values, sent to a model over
//! an OpenAI-compatible Chat Completions API, with every run recorded.
//!
//! # The run lifecycle
//!
//! ```text
//! start_run ─ validate ─ resolve version ─ take a permit ─ render ─┐   (no side effects yet)
//!                                                                  │
//!            ┌──────────────── spawned task (owns the permit) ─────┘
//!            │ insert the run as `running` ──► start_run returns a RunHandle
//!            │ call the provider, streaming ──► RunHandle::events (RunEvent::Delta …)
//!            │ write the outcome once: succeeded | failed | cancelled
//!            └─► RunHandle::done: the stored run, to whoever still waits for it
//! ```
//!
//! * **Nothing before the task has side effects.** Invalid input, an unknown
//!   prompt, a full house (429 `too_many_runs`, never a queue) or a rendered
//!   prompt over the cap (422 `rendered_too_large`) leave no trace. The permit
//!   is taken before rendering, so the cap on runs also bounds the memory
//!   that rendering takes.
//! * **Everything after it happens in a spawned task** that owns the permit.
//!   The HTTP handler only awaits the task's result or maps the handle's
//!   event stream to SSE, so a client that hangs up (streamed or not) does
//!   not stop the run: it completes, is stored, and
//!   its permit is released. That is the documented choice for a client that
//!   disconnects; an explicit `cancel_run` is the way to stop a run.
//! * **A run is always finished in the database**: the outcome write is
//!   retried on transient store errors, and a panic in the task is caught and
//!   recorded as `failed` (`internal`). Only a crash or a hard stop leaves a
//!   run `running`; each run names this process as its owner, and once the
//!   owner's lease is gone the sweep marks it `interrupted` (see
//!   [`crate::instance`]: a live replica's runs are never touched). [`App::drain_runs`] lets a
//!   graceful shutdown finish or cancel what is in flight first.
//! * **Upstream is always asked to stream**, whether or not the caller wants
//!   deltas: it gives time-to-first-token, and a cancelled or broken answer
//!   keeps what had arrived as partial output.
//! * **Cancel** reaches the task through a cancellation token kept in an
//!   in-process registry. The task drops the upstream call (closing the
//!   connection) and stores `cancelled` with the output so far. A run in
//!   flight on another replica is not in this registry: it is marked
//!   `cancelled` in the store directly (its owner's later write is then
//!   ignored, as `finish` only writes unfinished runs), without its partial
//!   output. Cancelling a run that already ended is
//!   [`CancelOutcome::AlreadyFinished`] (the API answers 409).
//! * Secrets: the provider's API key lives in `promptrefine_llm::Provider` and
//!   its error messages are redacted there; nothing here copies the key into
//!   a run, an error or a log line.

mod cells;
mod execute;
mod handle;
mod models;
mod observer;
mod replay;
mod service;

use std::collections::BTreeMap;

use promptrefine_core::Content;
use promptrefine_core::template::{RenderError, render_content_limited};
use promptrefine_core::validate::{self, Violations};
use promptrefine_core::{ModelSettings, PromptId, Run, RunId, RunStatus, VersionId};
use promptrefine_llm::ChatRequest;
use promptrefine_store::{Cursor, NewRun, Page, RunFilter, RunOutcome};
use tokio::sync::OwnedSemaphorePermit;

use crate::error::{AppError, OrNotFound, Result, check};
use crate::presets::ModelChoice;
use crate::{App, page_limit};

pub(crate) use execute::Unstored;
pub use handle::{RunDone, RunEvent, RunEvents, RunHandle};
pub use models::{ModelList, ModelSource};
pub use observer::RunObserver;
pub use promptrefine_llm::{ClientSettings, PriceTable, ProviderConfig};
pub(crate) use service::{Registered, is_provider_name};
pub use service::{RunService, RunSettings, RunSetupError, openai_provider};

/// What to run (`POST /api/test-runs`, without the transport's `stream`).
#[derive(Clone, Debug, Default)]
pub struct StartRun {
    pub prompt_id: PromptId,
    /// Default: the prompt's current version.
    pub version_id: Option<VersionId>,
    /// Default: `params.model`, else the version's model.
    pub model: Option<String>,
    /// A configured provider's name; default: the first configured.
    pub provider: Option<String>,
    /// Overrides the version's settings field by field.
    pub params: Option<ModelSettings>,
    /// A model preset's name: fills what `provider`, `model` and `params`
    /// leave unset (see [`crate::presets`]).
    pub preset: Option<String>,
    pub variables: BTreeMap<String, String>,
}

/// The answer to a cancel request.
#[derive(Clone, Debug, PartialEq)]
pub enum CancelOutcome {
    /// The run was in flight and is now stored as `cancelled`.
    Cancelled(Run),
    /// The run had already ended (possibly just now); it is unchanged.
    AlreadyFinished(Run),
}

/// Filters of a prompt's run history, as the API receives them.
#[derive(Clone, Debug, Default)]
pub struct ListRuns {
    pub version_id: Option<VersionId>,
    /// Only the runs of this experiment's cells.
    pub experiment_id: Option<promptrefine_core::ExperimentId>,
    /// One of the run statuses (`succeeded`, `failed`, …).
    pub status: Option<String>,
    pub cursor: Option<String>,
    pub limit: Option<i64>,
}

/// Everything a run needs, worked out before it may touch anything.
pub(crate) struct RunPlan {
    pub new: NewRun,
    pub provider: promptrefine_llm::Provider,
    pub request: ChatRequest,
    /// A stored provider's own prices (over the server's); `None`: the server's.
    pub prices: Option<std::sync::Arc<promptrefine_llm::PriceTable>>,
}

impl App {
    /// Starts a run of a version against a model. `Err` when it is refused
    /// (invalid input, unknown prompt, a full house): then nothing was
    /// stored. Otherwise the run is stored as `running` and goes on in its
    /// own task; the [`RunHandle`] carries it, its output as a stream, and
    /// its outcome (an upstream failure is a `failed` run, not an error).
    /// See the module docs for what happens when.
    #[tracing::instrument(skip_all, fields(prompt_id = %input.prompt_id, request_id = request_id.as_deref().unwrap_or("")))]
    pub async fn start_run(
        &self,
        input: StartRun,
        request_id: Option<String>,
    ) -> Result<RunHandle> {
        let (plan, permit) = self.plan_run(input, request_id).await?;
        self.launch_plan(plan, permit).await
    }

    /// Stores a planned run as `running` in its own task and hands back its
    /// handle (see [`App::start_run`]).
    pub(crate) async fn launch_plan(
        &self,
        plan: RunPlan,
        permit: OwnedSemaphorePermit,
    ) -> Result<RunHandle> {
        let (started, started_rx) = tokio::sync::oneshot::channel();
        let (feed, events) = handle::feed();
        let listeners = execute::Listeners {
            started,
            feed,
            observer: self.observer.clone(),
            retry_after: None,
        };
        let task = self
            .runs
            .launch(self.store.clone(), plan, permit, listeners);
        match started_rx.await {
            Ok(run) => Ok(RunHandle {
                run,
                events,
                done: RunDone::task(task),
            }),
            // The task ended before it said so: the run could not be stored
            // (its error), or it panicked and was stored as failed.
            Err(_) => {
                let run = RunDone::task(task).await?;
                Ok(RunHandle {
                    run: run.clone(),
                    events,
                    done: RunDone::ready(Ok(run)),
                })
            }
        }
    }

    /// Starts a run and waits for its outcome, without listening to its
    /// output (nothing of it is buffered): the stored, finished run.
    pub async fn run_to_end(&self, input: StartRun, request_id: Option<String>) -> Result<Run> {
        let RunHandle { done, .. } = self.start_run(input, request_id).await?;
        done.await
    }

    /// Validates, resolves, takes a permit and renders; writes nothing. The
    /// permit comes before rendering so the cap on runs in flight also
    /// bounds the memory rendering takes (up to the render cap each).
    async fn plan_run(
        &self,
        input: StartRun,
        request_id: Option<String>,
    ) -> Result<(RunPlan, OwnedSemaphorePermit)> {
        let mut input = input;
        if let Some(name) = input.preset.take() {
            let preset = self.preset_for("preset", &name).await?;
            let choice = ModelChoice {
                provider: input.provider.take(),
                model: input.model.take(),
                params: input.params.take(),
            }
            .over(&preset);
            input.provider = choice.provider;
            input.model = choice.model;
            input.params = choice.params;
        }
        let mut v = Violations::default();
        let model = input.model.as_deref().map(str::trim).map(str::to_owned);
        if let Some(m) = &input.model {
            let probe = ModelSettings {
                model: Some(m.clone()),
                ..Default::default()
            };
            validate::settings(&mut v, "", &probe);
        }
        let params = input.params.unwrap_or_default();
        validate::settings(&mut v, "params", &params);
        validate::variables(&mut v, "variables", &input.variables);
        let provider = self.find_provider(input.provider.as_deref()).await?;
        if provider.is_none() {
            let names = self.provider_names().await;
            let message = match (&input.provider, names.is_empty()) {
                (_, true) => "no model provider is configured on this server".to_owned(),
                (Some(p), false) => {
                    format!("unknown provider {p:?}; configured: {}", names.join(", "))
                }
                (None, false) => "no default provider".to_owned(),
            };
            v.push("provider", "oneOf", message);
        }
        check(v)?;

        // One read on the way that works: the version (or the current one).
        // Only when it is not there is the prompt read, to tell a missing
        // prompt (404) from one with no version yet (422).
        let version = match input.version_id {
            Some(id) => match self.get_version_by_id(input.prompt_id, id).await {
                Err(AppError::NotFound(_)) => {
                    self.require_prompt(input.prompt_id).await?;
                    return Err(AppError::NotFound("version"));
                }
                other => other?,
            },
            None => match self.store.versions().get_current(input.prompt_id).await {
                Ok(v) => v,
                Err(promptrefine_store::StoreError::NotFound) => {
                    self.require_prompt(input.prompt_id).await?;
                    return Err(AppError::invalid(
                        "versionId",
                        "required",
                        "the prompt has no saved version yet; save one before running it",
                    ));
                }
                Err(e) => return Err(e.into()),
            },
        };
        let settings = version.settings.overridden_by(&params);
        let mut v = Violations::default();
        validate::settings::tool_choice_in_tools(
            &mut v,
            "params.toolChoice.function.name",
            &settings,
        );
        check(v)?;
        let Some(model) = model
            .or_else(|| settings.model.clone())
            .filter(|m| !m.is_empty())
        else {
            return Err(AppError::invalid(
                "model",
                "required",
                "model is required: the version's settings name none",
            ));
        };
        let permit = self.runs.try_permit()?;
        let limit = self.runs.max_rendered_bytes();
        let messages = render(&version.content, &input.variables, limit)?.to_messages();
        let settings = ModelSettings {
            model: Some(model.clone()),
            ..settings
        };
        let provider = provider.expect("checked above");
        let plan = RunPlan {
            prices: self.provider_prices(provider.name()),
            new: NewRun {
                id: RunId::new(),
                prompt_id: version.prompt_id,
                version_id: version.id,
                provider: provider.name().to_owned(),
                model: model.clone(),
                params: settings.clone(),
                variables: input.variables,
                input: messages.clone(),
                request_id: request_id.clone(),
                owner: self.instance,
                cell: None,
                judge_of: None,
                request_body: None,
                replay_of: None,
            },
            request: ChatRequest {
                model,
                messages,
                settings,
                request_id,
                stream: true,
                raw_body: None,
            },
            provider,
        };
        Ok((plan, permit))
    }

    /// Stops a run in flight; see [`CancelOutcome`].
    #[tracing::instrument(skip_all, fields(run_id = %id))]
    pub async fn cancel_run(&self, id: RunId) -> Result<CancelOutcome> {
        if self.runs.cancel_local(id).await {
            let run = self.get_run(id).await?;
            return Ok(match run.status {
                RunStatus::Cancelled => CancelOutcome::Cancelled(run),
                _ => CancelOutcome::AlreadyFinished(run),
            });
        }
        let run = self.get_run(id).await?;
        if run.status.is_final() {
            return Ok(CancelOutcome::AlreadyFinished(run));
        }
        // In flight on another replica (or orphaned): stop it in the store.
        let outcome = RunOutcome {
            output: run.output.clone(),
            ..execute::cancelled_outcome()
        };
        self.store.runs().finish(id, &outcome).await?;
        let run = self.get_run(id).await?;
        Ok(match run.status {
            RunStatus::Cancelled => CancelOutcome::Cancelled(run),
            _ => CancelOutcome::AlreadyFinished(run),
        })
    }

    pub async fn get_run(&self, id: RunId) -> Result<Run> {
        self.store.runs().get(id).await.or_not_found("run")
    }

    /// A prompt's runs, newest first.
    pub async fn list_runs(&self, prompt_id: PromptId, q: ListRuns) -> Result<Page<Run>> {
        let (status, cursor, limit) = run_query(q.status.as_deref(), q.cursor.as_deref(), q.limit)?;
        self.store
            .prompts()
            .get(prompt_id)
            .await
            .or_not_found("prompt")?;
        let filter = RunFilter {
            version_id: q.version_id,
            experiment_id: q.experiment_id,
            version_number: None,
            status,
        };
        let page = self
            .store
            .runs()
            .list_for_prompt(prompt_id, &filter, cursor, limit)
            .await?;
        Ok(Page {
            items: page.items.into_iter().map(|r| r.run).collect(),
            next_cursor: page.next_cursor,
        })
    }

    /// The models each provider offers, the environment's then the stored
    /// ones (cached; the configured list when the provider cannot be asked).
    pub async fn list_models(&self) -> Vec<ModelList> {
        let stored = self.stored_clients().await;
        self.runs.list_models(stored).await
    }

    /// How many runs this process has in flight.
    pub fn runs_in_flight(&self) -> usize {
        self.runs.in_flight()
    }

    /// For a graceful shutdown: waits up to `grace` for the runs in flight to
    /// finish, then cancels the rest and waits (briefly) for them to be
    /// stored. Returns how many had to be cancelled.
    pub async fn drain_runs(&self, grace: std::time::Duration) -> usize {
        self.runs.drain(grace).await
    }
}

/// The status, cursor and page size of a run-history query, each checked
/// (one 422 lists every problem).
pub(crate) fn run_query(
    status: Option<&str>,
    cursor: Option<&str>,
    limit: Option<i64>,
) -> Result<(Option<RunStatus>, Option<Cursor>, usize)> {
    let mut v = Violations::default();
    let status = match status.filter(|s| !s.is_empty()) {
        None => None,
        Some(s) => {
            let parsed = RunStatus::parse(s);
            if parsed.is_none() {
                let all: Vec<&str> = RunStatus::ALL.iter().map(|s| s.as_str()).collect();
                v.push(
                    "status",
                    "oneOf",
                    format!("status must be one of {}", all.join(", ")),
                );
            }
            parsed
        }
    };
    let cursor = match cursor.filter(|c| !c.is_empty()) {
        None => None,
        Some(c) => {
            let parsed = Cursor::decode(c);
            if parsed.is_none() {
                v.push("cursor", "format", "cursor is not one this server gave out");
            }
            parsed
        }
    };
    check(v)?;
    Ok((status, cursor, page_limit(limit)?))
}

/// Renders content under a cap of `limit` bytes: every missing variable is
/// one 422 (`validation_failed`), a result over the cap is 422
/// `rendered_too_large` naming `variables` or `content` and the limit.
pub fn render(
    content: &Content,
    variables: &BTreeMap<String, String>,
    limit: usize,
) -> Result<Content> {
    render_content_limited(content, variables, limit).map_err(|e| match e {
        RenderError::MissingVariables(missing) => {
            let mut v = Violations::default();
            for name in &missing {
                v.push(
                    format!("variables.{name}"),
                    "required",
                    format!("no value for variable {name}"),
                );
            }
            AppError::Invalid(v)
        }
        RenderError::TooLarge { limit, by_values } => AppError::RenderedTooLarge {
            field: if by_values { "variables" } else { "content" },
            limit,
        },
    })
}
