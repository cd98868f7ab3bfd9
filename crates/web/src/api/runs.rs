//! `/api/test-runs`: start a run (answered when it ends, or streamed as
//! Server-Sent Events), read the history, cancel. These routes are mounted
//! without the request timeout: a run has its own (see `promptrefine_llm`).
//!
//! Answers, as documented in the OpenAPI document:
//!
//! * `POST /api/test-runs` answers 201 with the finished run, whatever its
//!   status — an upstream failure is a stored run with `status: "failed"` and
//!   an `errorCode`, not an HTTP error. Input problems (422), an unknown prompt
//!   (404) and a full house (429 `too_many_runs`) are HTTP errors and store
//!   nothing, streamed or not.
//! * Streamed (`"stream": true`, or `Accept: text/event-stream` when `stream`
//!   is absent): 200 `text/event-stream` with `event: run` (the run as
//!   started), `event: delta` (`{"text": …}`) per piece of output, then, when
//!   the run did not succeed, `event: error` (`{code, message, requestId}`),
//!   and always a last `event: done` with the stored run (`null` only if it
//!   could not be read back).
//! * `POST /api/test-runs/{id}/replay` sends run `id`'s stored request body
//!   again, byte for byte, as a new run naming it in `replayOf`.
//! * A client that disconnects does not stop its run: the run completes and
//!   is stored. `POST /api/test-runs/{id}/cancel` stops it; cancelling a run
//!   that already ended is 409 `run_finished`.

use std::collections::BTreeMap;
use std::convert::Infallible;

use axum::Extension;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use futures::StreamExt;
use promptrefine_app::runs::{CancelOutcome, ListRuns, RunEvent, RunHandle, StartRun};
use promptrefine_core::{ModelSettings, PromptId, Run, RunId, RunStatus, VersionId};
use serde::{Deserialize, Serialize};
use serde_json::json;
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::envelope::{ApiError, Created, Data, Envelope, ErrorBody, ErrorEnvelope};
use super::extract::{ApiJson, ApiQuery, IdPath, query_id};
use crate::auth::CurrentUser;
use crate::middleware::request_id::RequestId;
use crate::state::AppState;

pub(super) fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list, start))
        .routes(routes!(get_one))
        .routes(routes!(cancel))
        .routes(routes!(replay))
}

/// `POST /api/test-runs`.
#[derive(Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub(super) struct StartRunBody {
    prompt_id: PromptId,
    /// Default: the prompt's current version.
    #[serde(default)]
    version_id: Option<VersionId>,
    /// Default: `params.model`, else the version's model.
    #[serde(default)]
    model: Option<String>,
    /// A configured provider's name; default: the first (`openai`).
    #[serde(default)]
    provider: Option<String>,
    /// Overrides the version's settings, field by field.
    #[serde(default)]
    params: Option<ModelSettings>,
    /// A model preset's name (`/api/model-presets`): its provider, model and
    /// params fill what `provider`, `model` and `params` leave unset.
    #[serde(default)]
    preset: Option<String>,
    #[serde(default)]
    variables: BTreeMap<String, String>,
    /// Answer as Server-Sent Events. Absent: as the `Accept` header asks.
    #[serde(default)]
    stream: Option<bool>,
}

/// Runs a version against a model; answers with the stored run when it ends,
/// or streams it (see the module docs).
#[utoipa::path(post, path = "/api/test-runs", tag = "runs", request_body = StartRunBody,
    responses(
        (status = 201, description = "The finished run (check `status`)", body = Envelope<Run>),
        (status = 200, description = "With `stream`: events `run`, `delta` ({text}), `error` ({code, message, requestId}), `done` (the stored run)", content_type = "text/event-stream", body = String),
        (status = 404, body = ErrorEnvelope), (status = 422, body = ErrorEnvelope),
        (status = 429, description = "`too_many_runs`: the cap on runs in flight is reached", body = ErrorEnvelope)))]
async fn start(
    _user: CurrentUser,
    State(state): State<AppState>,
    request_id: Option<Extension<RequestId>>,
    headers: HeaderMap,
    ApiJson(body): ApiJson<StartRunBody>,
) -> Result<Response, ApiError> {
    let stream = body
        .stream
        .unwrap_or_else(|| accepts_event_stream(&headers));
    let request_id = request_id.map(|Extension(r)| r.as_str().to_owned());
    let input = StartRun {
        prompt_id: body.prompt_id,
        version_id: body.version_id,
        model: body.model,
        provider: body.provider,
        params: body.params,
        preset: body.preset,
        variables: body.variables,
    };
    if stream {
        let handle = state.app.start_run(input, request_id.clone()).await?;
        return Ok(stream_run(handle, request_id));
    }
    Ok(Created(state.app.run_to_end(input, request_id).await?).into_response())
}

/// Sends a run's stored request body again, byte for byte, as a new run
/// (`replayOf` names the first). Answered like `POST /api/test-runs`:
/// the finished run, or its events with `Accept: text/event-stream`.
#[utoipa::path(post, path = "/api/test-runs/{id}/replay", tag = "runs", params(("id" = String, Path)),
    responses(
        (status = 201, description = "The finished new run (check `status`)", body = Envelope<Run>),
        (status = 200, description = "With `Accept: text/event-stream`: the events of `POST /api/test-runs`", content_type = "text/event-stream", body = String),
        (status = 404, body = ErrorEnvelope),
        (status = 422, description = "The run kept no request (stored before migration 0009), or its provider is gone", body = ErrorEnvelope),
        (status = 429, description = "`too_many_runs`", body = ErrorEnvelope)))]
async fn replay(
    _user: CurrentUser,
    State(state): State<AppState>,
    request_id: Option<Extension<RequestId>>,
    headers: HeaderMap,
    IdPath(id): IdPath<RunId>,
) -> Result<Response, ApiError> {
    let request_id = request_id.map(|Extension(r)| r.as_str().to_owned());
    let handle = state.app.replay_run(id, request_id.clone()).await?;
    if accepts_event_stream(&headers) {
        return Ok(stream_run(handle, request_id));
    }
    Ok(Created(handle.done.await?).into_response())
}

fn accepts_event_stream(headers: &HeaderMap) -> bool {
    headers
        .get_all(header::ACCEPT)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .any(|m| {
            m.split(';')
                .next()
                .unwrap_or("")
                .trim()
                .eq_ignore_ascii_case("text/event-stream")
        })
}

/// Starts the run: refused, a plain JSON error with its status (nothing was
/// started); started, its events as SSE. The body is polled only as fast as
/// the client reads, and a slow client gets coalesced deltas (see
/// [`promptrefine_app::runs::RunEvents`]), so nothing grows without bound.
fn stream_run(handle: RunHandle, request_id: Option<String>) -> Response {
    let RunHandle { run, events, done } = handle;
    let head = futures::stream::once(std::future::ready(sse("run", &run)));
    let deltas = events.map(|RunEvent::Delta(text)| sse("delta", &json!({ "text": text })));
    // A client that hangs up drops this stream; the run goes on without it
    // (dropping `done` detaches from its task) and is stored when it ends.
    let tail = futures::stream::once(async move {
        let (error, run) = match done.await {
            Ok(run) => (run_error(&run, request_id.as_deref()), Some(run)),
            Err(e) => {
                let e = ApiError::from(e);
                let body = ErrorBody {
                    code: e.code.into(),
                    message: e.message,
                    details: None,
                    request_id,
                };
                (Some(body), None)
            }
        };
        let error = error.map(|e| sse("error", &e));
        futures::stream::iter(error.into_iter().chain([sse("done", &run)]))
    })
    .flatten();
    let body = head.chain(deltas).chain(tail).map(Ok::<_, Infallible>);
    let mut res = Sse::new(body)
        .keep_alive(KeepAlive::default())
        .into_response();
    // Reverse proxies (nginx) would otherwise buffer the stream.
    res.headers_mut()
        .insert("x-accel-buffering", HeaderValue::from_static("no"));
    res
}

/// The `error` event of a run that did not succeed.
fn run_error(run: &Run, request_id: Option<&str>) -> Option<ErrorBody> {
    (run.status != RunStatus::Succeeded).then(|| ErrorBody {
        code: run
            .error_code
            .clone()
            .unwrap_or_else(|| run.status.as_str().to_owned()),
        message: run
            .error_message
            .clone()
            .unwrap_or_else(|| format!("the run {}", run.status.as_str())),
        details: None,
        request_id: request_id.map(str::to_owned),
    })
}

fn sse<T: Serialize>(name: &'static str, data: &T) -> Event {
    Event::default()
        .event(name)
        .json_data(data)
        .unwrap_or_else(|_| Event::default().event(name).data("null"))
}

#[derive(Deserialize, IntoParams)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
#[into_params(parameter_in = Query, rename_all = "camelCase")]
pub(super) struct ListQuery {
    /// The prompt whose runs to list.
    #[param(required = true)]
    prompt_id: Option<String>,
    version_id: Option<String>,
    /// Only the runs of this experiment's cells.
    experiment_id: Option<String>,
    /// `queued`, `running`, `succeeded`, `failed`, `cancelled` or `interrupted`.
    status: Option<String>,
    /// `nextCursor` of the previous page.
    cursor: Option<String>,
    /// 1–100, default 20.
    limit: Option<i64>,
}

#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub(super) struct RunPage {
    items: Vec<Run>,
    next_cursor: Option<String>,
}

/// A prompt's runs, newest first.
#[utoipa::path(get, path = "/api/test-runs", tag = "runs", params(ListQuery),
    responses((status = 200, body = Envelope<RunPage>), (status = 404, body = ErrorEnvelope), (status = 422, body = ErrorEnvelope)))]
async fn list(
    _user: CurrentUser,
    State(state): State<AppState>,
    ApiQuery(q): ApiQuery<ListQuery>,
) -> Result<Data<RunPage>, ApiError> {
    let prompt_id: PromptId = query_id(q.prompt_id.as_deref(), "promptId")?
        .ok_or_else(|| ApiError::invalid("promptId", "required", "promptId is required"))?;
    let version_id = query_id(q.version_id.as_deref(), "versionId")?;
    let experiment_id = query_id(q.experiment_id.as_deref(), "experimentId")?;
    let filters = ListRuns {
        version_id,
        experiment_id,
        status: q.status,
        cursor: q.cursor,
        limit: q.limit,
    };
    let page = state.app.list_runs(prompt_id, filters).await?;
    Ok(Data(RunPage {
        items: page.items,
        next_cursor: page.next_cursor,
    }))
}

/// One run.
#[utoipa::path(get, path = "/api/test-runs/{id}", tag = "runs", params(("id" = String, Path)),
    responses((status = 200, body = Envelope<Run>), (status = 404, body = ErrorEnvelope)))]
async fn get_one(
    _user: CurrentUser,
    State(state): State<AppState>,
    IdPath(id): IdPath<RunId>,
) -> Result<Data<Run>, ApiError> {
    Ok(Data(state.app.get_run(id).await?))
}

/// Stops a run in flight; it is stored as `cancelled` with its partial output.
#[utoipa::path(post, path = "/api/test-runs/{id}/cancel", tag = "runs", params(("id" = String, Path)),
    responses((status = 200, description = "The cancelled run", body = Envelope<Run>), (status = 404, body = ErrorEnvelope),
        (status = 409, description = "`run_finished`: the run had already ended", body = ErrorEnvelope)))]
async fn cancel(
    _user: CurrentUser,
    State(state): State<AppState>,
    IdPath(id): IdPath<RunId>,
) -> Result<Data<Run>, ApiError> {
    match state.app.cancel_run(id).await? {
        CancelOutcome::Cancelled(run) => Ok(Data(run)),
        CancelOutcome::AlreadyFinished(run) => Err(ApiError::new(
            StatusCode::CONFLICT,
            "run_finished",
            format!("the run already ended ({})", run.status.as_str()),
        )
        .with_details(json!({ "status": run.status }))),
    }
}
