//! The pure half of `llm_judge`: the judge prompt's variables, the
//! `response_format` to ask for, and reading the answer.
//!
//! The app resolves the judge prompt (`promptId` + `label`/`versionId`),
//! renders it with [`variables`], calls the model as a run of
//! `kind: "judge"` (with [`response_format`] where the provider supports
//! it), and turns the answer's text into a [`Score`] with [`score_text`].
//! A failed call is [`Score::error`] with the call's error.

mod extract;
#[cfg(test)]
mod tests;

use std::collections::BTreeMap;

use serde_json::{Map, Value, json};

use crate::score::{Sample, Score, expected_text};
use crate::spec::{EvaluatorKind, EvaluatorSpec, JudgeMode};

/// The judge prompt's variables: the item's variables, then `input` (the
/// judged prompt as rendered), `output` and `expected` (empty when the item
/// has none; a non-string expected as compact JSON). The three are set last
/// so an item variable of the same name cannot fake what is judged.
pub fn variables(sample: &Sample<'_>, input_rendered: &str) -> BTreeMap<String, String> {
    let mut vars = sample.variables.clone();
    vars.insert("input".into(), input_rendered.to_owned());
    vars.insert("output".into(), sample.output.to_owned());
    vars.insert(
        "expected".into(),
        sample.expected.map(expected_text).unwrap_or_default(),
    );
    vars
}

/// The JSON Schema of the judge's answer, in the subset OpenAI's strict
/// structured outputs accept (every property required, no additional
/// properties). The 0..1 range is in the description rather than as
/// `minimum`/`maximum`, which not every strict implementation accepts;
/// [`parse_answer`] enforces it.
pub fn response_schema(mode: JudgeMode) -> Value {
    let (key, property) = match mode {
        JudgeMode::Score => (
            "score",
            json!({ "type": "number", "description": "How well the output does, from 0 (worst) to 1 (best)." }),
        ),
        JudgeMode::Pass => (
            "pass",
            json!({ "type": "boolean", "description": "Whether the output is acceptable." }),
        ),
    };
    let mut properties = Map::new();
    properties.insert(key.into(), property);
    properties.insert(
        "reason".into(),
        json!({ "type": "string", "description": "One or two sentences on why." }),
    );
    json!({
        "type": "object",
        "properties": properties,
        "required": [key, "reason"],
        "additionalProperties": false,
    })
}

/// The whole `response_format` value for an OpenAI-style request.
pub fn response_format(mode: JudgeMode) -> Value {
    json!({
        "type": "json_schema",
        "json_schema": {
            "name": match mode { JudgeMode::Score => "judge_score", JudgeMode::Pass => "judge_pass" },
            "strict": true,
            "schema": response_schema(mode),
        }
    })
}

/// What a judge said, checked.
#[derive(Clone, Debug, PartialEq)]
pub struct JudgeAnswer {
    /// The score (score mode) or 1/0 (pass mode).
    pub value: f64,
    /// `score >= threshold` in score mode.
    pub pass: bool,
    pub reason: Option<String>,
}

/// Reads a judge's answer leniently, because not every provider honours
/// `response_format`: the text may be pure JSON, JSON in a ```` ```json ````
/// fence, or JSON inside prose (the first balanced `{…}` that parses and has
/// the wanted key). A score may be a number or a numeric string. A score
/// outside 0..1 is an error, not rescaled: a judge answering on a 0–10 scale
/// has a broken prompt, and guessing its scale would hide that. Anything
/// unreadable is an error with a short excerpt of the text.
pub fn parse_answer(text: &str, mode: JudgeMode, threshold: f64) -> Result<JudgeAnswer, String> {
    let mut first_problem = None;
    for candidate in extract::json_objects(text) {
        match interpret(&candidate, mode, threshold) {
            Ok(answer) => return Ok(answer),
            Err(problem) => {
                first_problem.get_or_insert(problem);
            }
        }
    }
    let key = match mode {
        JudgeMode::Score => "score",
        JudgeMode::Pass => "pass",
    };
    Err(first_problem.unwrap_or_else(|| {
        format!(
            "the judge's answer holds no JSON object with {key:?}: {:?}",
            extract::excerpt(text)
        )
    }))
}

/// [`parse_answer`] with the spec's mode and threshold, as a [`Score`].
/// For a spec that is not an `llm_judge`, an error score.
pub fn score_text(spec: &EvaluatorSpec, text: &str) -> Score {
    let EvaluatorKind::LlmJudge {
        mode, threshold, ..
    } = &spec.kind
    else {
        return Score::error(spec, "not an llm_judge evaluator");
    };
    to_score(spec, parse_answer(text, *mode, *threshold))
}

/// A parsed answer (or why it could not be read) as a [`Score`].
pub fn to_score(spec: &EvaluatorSpec, answer: Result<JudgeAnswer, String>) -> Score {
    match answer {
        Ok(a) => Score::new(spec, a.value, Some(a.pass), a.reason),
        Err(e) => Score::error(spec, e),
    }
}

/// Keys are matched without case (`Score`, `PASS`): a lenient reader.
fn get<'a>(obj: &'a Map<String, Value>, key: &str) -> Option<&'a Value> {
    obj.get(key).or_else(|| {
        obj.iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(key))
            .map(|(_, v)| v)
    })
}

fn interpret(
    obj: &Map<String, Value>,
    mode: JudgeMode,
    threshold: f64,
) -> Result<JudgeAnswer, String> {
    let reason = get(obj, "reason").and_then(|r| match r {
        Value::String(s) => Some(s.clone()),
        Value::Null => None,
        other => Some(other.to_string()),
    });
    match mode {
        JudgeMode::Score => {
            let raw = get(obj, "score").ok_or("the judge's JSON has no \"score\"")?;
            let score = match raw {
                Value::Number(n) => n.as_f64(),
                Value::String(s) => s.trim().parse::<f64>().ok(),
                _ => None,
            }
            .filter(|x| x.is_finite())
            .ok_or_else(|| format!("the judge's score {raw} is not a number"))?;
            if !(0.0..=1.0).contains(&score) {
                return Err(format!(
                    "the judge's score {score} is outside 0..1 (other scales are not rescaled: fix the judge prompt)"
                ));
            }
            Ok(JudgeAnswer {
                value: score,
                pass: score >= threshold,
                reason,
            })
        }
        JudgeMode::Pass => {
            let raw = get(obj, "pass").ok_or("the judge's JSON has no \"pass\"")?;
            let pass = match raw {
                Value::Bool(b) => Some(*b),
                Value::String(s) if s.trim().eq_ignore_ascii_case("true") => Some(true),
                Value::String(s) if s.trim().eq_ignore_ascii_case("false") => Some(false),
                _ => None,
            }
            .ok_or_else(|| format!("the judge's pass {raw} is not true or false"))?;
            Ok(JudgeAnswer {
                value: if pass { 1.0 } else { 0.0 },
                pass,
                reason,
            })
        }
    }
}
