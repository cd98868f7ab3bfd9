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

use promptrefine_core::{ExperimentId, PromptId, TokenId, UserId};
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

/// The channel of changes to what applications fetch (`by-slug`, a pinned
/// version, a token lookup); see the delivery cache in `app`.
pub(crate) const DELIVERY_CHANNEL: &str = "promptrefine_delivery";

/// Sends a delivery note (PostgreSQL only) inside the change's transaction
/// `executor`: `$payload` is `p:<prompt id>`, `t:<token id>` or `u:<user id>`
/// (every token of the user), built by [`delivery_payload`].
macro_rules! notify_delivery {
    ($executor:expr, $pg:expr, $payload:expr) => {
        if $pg {
            sqlx::query("select pg_notify($1, $2)")
                .bind($crate::notify::DELIVERY_CHANNEL)
                .bind($payload)
                .execute($executor)
                .await?;
        }
    };
}
pub(crate) use notify_delivery;

/// What a delivery note says changed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DeliveryChange {
    /// Anything a prompt's answers are made of: its slug, title, tags,
    /// current version, labels, or the prompt itself (deleted).
    Prompt(PromptId),
    /// A token was revoked.
    Token(TokenId),
    /// Every token of the user was revoked (a password reset).
    UserTokens(UserId),
    /// The connection was lost and is back: notes may have been missed.
    Missed,
}

/// The text of a note, and its parse (the two halves of one format).
pub(crate) fn delivery_payload(change: DeliveryChange) -> String {
    match change {
        DeliveryChange::Prompt(id) => format!("p:{id}"),
        DeliveryChange::Token(id) => format!("t:{id}"),
        DeliveryChange::UserTokens(id) => format!("u:{id}"),
        DeliveryChange::Missed => String::new(),
    }
}

fn parse_delivery(payload: &str) -> Option<DeliveryChange> {
    let (kind, id) = payload.split_once(':')?;
    match kind {
        "p" => id.parse().ok().map(DeliveryChange::Prompt),
        "t" => id.parse().ok().map(DeliveryChange::Token),
        "u" => id.parse().ok().map(DeliveryChange::UserTokens),
        _ => None,
    }
}

/// A `LISTEN` on the delivery channel (its own connection). Unlike the
/// experiments listener it does not reconnect by itself: the cache must
/// know the moment it is deaf, so [`DeliveryListener::next`] returns an
/// error or `Missed` and the caller connects a new one.
pub struct DeliveryListener(PgListener);

impl std::fmt::Debug for DeliveryListener {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("DeliveryListener")
    }
}

impl Store {
    /// A listener for delivery changes; `None` on SQLite, where every writer
    /// is this process (the cache is told directly).
    pub async fn listen_delivery(&self) -> Result<Option<DeliveryListener>> {
        match self.backend() {
            Backend::Sqlite { .. } => Ok(None),
            Backend::Postgres(pool) => {
                let mut listener = PgListener::connect_with(pool).await?;
                listener.listen(DELIVERY_CHANNEL).await?;
                Ok(Some(DeliveryListener(listener)))
            }
        }
    }
}

impl DeliveryListener {
    /// The next change; `Missed` when the connection was lost (the caller
    /// drops this listener and connects a new one).
    pub async fn next(&mut self) -> Result<DeliveryChange> {
        loop {
            match self.0.try_recv().await? {
                None => return Ok(DeliveryChange::Missed),
                Some(note) => {
                    if let Some(change) = parse_delivery(note.payload()) {
                        return Ok(change);
                    }
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_delivery_note_reads_back_as_the_change_it_was_made_of() {
        for change in [
            DeliveryChange::Prompt(PromptId::new()),
            DeliveryChange::Token(TokenId::new()),
            DeliveryChange::UserTokens(UserId::new()),
        ] {
            assert_eq!(parse_delivery(&delivery_payload(change)), Some(change));
        }
        assert_eq!(parse_delivery("x:1"), None);
        assert_eq!(parse_delivery("p:not-an-id"), None);
    }
}
