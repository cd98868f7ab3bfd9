//! Scoring an experiment's outputs and saying whether a difference between
//! two versions is real or noise (issue 15). Pure: no I/O, no clock, no
//! global randomness — the same cells and seed give the same numbers.
//!
//! - [`spec`]: the evaluators an experiment is configured with, parsed and
//!   checked once ([`EvaluatorSpec::parse_list`]).
//! - [`mod@score`]: the deterministic evaluators on one output ([`score()`]).
//! - [`judge`] and [`http`]: the pure halves of the evaluators that need a
//!   call (what to send, how to read the answer); the app makes the call.
//! - [`stats`]: Wilson, bootstrap, McNemar, percentiles, pass@k.
//! - [`aggregate`]: a variant's summary ([`summarize`]).
//! - [`compare`](mod@compare): two variants or experiments, per evaluator and
//!   per item, with a verdict ([`compare()`]).

pub mod aggregate;
pub mod compare;
pub mod http;
pub mod judge;
pub mod score;
pub mod spec;
pub mod stats;

pub use aggregate::{
    CellScore, EvaluatorSummary, Summary, VariantSummary, summarize, summarize_with,
};
pub use compare::{
    CompareOptions, Comparison, Delta, EvaluatorComparison, ItemComparison, ItemEvaluatorDiff,
    ItemOutcome, McNemar, Verdict, compare, compare_with,
};
pub use score::{Sample, Score, score};
pub use spec::{EvaluatorKind, EvaluatorSpec, JudgeMode, MatchMode, SimilarityMetric};
