//! What an experiment is scored with: an [`EvaluatorSpec`] per evaluator,
//! parsed once from the stored JSON (`evaluators: [...]`) and then used for
//! every cell.
//!
//! Parsing does all the work that can fail before any model is called: a
//! regular expression is compiled (with a size limit), a JSON Schema is
//! compiled and checked against its meta-schema, URLs and thresholds are
//! checked. A spec that parsed can therefore only fail on the sample it
//! scores, never on itself.

mod allow;
mod compiled;
mod fields;
mod parse;
#[cfg(test)]
mod tests;
mod wire;

use serde_json::Value;

pub use allow::{check_http_allowed, http_host};
pub use compiled::{CompiledRegex, CompiledSchema};
pub use parse::{
    EVALUATORS_MAX, HTTP_TIMEOUT_MAX_MS, NAME_MAX_CHARS, PATTERN_MAX_CHARS, REGEX_SIZE_LIMIT,
};

/// One configured evaluator: a unique name (what scores, summaries and
/// comparisons are keyed by) and what it checks.
#[derive(Clone, Debug, PartialEq)]
pub struct EvaluatorSpec {
    pub name: String,
    pub kind: EvaluatorKind,
}

/// Whether a list of values must all be found or any one is enough.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MatchMode {
    Any,
    All,
}

/// How `similarity` compares the output with the expected answer.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SimilarityMetric {
    /// `1 − edit distance / longer length`, over characters.
    Levenshtein,
    /// `|A ∩ B| / |A ∪ B|` over the sets of lowercase words.
    Jaccard,
    /// SQuAD's token F1: harmonic mean of token precision and recall over
    /// the multisets of normalised words.
    TokenF1,
}

/// What an LLM judge is asked for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum JudgeMode {
    /// `{ "score": 0..1, "reason" }`; passes at `score >= threshold`.
    Score,
    /// `{ "pass": bool, "reason" }`; the value is 1 or 0.
    Pass,
}

/// The evaluators of issue 15 and their options (already checked).
#[derive(Clone, Debug, PartialEq)]
pub enum EvaluatorKind {
    /// Equal to `value`, or else to the item's `expected`.
    ExactMatch {
        value: Option<String>,
        trim: bool,
        ignore_case: bool,
        collapse_whitespace: bool,
    },
    /// The output holds any / all of `values`.
    Contains {
        values: Vec<String>,
        mode: MatchMode,
        ignore_case: bool,
    },
    /// The output holds none of `values` (`any`: fails on any one), or not
    /// all of them (`all`: fails only when every one is there).
    NotContains {
        values: Vec<String>,
        mode: MatchMode,
        ignore_case: bool,
    },
    /// The output matches `pattern` somewhere (anchor it for a full match).
    Regex { pattern: CompiledRegex },
    /// The output, trimmed, is one JSON document.
    JsonValid,
    /// The output is JSON and valid against `schema`.
    JsonSchema { schema: CompiledSchema },
    /// The output (at `pointer`, if given) equals `value`, or else the
    /// item's `expected`, as JSON: key order and `1` vs `1.0` do not matter.
    JsonEquals {
        value: Option<Value>,
        pointer: Option<String>,
    },
    /// Similar enough to the item's `expected`.
    Similarity {
        metric: SimilarityMetric,
        threshold: f64,
    },
    /// The output's length in characters is within the bounds.
    Length {
        min_chars: Option<u64>,
        max_chars: Option<u64>,
    },
    /// The run took at most `max_ms`.
    Latency { max_ms: u64 },
    /// The run cost at most `max_usd`.
    Cost { max_usd: f64 },
    /// A prompt in the registry judges the output (needs a model call).
    LlmJudge {
        prompt_id: String,
        label: Option<String>,
        version_id: Option<String>,
        mode: JudgeMode,
        threshold: f64,
    },
    /// An HTTP endpoint scores the output (needs a network call).
    Http { url: String, timeout_ms: u64 },
}

impl MatchMode {
    /// The word on the wire.
    pub fn as_str(self) -> &'static str {
        match self {
            MatchMode::Any => "any",
            MatchMode::All => "all",
        }
    }
}

impl SimilarityMetric {
    /// The word on the wire.
    pub fn as_str(self) -> &'static str {
        match self {
            SimilarityMetric::Levenshtein => "levenshtein",
            SimilarityMetric::Jaccard => "jaccard",
            SimilarityMetric::TokenF1 => "token_f1",
        }
    }
}

impl JudgeMode {
    /// The word on the wire.
    pub fn as_str(self) -> &'static str {
        match self {
            JudgeMode::Score => "score",
            JudgeMode::Pass => "pass",
        }
    }
}

impl EvaluatorKind {
    /// Every `type` on the wire, in the order the docs list them.
    pub const TYPES: [&'static str; 13] = [
        "exact_match",
        "contains",
        "not_contains",
        "regex",
        "json_valid",
        "json_schema",
        "json_equals",
        "similarity",
        "length",
        "latency",
        "cost",
        "llm_judge",
        "http",
    ];

    /// The `type` on the wire (`exact_match`, `llm_judge`, …).
    pub fn type_name(&self) -> &'static str {
        match self {
            EvaluatorKind::ExactMatch { .. } => "exact_match",
            EvaluatorKind::Contains { .. } => "contains",
            EvaluatorKind::NotContains { .. } => "not_contains",
            EvaluatorKind::Regex { .. } => "regex",
            EvaluatorKind::JsonValid => "json_valid",
            EvaluatorKind::JsonSchema { .. } => "json_schema",
            EvaluatorKind::JsonEquals { .. } => "json_equals",
            EvaluatorKind::Similarity { .. } => "similarity",
            EvaluatorKind::Length { .. } => "length",
            EvaluatorKind::Latency { .. } => "latency",
            EvaluatorKind::Cost { .. } => "cost",
            EvaluatorKind::LlmJudge { .. } => "llm_judge",
            EvaluatorKind::Http { .. } => "http",
        }
    }

    /// False for the kinds that need a call out (`llm_judge`, `http`):
    /// [`crate::score::score`] cannot score those; the app makes the call
    /// and turns its answer into a score with [`crate::judge`] or
    /// [`crate::http`].
    pub fn is_deterministic(&self) -> bool {
        !matches!(
            self,
            EvaluatorKind::LlmJudge { .. } | EvaluatorKind::Http { .. }
        )
    }

    /// Whether the kind reads the item's `expected` answer when it has no
    /// `value` of its own (so the app can warn about a dataset without one).
    pub fn uses_expected(&self) -> bool {
        match self {
            EvaluatorKind::ExactMatch { value, .. } => value.is_none(),
            EvaluatorKind::JsonEquals { value, .. } => value.is_none(),
            EvaluatorKind::Similarity { .. } => true,
            _ => false,
        }
    }
}

impl EvaluatorSpec {
    /// The `type` on the wire.
    pub fn type_name(&self) -> &'static str {
        self.kind.type_name()
    }

    /// See [`EvaluatorKind::is_deterministic`].
    pub fn is_deterministic(&self) -> bool {
        self.kind.is_deterministic()
    }

    /// Parses an experiment's `evaluators` array. Every problem is reported
    /// at once, each naming its field under `field_prefix` (e.g.
    /// `evaluators[2].pattern`) with a rule code. Names default to the type
    /// (`contains`, then `contains_2`, … so they stay unique).
    pub fn parse_list(
        value: &Value,
        field_prefix: &str,
    ) -> Result<Vec<EvaluatorSpec>, promptrefine_core::validate::Violations> {
        parse::parse_list(value, field_prefix)
    }

    /// The canonical stored JSON: every option spelled out (defaults
    /// included), camelCase keys, so [`EvaluatorSpec::parse_list`] of it
    /// gives back an equal spec.
    pub fn to_json(&self) -> Value {
        wire::to_json(self)
    }

    /// [`EvaluatorSpec::to_json`] of every spec, as the stored array.
    pub fn list_to_json(specs: &[EvaluatorSpec]) -> Value {
        Value::Array(specs.iter().map(EvaluatorSpec::to_json).collect())
    }
}
