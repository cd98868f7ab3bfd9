//! Delivery: what applications fetch on their hot path — a prompt's version
//! by `(slug, label)` or `(slug, version number)`, and the API-token lookup
//! — answered from memory, and never staler than a notification takes.
//!
//! - A miss reads the prompt and the picked version in one query
//!   (`LabelRepo::pick_by_slug`); the answer is kept with its ETag and its
//!   serialized body (the web layer serializes it, so a hit is a copy of
//!   bytes), so a hit — 200 or 304 — makes no query.
//! - Every write that can change an answer goes through a use case that
//!   forgets the prompt's answers after it commits (this process), and the
//!   store sends `NOTIFY promptrefine_delivery` in the write's transaction
//!   (PostgreSQL), which every replica's listener ([`listener`]) applies.
//! - A generation counter, bumped by every forget, makes a miss that raced
//!   with a write drop its (possibly old) answer instead of caching it.
//! - While the listener is not connected (before the first connect, after
//!   a drop, until it has listened again and cleared everything) the cache
//!   neither serves nor stores: every request reads the database.
//! - Watchers ([`watch`]) share one `tokio::sync::watch` channel per
//!   `(slug, label)`; a change re-reads that key once, whatever the number
//!   of watchers.

pub mod listener;
pub mod watch;

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, Instant};

use bytes::Bytes;
use promptrefine_core::validate::limits::RESERVED_LABEL;
use promptrefine_core::{LabelName, PromptId, Slug, TokenId, UserId};
use promptrefine_store::Pick;
use sha2::{Digest, Sha256};
use time::OffsetDateTime;
use tokio_util::sync::CancellationToken;

use crate::App;
use crate::error::{AppError, Result};
use crate::prompts::{PromptDetail, Resolved};

/// How long a token lookup is trusted without the database. Revokes through
/// any server process reach the cache at once (directly, or by `NOTIFY`);
/// this bound is for writers that are not servers (`promptrefine user
/// reset-password` on SQLite).
pub const TOKEN_TTL: Duration = Duration::from_secs(10);

/// Entries kept before the cache starts again from empty. An answer is a few
/// KiB, so this caps the cache at tens of MiB; a deployment with more
/// distinct keys than this pays a miss now and then, never unbounded memory.
const MAX_ENTRIES: usize = 10_000;

/// What an application asks for: the version a label (or `current`) points
/// at, or a version by number.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum Selector {
    Label(String),
    Number(i64),
}

impl Selector {
    /// `label` or `version` from a request; neither means `current`, both is a 422.
    pub fn parse(label: Option<&str>, version: Option<i64>) -> Result<Selector> {
        match (label.filter(|l| !l.is_empty()), version) {
            (Some(_), Some(_)) => Err(AppError::invalid(
                "version",
                "oneOf",
                "ask for a label or a version, not both",
            )),
            (_, Some(n)) => Ok(Selector::Number(n)),
            (Some(l), None) => Ok(Selector::Label(l.to_owned())),
            (None, None) => Ok(Selector::Label(RESERVED_LABEL.to_owned())),
        }
    }

    /// The part of the ETag that names the selector (labels as before, so
    /// ETags from before the cache stay valid).
    fn tag(&self) -> String {
        match self {
            Selector::Label(l) => l.clone(),
            Selector::Number(n) => format!("#{n}"),
        }
    }
}

/// The key of a cached answer.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct AnswerKey {
    pub slug: String,
    pub selector: Selector,
}

/// A cached answer: the serialized body and its ETag.
#[derive(Debug)]
pub struct Delivered {
    pub prompt_id: PromptId,
    /// Quoted, as it goes into the `ETag` header.
    pub etag: String,
    pub body: Bytes,
}

#[derive(Clone, Debug)]
struct TokenEntry {
    token_id: TokenId,
    user_id: UserId,
    expires_at: Option<OffsetDateTime>,
    last_used_at: Option<OffsetDateTime>,
    cached_at: Instant,
}

#[derive(Default)]
struct Entries {
    answers: HashMap<AnswerKey, Arc<Delivered>>,
    /// `GET /api/prompts/{id}` (the prompt, its current version and
    /// labels), by the id or slug it was asked by.
    details: HashMap<String, Arc<Delivered>>,
    /// By the token's SHA-256 hex.
    tokens: HashMap<String, TokenEntry>,
}

/// The cache one process shares between its requests.
pub struct Delivery {
    entries: RwLock<Entries>,
    /// Bumped by every forget: a miss stores its answer only if none happened
    /// while it read.
    generation: AtomicU64,
    /// False while changes could go unheard (PostgreSQL listener down).
    serving: AtomicBool,
    watches: Mutex<HashMap<AnswerKey, watch::Slot>>,
    /// Cancelled when the server begins to shut down: watch streams end, so
    /// they do not hold the graceful shutdown for its whole grace period.
    closing: CancellationToken,
}

impl Delivery {
    /// `serving` from the start on SQLite (every writer is this process);
    /// on PostgreSQL only once the listener is up.
    pub(crate) fn new(serving: bool) -> Delivery {
        Delivery {
            entries: RwLock::default(),
            generation: AtomicU64::new(0),
            serving: AtomicBool::new(serving),
            watches: Mutex::default(),
            closing: CancellationToken::new(),
        }
    }

    /// Whether answers come from memory now.
    pub fn is_serving(&self) -> bool {
        self.serving.load(Ordering::Acquire)
    }

    /// Cancelled at shutdown (see [`Delivery::close_watches`]).
    pub fn closing(&self) -> CancellationToken {
        self.closing.clone()
    }

    /// Ends every watch stream (the server is stopping).
    pub fn close_watches(&self) {
        self.closing.cancel();
    }

    fn generation(&self) -> u64 {
        self.generation.load(Ordering::Acquire)
    }

    fn entries(&self) -> std::sync::RwLockWriteGuard<'_, Entries> {
        // A panic while holding the lock leaves plain maps behind: still valid.
        self.entries.write().unwrap_or_else(|e| e.into_inner())
    }

    fn answer(&self, key: &AnswerKey) -> Option<Arc<Delivered>> {
        if !self.is_serving() {
            return None;
        }
        let entries = self.entries.read().unwrap_or_else(|e| e.into_inner());
        entries.answers.get(key).cloned()
    }

    fn store_answer(&self, generation: u64, key: AnswerKey, answer: Arc<Delivered>) {
        self.store_entry(generation, |e| bounded_insert(&mut e.answers, key, answer));
    }

    fn detail(&self, asked: &str) -> Option<Arc<Delivered>> {
        if !self.is_serving() {
            return None;
        }
        let entries = self.entries.read().unwrap_or_else(|e| e.into_inner());
        entries.details.get(asked).cloned()
    }

    fn store_detail(&self, generation: u64, asked: String, answer: Arc<Delivered>) {
        self.store_entry(generation, |e| {
            bounded_insert(&mut e.details, asked, answer)
        });
    }

    /// Runs `put` unless the cache is not serving or a forget happened since
    /// `generation` was read: checked under the lock, which a forget takes
    /// too, so none can slip in between this check and the insert.
    fn store_entry(&self, generation: u64, put: impl FnOnce(&mut Entries)) {
        let mut entries = self.entries();
        if !self.is_serving() || self.generation() != generation {
            return;
        }
        put(&mut entries);
    }

    fn token(&self, hash: &str) -> Option<TokenEntry> {
        if !self.is_serving() {
            return None;
        }
        let entries = self.entries.read().unwrap_or_else(|e| e.into_inner());
        entries
            .tokens
            .get(hash)
            .filter(|t| t.cached_at.elapsed() < TOKEN_TTL)
            .cloned()
    }

    fn store_token(&self, generation: u64, hash: String, entry: TokenEntry) {
        let mut entries = self.entries();
        if !self.is_serving() || self.generation() != generation {
            return;
        }
        if entries.tokens.len() >= MAX_ENTRIES {
            entries.tokens.clear();
        }
        entries.tokens.insert(hash, entry);
    }

    /// Forgets what `retain` rejects, bumping the generation first (under
    /// the lock, so a miss that read before this cannot store after it).
    fn forget(&self, mut retain: impl FnMut(&mut Entries)) {
        let mut entries = self.entries();
        self.generation.fetch_add(1, Ordering::AcqRel);
        retain(&mut entries);
    }

    pub(crate) fn forget_prompt(&self, id: PromptId) {
        self.forget(|e| {
            e.answers.retain(|_, a| a.prompt_id != id);
            e.details.retain(|_, a| a.prompt_id != id);
        });
    }

    pub(crate) fn forget_token(&self, id: TokenId) {
        self.forget(|e| e.tokens.retain(|_, t| t.token_id != id));
    }

    pub(crate) fn forget_user_tokens(&self, user: UserId) {
        self.forget(|e| e.tokens.retain(|_, t| t.user_id != user));
    }

    /// Stops serving and forgets everything (the listener went deaf).
    pub(crate) fn deafen(&self) {
        self.forget(|e| *e = Entries::default());
        self.serving.store(false, Ordering::Release);
    }

    /// Forgets everything and serves again (the listener is back).
    pub(crate) fn resync(&self) {
        self.forget(|e| *e = Entries::default());
        self.serving.store(true, Ordering::Release);
    }
}

/// Inserts, starting the map again from empty when it is full.
fn bounded_insert<K: std::hash::Hash + Eq, V>(map: &mut HashMap<K, V>, key: K, value: V) {
    if map.len() >= MAX_ENTRIES {
        map.clear();
    }
    map.insert(key, value);
}

/// The ETag of a prompt's detail: the prompt's `updated_at` moves with
/// every rename, re-slug, retag and label change, its current version with
/// every save and restore.
fn detail_etag(detail: &PromptDetail) -> String {
    let mut h = Sha256::new();
    for part in [
        detail.prompt.id.to_string(),
        detail
            .current_version
            .as_ref()
            .map(|v| v.id.to_string())
            .unwrap_or_default(),
        detail.prompt.updated_at.unix_timestamp_nanos().to_string(),
    ] {
        h.update(part.as_bytes());
        h.update([0]);
    }
    let digest = h.finalize();
    let hex: String = digest.iter().take(12).map(|b| format!("{b:02x}")).collect();
    format!("\"{hex}\"")
}

/// The ETag of an answer: the version, the selector, and the prompt's
/// `updated_at` (moved by every rename, re-slug, retag and label change).
fn etag(resolved: &Resolved, selector: &Selector) -> String {
    let mut h = Sha256::new();
    for part in [
        resolved.version.id.to_string().as_bytes(),
        selector.tag().as_bytes(),
        resolved
            .prompt
            .updated_at
            .unix_timestamp_nanos()
            .to_string()
            .as_bytes(),
    ] {
        h.update(part);
        h.update([0]);
    }
    let digest = h.finalize();
    let hex: String = digest.iter().take(12).map(|b| format!("{b:02x}")).collect();
    format!("\"{hex}\"")
}

impl App {
    /// The cache (for tests and metrics).
    pub fn delivery(&self) -> &Delivery {
        &self.delivery
    }

    /// The answer for `slug` and `selector`, from memory when it can be;
    /// `serialize` makes the body on a miss.
    pub async fn deliver(
        &self,
        slug: &str,
        selector: Selector,
        serialize: impl FnOnce(Resolved) -> Bytes,
    ) -> Result<Arc<Delivered>> {
        let key = AnswerKey {
            slug: slug.to_owned(),
            selector,
        };
        if let Some(hit) = self.delivery.answer(&key) {
            return Ok(hit);
        }
        let generation = self.delivery.generation();
        let resolved = self.pick(&key.slug, &key.selector).await?;
        let answer = Arc::new(Delivered {
            prompt_id: resolved.prompt.id,
            etag: etag(&resolved, &key.selector),
            body: serialize(resolved),
        });
        self.delivery
            .store_answer(generation, key, Arc::clone(&answer));
        Ok(answer)
    }

    /// `GET /api/prompts/{id}` (`asked`: an id or a slug) from memory when it
    /// can be; `serialize` makes the body on a miss. Forgotten with the
    /// prompt's other answers, by every write that changes it.
    pub async fn deliver_detail(
        &self,
        asked: &str,
        serialize: impl FnOnce(PromptDetail) -> Bytes,
    ) -> Result<Arc<Delivered>> {
        if let Some(hit) = self.delivery.detail(asked) {
            return Ok(hit);
        }
        let generation = self.delivery.generation();
        let id = self.prompt_ref(asked).await?;
        let detail = self.get_prompt(id).await?;
        let answer = Arc::new(Delivered {
            prompt_id: id,
            etag: detail_etag(&detail),
            body: serialize(detail),
        });
        self.delivery
            .store_detail(generation, asked.to_owned(), Arc::clone(&answer));
        Ok(answer)
    }

    /// Reads what a selector resolves to, in one query.
    pub(crate) async fn pick(&self, slug: &str, selector: &Selector) -> Result<Resolved> {
        // Text that cannot be a slug or label names nothing, without a query.
        let slug = Slug::lookup(slug).ok_or(AppError::NotFound("prompt"))?;
        let (pick, missing, label) = match selector {
            Selector::Label(l) if l == RESERVED_LABEL => (Pick::Current, "version", l.clone()),
            Selector::Label(l) => {
                LabelName::parse("label", l).map_err(|_| AppError::NotFound("label"))?;
                (Pick::Label(l), "label", l.clone())
            }
            Selector::Number(n) => (Pick::Number(*n), "version", String::new()),
        };
        let (prompt, version) = self
            .store
            .labels()
            .pick_by_slug(slug.as_str(), pick)
            .await?
            .ok_or(AppError::NotFound("prompt"))?;
        let version = version.ok_or(AppError::NotFound(missing))?;
        Ok(Resolved {
            prompt,
            label,
            version,
        })
    }

    /// After a write that changed prompt `id` has committed: this process's
    /// answers of it are forgotten and its watchers told.
    pub(crate) fn prompt_changed(&self, id: PromptId) {
        self.delivery.forget_prompt(id);
        self.refresh_watches(Some(id));
    }

    /// The user a token hash belongs to, from memory while fresh; the
    /// database otherwise (see `App::token_user`).
    pub(crate) fn cached_token(
        &self,
        hash: &str,
        now: OffsetDateTime,
    ) -> Option<(TokenId, UserId, Option<OffsetDateTime>)> {
        let t = self.delivery.token(hash)?;
        // An expiry passes without any write: checked on every hit.
        if t.expires_at.is_some_and(|e| e <= now) {
            return None;
        }
        Some((t.token_id, t.user_id, t.last_used_at))
    }

    pub(crate) fn token_generation(&self) -> u64 {
        self.delivery.generation()
    }

    pub(crate) fn cache_token(
        &self,
        generation: u64,
        hash: String,
        token: &promptrefine_store::ApiToken,
        last_used_at: Option<OffsetDateTime>,
    ) {
        self.delivery.store_token(
            generation,
            hash,
            TokenEntry {
                token_id: token.id,
                user_id: token.user_id,
                expires_at: token.expires_at,
                last_used_at,
                cached_at: Instant::now(),
            },
        );
    }

    /// Remembers a touch of a cached token (so the next minute's hits
    /// neither touch nor read).
    pub(crate) fn token_touched(&self, hash: &str, at: OffsetDateTime) {
        let mut entries = self.delivery.entries();
        if let Some(t) = entries.tokens.get_mut(hash) {
            t.last_used_at = Some(at);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_label_and_a_version_cannot_both_be_asked_for() {
        assert!(Selector::parse(Some("production"), Some(2)).is_err());
        assert_eq!(
            Selector::parse(None, None).unwrap(),
            Selector::Label("current".into())
        );
        assert_eq!(
            Selector::parse(Some(""), Some(3)).unwrap(),
            Selector::Number(3)
        );
    }

    fn answer(prompt_id: PromptId) -> Arc<Delivered> {
        Arc::new(Delivered {
            prompt_id,
            etag: "\"x\"".into(),
            body: Bytes::from_static(b"{}"),
        })
    }

    fn key(slug: &str) -> AnswerKey {
        AnswerKey {
            slug: slug.into(),
            selector: Selector::Label("current".into()),
        }
    }

    #[test]
    fn a_miss_that_raced_with_a_write_does_not_store_its_answer() {
        let cache = Delivery::new(true);
        let id = PromptId::new();
        let before = cache.generation();
        cache.forget_prompt(id);
        cache.store_answer(before, key("a"), answer(id));
        assert!(cache.answer(&key("a")).is_none());
        cache.store_answer(cache.generation(), key("a"), answer(id));
        assert!(cache.answer(&key("a")).is_some());
    }

    #[test]
    fn a_deaf_cache_neither_serves_nor_stores_until_it_resyncs() {
        let cache = Delivery::new(true);
        let id = PromptId::new();
        cache.store_answer(cache.generation(), key("a"), answer(id));
        cache.deafen();
        assert!(cache.answer(&key("a")).is_none());
        cache.store_answer(cache.generation(), key("a"), answer(id));
        cache.resync();
        assert!(cache.answer(&key("a")).is_none(), "cleared on resync");
        cache.store_answer(cache.generation(), key("a"), answer(id));
        assert!(cache.answer(&key("a")).is_some());
    }

    #[test]
    fn forgetting_a_prompt_keeps_the_answers_of_others() {
        let cache = Delivery::new(true);
        let (a, b) = (PromptId::new(), PromptId::new());
        cache.store_answer(cache.generation(), key("a"), answer(a));
        cache.store_answer(cache.generation(), key("b"), answer(b));
        cache.forget_prompt(a);
        assert!(cache.answer(&key("a")).is_none());
        assert!(cache.answer(&key("b")).is_some());
    }
}
