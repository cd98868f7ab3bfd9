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

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeMap;

    fn spec() -> EvaluatorSpec {
        EvaluatorSpec::parse_list(
            &json!([{ "type": "http", "url": "https://e.example/s" }]),
            "e",
        )
        .unwrap()
        .remove(0)
    }

    #[test]
    fn the_request_carries_input_output_expected_variables_and_metadata() {
        let mut vars = BTreeMap::new();
        vars.insert("lang".to_owned(), "fr".to_owned());
        let expected = json!(["a", 1]);
        let meta = json!({ "source": "golden" });
        let sample = Sample::new("out")
            .with_variables(&vars)
            .with_expected(&expected)
            .with_metadata(meta.as_object().unwrap());
        assert_eq!(
            request_body(&sample, "in"),
            json!({ "input": "in", "output": "out", "expected": ["a", 1], "variables": { "lang": "fr" }, "metadata": { "source": "golden" } })
        );
        assert_eq!(
            request_body(&Sample::new("o"), "i"),
            json!({ "input": "i", "output": "o", "expected": null, "variables": {}, "metadata": {} })
        );
    }

    #[test]
    fn answers_are_read_strictly() {
        assert_eq!(
            parse_response(&json!({ "score": 0.4, "pass": false, "reason": "meh" })),
            Ok(HttpAnswer {
                score: 0.4,
                pass: Some(false),
                reason: Some("meh".into())
            })
        );
        assert_eq!(
            parse_response(&json!({ "score": 1 })),
            Ok(HttpAnswer {
                score: 1.0,
                pass: None,
                reason: None
            })
        );
        for bad in [
            json!([]),
            json!({}),
            json!({ "score": "0.5" }),
            json!({ "score": 2 }),
            json!({ "score": 0.5, "pass": "yes" }),
            json!({ "score": 0.5, "reason": 3 }),
        ] {
            assert!(parse_response(&bad).is_err(), "{bad}");
        }
        assert!(
            parse_response_text("<html>")
                .unwrap_err()
                .contains("not JSON")
        );
        assert!(parse_response_text(" {\"score\": 0} ").is_ok());
    }

    #[test]
    fn answers_and_failures_become_scores() {
        let s = to_score(&spec(), parse_response(&json!({ "score": 0.25 })));
        assert_eq!(
            (s.value, s.pass, s.kind.as_str()),
            (Some(0.25), None, "http")
        );
        let s = to_score(&spec(), Err("timed out after 10000 ms".into()));
        assert!(s.is_error());
    }
}
