//! The storage seam: typed repositories over SQLite (default) or PostgreSQL.
//!
//! [`Store`] is chosen at start-up from the database URL scheme. Each
//! repository (`store.prompts()`, `store.versions()`, …) is a thin view with
//! methods named verb + noun. The SQL of both backends lives side by side in
//! the repository's module: where the text is the same (most of it — SQLite
//! accepts `$1` placeholders) it is written once, and the [`on_backend!`] macro
//! expands the same Rust code once per backend, so each half is compiled
//! against its own concrete sqlx types. Column types are chosen so the same
//! Rust types decode on both (see [`codec`]).
//!
//! SQLite runs in WAL mode with one writer connection and a read pool: writers
//! queue in the pool instead of fighting over `SQLITE_BUSY`, and reads never
//! wait behind a write.

#![warn(clippy::unwrap_used)]

pub mod backup;
pub mod codec;
mod connect;
mod error;
pub mod migrate;
mod notify;
pub mod page;
pub mod transfer;

mod datasets;
mod experiments;
mod instances;
mod labels;
mod presets;
mod prompts;
mod providers;
mod runs;
mod sessions;
mod setup_tokens;
mod throttle;
mod tokens;
mod users;
mod versions;

pub use connect::{Backend, Store, StoreOptions};
pub use datasets::{DatasetPatch, DatasetRepo, ItemsAdded, NewDataset};
pub use error::{Constraint, Result, StoreError};
pub use experiments::{
    CellKey, CellOutcome, CellResult, ClaimedCell, ExperimentFilter, ExperimentRepo, FactSort,
    Finished, ItemFacts, NewExperiment, NewExperimentItem, Reclaimed, ResultFilter, ResultRow,
    ScoredCell,
};
pub use instances::{InstanceRepo, NewInstance, Swept};
pub use labels::{LabelRepo, Pick};
pub use notify::{Change, DeliveryChange, DeliveryListener, ExperimentListener};
pub use page::{Cursor, IdCursor, NumberCursor, Page};
pub use presets::{PRESETS_MAX, PresetRecord, PresetRepo, PresetWrite};
pub use prompts::{NewPrompt, PromptFilter, PromptPatch, PromptRepo};
pub use providers::{
    ModelPrice, PROVIDERS_MAX, ProviderRecord, ProviderRepo, ProviderWrite, Resealed, SealedBytes,
};
pub use runs::{ListedRun, NewRun, RunCell, RunFilter, RunOutcome, RunRepo};
pub use sessions::{SessionRecord, SessionRepo, ValidSession};
pub use setup_tokens::SetupTokenRepo;
pub use throttle::{Attempt, ThrottleRepo, ThrottleState};
pub use tokens::{ApiToken, NewToken, TokenRepo};
pub use users::{UserRecord, UserRepo};
pub use versions::{NewVersion, VersionRepo};

/// Runs the same block against whichever backend the store holds.
///
/// `read` uses the read pool (SQLite) and `write` the single writer; on
/// PostgreSQL both are the one pool. Inside the block `$pool` is the concrete
/// `sqlx::Pool` and `$pg` is `true` on PostgreSQL, for the few statements whose
/// text must differ.
#[macro_export]
#[doc(hidden)]
macro_rules! on_backend {
    // `read` and `write` differ only in which SQLite pool they take.
    (@sqlite_pool $side:ident, $store:expr, |$pool:ident, $pg:ident| $body:expr) => {
        match $store.backend() {
            $crate::Backend::Sqlite { $side, .. } => {
                #[allow(unused_variables)]
                let $pg = false;
                let $pool = $side;
                $body
            }
            $crate::Backend::Postgres(pool) => {
                #[allow(unused_variables)]
                let $pg = true;
                let $pool = pool;
                $body
            }
        }
    };
    ($store:expr, read, |$pool:ident, $pg:ident| $body:expr) => {
        $crate::on_backend!(@sqlite_pool reader, $store, |$pool, $pg| $body)
    };
    ($store:expr, write, |$pool:ident, $pg:ident| $body:expr) => {
        $crate::on_backend!(@sqlite_pool writer, $store, |$pool, $pg| $body)
    };
    // `retry`: a body that is one `Result`, run once more on another
    // connection when PostgreSQL's broke under it (see `StoreError::
    // ConnectionLost`). Only for bodies safe to run twice: a read, or
    // writes in one transaction (a lost connection rolled it back).
    (@retry $side:ident, $store:expr, |$pool:ident, $pg:ident| $body:expr) => {
        match $store.backend() {
            $crate::Backend::Sqlite { $side, .. } => {
                #[allow(unused_variables)]
                let $pg = false;
                let $pool = $side;
                $body
            }
            $crate::Backend::Postgres(pool) => {
                #[allow(unused_variables)]
                let $pg = true;
                let $pool = pool;
                let mut retried = false;
                loop {
                    let result: $crate::Result<_> = async { $body }.await;
                    match result {
                        Err(e) if !retried && e.is_connection_lost() => {
                            retried = true;
                            $store.note_connection_lost();
                            ::tracing::debug!(error = %e, "database connection lost; running once more on another");
                        }
                        other => break other,
                    }
                }
            }
        }
    };
    ($store:expr, read_retry, |$pool:ident, $pg:ident| $body:expr) => {
        $crate::on_backend!(@retry reader, $store, |$pool, $pg| $body)
    };
    ($store:expr, write_retry, |$pool:ident, $pg:ident| $body:expr) => {
        $crate::on_backend!(@retry writer, $store, |$pool, $pg| $body)
    };
}
