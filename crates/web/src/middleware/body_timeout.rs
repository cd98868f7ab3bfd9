//! One deadline for reading a request body, on every route.
//!
//! Without it a client can send a page form (`/login`, `/setup`: no sign-in
//! needed) one byte at a time and hold a connection and its task for as long
//! as it likes; only the API routes had a request timeout, and the run routes
//! none. Here the whole body (already capped by the body limit, outside) must
//! arrive within the request timeout, or the answer is 408 and the connection
//! is closed. The handler then reads the buffered body at once.

use std::time::Duration;

use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use http_body_util::{BodyExt, LengthLimitError};

use crate::api::envelope::{ApiError, is_api_path};

/// Middleware (`from_fn_with_state(limit, …)`), inside the body limit.
pub async fn read_body_in_time(
    State(limit): State<Duration>,
    req: Request,
    next: Next,
) -> Response {
    let (parts, body) = req.into_parts();
    let api = is_api_path(parts.uri.path());
    let status = match tokio::time::timeout(limit, body.collect()).await {
        Ok(Ok(collected)) => {
            let req = Request::from_parts(parts, Body::from(collected.to_bytes()));
            return next.run(req).await;
        }
        Ok(Err(e)) if too_large(&e) => StatusCode::PAYLOAD_TOO_LARGE,
        Ok(Err(_)) => StatusCode::BAD_REQUEST,
        Err(_) => StatusCode::REQUEST_TIMEOUT,
    };
    let mut res = if api {
        ApiError::from_status(status).into_response()
    } else {
        (status, status.canonical_reason().unwrap_or("bad request")).into_response()
    };
    // The rest of the body may still be on its way: do not read it as a request.
    res.headers_mut()
        .insert(header::CONNECTION, HeaderValue::from_static("close"));
    res
}

fn too_large(e: &axum::Error) -> bool {
    let mut cur: Option<&(dyn std::error::Error + 'static)> = Some(e);
    while let Some(err) = cur {
        if err.is::<LengthLimitError>() {
            return true;
        }
        cur = err.source();
    }
    false
}
