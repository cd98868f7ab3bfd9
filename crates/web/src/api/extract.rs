//! Extractors whose rejections speak the API contract: malformed JSON is a
//! 400, a body of the wrong shape a 422 naming the field, a wrong content type
//! a 415, an oversized body a 413, an unknown id a 404.

use std::str::FromStr;

use axum::body::Bytes;
use axum::extract::{FromRequest, FromRequestParts, Path, Request};
use axum::http::request::Parts;
use axum::http::{StatusCode, header};
use serde::de::DeserializeOwned;

use super::envelope::ApiError;

/// A JSON body, parsed with the field path of the first problem kept.
pub struct ApiJson<T>(pub T);

impl<S, T> FromRequest<S> for ApiJson<T>
where
    S: Send + Sync,
    T: DeserializeOwned,
{
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, ApiError> {
        if !is_json(req.headers().get(header::CONTENT_TYPE)) {
            return Err(ApiError::new(
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                "unsupported_media_type",
                "send the body as application/json",
            ));
        }
        parse_json(&read_body(req, state).await?).map(ApiJson)
    }
}

fn is_json(value: Option<&axum::http::HeaderValue>) -> bool {
    let Some(ct) = value.and_then(|v| v.to_str().ok()) else {
        return false;
    };
    let mime = ct
        .split(';')
        .next()
        .unwrap_or("")
        .trim()
        .to_ascii_lowercase();
    mime == "application/json" || (mime.starts_with("application/") && mime.ends_with("+json"))
}

/// Parses JSON text into `T`, mapping errors to 400 (syntax) or 422 (shape).
pub fn parse_json<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, ApiError> {
    let de = &mut serde_json::Deserializer::from_slice(bytes);
    let result: Result<T, _> = serde_path_to_error::deserialize(de);
    result.map_err(|err| {
        let path = err.path().to_string();
        let inner = err.into_inner();
        use serde_json::error::Category;
        match inner.classify() {
            Category::Data => {
                let message = inner.to_string();
                let message = message
                    .split(" at line ")
                    .next()
                    .unwrap_or(&message)
                    .to_string();
                let field = field_name(&path, &message);
                ApiError::invalid(&field, rule_of(&message), format!("{field}: {message}"))
            }
            Category::Syntax | Category::Eof | Category::Io => ApiError::new(
                StatusCode::BAD_REQUEST,
                "malformed_json",
                format!("the body is not valid JSON: {inner}"),
            ),
        }
    })
}

/// The dotted path of the offending field; for an unknown field, its name.
fn field_name(path: &str, message: &str) -> String {
    let unknown = message
        .strip_prefix("unknown field `")
        .and_then(|rest| rest.split('`').next());
    let missing = message
        .strip_prefix("missing field `")
        .and_then(|rest| rest.split('`').next());
    // A repeated query parameter (`limit=1&limit=2`) names itself too.
    let duplicate = message
        .strip_prefix("duplicate field `")
        .and_then(|rest| rest.split('`').next());
    let base = if path == "." { "" } else { path };
    match unknown.or(missing).or(duplicate) {
        Some(name) if base.is_empty() => name.to_string(),
        // serde_path_to_error already ends the path with an unknown field's name.
        Some(name) if base == name || base.ends_with(&format!(".{name}")) => base.to_string(),
        Some(name) => format!("{base}.{name}"),
        None if base.is_empty() => "body".to_string(),
        None => base.to_string(),
    }
}

fn rule_of(message: &str) -> &'static str {
    if message.starts_with("unknown field") {
        "unknown"
    } else if message.starts_with("missing field") {
        "required"
    } else if message.starts_with("duplicate field") {
        "duplicate"
    } else {
        "type"
    }
}

/// Query parameters, with a 422 naming the parameter on bad input.
pub struct ApiQuery<T>(pub T);

impl<S, T> FromRequestParts<S> for ApiQuery<T>
where
    S: Send + Sync,
    T: DeserializeOwned,
{
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, ApiError> {
        let query = parts.uri.query().unwrap_or("");
        let de = serde_urlencoded::Deserializer::new(form_urlencoded::parse(query.as_bytes()));
        serde_path_to_error::deserialize(de)
            .map(ApiQuery)
            .map_err(|err| {
                let path = err.path().to_string();
                let message = err.into_inner().to_string();
                let field = field_name(&path, &message);
                ApiError::invalid(&field, "type", format!("{field}: {message}"))
            })
    }
}

/// The whole body: 413 past the size limit, 400 when it cannot be read.
pub async fn read_body<S: Send + Sync>(req: Request, state: &S) -> Result<Bytes, ApiError> {
    Bytes::from_request(req, state).await.map_err(|e| {
        if e.status() == StatusCode::PAYLOAD_TOO_LARGE {
            ApiError::from_status(StatusCode::PAYLOAD_TOO_LARGE)
        } else {
            ApiError::new(
                StatusCode::BAD_REQUEST,
                "bad_request",
                "the request body could not be read",
            )
        }
    })
}

/// An id that names a resource in a path: what a 404 calls it.
pub trait PathId: FromStr {
    const NOUN: &'static str;
}

impl PathId for promptrefine_core::PromptId {
    const NOUN: &'static str = "prompt";
}
impl PathId for promptrefine_core::RunId {
    const NOUN: &'static str = "run";
}
impl PathId for promptrefine_core::TokenId {
    const NOUN: &'static str = "token";
}
impl PathId for promptrefine_core::ExperimentId {
    const NOUN: &'static str = "experiment";
}

/// A path whose one parameter is an id. An id that cannot parse is the same
/// 404 as one that does not exist: a client cannot tell them apart, and
/// need not.
pub struct IdPath<T>(pub T);

impl<S, T> FromRequestParts<S> for IdPath<T>
where
    S: Send + Sync,
    T: PathId,
{
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, ApiError> {
        let Path(text) = Path::<String>::from_request_parts(parts, state)
            .await
            .map_err(|_| ApiError::not_found(T::NOUN))?;
        parse_id(&text, T::NOUN).map(IdPath)
    }
}

/// Parses a path id; an id that cannot exist is simply not found.
pub fn parse_id<T: FromStr>(text: &str, what: &str) -> Result<T, ApiError> {
    text.parse().map_err(|_| ApiError::not_found(what))
}

/// An id given as a query parameter: absent or empty is `None`; anything
/// that is not an id is a 422 naming the parameter.
pub fn query_id<T: FromStr>(text: Option<&str>, field: &str) -> Result<Option<T>, ApiError> {
    match text.filter(|t| !t.is_empty()) {
        None => Ok(None),
        Some(t) => t
            .parse()
            .map(Some)
            .map_err(|_| ApiError::invalid(field, "format", format!("{field} is not an id"))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(serde::Deserialize, Debug)]
    #[serde(deny_unknown_fields)]
    #[allow(dead_code)]
    struct Sample {
        title: String,
        inner: Option<Inner>,
    }

    #[derive(serde::Deserialize, Debug)]
    #[allow(dead_code)]
    struct Inner {
        n: u32,
    }

    #[test]
    fn errors_name_the_field() {
        let e = parse_json::<Sample>(br#"{"title": 5}"#).unwrap_err();
        assert_eq!(e.status, StatusCode::UNPROCESSABLE_ENTITY);
        assert_eq!(e.details.unwrap()["fields"][0]["field"], "title");
        let e = parse_json::<Sample>(br#"{"title": "x", "type": "y"}"#).unwrap_err();
        assert_eq!(e.details.unwrap()["fields"][0]["field"], "type");
        let e = parse_json::<Sample>(br#"{"title": "x", "inner": {"n": -1}}"#).unwrap_err();
        assert_eq!(e.details.unwrap()["fields"][0]["field"], "inner.n");
        let e = parse_json::<Sample>(br#"{}"#).unwrap_err();
        assert_eq!(e.details.unwrap()["fields"][0]["field"], "title");
        // A repeated key names itself, not "body".
        let e = parse_json::<Sample>(br#"{"title": "x", "title": "y"}"#).unwrap_err();
        let details = e.details.unwrap();
        assert_eq!(details["fields"][0]["field"], "title");
        assert_eq!(details["fields"][0]["rule"], "duplicate");
    }

    #[test]
    fn broken_json_is_a_bad_request() {
        for body in [&b"{"[..], b"{\"title\": }", b"\xff\xfe", b""] {
            assert_eq!(
                parse_json::<Sample>(body).unwrap_err().status,
                StatusCode::BAD_REQUEST
            );
        }
        let deep = format!("{}{}", "[".repeat(10_000), "]".repeat(10_000));
        assert_eq!(
            parse_json::<serde_json::Value>(deep.as_bytes())
                .unwrap_err()
                .status,
            StatusCode::BAD_REQUEST
        );
    }
}
