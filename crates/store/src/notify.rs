//! Changes other instances should hear of at once, not at their next poll.
//!
//! On PostgreSQL a write that starts, pauses, resumes or cancels an
//! experiment sends `NOTIFY promptrefine_experiments, '<id>'` (in its
//! transaction where it has one, so the note goes out only if the change
//! commits), and every instance's engine `LISTEN`s: a cancel through one
//! replica reaches the cells another is running within milliseconds, and a
//! new experiment is claimed by every replica at once. Notes are hints, never
//! the truth: a listener that reconnects has missed some, so it says so
//! ([`Change::Missed`]) and the engine reads the state again, and the engine
//! polls anyway. SQLite is one host's file, and its instances poll.

use promptrefine_core::ExperimentId;
use sqlx::postgres::PgListener;

use crate::error::Result;
use crate::{Backend, Store};

/// The channel of experiment changes.
pub(crate) const EXPERIMENTS_CHANNEL: &str = "promptrefine_experiments";

/// Sends the note of a change to experiment `id` (PostgreSQL only; a no-op
/// statement is not sent on SQLite). `executor` is the change's transaction.
macro_rules! notify_experiment {
    ($executor:expr, $pg:expr, $id:expr) => {
        if $pg {
            sqlx::query("select pg_notify($1, $2)")
                .bind($crate::notify::EXPERIMENTS_CHANNEL)
                .bind($id.0.to_string())
                .execute($executor)
                .await?;
        }
    };
}
pub(crate) use notify_experiment;

/// What a listener heard.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Change {
    /// This experiment changed.
    Experiment(ExperimentId),
    /// The connection was lost and is back: notes may have been missed.
    Missed,
}

/// A `LISTEN` on the experiments channel (its own connection).
pub struct ExperimentListener(PgListener);

impl std::fmt::Debug for ExperimentListener {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("ExperimentListener")
    }
}

impl Store {
    /// A listener for experiment changes; `None` on SQLite (poll instead).
    pub async fn listen_experiments(&self) -> Result<Option<ExperimentListener>> {
        match self.backend() {
            Backend::Sqlite { .. } => Ok(None),
            Backend::Postgres(pool) => {
                let mut listener = PgListener::connect_with(pool).await?;
                // A pool closing at shutdown ends the wait with an error the
                // engine treats as "stop listening".
                listener.listen(EXPERIMENTS_CHANNEL).await?;
                Ok(Some(ExperimentListener(listener)))
            }
        }
    }
}

impl ExperimentListener {
    /// The next change. Notes that do not name an experiment are skipped.
    pub async fn next(&mut self) -> Result<Change> {
        loop {
            match self.0.try_recv().await? {
                None => return Ok(Change::Missed),
                Some(note) => {
                    if let Ok(id) = note.payload().parse::<ExperimentId>() {
                        return Ok(Change::Experiment(id));
                    }
                }
            }
        }
    }
}
