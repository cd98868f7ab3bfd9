//! `/api/experiments`: create (202: the engine runs it), estimate, list,
//! read, results by item, pause / resume / cancel, delete, and progress as
//! Server-Sent Events. Answers are `Experiment` as in the OpenAPI document.

use std::convert::Infallible;
use std::time::Duration;

use axum::extract::State;
use axum::http::HeaderValue;
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use futures::StreamExt;
use promptrefine_app::experiments::ListExperiments;
use promptrefine_core::{CostEstimate, Experiment, ExperimentId};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::dto::evaluations::ExperimentDetail;
use super::dto::experiments::{
    CreateExperimentBody, Deleted, ExperimentPage, ListExperimentsQuery, ResultRowBody,
    ResultsPageBody, ResultsQuery, ResumeBody,
};
use super::envelope::{Accepted, ApiError, Data, Envelope, ErrorEnvelope};
use super::extract::{ApiJson, ApiQuery, IdPath, parse_json, query_id};
use crate::auth::CurrentUser;
use crate::state::AppState;

/// How often the events stream looks at the experiment (it may run on any
/// replica, so the database is the source).
const EVENTS_EVERY: Duration = Duration::from_millis(500);

pub(super) fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list, create))
        .routes(routes!(estimate))
        .routes(routes!(get_one, delete))
        .routes(routes!(results))
        .routes(routes!(pause))
        .routes(routes!(resume))
        .routes(routes!(cancel))
}

/// Routes without the request timeout (the events stream lasts as long as
/// the experiment).
pub(super) fn long_running_routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(events))
}

/// Starts an experiment: stored with all its cells, run by the engine of
/// any live instance. 202 with the experiment (`queued`).
#[utoipa::path(post, path = "/api/experiments", tag = "experiments", request_body = CreateExperimentBody,
    responses((status = 202, body = Envelope<Experiment>), (status = 404, body = ErrorEnvelope), (status = 422, body = ErrorEnvelope)))]
async fn create(
    _user: CurrentUser,
    State(state): State<AppState>,
    ApiJson(body): ApiJson<CreateExperimentBody>,
) -> Result<Accepted<Experiment>, ApiError> {
    Ok(Accepted(state.app.create_experiment(body.into()).await?))
}

/// Cells, counted prompt tokens, estimated and worst-case cost; runs nothing.
#[utoipa::path(post, path = "/api/experiments/estimate", tag = "experiments", request_body = CreateExperimentBody,
    responses((status = 200, body = Envelope<CostEstimate>), (status = 404, body = ErrorEnvelope), (status = 422, body = ErrorEnvelope)))]
async fn estimate(
    _user: CurrentUser,
    State(state): State<AppState>,
    ApiJson(body): ApiJson<CreateExperimentBody>,
) -> Result<Data<CostEstimate>, ApiError> {
    Ok(Data(state.app.estimate_experiment(body.into()).await?))
}

/// Experiments, newest first.
#[utoipa::path(get, path = "/api/experiments", tag = "experiments", params(ListExperimentsQuery),
    responses((status = 200, body = Envelope<ExperimentPage>), (status = 422, body = ErrorEnvelope)))]
async fn list(
    _user: CurrentUser,
    State(state): State<AppState>,
    ApiQuery(q): ApiQuery<ListExperimentsQuery>,
) -> Result<Data<ExperimentPage>, ApiError> {
    let page = state
        .app
        .list_experiments(ListExperiments {
            prompt_id: query_id(q.prompt_id.as_deref(), "promptId")?,
            dataset_id: query_id(q.dataset_id.as_deref(), "datasetId")?,
            cursor: q.cursor,
            limit: q.limit,
        })
        .await?;
    Ok(Data(ExperimentPage {
        items: page.items,
        next_cursor: page.next_cursor,
    }))
}

/// An experiment, its progress and, once it has ended, its summary.
#[utoipa::path(get, path = "/api/experiments/{id}", tag = "experiments", params(("id" = String, Path)),
    responses((status = 200, body = Envelope<ExperimentDetail>), (status = 404, body = ErrorEnvelope)))]
async fn get_one(
    _user: CurrentUser,
    State(state): State<AppState>,
    IdPath(id): IdPath<ExperimentId>,
) -> Result<Data<ExperimentDetail>, ApiError> {
    let experiment = state.app.get_experiment(id).await?;
    // Computed on read, and only once it has ended: pollers of a running
    // experiment do not pay for the statistics.
    let summary = if experiment.status.is_final() {
        Some(state.app.experiment_summary(id).await?)
    } else {
        None
    };
    Ok(Data(ExperimentDetail {
        experiment,
        summary,
    }))
}

/// Deletes an experiment with its runs (409 while cells are in flight: cancel first).
#[utoipa::path(delete, path = "/api/experiments/{id}", tag = "experiments", params(("id" = String, Path)),
    responses((status = 200, body = Envelope<Deleted>), (status = 404, body = ErrorEnvelope), (status = 409, body = ErrorEnvelope)))]
async fn delete(
    _user: CurrentUser,
    State(state): State<AppState>,
    IdPath(id): IdPath<ExperimentId>,
) -> Result<Data<Deleted>, ApiError> {
    state.app.delete_experiment(id).await?;
    Ok(Data(Deleted { deleted: true }))
}

/// Results by item: each item as the experiment pinned it, with its cells.
#[utoipa::path(get, path = "/api/experiments/{id}/results", tag = "experiments", params(("id" = String, Path), ResultsQuery),
    responses((status = 200, body = Envelope<ResultsPageBody>), (status = 404, body = ErrorEnvelope), (status = 422, body = ErrorEnvelope)))]
async fn results(
    _user: CurrentUser,
    State(state): State<AppState>,
    IdPath(id): IdPath<ExperimentId>,
    ApiQuery(q): ApiQuery<ResultsQuery>,
) -> Result<Data<ResultsPageBody>, ApiError> {
    let page = state.app.experiment_results(id, q.cursor, q.limit).await?;
    Ok(Data(ResultsPageBody {
        experiment: page.experiment,
        items: page.rows.into_iter().map(ResultRowBody::from).collect(),
        next_cursor: page.next_cursor,
    }))
}

/// Pauses: cells in flight finish, no new cell starts (409 unless queued or running).
#[utoipa::path(post, path = "/api/experiments/{id}/pause", tag = "experiments", params(("id" = String, Path)),
    responses((status = 200, body = Envelope<Experiment>), (status = 404, body = ErrorEnvelope), (status = 409, body = ErrorEnvelope)))]
async fn pause(
    _user: CurrentUser,
    State(state): State<AppState>,
    IdPath(id): IdPath<ExperimentId>,
) -> Result<Data<Experiment>, ApiError> {
    Ok(Data(state.app.pause_experiment(id).await?))
}

/// Resumes a paused experiment, optionally with a new `maxCostUsd`; cells
/// that succeeded are not run again (409 unless paused).
#[utoipa::path(post, path = "/api/experiments/{id}/resume", tag = "experiments", params(("id" = String, Path)), request_body = ResumeBody,
    responses((status = 200, body = Envelope<Experiment>), (status = 404, body = ErrorEnvelope), (status = 409, body = ErrorEnvelope), (status = 422, body = ErrorEnvelope)))]
async fn resume(
    _user: CurrentUser,
    State(state): State<AppState>,
    IdPath(id): IdPath<ExperimentId>,
    body: axum::body::Bytes,
) -> Result<Data<Experiment>, ApiError> {
    // The body is optional: none resumes with the cap as it is.
    let body: ResumeBody = if body.iter().all(u8::is_ascii_whitespace) {
        ResumeBody::default()
    } else {
        parse_json(&body)?
    };
    Ok(Data(
        state.app.resume_experiment(id, body.max_cost_usd).await?,
    ))
}

/// Cancels: pending cells at once, cells in flight within a second (409 when it has ended).
#[utoipa::path(post, path = "/api/experiments/{id}/cancel", tag = "experiments", params(("id" = String, Path)),
    responses((status = 200, body = Envelope<Experiment>), (status = 404, body = ErrorEnvelope), (status = 409, body = ErrorEnvelope)))]
async fn cancel(
    _user: CurrentUser,
    State(state): State<AppState>,
    IdPath(id): IdPath<ExperimentId>,
) -> Result<Data<Experiment>, ApiError> {
    Ok(Data(state.app.cancel_experiment(id).await?))
}

/// Progress as Server-Sent Events: `progress` (the experiment) whenever it
/// changed, then `done` with the final experiment once it has ended.
#[utoipa::path(get, path = "/api/experiments/{id}/events", tag = "experiments", params(("id" = String, Path)),
    responses((status = 200, description = "Events `progress` and `done`, each carrying the experiment", content_type = "text/event-stream", body = String),
        (status = 404, body = ErrorEnvelope)))]
async fn events(
    _user: CurrentUser,
    State(state): State<AppState>,
    IdPath(id): IdPath<ExperimentId>,
) -> Result<Response, ApiError> {
    let first = state.app.get_experiment(id).await?;
    let app = state.app.clone();
    // Shutting down ends the stream (the page reconnects to whichever
    // server answers next), so the graceful drain does not wait for it.
    let closing = state.app.delivery().closing();
    // (last sent, ended): poll until the experiment has ended.
    let body = futures::stream::unfold(Some((None::<Experiment>, Some(first))), move |st| {
        let (app, closing) = (app.clone(), closing.clone());
        async move {
            let (last, mut next) = st?;
            loop {
                let current = match next.take() {
                    Some(e) => e,
                    None => {
                        tokio::select! {
                            () = closing.cancelled() => return None,
                            () = tokio::time::sleep(EVENTS_EVERY) => {}
                        }
                        match app.get_experiment(id).await {
                            Ok(e) => e,
                            // Deleted (or the database went away): end the stream.
                            Err(_) => return None,
                        }
                    }
                };
                if current.status.is_final() {
                    return Some((sse("done", &current), None));
                }
                if last.as_ref() != Some(&current) {
                    return Some((sse("progress", &current), Some((Some(current), None))));
                }
            }
        }
    })
    .map(Ok::<_, Infallible>);
    let mut res = Sse::new(body)
        .keep_alive(KeepAlive::default())
        .into_response();
    res.headers_mut()
        .insert("x-accel-buffering", HeaderValue::from_static("no"));
    Ok(res)
}

fn sse(name: &'static str, data: &Experiment) -> Event {
    Event::default()
        .event(name)
        .json_data(data)
        .unwrap_or_else(|_| Event::default().event(name).data("null"))
}
