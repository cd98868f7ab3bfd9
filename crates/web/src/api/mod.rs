//! The JSON API under `/api`. Every route is registered through
//! `utoipa_axum::routes!`, so the OpenAPI document (`/api/openapi.json`) is
//! generated from the same list the router is built from.

mod auth;
mod datasets;
pub mod dto;
pub mod envelope;
mod evaluations;
mod experiments;
pub mod extract;
mod health;
mod labels;
mod models;
mod openapi;
mod presets;
mod prompts;
mod providers;
mod runs;
mod tokens;
mod versions;
mod watch;

use axum::Router;
use tower_http::timeout::TimeoutLayer;
use utoipa_axum::router::OpenApiRouter;

use crate::state::AppState;

/// The API routes with the OpenAPI document, before state is attached.
pub fn openapi_router() -> OpenApiRouter<AppState> {
    OpenApiRouter::with_openapi(openapi::base())
        .merge(prompts::routes())
        .merge(versions::routes())
        .merge(labels::routes())
        .merge(models::routes())
        .merge(auth::routes())
        .merge(tokens::routes())
        .merge(datasets::routes())
        .merge(experiments::routes())
        .merge(evaluations::routes())
        .merge(providers::routes())
        .merge(presets::routes())
}

/// Long-running routes (test runs, dataset exports) that must not get the
/// request timeout.
fn long_running_routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .merge(runs::routes())
        .merge(datasets::export_routes())
        .merge(experiments::long_running_routes())
        .merge(watch::routes())
        .merge(providers::long_running_routes())
}

/// Routes that take large bodies (dataset imports): no request timeout, and
/// `server.rs` mounts them under the import body limit instead of the
/// ordinary one.
fn upload_routes() -> OpenApiRouter<AppState> {
    datasets::import_routes()
}

/// The upload routes as a router (see [`upload_routes`]).
pub fn upload_router() -> Router<AppState> {
    upload_routes().split_for_parts().0
}

pub fn routes(state: &AppState) -> Router<AppState> {
    let timeout = state.config.request_timeout;
    let (standard, mut doc) = openapi_router().split_for_parts();
    let (long, long_doc) = long_running_routes().split_for_parts();
    doc.merge(long_doc);
    doc.merge(upload_routes().split_for_parts().1);
    // Rendered once: the document never changes while the process runs.
    let doc = std::sync::Arc::new(openapi::with_links(
        serde_json::to_value(&doc).expect("the OpenAPI document serializes"),
    ));
    Router::new()
        .merge(standard.layer(TimeoutLayer::with_status_code(
            axum::http::StatusCode::REQUEST_TIMEOUT,
            timeout,
        )))
        .merge(long)
        .merge(health::routes())
        .route(
            "/api/openapi.json",
            axum::routing::get(move || {
                let doc = doc.clone();
                async move { axum::Json((*doc).clone()) }
            }),
        )
}

/// The whole OpenAPI document as served, links included (also used by tests).
pub fn openapi_document() -> serde_json::Value {
    let (_, mut doc) = openapi_router().split_for_parts();
    let (_, long_doc) = long_running_routes().split_for_parts();
    doc.merge(long_doc);
    doc.merge(upload_routes().split_for_parts().1);
    openapi::with_links(serde_json::to_value(&doc).expect("the OpenAPI document serializes"))
}
