//! Text normalisation, the similarity metrics and JSON equality.

use std::collections::{BTreeSet, HashMap};

use serde_json::Value;

/// The expected answer as text: a JSON string as its content, any other
/// JSON value as its compact JSON (`{"a":1}`, `42`, `true`).
pub fn expected_text(expected: &Value) -> String {
    match expected {
        Value::String(s) => s.clone(),
        other => serde_json::to_string(other).unwrap_or_default(),
    }
}

/// `exact_match`'s normalisation. Collapsing turns every run of whitespace
/// into one space (and so also trims when `trim` is off only in the middle).
pub(crate) fn normalize(s: &str, trim: bool, ignore_case: bool, collapse: bool) -> String {
    let s = if trim { s.trim() } else { s };
    let s = if collapse {
        let mut out = String::with_capacity(s.len());
        let mut in_space = false;
        for c in s.chars() {
            if c.is_whitespace() {
                if !in_space {
                    out.push(' ');
                }
                in_space = true;
            } else {
                out.push(c);
                in_space = false;
            }
        }
        out
    } else {
        s.to_owned()
    };
    if ignore_case { s.to_lowercase() } else { s }
}

/// The values found in `output` and those not, in the spec's order.
pub(crate) fn partition_found<'v>(
    output: &str,
    values: &'v [String],
    ignore_case: bool,
) -> (Vec<&'v str>, Vec<&'v str>) {
    let haystack = if ignore_case {
        output.to_lowercase()
    } else {
        output.to_owned()
    };
    values.iter().map(String::as_str).partition(|v| {
        if ignore_case {
            haystack.contains(&v.to_lowercase())
        } else {
            haystack.contains(v)
        }
    })
}

/// Normalised words as SQuAD's evaluation script makes them: lowercase,
/// punctuation removed (`don't` → `dont`), split on whitespace. Unlike
/// SQuAD's script, English articles are kept: outputs here are in any
/// language, and dropping `a`/`the` only would favour English.
pub fn tokens(s: &str) -> Vec<String> {
    let cleaned: String = s
        .to_lowercase()
        .chars()
        .filter(|c| c.is_alphanumeric() || c.is_whitespace())
        .collect();
    cleaned.split_whitespace().map(str::to_owned).collect()
}

/// Normalised Levenshtein similarity of the trimmed texts:
/// `1 − distance / max(len)` over characters; two empty texts are equal (1).
pub fn levenshtein(a: &str, b: &str) -> f64 {
    strsim::normalized_levenshtein(a.trim(), b.trim())
}

/// Jaccard similarity of the sets of [`tokens`]; two empty texts give 1.
pub fn jaccard(a: &str, b: &str) -> f64 {
    let a: BTreeSet<String> = tokens(a).into_iter().collect();
    let b: BTreeSet<String> = tokens(b).into_iter().collect();
    if a.is_empty() && b.is_empty() {
        return 1.0;
    }
    let inter = a.intersection(&b).count() as f64;
    let union = a.union(&b).count() as f64;
    inter / union
}

/// SQuAD's token F1 of a prediction against a reference, over the multisets
/// of [`tokens`]: both empty give 1, one empty gives 0.
pub fn token_f1(prediction: &str, reference: &str) -> f64 {
    let pred = tokens(prediction);
    let gold = tokens(reference);
    if pred.is_empty() || gold.is_empty() {
        return if pred.is_empty() && gold.is_empty() {
            1.0
        } else {
            0.0
        };
    }
    let mut counts: HashMap<&str, usize> = HashMap::new();
    for t in &gold {
        *counts.entry(t).or_default() += 1;
    }
    let mut common = 0usize;
    for t in &pred {
        if let Some(n) = counts.get_mut(t.as_str())
            && *n > 0
        {
            *n -= 1;
            common += 1;
        }
    }
    if common == 0 {
        return 0.0;
    }
    let precision = common as f64 / pred.len() as f64;
    let recall = common as f64 / gold.len() as f64;
    2.0 * precision * recall / (precision + recall)
}

/// JSON equality as a person means it: object key order never matters
/// (serde_json's maps already compare so) and numbers compare by value, so
/// `1` equals `1.0`.
pub fn json_equal(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::Number(x), Value::Number(y)) => {
            if let (Some(x), Some(y)) = (x.as_i64(), y.as_i64()) {
                x == y
            } else if let (Some(x), Some(y)) = (x.as_u64(), y.as_u64()) {
                x == y
            } else {
                x.as_f64() == y.as_f64()
            }
        }
        (Value::Array(x), Value::Array(y)) => {
            x.len() == y.len() && x.iter().zip(y).all(|(x, y)| json_equal(x, y))
        }
        (Value::Object(x), Value::Object(y)) => {
            x.len() == y.len()
                && x.iter()
                    .all(|(k, v)| y.get(k).is_some_and(|w| json_equal(v, w)))
        }
        _ => a == b,
    }
}

/// At most 80 characters of `s` for a reason, marked when cut.
pub(crate) fn excerpt(s: &str) -> String {
    excerpt_n(s, 80)
}

pub(crate) fn excerpt_n(s: &str, max: usize) -> String {
    if s.chars().count() <= max {
        s.to_owned()
    } else {
        let mut cut: String = s.chars().take(max).collect();
        cut.push('…');
        cut
    }
}

pub(crate) fn quote_list(values: &[&str]) -> String {
    let quoted: Vec<String> = values
        .iter()
        .take(5)
        .map(|v| format!("{:?}", excerpt(v)))
        .collect();
    let more = values.len().saturating_sub(5);
    if more > 0 {
        format!("{} and {more} more", quoted.join(", "))
    } else {
        quoted.join(", ")
    }
}
