//! What every page handler shares: the signed-in [`PageUser`] (or a redirect
//! to the login page), form posts checked against CSRF, safe `next` targets,
//! and one error type rendered as a page.

use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::StatusCode;
use axum::http::request::Parts;
use axum::response::{Html, IntoResponse, Redirect, Response};
use promptrefine_app::AppError;
use promptrefine_core::UserId;
use time::OffsetDateTime;

use crate::auth::{AuthMethod, authenticate, csrf};
use crate::state::AppState;

/// A signed-in browser user (session cookie only: pages never take tokens).
#[derive(Clone, Debug)]
pub struct PageUser {
    pub user_id: UserId,
    pub email: String,
    pub csrf: String,
}

impl FromRequestParts<AppState> for PageUser {
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Response> {
        let user = authenticate(parts, state)
            .await
            .map_err(|e| PageError::from_status(e.status).into_response())?;
        let Some(user) = user.filter(|u| u.method == AuthMethod::Session) else {
            return Err(to_login(parts));
        };
        // The session lookup brought the user along: no second query.
        Ok(PageUser {
            user_id: user.user_id,
            email: user.email.unwrap_or_default(),
            csrf: user.csrf_token.unwrap_or_default(),
        })
    }
}

/// `/login?next=<this path>`.
fn to_login(parts: &Parts) -> Response {
    let here = parts
        .uri
        .path_and_query()
        .map(|p| p.as_str())
        .unwrap_or("/app");
    let next: String = form_urlencoded::byte_serialize(here.as_bytes()).collect();
    Redirect::to(&format!("/login?next={next}")).into_response()
}

/// Only same-site paths are followed: one leading `/`, not `//` or `/\`
/// (which browsers read as another host), no control characters.
pub fn safe_next(next: Option<&str>) -> String {
    match next {
        Some(n)
            if n.starts_with('/')
                && !n.starts_with("//")
                && !n.starts_with("/\\")
                && !n.chars().any(|c| c.is_control()) =>
        {
            n.to_string()
        }
        _ => "/app".to_string(),
    }
}

/// An urlencoded form body, keeping repeated fields in order (chat messages).
#[derive(Debug, Default)]
pub(super) struct FormData(pub Vec<(String, String)>);

impl FormData {
    pub(super) fn parse(body: &[u8]) -> FormData {
        FormData(
            form_urlencoded::parse(body)
                .map(|(k, v)| (k.into_owned(), v.into_owned()))
                .collect(),
        )
    }

    pub(super) fn get(&self, name: &str) -> &str {
        self.0
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
            .unwrap_or("")
    }

    pub(super) fn all(&self, name: &str) -> Vec<String> {
        self.0
            .iter()
            .filter(|(k, _)| k == name)
            .map(|(_, v)| v.clone())
            .collect()
    }
}

/// A form post from a signed-in user: the request came from this site
/// (Origin / Sec-Fetch-Site) AND carries the session's CSRF token.
pub(super) struct PostForm {
    pub user: PageUser,
    pub form: FormData,
}

impl FromRequest<AppState> for PostForm {
    type Rejection = Response;

    async fn from_request(req: Request, state: &AppState) -> Result<Self, Response> {
        let (mut parts, body) = req.into_parts();
        let user = PageUser::from_request_parts(&mut parts, state).await?;
        if !csrf::from_this_site(&parts, state) {
            return Err(PageError::Csrf.into_response());
        }
        let bytes = axum::body::to_bytes(body, state.config.body_limit_bytes)
            .await
            .map_err(|_| PageError::from_status(StatusCode::PAYLOAD_TOO_LARGE).into_response())?;
        let form = FormData::parse(&bytes);
        if form.get("csrf").is_empty() || form.get("csrf") != user.csrf {
            return Err(PageError::Csrf.into_response());
        }
        Ok(PostForm { user, form })
    }
}

/// A form post from someone not signed in yet (sign-in, first-run setup):
/// it must come from this site (login CSRF: a form elsewhere must not sign
/// this browser in); there is no session token to check yet.
pub(super) struct SignedOutForm {
    pub parts: axum::http::request::Parts,
    pub form: FormData,
}

impl FromRequest<AppState> for SignedOutForm {
    type Rejection = Response;

    async fn from_request(req: Request, state: &AppState) -> Result<Self, Response> {
        let (parts, body) = req.into_parts();
        if csrf::cross_site_browser_request(&parts, state) {
            return Err(PageError::Csrf.into_response());
        }
        let bytes = axum::body::to_bytes(body, state.config.body_limit_bytes)
            .await
            .map_err(|_| PageError::from_status(StatusCode::PAYLOAD_TOO_LARGE).into_response())?;
        Ok(SignedOutForm {
            parts,
            form: FormData::parse(&bytes),
        })
    }
}

/// A page-level failure, rendered as a small error page (never internals).
#[derive(Debug)]
pub(super) enum PageError {
    App(AppError),
    Csrf,
    Status(StatusCode),
}

impl PageError {
    pub(super) fn from_status(status: StatusCode) -> PageError {
        PageError::Status(status)
    }
    pub(super) fn not_found() -> PageError {
        PageError::Status(StatusCode::NOT_FOUND)
    }
}

impl From<AppError> for PageError {
    fn from(e: AppError) -> Self {
        PageError::App(e)
    }
}

impl From<askama::Error> for PageError {
    fn from(e: askama::Error) -> Self {
        PageError::App(AppError::Internal(format!("template: {e}")))
    }
}

pub(super) type PageResult<T = Response> = Result<T, PageError>;

#[derive(askama::Template)]
#[template(path = "error.html")]
struct ErrorPage {
    title: String,
    message: String,
    asset: &'static super::assets::AssetUrls,
}

impl PageError {
    /// The status and the sentence a person sees; internals are never shown.
    fn status_and_message(&self) -> (StatusCode, String) {
        match self {
            PageError::Csrf => (
                StatusCode::FORBIDDEN,
                "This form was not sent from this site, or your session changed. Go back, reload the page and try again.".to_string(),
            ),
            PageError::Status(s) => (*s, s.canonical_reason().unwrap_or("Error").to_string()),
            PageError::App(e) => match e {
                AppError::NotFound(what) => (StatusCode::NOT_FOUND, format!("That {what} does not exist.")),
                AppError::Invalid(_)
                | AppError::InvalidImport { .. }
                | AppError::BadRequest(_)
                | AppError::RenderedTooLarge { .. } => {
                    (StatusCode::BAD_REQUEST, e.to_string())
                }
                AppError::Conflict { message, .. } => (StatusCode::CONFLICT, message.clone()),
                // Unauthorized is answered with a redirect before this is reached.
                AppError::Unauthorized(m) | AppError::Forbidden(m) => (StatusCode::FORBIDDEN, m.to_string()),
                AppError::Throttled { .. } | AppError::TooManyRuns(_) => (StatusCode::TOO_MANY_REQUESTS, e.to_string()),
                AppError::Unavailable(_) => (StatusCode::SERVICE_UNAVAILABLE, e.to_string()),
                AppError::StorageFull(_) => (StatusCode::INSUFFICIENT_STORAGE, e.to_string()),
                AppError::Internal(_) => (
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "Something went wrong on our side. Try again; if it persists, check the server log.".to_string(),
                ),
            },
        }
    }

    /// What the log says about this failure (the request span adds the request id).
    fn log(&self, status: StatusCode) {
        let detail = match self {
            PageError::App(
                AppError::Internal(d) | AppError::Unavailable(d) | AppError::StorageFull(d),
            ) => d.as_str(),
            _ => "",
        };
        if status.is_server_error() {
            tracing::error!(status = status.as_u16(), detail, "page failed");
        } else {
            tracing::info!(status = status.as_u16(), "page request rejected");
        }
    }
}

/// The one place every page failure is logged and rendered.
impl IntoResponse for PageError {
    fn into_response(self) -> Response {
        // A session that ended mid-request: back to the sign-in page, not a 403.
        if let PageError::App(AppError::Unauthorized(_)) = self {
            tracing::info!("page request without a valid session");
            return axum::response::Redirect::to("/login").into_response();
        }
        let (status, message) = self.status_and_message();
        self.log(status);
        let page = ErrorPage {
            title: status.canonical_reason().unwrap_or("Error").to_string(),
            message,
            asset: super::assets::urls(),
        };
        let html = askama::Template::render(&page).unwrap_or_else(|_| "error".into());
        (status, Html(html)).into_response()
    }
}

/// `2025-01-31 14:05 UTC`.
pub(super) fn fmt_time(t: OffsetDateTime) -> String {
    let t = t.to_offset(time::UtcOffset::UTC);
    format!(
        "{}-{:02}-{:02} {:02}:{:02} UTC",
        t.year(),
        t.month() as u8,
        t.day(),
        t.hour(),
        t.minute()
    )
}

/// RFC 3339 for `<time datetime>`.
pub(super) fn iso_time(t: OffsetDateTime) -> String {
    t.format(&time::format_description::well_known::Rfc3339)
        .unwrap_or_default()
}

/// Integer micro-USD as dollars.
pub(super) fn fmt_cost(micro: Option<i64>) -> String {
    match micro {
        Some(m) => format!("${:.6}", m as f64 / 1_000_000.0),
        None => "—".into(),
    }
}

pub(super) fn fmt_opt(v: Option<i64>, unit: &str) -> String {
    v.map(|v| format!("{v}{unit}"))
        .unwrap_or_else(|| "—".into())
}

/// A fixed flash message for a `?ok=` code (never echoes user text).
pub(super) fn flash(code: Option<&str>) -> Option<&'static str> {
    Some(match code? {
        "created" => "Prompt created.",
        "saved" => "New version saved.",
        "restored" => "Version restored as the current version.",
        "label" => "Label updated.",
        "unlabel" => "Label removed.",
        "renamed" => "Prompt details updated.",
        "deleted" => "Prompt deleted.",
        "revoked" => "Token revoked.",
        "signedout" => "You are signed out.",
        "dataset" => "Dataset created.",
        "item_added" => "Item added: the dataset has a new version.",
        "item_saved" => "Item saved: the dataset has a new version.",
        "item_deleted" => "Item deleted: older versions keep it.",
        "imported" => "File imported as one new version.",
        "from_run" => "The run was added to this dataset.",
        "experiment" => "Experiment started.",
        "paused" => "Experiment paused: cells in flight finish, no new cell starts.",
        "resumed" => "Experiment resumed.",
        "cancelled" => "Experiment cancelled.",
        "provider_added" => "Provider added.",
        "provider_saved" => "Provider saved.",
        "provider_deleted" => "Provider deleted.",
        "preset_added" => "Preset added.",
        "preset_saved" => "Preset saved.",
        "preset_deleted" => "Preset deleted.",
        _ => return None,
    })
}

/// A form's validation messages, by field.
#[derive(Debug, Default)]
pub(super) struct Errors(pub Vec<(String, String)>);

impl Errors {
    /// The errors to show next to a form's fields when the app refused its
    /// input for a reason the person can fix (invalid, a conflict, a bad
    /// request); any other error goes back, to become an error page.
    pub(super) fn fixable(err: AppError) -> Result<Errors, AppError> {
        match err {
            AppError::Invalid(_) | AppError::Conflict { .. } | AppError::BadRequest(_) => {
                Ok(Errors::of(&err))
            }
            other => Err(other),
        }
    }

    pub(super) fn of(err: &AppError) -> Errors {
        Errors(match err {
            AppError::Conflict { field, message } => vec![(field.to_string(), message.clone())],
            AppError::Invalid(_) => err
                .violations()
                .unwrap_or_default()
                .iter()
                .map(|f| (f.field.clone(), f.message.clone()))
                .collect(),
            other => vec![("form".to_string(), other.to_string())],
        })
    }

    /// The messages for `field` (and its sub-fields such as `field.0`).
    pub(super) fn get(&self, field: &str) -> String {
        self.0
            .iter()
            .filter(|(f, _)| {
                f == field
                    || f.strip_prefix(field)
                        .is_some_and(|rest| rest.starts_with('.') || rest.starts_with('['))
            })
            .map(|(_, m)| m.as_str())
            .collect::<Vec<_>>()
            .join(" ")
    }

    pub(super) fn has(&self, field: &str) -> bool {
        !self.get(field).is_empty()
    }

    pub(super) fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// Messages whose field no form input shows.
    pub(super) fn others(&self, shown: &[&str]) -> Vec<String> {
        self.0
            .iter()
            .filter(|(f, _)| {
                !shown.iter().any(|s| {
                    f == s
                        || f.strip_prefix(s)
                            .is_some_and(|rest| rest.starts_with('.') || rest.starts_with('['))
                })
            })
            .map(|(f, m)| {
                if f == "form" {
                    m.clone()
                } else {
                    format!("{f}: {m}")
                }
            })
            .collect()
    }
}
