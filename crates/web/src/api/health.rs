//! `GET /healthz` (the process is up) and `GET /readyz` (the database answers).
//! Open to anyone: load balancers call them without credentials.

use axum::Router;
use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::get;
use serde_json::json;

use crate::state::AppState;

pub(super) fn routes() -> Router<AppState> {
    Router::new()
        .route("/healthz", get(healthz))
        .route("/readyz", get(readyz))
}

async fn healthz() -> axum::Json<serde_json::Value> {
    // The version lets a deploy check which build a replica runs.
    axum::Json(
        json!({ "data": { "status": "ok", "version": env!("CARGO_PKG_VERSION") }, "error": null }),
    )
}

async fn readyz(State(state): State<AppState>) -> (StatusCode, axum::Json<serde_json::Value>) {
    let check =
        tokio::time::timeout(std::time::Duration::from_secs(2), state.app.store().ping()).await;
    match check {
        Ok(Ok(())) => (
            StatusCode::OK,
            axum::Json(
                json!({ "data": { "status": "ready", "database": state.app.store().kind() }, "error": null }),
            ),
        ),
        _ => (
            StatusCode::SERVICE_UNAVAILABLE,
            axum::Json(
                json!({ "data": null, "error": { "code": "unavailable", "message": "the database does not answer" } }),
            ),
        ),
    }
}
