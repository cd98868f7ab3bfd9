//! The answer to a body over the limit, so the client can read it.
//!
//! `RequestBodyLimitLayer` answers 413 as soon as the `content-length` is
//! over the limit, without reading the body. hyper then cannot reuse the
//! connection, closes it without saying so, and a client still sending its
//! body often gets a reset instead of the 413. Here a declared body of up to
//! [`DRAIN_MAX`] is read and thrown away first (within [`DRAIN_TIME`]), so the
//! 413 arrives and the kept-alive connection serves the next request; a larger
//! one, or an over-long chunked body found out later, gets `connection:
//! close` so the client knows to reconnect.

use std::time::Duration;

use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use http_body_util::BodyExt;

use crate::api::envelope::{ApiError, is_api_path};

/// The largest declared body read to its end just to answer 413.
pub const DRAIN_MAX: u64 = 8 * 1024 * 1024;
/// How long draining may take before the connection is closed instead.
pub const DRAIN_TIME: Duration = Duration::from_secs(10);

/// Middleware (`from_fn_with_state(limit, …)`), inside the envelope and the
/// security headers, outside `RequestBodyLimitLayer`.
pub async fn drain_oversized(State(limit): State<usize>, req: Request, next: Next) -> Response {
    let declared = req
        .headers()
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    let Some(len) = declared.filter(|len| *len > limit as u64) else {
        let mut res = next.run(req).await;
        if res.status() == StatusCode::PAYLOAD_TOO_LARGE {
            close(&mut res);
        }
        return res;
    };
    let api = is_api_path(req.uri().path());
    let drained = len <= DRAIN_MAX && drain(req.into_body()).await;
    let mut res = if api {
        ApiError::from_status(StatusCode::PAYLOAD_TOO_LARGE).into_response()
    } else {
        (
            StatusCode::PAYLOAD_TOO_LARGE,
            "the request body is too large",
        )
            .into_response()
    };
    if !drained {
        close(&mut res);
    }
    res
}

/// Reads the body to its end; false when it failed or took too long.
async fn drain(mut body: Body) -> bool {
    let read_all = async {
        while let Some(frame) = body.frame().await {
            if frame.is_err() {
                return false;
            }
        }
        true
    };
    tokio::time::timeout(DRAIN_TIME, read_all)
        .await
        .unwrap_or(false)
}

fn close(res: &mut Response) {
    res.headers_mut()
        .insert(header::CONNECTION, HeaderValue::from_static("close"));
}
