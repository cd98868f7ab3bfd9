//! Watches: applications that hold a stream open to hear when what a label
//! resolves to changes. Each `(slug, label)` watched has one slot with a
//! `tokio::sync::watch` channel; every watcher of it holds a receiver (a few
//! hundred bytes), and a change re-reads the key once for all of them. No
//! task runs per watcher or per key while nothing changes.

use std::sync::atomic::{AtomicU64, Ordering};

use promptrefine_core::PromptId;
use tokio::sync::watch as channel;

use super::{AnswerKey, Selector, etag};
use crate::App;
use crate::error::{AppError, Result};

/// What watchers see: the answer's ETag, or `None` once the label no longer
/// resolves (the prompt or the label was deleted).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Watched {
    pub etag: Option<String>,
    pub version: Option<i64>,
    /// The refresh that produced this value: an older refresh that finishes
    /// later never overwrites it.
    seq: u64,
}

pub(crate) struct Slot {
    tx: channel::Sender<Watched>,
    /// The prompt the key resolved to at the last read; `None` when it did
    /// not resolve (then any prompt change may concern it: a create or
    /// re-slug can give the slug a prompt).
    prompt: Option<PromptId>,
}

/// Orders refreshes across all keys.
static SEQ: AtomicU64 = AtomicU64::new(1);

impl App {
    /// A receiver of changes to what `label` of `slug` resolves to, holding
    /// the current value. 404 when it does not resolve now.
    pub async fn watch(
        &self,
        slug: &str,
        label: Option<&str>,
    ) -> Result<channel::Receiver<Watched>> {
        let selector = Selector::parse(label, None)?;
        let key = AnswerKey {
            slug: slug.to_owned(),
            selector,
        };
        let seq = SEQ.fetch_add(1, Ordering::AcqRel);
        let resolved = self.pick(&key.slug, &key.selector).await?;
        let value = Watched {
            etag: Some(etag(&resolved, &key.selector)),
            version: Some(resolved.version.version),
            seq,
        };
        let mut slots = self
            .delivery
            .watches
            .lock()
            .unwrap_or_else(|e| e.into_inner());
        let slot = slots.entry(key).or_insert_with(|| Slot {
            tx: channel::Sender::new(value.clone()),
            prompt: Some(resolved.prompt.id),
        });
        slot.prompt = Some(resolved.prompt.id);
        apply(&slot.tx, value);
        Ok(slot.tx.subscribe())
    }

    /// Re-reads the watched keys `changed` may concern (every key when
    /// `None`), once each, in the background; drops slots nobody watches.
    pub(crate) fn refresh_watches(&self, changed: Option<PromptId>) {
        let keys: Vec<AnswerKey> = {
            let mut slots = self
                .delivery
                .watches
                .lock()
                .unwrap_or_else(|e| e.into_inner());
            slots.retain(|_, s| s.tx.receiver_count() > 0);
            slots
                .iter()
                .filter(|(_, s)| changed.is_none() || s.prompt.is_none() || s.prompt == changed)
                .map(|(k, _)| k.clone())
                .collect()
        };
        if keys.is_empty() {
            return;
        }
        let app = self.clone();
        tokio::spawn(async move {
            for key in keys {
                app.refresh_watch(key).await;
            }
        });
    }

    async fn refresh_watch(&self, key: AnswerKey) {
        let seq = SEQ.fetch_add(1, Ordering::AcqRel);
        let (value, prompt) = match self.pick(&key.slug, &key.selector).await {
            Ok(r) => (
                Watched {
                    etag: Some(etag(&r, &key.selector)),
                    version: Some(r.version.version),
                    seq,
                },
                Some(r.prompt.id),
            ),
            Err(AppError::NotFound(_)) => (
                Watched {
                    etag: None,
                    version: None,
                    seq,
                },
                None,
            ),
            Err(e) => {
                // The next change or resync reads it again; watchers keep
                // the last value they were sent.
                tracing::warn!(error = %e, "a watch could not be refreshed");
                return;
            }
        };
        let mut slots = self
            .delivery
            .watches
            .lock()
            .unwrap_or_else(|e| e.into_inner());
        if let Some(slot) = slots.get_mut(&key) {
            apply(&slot.tx, value);
            slot.prompt = prompt;
        }
    }

    /// How many keys are watched (tests, metrics).
    pub fn watched_keys(&self) -> usize {
        let slots = self
            .delivery
            .watches
            .lock()
            .unwrap_or_else(|e| e.into_inner());
        slots.len()
    }
}

/// Stores `value` unless a newer refresh already did; wakes the watchers only
/// when the ETag changed.
fn apply(tx: &channel::Sender<Watched>, value: Watched) {
    tx.send_if_modified(|cur| {
        if value.seq <= cur.seq {
            return false;
        }
        let changed = cur.etag != value.etag;
        *cur = value;
        changed
    });
}
