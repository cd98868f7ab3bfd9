//! The pure half of the `http` evaluator: what is POSTed and how the answer
//! is read, so an evaluator can be written in any language.
//!
//! The app checks the URL's host with [`crate::spec::check_http_allowed`]
//! when the experiment is created (and again before calling, in case the
//! configuration changed), POSTs [`request_body`] with the spec's
//! `timeoutMs`, and gives the JSON it got back to [`parse_response`]. A
//! timeout, a non-2xx status or a body that is not JSON is
//! [`Score::error`] with that reason.

use serde_json::{Map, Value, json};

use crate::score::{Sample, Score};
use crate::spec::EvaluatorSpec;

/// `{ input, output, expected, variables, metadata }`: `expected` as stored
/// (any JSON, `null` when the item has none), `metadata` the item's (`{}`
/// when none).
pub fn request_body(sample: &Sample<'_>, input: &str) -> Value {
    json!({
        "input": input,
        "output": sample.output,
        "expected": sample.expected.cloned().unwrap_or(Value::Null),
        "variables": sample.variables,
        "metadata": sample.metadata.cloned().unwrap_or_else(Map::new),
    })
}

/// What an http evaluator answered, checked.
#[derive(Clone, Debug, PartialEq)]
pub struct HttpAnswer {
    /// In `0..=1`.
    pub score: f64,
    pub pass: Option<bool>,
    pub reason: Option<String>,
}

/// Reads `{ score, pass?, reason? }`: `score` a number in 0..1, `pass` a
/// boolean or null, `reason` a string or null. Stricter than the judge's
/// reader: this side is a program, and a wrong shape is its bug to see.
pub fn parse_response(body: &Value) -> Result<HttpAnswer, String> {
    let Some(obj) = body.as_object() else {
        return Err("the evaluator's answer is not a JSON object".into());
    };
    let score = match obj.get("score") {
        None | Some(Value::Null) => return Err("the evaluator's answer has no \"score\"".into()),
        Some(v) => v
            .as_f64()
            .filter(|x| x.is_finite())
            .ok_or_else(|| format!("the evaluator's score {v} is not a number"))?,
    };
    if !(0.0..=1.0).contains(&score) {
        return Err(format!("the evaluator's score {score} is outside 0..1"));
    }
    let pass = match obj.get("pass") {
        None | Some(Value::Null) => None,
        Some(Value::Bool(b)) => Some(*b),
        Some(v) => {
            return Err(format!(
                "the evaluator's pass {v} is not true, false or null"
            ));
        }
    };
    let reason = match obj.get("reason") {
        None | Some(Value::Null) => None,
        Some(Value::String(s)) => Some(s.clone()),
        Some(v) => return Err(format!("the evaluator's reason {v} is not a string")),
    };
    Ok(HttpAnswer {
        score,
        pass,
        reason,
    })
}

/// The body as text (what the HTTP client got) through [`parse_response`].
pub fn parse_response_text(body: &str) -> Result<HttpAnswer, String> {
    let value: Value = serde_json::from_str(body.trim())
        .map_err(|e| format!("the evaluator's answer is not JSON: {e}"))?;
    parse_response(&value)
}

/// A parsed answer (or why there is none) as a [`Score`].
pub fn to_score(spec: &EvaluatorSpec, answer: Result<HttpAnswer, String>) -> Score {
    match answer {
        Ok(a) => Score::new(spec, a.score, a.pass, a.reason),
        Err(e) => Score::error(spec, e),
    }
}
