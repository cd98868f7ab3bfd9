//! Export and import in a portable format, so a database can move between
//! SQLite and PostgreSQL (either way) without losing a version or a run.
//!
//! The format (documented in `docs/export-format.md`) is JSON Lines: a header
//! line, then one record per row, parents before children, each table in id
//! order. Ids and times are written exactly, so export → import → export gives
//! the same bytes apart from the header's `exportedAt`.
//!
//! Raw row access lives here, in the store, because it has to see columns the
//! repositories hide on purpose (`next_version`, password and token hashes)
//! and write rows with their original ids and times.
//!
//! * [`Store::export`] reads inside one read transaction (a snapshot), so
//!   the file is consistent while the server keeps writing, and streams rows in
//!   keyset pages: memory does not grow with the database.
//! * [`Store::import`] writes inside one transaction: a bad line anywhere
//!   leaves the target exactly as it was. It refuses a target that already has
//!   a user or a prompt.

mod export;
mod import;
mod records;

use serde::{Deserialize, Serialize};
use thiserror::Error;

use crate::StoreError;

/// The `format` value of the header line.
pub const FORMAT: &str = "promptrefine-export";
/// The format version this binary writes and reads.
pub const VERSION: u32 = 1;

/// Records per kind, in the header and in the result of both directions.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Counts {
    pub users: u64,
    pub prompts: u64,
    pub versions: u64,
    pub labels: u64,
    pub runs: u64,
    pub api_tokens: u64,
    /// Providers added in the app; absent in files from before them.
    #[serde(default)]
    pub providers: u64,
    /// Model presets; absent in files from before them.
    #[serde(default)]
    pub presets: u64,
}

impl Counts {
    pub fn total(&self) -> u64 {
        self.users
            + self.prompts
            + self.versions
            + self.labels
            + self.runs
            + self.api_tokens
            + self.providers
            + self.presets
    }
}

impl std::fmt::Display for Counts {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} users, {} prompts, {} versions, {} labels, {} runs, {} API tokens, {} providers, {} model presets",
            self.users,
            self.prompts,
            self.versions,
            self.labels,
            self.runs,
            self.api_tokens,
            self.providers,
            self.presets
        )
    }
}

/// The first line of a file.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Header {
    pub format: String,
    pub version: u32,
    /// RFC 3339; the only part of a file that changes between two exports
    /// of the same data.
    pub exported_at: String,
    /// `sqlite` or `postgres`.
    pub source: String,
    /// Whether password and API token hashes are in the file.
    #[serde(default)]
    pub includes_secrets: bool,
    pub counts: Counts,
}

#[derive(Clone, Copy, Debug)]
pub struct ExportOptions {
    /// Adds users' password hashes and API token hashes. Sessions, setup
    /// tokens and login throttling rows are never exported.
    pub include_secrets: bool,
    /// Rows per keyset page (memory use is about one page).
    pub page_size: u32,
}

impl Default for ExportOptions {
    fn default() -> Self {
        Self {
            include_secrets: false,
            page_size: 500,
        }
    }
}

/// How far an export or import is, for a progress bar: records done out of
/// the header's total.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Progress {
    pub done: u64,
    pub total: u64,
}

/// Why an export or import failed. Import errors about the file name the
/// 1-based line.
#[derive(Debug, Error)]
pub enum TransferError {
    #[error("line {line}: {message}")]
    Line { line: u64, message: String },
    #[error("invalid file: {0}")]
    File(String),
    #[error(
        "the target database is not empty ({users} users, {prompts} prompts); import only into a new, migrated database"
    )]
    NotEmpty { users: i64, prompts: i64 },
    #[error("cannot read or write the file: {0}")]
    Io(#[from] std::io::Error),
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl From<sqlx::Error> for TransferError {
    fn from(e: sqlx::Error) -> Self {
        TransferError::Store(e.into())
    }
}

pub type TransferResult<T> = std::result::Result<T, TransferError>;
