//! Counting the SQL statements a piece of code runs.
//!
//! sqlx emits one `tracing` event per statement it executes (target
//! `sqlx::query`). A [`QueryCounter`] counts the ones emitted inside a span
//! that carries its tag as a field value: its own [`QueryCounter::span`] for
//! code a test calls directly, or — for the in-process server — the request
//! span, whose `request_id` is the tag when the test sends it as
//! `x-request-id`. Scoping by span, not by thread or by time, is what keeps
//! parallel tests apart and still follows a statement onto the thread that
//! runs it: sqlx's SQLite worker thread enters the caller's span, and the
//! server's tasks run on any thread of the runtime.
//!
//! Opening a SQLite connection is not counted (see [`CONNECTION_SETUP`]);
//! PostgreSQL's connection start-up sends no statements.
//!
//! The counting layer lives in the global subscriber, installed on first
//! use; a test binary that installs another global subscriber cannot count
//! (nextest runs each test in its own process, so only the tests that count
//! carry the layer).

use std::collections::HashMap;
use std::fmt;
use std::sync::{Arc, Mutex, MutexGuard, OnceLock, PoisonError};

use tracing::field::{Field, Visit};
use tracing::span::{Attributes, Id, Record};
use tracing::{Event, Subscriber};
use tracing_subscriber::Registry;
use tracing_subscriber::layer::{Context, Layer, SubscriberExt};
use tracing_subscriber::registry::LookupSpan;

/// How sqlx starts the statement that sets up a new SQLite connection (its
/// `PRAGMA k = v; …` batch; the store's own pragmas are lowercase). That is
/// pool housekeeping, not a query of the code being counted: whether a
/// request opens a connection depends on when the previous one was handed
/// back, so counting it would make counts flaky.
const CONNECTION_SETUP: &str = "PRAGMA ";

/// Every tag starts so: field values that do not are skipped cheaply.
const TAG_PREFIX: &str = "query-count-";

/// The statements one counter has seen (their sqlx summaries).
type Seen = Arc<Mutex<Vec<String>>>;

type Counters = Mutex<HashMap<String, Seen>>;

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

fn counters() -> &'static Counters {
    static COUNTERS: OnceLock<Counters> = OnceLock::new();
    COUNTERS.get_or_init(Counters::default)
}

fn install() {
    static INSTALLED: OnceLock<()> = OnceLock::new();
    INSTALLED.get_or_init(|| {
        let subscriber = Registry::default().with(CountingLayer);
        tracing::subscriber::set_global_default(subscriber).expect(
            "QueryCounter needs the global subscriber: this test binary installed another one",
        );
    });
}

/// Counts the SQL statements run inside its scope (see the module docs).
pub struct QueryCounter {
    tag: String,
    seen: Seen,
}

impl QueryCounter {
    pub fn new() -> QueryCounter {
        install();
        let tag = format!("{TAG_PREFIX}{}", uuid::Uuid::now_v7().simple());
        let seen = Seen::default();
        lock(counters()).insert(tag.clone(), seen.clone());
        QueryCounter { tag, seen }
    }

    /// The value that puts a span in this counter's scope: send it as the
    /// `x-request-id` of a request to count what the server runs for it.
    pub fn tag(&self) -> &str {
        &self.tag
    }

    /// A span to run code in (`.instrument(counter.span())`) to count it.
    pub fn span(&self) -> tracing::Span {
        tracing::info_span!("query_count", query_counter = %self.tag)
    }

    /// Statements counted so far.
    pub fn count(&self) -> usize {
        lock(&self.seen).len()
    }

    /// The statements counted so far, as sqlx summarises them (the first
    /// words of each): what an assertion on the count should print.
    pub fn statements(&self) -> Vec<String> {
        lock(&self.seen).clone()
    }

    /// The statements counted since the last call (starts again at none).
    pub fn take(&self) -> Vec<String> {
        std::mem::take(&mut *lock(&self.seen))
    }
}

impl Default for QueryCounter {
    fn default() -> Self {
        QueryCounter::new()
    }
}

impl Drop for QueryCounter {
    fn drop(&mut self) {
        lock(counters()).remove(&self.tag);
    }
}

/// Marks a span (in its extensions) as inside a counter's scope.
struct Scoped(Seen);

struct CountingLayer;

impl CountingLayer {
    fn mark<S>(values: impl FnOnce(&mut TagVisitor), id: &Id, ctx: &Context<'_, S>)
    where
        S: Subscriber + for<'a> LookupSpan<'a>,
    {
        let mut visitor = TagVisitor(None);
        values(&mut visitor);
        if let (Some(seen), Some(span)) = (visitor.0, ctx.span(id)) {
            span.extensions_mut().replace(Scoped(seen));
        }
    }
}

impl<S> Layer<S> for CountingLayer
where
    S: Subscriber + for<'a> LookupSpan<'a>,
{
    fn on_new_span(&self, attrs: &Attributes<'_>, id: &Id, ctx: Context<'_, S>) {
        Self::mark(|v| attrs.record(v), id, &ctx);
    }

    fn on_record(&self, id: &Id, values: &Record<'_>, ctx: Context<'_, S>) {
        Self::mark(|v| values.record(v), id, &ctx);
    }

    fn on_event(&self, event: &Event<'_>, ctx: Context<'_, S>) {
        if event.metadata().target() != "sqlx::query" {
            return;
        }
        let Some(scope) = ctx.event_scope(event) else {
            return;
        };
        for span in scope {
            if let Some(Scoped(seen)) = span.extensions().get::<Scoped>() {
                let mut summary = Summary(String::new());
                event.record(&mut summary);
                if !summary.0.starts_with(CONNECTION_SETUP) {
                    lock(seen).push(summary.0);
                }
                return;
            }
        }
    }
}

/// Finds a field whose value is a live counter's tag.
struct TagVisitor(Option<Seen>);

impl TagVisitor {
    fn check(&mut self, value: &str) {
        if self.0.is_none() && value.starts_with(TAG_PREFIX) {
            self.0 = lock(counters()).get(value).cloned();
        }
    }
}

/// The `summary` field of a sqlx statement event.
struct Summary(String);

impl Visit for Summary {
    fn record_str(&mut self, field: &Field, value: &str) {
        if field.name() == "summary" {
            value.clone_into(&mut self.0);
        }
    }

    fn record_debug(&mut self, field: &Field, value: &dyn fmt::Debug) {
        if field.name() == "summary" {
            self.0 = format!("{value:?}");
        }
    }
}

impl Visit for TagVisitor {
    fn record_str(&mut self, _field: &Field, value: &str) {
        self.check(value);
    }

    fn record_debug(&mut self, _field: &Field, value: &dyn fmt::Debug) {
        // `%value` fields (the request id) arrive here, printed by Display.
        self.check(&format!("{value:?}"));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_events_of_sqlx_inside_the_counters_span_count() {
        let counter = QueryCounter::new();
        let other = QueryCounter::new();
        counter.span().in_scope(|| {
            tracing::debug!(target: "sqlx::query", summary = "select 1");
            tracing::debug!(target: "sqlx::query", summary = "select 2");
            tracing::debug!(target: "something::else", "not a statement");
            tracing::debug!(target: "sqlx::query", summary = "PRAGMA journal_mode = WAL; …");
            // A child span is in the scope too.
            tracing::info_span!("child").in_scope(|| {
                tracing::debug!(target: "sqlx::query", summary = "select 3");
            });
        });
        tracing::debug!(target: "sqlx::query", summary = "outside every scope");
        other.span().in_scope(|| {
            tracing::debug!(target: "sqlx::query", summary = "the other counter's");
        });
        assert_eq!((counter.count(), other.count()), (3, 1));
        assert_eq!(counter.take(), ["select 1", "select 2", "select 3"]);
        assert_eq!(counter.count(), 0);
    }

    #[test]
    fn a_span_whose_field_is_the_tag_is_in_scope_and_its_thread_does_not_matter() {
        let counter = QueryCounter::new();
        let span = tracing::info_span!("request", request_id = %counter.tag());
        std::thread::scope(|s| {
            s.spawn(|| {
                let _entered = span.enter();
                tracing::debug!(target: "sqlx::query", summary = "on another thread");
            });
        });
        assert_eq!(counter.count(), 1);
    }
}
