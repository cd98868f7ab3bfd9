//! The small error vocabulary every repository speaks.
//!
//! Database errors are classified here, once, at the bottom: a unique or
//! foreign-key violation names the [`Constraint`] it broke, a full disk is
//! [`StoreError::StorageFull`], and "try again later" conditions are
//! [`StoreError::Unavailable`]. The layers above match on these variants and
//! never on message text.

use thiserror::Error;

pub type Result<T, E = StoreError> = std::result::Result<T, E>;

#[derive(Debug, Error)]
pub enum StoreError {
    #[error("not found")]
    NotFound,
    /// A unique key or a foreign key was violated.
    #[error("conflict on {0:?}")]
    Conflict(Constraint),
    /// The database's disk (or SQLite's file system) is full; nothing was written.
    #[error("storage full: {0}")]
    StorageFull(String),
    /// The database cannot be reached or is overloaded (maps to 503).
    #[error("database unavailable: {0}")]
    Unavailable(String),
    /// The connection broke under the statement (PostgreSQL's 08xxx and
    /// 57P01/57P02, or an I/O error): unavailable to the caller, but worth
    /// one more try on another connection (`on_backend!`'s `*_retry`).
    #[error("database connection lost: {0}")]
    ConnectionLost(String),
    /// Anything else; logged, never shown to a user.
    #[error("database error: {0}")]
    Other(#[source] sqlx::Error),
}

/// The constraints a write can break, named once for both backends.
///
/// PostgreSQL reports the constraint's name (`prompts_slug_key`); SQLite
/// reports the columns (`UNIQUE constraint failed: prompts.slug`). Both are
/// mapped here, so the app can turn a named constraint into a field error.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Constraint {
    /// `users.email`
    UserEmail,
    /// `api_tokens.token_hash`
    TokenHash,
    /// `prompts.slug`
    PromptSlug,
    /// `prompt_versions (prompt_id, number)`
    VersionNumber,
    /// `prompt_labels (prompt_id, label)`
    Label,
    /// `datasets.name`
    DatasetName,
    /// `datasets.slug`
    DatasetSlug,
    /// `providers.name`
    ProviderName,
    /// `model_presets.name`
    PresetName,
    /// `dataset_items (dataset_id, item_id) where valid_to is null`: two
    /// current revisions of one item (a concurrent edit lost the race).
    ItemRevision,
    /// A row that the write refers to does not exist (any foreign key;
    /// SQLite does not say which).
    MissingReference,
    /// A unique key not named above; its name (or SQLite's column list) for logs.
    Other(String),
}

impl Constraint {
    /// Classifies a unique violation from PostgreSQL's constraint name or
    /// SQLite's message.
    fn unique(pg_name: Option<&str>, message: &str) -> Constraint {
        let key = match pg_name {
            Some(name) => name,
            None => message
                .strip_prefix("UNIQUE constraint failed: ")
                .unwrap_or(message),
        };
        match key {
            "users_email_key" | "users.email" => Constraint::UserEmail,
            "api_tokens_token_hash_key" | "api_tokens.token_hash" => Constraint::TokenHash,
            "prompts_slug_key" | "prompts.slug" => Constraint::PromptSlug,
            "prompt_versions_prompt_id_number_key"
            | "prompt_versions.prompt_id, prompt_versions.number" => Constraint::VersionNumber,
            "prompt_labels_pkey" | "prompt_labels.prompt_id, prompt_labels.label" => {
                Constraint::Label
            }
            "datasets_name_key" | "datasets.name" => Constraint::DatasetName,
            "datasets_slug_key" | "datasets.slug" => Constraint::DatasetSlug,
            "providers_name_key" | "providers.name" => Constraint::ProviderName,
            "model_presets_name_key" | "model_presets.name" => Constraint::PresetName,
            "dataset_items_current_idx" | "dataset_items.dataset_id, dataset_items.item_id" => {
                Constraint::ItemRevision
            }
            other => Constraint::Other(other.to_string()),
        }
    }
}

impl StoreError {
    /// A statement's connection broke: another connection may succeed.
    pub fn is_connection_lost(&self) -> bool {
        matches!(self, StoreError::ConnectionLost(_))
    }
}

impl From<sqlx::Error> for StoreError {
    fn from(e: sqlx::Error) -> Self {
        match e {
            sqlx::Error::RowNotFound => StoreError::NotFound,
            sqlx::Error::Database(ref db) if db.is_unique_violation() => {
                StoreError::Conflict(Constraint::unique(db.constraint(), db.message()))
            }
            sqlx::Error::Database(ref db) if db.is_foreign_key_violation() => {
                StoreError::Conflict(Constraint::MissingReference)
            }
            sqlx::Error::Database(ref db) if is_lost(db.code().as_deref()) => {
                StoreError::ConnectionLost(db.message().to_string())
            }
            sqlx::Error::Database(ref db) if is_full(db.code().as_deref(), db.message()) => {
                StoreError::StorageFull(db.message().to_string())
            }
            sqlx::Error::Database(ref db) if is_busy(db.code().as_deref(), db.message()) => {
                StoreError::Unavailable(db.message().to_string())
            }
            sqlx::Error::Io(ref io) if io.raw_os_error() == Some(ENOSPC) => {
                StoreError::StorageFull(e.to_string())
            }
            sqlx::Error::Io(_) => StoreError::ConnectionLost(e.to_string()),
            sqlx::Error::PoolTimedOut
            | sqlx::Error::PoolClosed
            | sqlx::Error::Tls(_)
            | sqlx::Error::WorkerCrashed => StoreError::Unavailable(e.to_string()),
            other => StoreError::Other(other),
        }
    }
}

/// Linux's "no space left on device".
const ENOSPC: i32 = 28;

/// SQLite's `SQLITE_FULL`; PostgreSQL's `53100 disk_full`, or an internal
/// error whose cause is the file system saying ENOSPC.
fn is_full(code: Option<&str>, message: &str) -> bool {
    match code {
        Some(c) if sqlite_primary_code(c) == Some(13) => true,
        Some("53100") => true,
        _ => message.contains("No space left on device"),
    }
}

/// PostgreSQL ended this connection: 08xxx connection exceptions, and
/// 57P01/57P02 (terminated by an administrator, or after another backend's
/// crash). Not 57P03 ("cannot connect now"): that refuses a new connection,
/// and another try would be refused too.
fn is_lost(code: Option<&str>) -> bool {
    code.is_some_and(|c| c.starts_with("08") || c == "57P01" || c == "57P02")
}

/// SQLite's busy/locked codes and PostgreSQL's connection and shutdown classes
/// mean "try again later", not "your request is wrong".
fn is_busy(code: Option<&str>, message: &str) -> bool {
    match code {
        // SQLITE_BUSY, SQLITE_LOCKED (extended codes keep the low byte)
        Some(c) if sqlite_primary_code(c).is_some_and(|n| matches!(n, 5 | 6)) => true,
        // 08xxx connection exceptions, 57Pxx operator intervention, 53xxx insufficient resources
        Some(c) => {
            c.starts_with("08")
                || c.starts_with("57P")
                || c.starts_with("53")
                // A database closed to connections (`allow_connections false`
                // during maintenance) refuses new ones with 55000.
                || (c == "55000" && message.contains("not currently accepting connections"))
        }
        None => message.contains("database is locked"),
    }
}

/// SQLite reports numeric (extended) result codes; PostgreSQL five-character
/// SQLSTATEs, which never parse as a number... except all-digit ones such as
/// `53100`, which are too large to be an SQLite code.
fn sqlite_primary_code(code: &str) -> Option<i32> {
    code.parse::<i32>()
        .ok()
        .filter(|n| *n < 10_000 && code.len() < 5)
        .map(|n| n & 0xff)
}

/// `NotFound` when a write touched no row (the thing it names is not there,
/// or not in the state the write needs).
pub(crate) fn found(rows_affected: u64) -> Result<()> {
    if rows_affected == 0 {
        Err(StoreError::NotFound)
    } else {
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unique_violations_name_their_constraint_on_both_backends() {
        let cases = [
            (Some("prompts_slug_key"), "", Constraint::PromptSlug),
            (
                None,
                "UNIQUE constraint failed: prompts.slug",
                Constraint::PromptSlug,
            ),
            (Some("users_email_key"), "", Constraint::UserEmail),
            (
                None,
                "UNIQUE constraint failed: users.email",
                Constraint::UserEmail,
            ),
            (
                None,
                "UNIQUE constraint failed: prompt_versions.prompt_id, prompt_versions.number",
                Constraint::VersionNumber,
            ),
            (
                None,
                "UNIQUE constraint failed: datasets.name",
                Constraint::DatasetName,
            ),
            (Some("datasets_slug_key"), "", Constraint::DatasetSlug),
            (Some("providers_name_key"), "", Constraint::ProviderName),
            (
                None,
                "UNIQUE constraint failed: providers.name",
                Constraint::ProviderName,
            ),
            (
                Some("something_new_key"),
                "",
                Constraint::Other("something_new_key".into()),
            ),
        ];
        for (name, message, want) in cases {
            assert_eq!(
                Constraint::unique(name, message),
                want,
                "{name:?} {message}"
            );
        }
    }

    #[test]
    fn full_disks_are_told_apart_from_busy_databases() {
        // SQLITE_FULL and an extended code with the same low byte.
        assert!(is_full(Some("13"), "database or disk is full"));
        assert!(is_full(Some("53100"), "could not extend file"));
        assert!(is_full(
            Some("XX000"),
            "could not write: No space left on device"
        ));
        assert!(!is_full(Some("5"), "database is locked"));
        assert!(!is_busy(Some("13"), "database or disk is full"));
        assert!(is_busy(Some("5"), "database is locked"));
        assert!(is_busy(Some("261"), "database is locked")); // SQLITE_BUSY_RECOVERY
        assert!(is_busy(Some("57P01"), "terminating connection"));
        // 53100 is PostgreSQL's disk_full, not SQLite code 53100 & 0xff.
        assert_eq!(sqlite_primary_code("53100"), None);
    }
}
