//! The one API contract: every `/api` body is `{ "data": …, "error": null }` or
//! `{ "data": null, "error": { "code", "message", "details"?, "requestId" } }`.
//!
//! Handlers return [`Data`] / [`Created`] or an [`ApiError`]. An `ApiError`
//! travels in the response's extensions, and [`finish_envelope`] — middleware
//! that sees every `/api` response — writes the body with the request id and
//! logs it. The same middleware wraps whatever else answers with an error
//! (unknown routes, wrong methods, body limits, timeouts, panics), so no
//! `/api` response escapes the contract.

use axum::Json;
use axum::extract::Request;
use axum::http::{HeaderValue, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use promptrefine_app::AppError;
use serde::Serialize;
use serde_json::{Value, json};
use utoipa::ToSchema;

use crate::middleware::request_id::RequestId;

/// `{ data, error: null }` with 200.
pub struct Data<T>(pub T);

/// `{ data, error: null }` with 201.
pub struct Created<T>(pub T);

/// `{ data, error: null }` with 202: accepted, the work goes on elsewhere.
pub struct Accepted<T>(pub T);

impl<T: Serialize> IntoResponse for Accepted<T> {
    fn into_response(self) -> Response {
        (
            StatusCode::ACCEPTED,
            Json(json!({ "data": self.0, "error": null })),
        )
            .into_response()
    }
}

impl<T: Serialize> IntoResponse for Data<T> {
    fn into_response(self) -> Response {
        Json(json!({ "data": self.0, "error": null })).into_response()
    }
}

impl<T: Serialize> IntoResponse for Created<T> {
    fn into_response(self) -> Response {
        (
            StatusCode::CREATED,
            Json(json!({ "data": self.0, "error": null })),
        )
            .into_response()
    }
}

/// The error half of the envelope, as documented in OpenAPI.
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ErrorBody {
    pub code: String,
    pub message: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<Object>)]
    pub details: Option<Value>,
    pub request_id: Option<String>,
}

/// `{ data: null, error: ErrorBody }`.
#[derive(Serialize, ToSchema)]
pub struct ErrorEnvelope {
    #[schema(value_type = Option<Object>)]
    pub data: Option<Value>,
    pub error: ErrorBody,
}

#[derive(Clone, Debug)]
pub struct ApiError {
    pub status: StatusCode,
    pub code: &'static str,
    pub message: String,
    pub details: Option<Value>,
    pub retry_after: Option<u64>,
    /// Logged with the request id, never sent.
    pub internal: Option<String>,
}

impl ApiError {
    pub fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> ApiError {
        ApiError {
            status,
            code,
            message: message.into(),
            details: None,
            retry_after: None,
            internal: None,
        }
    }

    pub fn with_details(mut self, details: Value) -> ApiError {
        self.details = Some(details);
        self
    }

    pub fn not_found(what: &str) -> ApiError {
        ApiError::new(
            StatusCode::NOT_FOUND,
            "not_found",
            format!("{what} not found"),
        )
    }

    pub fn unauthorized() -> ApiError {
        ApiError::new(
            StatusCode::UNAUTHORIZED,
            "unauthorized",
            "sign in or send a valid API token",
        )
    }

    pub fn invalid(field: &str, rule: &str, message: impl Into<String>) -> ApiError {
        let message = message.into();
        ApiError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "validation_failed",
            message.clone(),
        )
        .with_details(json!({ "fields": [{ "field": field, "rule": rule, "message": message }] }))
    }

    /// The default error for a status produced outside our handlers.
    pub fn from_status(status: StatusCode) -> ApiError {
        let (code, message) = match status {
            StatusCode::BAD_REQUEST => ("bad_request", "the request could not be read"),
            StatusCode::UNAUTHORIZED => ("unauthorized", "sign in or send a valid API token"),
            StatusCode::FORBIDDEN => ("forbidden", "not allowed"),
            StatusCode::NOT_FOUND => ("not_found", "no such route"),
            StatusCode::METHOD_NOT_ALLOWED => (
                "method_not_allowed",
                "this route does not accept that method",
            ),
            StatusCode::REQUEST_TIMEOUT => ("timeout", "the request took too long"),
            StatusCode::PAYLOAD_TOO_LARGE => ("payload_too_large", "the request body is too large"),
            StatusCode::UNSUPPORTED_MEDIA_TYPE => (
                "unsupported_media_type",
                "send the body as application/json",
            ),
            StatusCode::UNPROCESSABLE_ENTITY => {
                ("validation_failed", "the request body is not valid")
            }
            StatusCode::TOO_MANY_REQUESTS => ("rate_limited", "too many requests"),
            StatusCode::SERVICE_UNAVAILABLE => (
                "unavailable",
                "the service is unavailable; try again shortly",
            ),
            StatusCode::GATEWAY_TIMEOUT => ("timeout", "the request took too long"),
            s if s.is_server_error() => ("internal", "internal error"),
            _ => ("error", "the request failed"),
        };
        ApiError::new(status, code, message)
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let mut res = self.status.into_response();
        if let Some(secs) = self.retry_after {
            res.headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from(secs));
        }
        res.extensions_mut().insert(self);
        res
    }
}

impl From<AppError> for ApiError {
    fn from(e: AppError) -> ApiError {
        match e {
            AppError::Invalid(v) => {
                let message = v.0.first().map(|f| f.message.clone()).unwrap_or_else(|| "invalid input".into());
                ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, "validation_failed", message)
                    .with_details(json!({ "fields": v.0 }))
            }
            AppError::InvalidImport { line, violations } => {
                let message = violations.0.first().map(|f| f.message.clone()).unwrap_or_else(|| "invalid input".into());
                ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, "validation_failed", format!("line {line}: {message}"))
                    .with_details(json!({ "line": line, "fields": violations.0 }))
            }
            AppError::NotFound(what) => ApiError::not_found(what),
            AppError::Conflict { field, message } => ApiError::new(StatusCode::CONFLICT, "conflict", message)
                .with_details(json!({ "fields": [{ "field": field, "rule": "unique", "message": "already taken" }] })),
            AppError::Unauthorized(m) => ApiError::new(StatusCode::UNAUTHORIZED, "unauthorized", m),
            AppError::Forbidden(m) => ApiError::new(StatusCode::FORBIDDEN, "forbidden", m),
            AppError::Throttled { retry_after_secs } => {
                let mut e = ApiError::new(
                    StatusCode::TOO_MANY_REQUESTS,
                    "too_many_attempts",
                    format!("too many attempts; try again in {retry_after_secs} s"),
                );
                e.retry_after = Some(retry_after_secs);
                e
            }
            AppError::TooManyRuns(cap) => {
                let mut e = ApiError::new(
                    StatusCode::TOO_MANY_REQUESTS,
                    "too_many_runs",
                    format!("{cap} runs are already in flight; try again when one finishes"),
                );
                e.retry_after = Some(1);
                e
            }
            AppError::RenderedTooLarge { field, limit } => ApiError::new(
                StatusCode::UNPROCESSABLE_ENTITY,
                "rendered_too_large",
                e.to_string(),
            )
            .with_details(json!({
                "limit": limit,
                "fields": [{ "field": field, "rule": "maxRenderedBytes", "message": format!("the rendered prompt may be at most {limit} bytes") }],
            })),
            AppError::BadRequest(m) => ApiError::new(StatusCode::BAD_REQUEST, "bad_request", m),
            // A full disk is not "try again shortly": say what it is.
            AppError::StorageFull(detail) => {
                let mut e = ApiError::new(
                    StatusCode::INSUFFICIENT_STORAGE,
                    "storage_full",
                    "the database's disk is full; nothing was saved",
                );
                e.internal = Some(detail);
                e
            }
            AppError::Unavailable(detail) => {
                let mut e = ApiError::new(
                    StatusCode::SERVICE_UNAVAILABLE,
                    "unavailable",
                    "the database is unavailable; try again shortly",
                );
                e.internal = Some(detail);
                e.retry_after = Some(1);
                e
            }
            AppError::Internal(detail) => {
                let mut e = ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, "internal", "internal error");
                e.internal = Some(detail);
                e
            }
        }
    }
}

pub fn is_api_path(path: &str) -> bool {
    path == "/api" || path.starts_with("/api/")
}

/// Writes the error envelope for every `/api` error response and logs it.
pub async fn finish_envelope(req: Request, next: Next) -> Response {
    if !is_api_path(req.uri().path()) {
        return next.run(req).await;
    }
    let request_id = req.extensions().get::<RequestId>().cloned();
    let res = next.run(req).await;
    let status = res.status();
    let err = match res.extensions().get::<ApiError>() {
        Some(e) => e.clone(),
        None if status.is_client_error() || status.is_server_error() => {
            ApiError::from_status(status)
        }
        None => return res,
    };
    if status.is_server_error() {
        tracing::error!(
            status = status.as_u16(),
            code = err.code,
            detail = err.internal.as_deref().unwrap_or(""),
            "request failed"
        );
    } else {
        tracing::info!(
            status = status.as_u16(),
            code = err.code,
            "request rejected"
        );
    }
    let body = ErrorEnvelope {
        data: None,
        error: ErrorBody {
            code: err.code.to_string(),
            message: err.message,
            details: err.details,
            request_id: request_id.map(|r| r.as_str().to_string()),
        },
    };
    let (mut parts, _) = res.into_parts();
    parts.headers.remove(header::CONTENT_LENGTH);
    parts.headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    let body = serde_json::to_vec(&body).unwrap_or_default();
    Response::from_parts(parts, axum::body::Body::from(body))
}

/// `{ data: T, error: null }`, for the OpenAPI document.
#[derive(ToSchema)]
#[allow(dead_code)]
pub struct Envelope<T> {
    pub data: T,
    #[schema(value_type = Option<Object>)]
    pub error: Option<()>,
}
