//! One error type for every use case. The web layer renders it as the API
//! envelope or as a page; it never carries internal details to a user.

use promptrefine_core::validate::{FieldError, Violations};
use promptrefine_store::{Constraint, StoreError};
use thiserror::Error;

pub type Result<T, E = AppError> = std::result::Result<T, E>;

#[derive(Debug, Error)]
pub enum AppError {
    /// Input broke one or more rules (422), each naming its field.
    #[error("{0}")]
    Invalid(Violations),
    /// An imported file broke rules on one line (422): the 1-based line
    /// and each broken rule, its field naming the column.
    #[error("line {line}: {violations}")]
    InvalidImport { line: u64, violations: Violations },
    /// The named thing does not exist (404).
    #[error("{0} not found")]
    NotFound(&'static str),
    /// A unique value is taken (409).
    #[error("{message}")]
    Conflict {
        field: &'static str,
        message: String,
    },
    /// Wrong or missing credentials (401).
    #[error("{0}")]
    Unauthorized(&'static str),
    /// Signed in, but not allowed (403).
    #[error("{0}")]
    Forbidden(&'static str),
    /// Too many attempts; try again after this many seconds (429).
    #[error("too many attempts; try again in {retry_after_secs} s")]
    Throttled { retry_after_secs: u64 },
    /// The cap on runs in flight is reached (429 `too_many_runs`).
    #[error("too many runs in flight ({0}); try again when one finishes")]
    TooManyRuns(usize),
    /// Rendering would make more than `limit` bytes (422 `rendered_too_large`);
    /// `field` is `variables` or `content`, whichever made it too large.
    #[error("the rendered prompt would be larger than {limit} bytes; shorten the {field}")]
    RenderedTooLarge { field: &'static str, limit: usize },
    /// The request is well-formed but cannot be done in the current state (409/400).
    #[error("{0}")]
    BadRequest(String),
    /// The database is unreachable or overloaded (503).
    #[error("the database is unavailable; try again shortly")]
    Unavailable(String),
    /// The database's disk is full; nothing was saved (507). The detail is logged only.
    #[error("the database's disk is full; nothing was saved")]
    StorageFull(String),
    /// A bug or an unexpected failure (500); the detail is logged only.
    #[error("internal error")]
    Internal(String),
}

impl AppError {
    /// A 422 with one violation.
    pub fn invalid(field: &str, rule: &str, message: impl Into<String>) -> AppError {
        let mut v = Violations::default();
        v.push(field, rule, message.into());
        AppError::Invalid(v)
    }

    pub fn violations(&self) -> Option<&[FieldError]> {
        match self {
            AppError::Invalid(v) => Some(&v.0),
            _ => None,
        }
    }
}

impl From<StoreError> for AppError {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::NotFound => AppError::NotFound("record"),
            StoreError::Conflict(c) => conflict(c),
            StoreError::StorageFull(m) => AppError::StorageFull(m),
            StoreError::Unavailable(m) | StoreError::ConnectionLost(m) => AppError::Unavailable(m),
            StoreError::Other(e) => AppError::Internal(e.to_string()),
        }
    }
}

/// A broken constraint as the field a user can correct. Use cases that know
/// more (the slug they tried) map the constraints they expect themselves.
fn conflict(c: Constraint) -> AppError {
    let (field, message) = match c {
        Constraint::UserEmail => ("email", "a user with this email already exists".to_string()),
        Constraint::PromptSlug => ("slug", "this slug is already taken".to_string()),
        Constraint::Label => ("label", "this label already exists".to_string()),
        Constraint::VersionNumber => (
            "version",
            "another save took this version number; try again".to_string(),
        ),
        // Something the write refers to was deleted meanwhile.
        Constraint::MissingReference => return AppError::NotFound("referenced record"),
        // 256-bit random values do not collide; a clash is a bug, not user input.
        Constraint::TokenHash => {
            return AppError::Internal(format!("unexpected conflict on {c:?}"));
        }
        Constraint::DatasetName => (
            "name",
            "a dataset with this name already exists".to_string(),
        ),
        Constraint::DatasetSlug => ("slug", "this dataset slug is already taken".to_string()),
        Constraint::ProviderName => (
            "name",
            "a provider with this name already exists".to_string(),
        ),
        Constraint::PresetName => (
            "name",
            "a model preset with this name already exists".to_string(),
        ),
        Constraint::ItemRevision => (
            "item",
            "another change of this item won; read it and try again".to_string(),
        ),
        Constraint::Other(_) => ("record", "this record already exists".to_string()),
    };
    AppError::Conflict { field, message }
}

/// Maps a store result's NotFound to the name of what was looked for.
pub(crate) trait OrNotFound<T> {
    fn or_not_found(self, what: &'static str) -> Result<T>;
}

impl<T> OrNotFound<T> for std::result::Result<T, StoreError> {
    fn or_not_found(self, what: &'static str) -> Result<T> {
        self.map_err(|e| match e {
            StoreError::NotFound => AppError::NotFound(what),
            other => other.into(),
        })
    }
}

/// Turns collected violations into a result.
pub(crate) fn check(v: Violations) -> Result<()> {
    v.into_result().map_err(AppError::Invalid)
}
