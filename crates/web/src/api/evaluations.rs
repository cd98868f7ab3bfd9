//! An experiment's scores: its summary at any time, a comparison of two
//! experiments or two variants with verdicts, and a rescore of the stored
//! outputs with other evaluators (no model call), and the finished
//! experiment a new one may reuse for a variant (the CI gate's baseline).

use axum::extract::State;
use promptrefine_app::experiments::scoring::CompareSide;
use promptrefine_core::ExperimentId;
use promptrefine_eval::Summary;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::dto::evaluations::{
    CompareQuery, ComparisonBody, RescoreBody, ReusableBody, ReusableQuery,
};
use super::envelope::{ApiError, Data, Envelope, ErrorEnvelope};
use super::extract::{ApiJson, ApiQuery, IdPath};
use crate::auth::CurrentUser;
use crate::state::AppState;

pub(super) fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(summary))
        .routes(routes!(compare))
        .routes(routes!(rescore))
        .routes(routes!(reusable))
}

/// The summary of the cells ended so far.
#[utoipa::path(get, path = "/api/experiments/{id}/summary", tag = "experiments", params(("id" = String, Path)),
    responses((status = 200, body = Envelope<Summary>), (status = 404, body = ErrorEnvelope)))]
async fn summary(
    _user: CurrentUser,
    State(state): State<AppState>,
    IdPath(id): IdPath<ExperimentId>,
) -> Result<Data<Summary>, ApiError> {
    Ok(Data(state.app.experiment_summary(id).await?))
}

/// Compares a candidate with a baseline: per evaluator the mean difference
/// with a paired bootstrap 95 % interval, McNemar's exact test and a verdict
/// (`better`, `worse`, `no_difference`, `insufficient_data`); per item the
/// outcome; cost, latency and token deltas.
#[utoipa::path(get, path = "/api/experiments/compare", tag = "experiments", params(CompareQuery),
    responses((status = 200, body = Envelope<ComparisonBody>), (status = 404, body = ErrorEnvelope), (status = 422, body = ErrorEnvelope)))]
async fn compare(
    _user: CurrentUser,
    State(state): State<AppState>,
    ApiQuery(q): ApiQuery<CompareQuery>,
) -> Result<Data<ComparisonBody>, ApiError> {
    let (baseline, candidate) = sides(&q)?;
    Ok(Data(
        state
            .app
            .compare_experiments(baseline, candidate)
            .await?
            .into(),
    ))
}

/// Scores every succeeded cell's stored output again with `evaluators`,
/// which become the experiment's; the new summary.
#[utoipa::path(post, path = "/api/experiments/{id}/rescore", tag = "experiments", params(("id" = String, Path)),
    request_body = RescoreBody,
    responses((status = 200, body = Envelope<Summary>), (status = 404, body = ErrorEnvelope), (status = 422, body = ErrorEnvelope)))]
async fn rescore(
    _user: CurrentUser,
    State(state): State<AppState>,
    IdPath(id): IdPath<ExperimentId>,
    ApiJson(body): ApiJson<RescoreBody>,
) -> Result<Data<Summary>, ApiError> {
    Ok(Data(
        state.app.rescore_experiment(id, &body.evaluators).await?,
    ))
}

/// The newest finished experiment that already ran variant `variant`
/// (default 0) of this experiment body as it would be resolved now: the
/// same prompt, dataset version, repeats and evaluators, and a variant with
/// the same version, provider, model and settings, every cell succeeded.
/// Its cells can then stand in for that variant (`promptrefine eval` runs
/// only the candidate). `experiment: null` when there is none.
#[utoipa::path(post, path = "/api/experiments/reusable", tag = "experiments", request_body = ReusableQuery,
    responses((status = 200, body = Envelope<ReusableBody>), (status = 404, body = ErrorEnvelope), (status = 422, body = ErrorEnvelope)))]
async fn reusable(
    _user: CurrentUser,
    State(state): State<AppState>,
    ApiJson(body): ApiJson<ReusableQuery>,
) -> Result<Data<ReusableBody>, ApiError> {
    let found = state
        .app
        .find_reusable_variant(&body.experiment.into(), body.variant.unwrap_or(0))
        .await?;
    Ok(Data(match found {
        Some(r) => ReusableBody {
            experiment: Some(r.experiment),
            variant: Some(r.variant),
        },
        None => ReusableBody {
            experiment: None,
            variant: None,
        },
    }))
}

/// The two sides the query names; a 422 naming the parameter otherwise.
fn sides(q: &CompareQuery) -> Result<(CompareSide, CompareSide), ApiError> {
    let required = |v: &Option<String>, field: &str| -> Result<String, ApiError> {
        v.clone()
            .filter(|s| !s.is_empty())
            .ok_or_else(|| ApiError::invalid(field, "required", format!("{field} is required")))
    };
    let (b, c) = (
        required(&q.baseline, "baseline")?,
        required(&q.candidate, "candidate")?,
    );
    let experiment = |text: &str, field: &str| -> Result<ExperimentId, ApiError> {
        text.parse().map_err(|_| {
            ApiError::invalid(field, "format", format!("{field} is not an experiment id"))
        })
    };
    let variant = |text: &str, field: &str| -> Result<i64, ApiError> {
        text.parse().map_err(|_| {
            ApiError::invalid(field, "format", format!("{field} is not a variant number"))
        })
    };
    match q.experiment.as_deref().filter(|s| !s.is_empty()) {
        Some(e) => {
            if q.baseline_variant.is_some() || q.candidate_variant.is_some() {
                return Err(ApiError::invalid(
                    "baselineVariant",
                    "oneOf",
                    "with experiment, baseline and candidate are the variants",
                ));
            }
            let id = experiment(e, "experiment")?;
            Ok((
                CompareSide {
                    experiment: id,
                    variant: variant(&b, "baseline")?,
                },
                CompareSide {
                    experiment: id,
                    variant: variant(&c, "candidate")?,
                },
            ))
        }
        None => Ok((
            CompareSide {
                experiment: experiment(&b, "baseline")?,
                variant: q.baseline_variant.unwrap_or(0),
            },
            CompareSide {
                experiment: experiment(&c, "candidate")?,
                variant: q.candidate_variant.unwrap_or(0),
            },
        )),
    }
}
