//! One output scored by one deterministic evaluator.
//!
//! Two kinds of bad outcome are kept apart on purpose:
//! - a **fail** (`pass: false`, `value: 0`, a `reason`) is the model's doing:
//!   wrong answer, not JSON, too long. It counts in every mean and pass rate.
//! - an **error** (`error` set, `value` and `pass` null) means the evaluator
//!   could not judge: no expected answer to compare with, no latency
//!   recorded, a judge that answered garbage. Aggregates count errors and
//!   leave them out, so an error is never a silent 0.
//!
//! That is why an output that is not JSON *fails* `json_equals` and
//! `json_schema` rather than erroring: counting it as an error would drop
//! the variant's worst outputs from its mean and flatter it.

#[cfg(test)]
mod tests;
mod text;

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::spec::{EvaluatorKind, EvaluatorSpec, MatchMode, SimilarityMetric};

pub use text::{expected_text, jaccard, json_equal, levenshtein, token_f1, tokens};

/// A score as stored per cell:
/// `{ evaluator, type, value (0..1), pass (true/false/null), reason?, error? }`.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct Score {
    /// The evaluator's (unique) name.
    pub evaluator: String,
    /// Its type (`exact_match`, `llm_judge`, …).
    #[serde(rename = "type")]
    pub kind: String,
    /// In `0..=1`; `None` exactly when `error` is set.
    pub value: Option<f64>,
    /// `None` for an error, and for an evaluator without a pass/fail notion
    /// (an `http` evaluator that sent no `pass`).
    pub pass: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

impl Score {
    /// A judged score; `value` is clamped into `0..=1` (NaN becomes an error).
    pub fn new(
        spec: &EvaluatorSpec,
        value: f64,
        pass: Option<bool>,
        reason: Option<String>,
    ) -> Score {
        if value.is_nan() {
            return Score::error(spec, "the score is not a number");
        }
        Score {
            evaluator: spec.name.clone(),
            kind: spec.type_name().to_owned(),
            value: Some(value.clamp(0.0, 1.0)),
            pass,
            reason,
            error: None,
        }
    }

    /// A pass/fail score: value 1 or 0.
    pub fn pass_fail(spec: &EvaluatorSpec, pass: bool, reason: impl Into<String>) -> Score {
        Score::new(
            spec,
            if pass { 1.0 } else { 0.0 },
            Some(pass),
            Some(reason.into()),
        )
    }

    /// The evaluator could not judge; see the module docs.
    pub fn error(spec: &EvaluatorSpec, message: impl Into<String>) -> Score {
        Score {
            evaluator: spec.name.clone(),
            kind: spec.type_name().to_owned(),
            value: None,
            pass: None,
            reason: None,
            error: Some(message.into()),
        }
    }

    pub fn is_error(&self) -> bool {
        self.error.is_some() || self.value.is_none()
    }
}

/// What one output is scored on: the output and what the cell knows about
/// it. `expected` is the item's expected answer as stored (a JSON string or
/// any JSON value).
#[derive(Clone, Copy, Debug)]
pub struct Sample<'a> {
    pub output: &'a str,
    pub expected: Option<&'a Value>,
    pub variables: &'a BTreeMap<String, String>,
    pub metadata: Option<&'a Map<String, Value>>,
    pub latency_ms: Option<u64>,
    pub cost_usd: Option<f64>,
}

static NO_VARIABLES: BTreeMap<String, String> = BTreeMap::new();

impl<'a> Sample<'a> {
    /// Just an output: no expected answer, variables, latency or cost.
    pub fn new(output: &'a str) -> Sample<'a> {
        Sample {
            output,
            expected: None,
            variables: &NO_VARIABLES,
            metadata: None,
            latency_ms: None,
            cost_usd: None,
        }
    }

    pub fn with_expected(self, expected: &'a Value) -> Self {
        Sample {
            expected: Some(expected),
            ..self
        }
    }

    pub fn with_variables(self, variables: &'a BTreeMap<String, String>) -> Self {
        Sample { variables, ..self }
    }

    pub fn with_metadata(self, metadata: &'a Map<String, Value>) -> Self {
        Sample {
            metadata: Some(metadata),
            ..self
        }
    }

    pub fn with_latency_ms(self, latency_ms: u64) -> Self {
        Sample {
            latency_ms: Some(latency_ms),
            ..self
        }
    }

    pub fn with_cost_usd(self, cost_usd: f64) -> Self {
        Sample {
            cost_usd: Some(cost_usd),
            ..self
        }
    }
}

/// Scores `sample` with a deterministic evaluator.
///
/// `llm_judge` and `http` need a call this crate does not make: for them
/// this returns an error score saying so (check
/// [`EvaluatorSpec::is_deterministic`] first; the app builds the call with
/// [`crate::judge`] / [`crate::http`] and turns the answer into a score with
/// [`crate::judge::to_score`] / [`crate::http::to_score`]).
pub fn score(spec: &EvaluatorSpec, sample: &Sample<'_>) -> Score {
    let output = sample.output;
    match &spec.kind {
        EvaluatorKind::ExactMatch {
            value,
            trim,
            ignore_case,
            collapse_whitespace,
        } => {
            let target = match (value, sample.expected) {
                (Some(v), _) => v.clone(),
                (None, Some(e)) => expected_text(e),
                (None, None) => {
                    return Score::error(
                        spec,
                        "nothing to compare with: the item has no expected answer and the evaluator no value",
                    );
                }
            };
            let norm = |s: &str| text::normalize(s, *trim, *ignore_case, *collapse_whitespace);
            let pass = norm(output) == norm(&target);
            let reason = if pass {
                "output equals the expected text".to_owned()
            } else {
                format!(
                    "expected {:?}, got {:?}",
                    text::excerpt(&target),
                    text::excerpt(output)
                )
            };
            Score::pass_fail(spec, pass, reason)
        }
        EvaluatorKind::Contains {
            values,
            mode,
            ignore_case,
        } => {
            let (found, missing) = text::partition_found(output, values, *ignore_case);
            match mode {
                MatchMode::Any => {
                    let pass = !found.is_empty();
                    let reason = if pass {
                        format!("found {}", text::quote_list(&found))
                    } else {
                        format!("found none of {}", text::quote_list(&missing))
                    };
                    Score::pass_fail(spec, pass, reason)
                }
                // Partial credit: the share found, so a summary shows how
                // close a variant gets; it passes only with every value.
                MatchMode::All => {
                    let share = found.len() as f64 / values.len() as f64;
                    let reason = if missing.is_empty() {
                        "found every value".to_owned()
                    } else {
                        format!("missing {}", text::quote_list(&missing))
                    };
                    Score::new(spec, share, Some(missing.is_empty()), Some(reason))
                }
            }
        }
        EvaluatorKind::NotContains {
            values,
            mode,
            ignore_case,
        } => {
            let (found, _) = text::partition_found(output, values, *ignore_case);
            let pass = match mode {
                MatchMode::Any => found.is_empty(),
                MatchMode::All => found.len() < values.len(),
            };
            let reason = if found.is_empty() {
                "found none of the values".to_owned()
            } else {
                format!("found {}", text::quote_list(&found))
            };
            Score::pass_fail(spec, pass, reason)
        }
        EvaluatorKind::Regex { pattern } => match pattern.regex().find(output) {
            Some(m) => Score::pass_fail(
                spec,
                true,
                format!("matched {:?}", text::excerpt(m.as_str())),
            ),
            None => Score::pass_fail(spec, false, "no match"),
        },
        EvaluatorKind::JsonValid => match parse_output(output) {
            Ok(_) => Score::pass_fail(spec, true, "output is JSON"),
            Err(e) => Score::pass_fail(spec, false, e),
        },
        EvaluatorKind::JsonSchema { schema } => match parse_output(output) {
            Ok(doc) => {
                let errors: Vec<String> = schema
                    .validator()
                    .iter_errors(&doc)
                    .take(3)
                    .map(|e| {
                        let at = e.instance_path().to_string();
                        let at = if at.is_empty() { "/".to_owned() } else { at };
                        format!("{at}: {e}")
                    })
                    .collect();
                if errors.is_empty() {
                    Score::pass_fail(spec, true, "output is valid against the schema")
                } else {
                    Score::pass_fail(spec, false, text::excerpt_n(&errors.join("; "), 300))
                }
            }
            Err(e) => Score::pass_fail(spec, false, e),
        },
        EvaluatorKind::JsonEquals { value, pointer } => {
            let target = match (value, sample.expected) {
                (Some(v), _) => v.clone(),
                (None, Some(Value::String(s))) => {
                    serde_json::from_str(s).unwrap_or_else(|_| Value::String(s.clone()))
                }
                (None, Some(e)) => e.clone(),
                (None, None) => {
                    return Score::error(
                        spec,
                        "nothing to compare with: the item has no expected answer and the evaluator no value",
                    );
                }
            };
            let doc = match parse_output(output) {
                Ok(doc) => doc,
                Err(e) => return Score::pass_fail(spec, false, e),
            };
            let actual = match pointer {
                Some(p) => match doc.pointer(p) {
                    Some(v) => v,
                    None => {
                        return Score::pass_fail(
                            spec,
                            false,
                            format!("the output has nothing at {p}"),
                        );
                    }
                },
                None => &doc,
            };
            if json_equal(actual, &target) {
                Score::pass_fail(spec, true, "output equals the expected JSON")
            } else {
                let got = serde_json::to_string(actual).unwrap_or_default();
                let want = serde_json::to_string(&target).unwrap_or_default();
                Score::pass_fail(
                    spec,
                    false,
                    format!(
                        "expected {}, got {}",
                        text::excerpt(&want),
                        text::excerpt(&got)
                    ),
                )
            }
        }
        EvaluatorKind::Similarity { metric, threshold } => {
            let Some(expected) = sample.expected else {
                return Score::error(
                    spec,
                    "nothing to compare with: the item has no expected answer",
                );
            };
            let expected = expected_text(expected);
            let value = match metric {
                SimilarityMetric::Levenshtein => levenshtein(output, &expected),
                SimilarityMetric::Jaccard => jaccard(output, &expected),
                SimilarityMetric::TokenF1 => token_f1(output, &expected),
            };
            let pass = value >= *threshold;
            let reason = format!("{} {value:.3} (pass at {threshold})", metric.as_str());
            Score::new(spec, value, Some(pass), Some(reason))
        }
        EvaluatorKind::Length {
            min_chars,
            max_chars,
        } => {
            let n = output.chars().count() as u64;
            let too_short = min_chars.is_some_and(|min| n < min);
            let too_long = max_chars.is_some_and(|max| n > max);
            let reason = match (too_short, too_long) {
                (true, _) => format!(
                    "{n} characters; at least {} wanted",
                    min_chars.unwrap_or_default()
                ),
                (_, true) => format!(
                    "{n} characters; at most {} allowed",
                    max_chars.unwrap_or_default()
                ),
                _ => format!("{n} characters"),
            };
            Score::pass_fail(spec, !too_short && !too_long, reason)
        }
        EvaluatorKind::Latency { max_ms } => match sample.latency_ms {
            Some(ms) => {
                Score::pass_fail(spec, ms <= *max_ms, format!("{ms} ms (at most {max_ms})"))
            }
            None => Score::error(spec, "no latency was recorded for this run"),
        },
        EvaluatorKind::Cost { max_usd } => match sample.cost_usd {
            Some(usd) if usd.is_finite() => Score::pass_fail(
                spec,
                usd <= *max_usd,
                format!("${usd:.6} (at most ${max_usd})"),
            ),
            _ => Score::error(spec, "no cost is known for this run"),
        },
        EvaluatorKind::LlmJudge { .. } => Score::error(
            spec,
            "llm_judge needs a judge call: score it with judge::parse_answer and judge::to_score",
        ),
        EvaluatorKind::Http { .. } => Score::error(
            spec,
            "http needs a call: score it with http::parse_response and http::to_score",
        ),
    }
}

/// The output as one JSON document (surrounding whitespace allowed), or a
/// reason why not.
fn parse_output(output: &str) -> Result<Value, String> {
    serde_json::from_str(output.trim()).map_err(|e| format!("output is not JSON: {e}"))
}
