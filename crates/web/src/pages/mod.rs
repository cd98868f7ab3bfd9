//! Server-rendered HTML pages (askama templates).

use axum::Router;
use axum::http::StatusCode;
use axum::response::{Html, IntoResponse};

use crate::state::AppState;

pub fn routes() -> Router<AppState> {
    Router::new()
}

pub fn not_found() -> impl IntoResponse {
    (
        StatusCode::NOT_FOUND,
        Html("<!doctype html><title>Not found</title><h1>Not found</h1>"),
    )
}
