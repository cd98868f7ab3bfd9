//! The canonical stored JSON of a spec. Every option is written out,
//! defaults included, so a stored experiment says exactly what it was
//! scored with even if a default changes later.

use serde_json::{Map, Value, json};

use super::{EvaluatorKind, EvaluatorSpec};

pub(super) fn to_json(spec: &EvaluatorSpec) -> Value {
    let mut out = Map::new();
    out.insert("name".into(), json!(spec.name));
    out.insert("type".into(), json!(spec.type_name()));
    let mut put = |key: &str, value: Value| {
        if !value.is_null() {
            out.insert(key.to_owned(), value);
        }
    };
    match &spec.kind {
        EvaluatorKind::ExactMatch {
            value,
            trim,
            ignore_case,
            collapse_whitespace,
        } => {
            put("value", json!(value));
            put("trim", json!(trim));
            put("ignoreCase", json!(ignore_case));
            put("collapseWhitespace", json!(collapse_whitespace));
        }
        EvaluatorKind::Contains {
            values,
            mode,
            ignore_case,
        }
        | EvaluatorKind::NotContains {
            values,
            mode,
            ignore_case,
        } => {
            put("values", json!(values));
            put("mode", json!(mode.as_str()));
            put("ignoreCase", json!(ignore_case));
        }
        EvaluatorKind::Regex { pattern } => put("pattern", json!(pattern.as_str())),
        EvaluatorKind::JsonValid => {}
        EvaluatorKind::JsonSchema { schema } => put("schema", schema.source().clone()),
        EvaluatorKind::JsonEquals { value, pointer } => {
            put("value", value.clone().unwrap_or(Value::Null));
            put("pointer", json!(pointer));
        }
        EvaluatorKind::Similarity { metric, threshold } => {
            put("metric", json!(metric.as_str()));
            put("threshold", json!(threshold));
        }
        EvaluatorKind::Length {
            min_chars,
            max_chars,
        } => {
            put("minChars", json!(min_chars));
            put("maxChars", json!(max_chars));
        }
        EvaluatorKind::Latency { max_ms } => put("maxMs", json!(max_ms)),
        EvaluatorKind::Cost { max_usd } => put("maxUsd", json!(max_usd)),
        EvaluatorKind::LlmJudge {
            prompt_id,
            label,
            version_id,
            mode,
            threshold,
        } => {
            put("promptId", json!(prompt_id));
            put("label", json!(label));
            put("versionId", json!(version_id));
            put("mode", json!(mode.as_str()));
            put("threshold", json!(threshold));
        }
        EvaluatorKind::Http { url, timeout_ms } => {
            put("url", json!(url));
            put("timeoutMs", json!(timeout_ms));
        }
    }
    Value::Object(out)
}
