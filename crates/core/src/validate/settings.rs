//! Model settings: every field optional; the ones that are set must be what
//! providers accept, so a bad value fails on save (a 422 naming the field)
//! rather than on every run. Tool parameters and response schemas must be
//! valid JSON Schemas (checked with `jsonschema`, no remote `$ref`s).

use serde_json::Value;

use super::limits::{
    EXTRA_MAX_BYTES, EXTRA_RESERVED, FUNCTION_NAME_MAX_CHARS, LOGIT_BIAS_MAX,
    LOGIT_BIAS_MAX_ENTRIES, MAX_TOKENS_MAX, PENALTY_MAX, REASONING_EFFORTS, RESPONSE_FORMAT_TYPES,
    SCHEMA_MAX_BYTES, STOP_MAX, STOP_MAX_CHARS, TEMPERATURE_MAX, TOOL_CHOICES,
    TOOL_DESCRIPTION_MAX_CHARS, TOOLS_MAX, TOP_P_MAX,
};
use super::rules::{child, item, length, range};
use super::versions::ModelName;
use super::{Rule, Violations};
use crate::domain::ModelSettings;

/// Patterns in a schema are compiled with this size limit, as the
/// evaluators' are: a hostile pattern cannot take the server's memory.
const REGEX_SIZE_LIMIT: usize = 1 << 20;

/// Checks every field of `s`, named under `field` (`settings.tools[0]…`).
pub fn settings(v: &mut Violations, field: &str, s: &ModelSettings) {
    if let Some(model) = &s.model {
        v.check(ModelName::parse(&child(field, "model"), model));
    }
    if let Some(t) = s.temperature {
        v.extend(range(&child(field, "temperature"), t, TEMPERATURE_MAX));
    }
    if let Some(p) = s.top_p {
        v.extend(range(&child(field, "topP"), p, TOP_P_MAX));
    }
    token_bound(v, &child(field, "maxTokens"), s.max_tokens);
    token_bound(
        v,
        &child(field, "maxCompletionTokens"),
        s.max_completion_tokens,
    );
    if let Some(stop) = &s.stop {
        let f = child(field, "stop");
        if stop.len() > STOP_MAX {
            v.push(
                &f,
                Rule::Count,
                format!("{f} must have at most {STOP_MAX} sequences"),
            );
        }
        for (i, seq) in stop.iter().enumerate() {
            v.extend(length(&item(&f, i), seq, 1, STOP_MAX_CHARS));
        }
    }
    if let Some(format) = &s.response_format {
        response_format(v, &child(field, "responseFormat"), format);
    }
    let mut names = Vec::new();
    if let Some(tools) = &s.tools {
        names = self::tools(v, &child(field, "tools"), tools);
    }
    if let Some(choice) = &s.tool_choice {
        tool_choice(
            v,
            &child(field, "toolChoice"),
            choice,
            s.tools.as_ref().map(|_| &names[..]),
        );
    }
    for (name, x) in [
        ("frequencyPenalty", s.frequency_penalty),
        ("presencePenalty", s.presence_penalty),
    ] {
        if let Some(x) = x
            && !(-PENALTY_MAX..=PENALTY_MAX).contains(&x)
        {
            let f = child(field, name);
            v.push(
                &f,
                Rule::Range,
                format!("{f} must be a number from -{PENALTY_MAX} to {PENALTY_MAX}"),
            );
        }
    }
    if let Some(bias) = &s.logit_bias {
        let f = child(field, "logitBias");
        if bias.len() > LOGIT_BIAS_MAX_ENTRIES {
            v.push(
                &f,
                Rule::Count,
                format!("{f} must have at most {LOGIT_BIAS_MAX_ENTRIES} entries"),
            );
        }
        for (token, b) in bias {
            let k = format!("{f}[{token:?}]");
            if token.is_empty() || token.len() > 12 || !token.bytes().all(|c| c.is_ascii_digit()) {
                v.push(
                    &k,
                    Rule::Format,
                    format!("{f} keys must be token ids (digits)"),
                );
            }
            if !(-LOGIT_BIAS_MAX..=LOGIT_BIAS_MAX).contains(b) {
                v.push(
                    &k,
                    Rule::Range,
                    format!("{k} must be from -{LOGIT_BIAS_MAX} to {LOGIT_BIAS_MAX}"),
                );
            }
        }
    }
    if let Some(effort) = &s.reasoning_effort
        && !REASONING_EFFORTS.contains(&effort.as_str())
    {
        let f = child(field, "reasoningEffort");
        v.push(
            &f,
            Rule::OneOf,
            format!("{f} must be one of {}", REASONING_EFFORTS.join(", ")),
        );
    }
    if let Some(extra) = &s.extra {
        let f = child(field, "extra");
        for key in extra.keys() {
            if EXTRA_RESERVED.contains(&key.as_str()) {
                let k = child(&f, key);
                v.push(
                    &k,
                    Rule::Reserved,
                    format!(
                        "{f} may not set {key:?}: the server sends it, or a named setting does"
                    ),
                );
            }
        }
        if json_len(&Value::Object(extra.clone())) > EXTRA_MAX_BYTES {
            v.push(
                &f,
                Rule::Size,
                format!("{f} must be at most {EXTRA_MAX_BYTES} bytes of JSON"),
            );
        }
    }
}

/// For settings merged from a version and a run's overrides: a
/// `toolChoice` that names a function must name one of the `tools` in
/// effect (each half alone may be valid).
pub fn tool_choice_in_tools(v: &mut Violations, field: &str, s: &ModelSettings) {
    let (Some(choice), Some(tools)) = (&s.tool_choice, &s.tools) else {
        return;
    };
    let Some(name) = choice.pointer("/function/name").and_then(Value::as_str) else {
        return;
    };
    let known = tools
        .iter()
        .any(|t| t.pointer("/function/name").and_then(Value::as_str) == Some(name));
    if !known {
        v.push(
            field,
            Rule::OneOf,
            format!("{field} names {name:?}, which is not one of the tools in effect"),
        );
    }
}

fn token_bound(v: &mut Violations, f: &str, n: Option<u32>) {
    if n.is_some_and(|n| !(1..=MAX_TOKENS_MAX).contains(&n)) {
        v.push(
            f,
            Rule::Range,
            format!("{f} must be from 1 to {MAX_TOKENS_MAX}"),
        );
    }
}

fn json_len(v: &Value) -> usize {
    serde_json::to_vec(v).map_or(usize::MAX, |b| b.len())
}

fn response_format(v: &mut Violations, field: &str, format: &Value) {
    let Some(object) = format.as_object() else {
        v.push(
            field,
            Rule::Type,
            format!("{field} must be an object such as {{\"type\": \"json_object\"}}"),
        );
        return;
    };
    let ty = object.get("type").and_then(|t| t.as_str());
    if !ty.is_some_and(|t| RESPONSE_FORMAT_TYPES.contains(&t)) {
        let f = child(field, "type");
        v.push(
            &f,
            Rule::OneOf,
            format!("{f} must be one of {}", RESPONSE_FORMAT_TYPES.join(", ")),
        );
    }
    if ty != Some("json_schema") {
        return;
    }
    let f = child(field, "json_schema");
    let Some(js) = object.get("json_schema").and_then(Value::as_object) else {
        v.push(
            &f,
            Rule::Required,
            format!("{f} is required: an object with a name and a schema"),
        );
        return;
    };
    function_name(v, &child(&f, "name"), js.get("name"));
    match js.get("schema") {
        None => v.push(
            child(&f, "schema"),
            Rule::Required,
            format!("{f}.schema is required"),
        ),
        Some(schema) => json_schema(v, &child(&f, "schema"), schema),
    }
    if let Some(strict) = js.get("strict")
        && !strict.is_boolean()
    {
        let s = child(&f, "strict");
        v.push(&s, Rule::Type, format!("{s} must be true or false"));
    }
}

/// Checks each tool; the names of the valid ones, for `toolChoice`.
fn tools(v: &mut Violations, field: &str, tools: &[Value]) -> Vec<String> {
    if tools.len() > TOOLS_MAX {
        v.push(
            field,
            Rule::Count,
            format!("{field} must have at most {TOOLS_MAX} tools"),
        );
    }
    let mut names: Vec<String> = Vec::new();
    for (i, tool) in tools.iter().enumerate() {
        let f = item(field, i);
        let Some(object) = tool.as_object() else {
            v.push(
                &f,
                Rule::Type,
                format!("{f} must be an object {{\"type\": \"function\", \"function\": {{…}}}}"),
            );
            continue;
        };
        if object.get("type").and_then(Value::as_str) != Some("function") {
            let t = child(&f, "type");
            v.push(&t, Rule::OneOf, format!("{t} must be \"function\""));
        }
        let func_field = child(&f, "function");
        let Some(func) = object.get("function").and_then(Value::as_object) else {
            v.push(
                &func_field,
                Rule::Required,
                format!("{func_field} is required: an object with a name"),
            );
            continue;
        };
        let name_field = child(&func_field, "name");
        if function_name(v, &name_field, func.get("name")) {
            let name = func["name"].as_str().unwrap_or_default().to_owned();
            if names.contains(&name) {
                v.push(
                    &name_field,
                    Rule::Duplicate,
                    format!("{name_field}: another tool is named {name:?}"),
                );
            } else {
                names.push(name);
            }
        }
        if let Some(d) = func.get("description") {
            let df = child(&func_field, "description");
            match d.as_str() {
                Some(d) => v.extend(length(&df, d, 0, TOOL_DESCRIPTION_MAX_CHARS)),
                None => v.push(&df, Rule::Type, format!("{df} must be a string")),
            }
        }
        if let Some(p) = func.get("parameters") {
            json_schema(v, &child(&func_field, "parameters"), p);
        }
        if let Some(strict) = func.get("strict")
            && !strict.is_boolean()
        {
            let s = child(&func_field, "strict");
            v.push(&s, Rule::Type, format!("{s} must be true or false"));
        }
    }
    names
}

/// `tools`: the names of the tools saved beside it, when it is.
fn tool_choice(v: &mut Violations, field: &str, choice: &Value, tools: Option<&[String]>) {
    if let Some(s) = choice.as_str() {
        if !TOOL_CHOICES.contains(&s) {
            v.push(
                field,
                Rule::OneOf,
                format!(
                    "{field} must be one of {} or {{\"type\": \"function\", \"function\": {{\"name\"}}}}",
                    TOOL_CHOICES.join(", ")
                ),
            );
        }
        return;
    }
    let name = choice
        .as_object()
        .filter(|o| o.get("type").and_then(Value::as_str) == Some("function"))
        .and_then(|o| o.get("function"))
        .and_then(|f| f.get("name"));
    let Some(name) = name else {
        v.push(
            field,
            Rule::Type,
            format!(
                "{field} must be a string or {{\"type\": \"function\", \"function\": {{\"name\"}}}}"
            ),
        );
        return;
    };
    let f = format!("{field}.function.name");
    if function_name(v, &f, Some(name))
        && let Some(tools) = tools
        && !tools.iter().any(|t| Some(t.as_str()) == name.as_str())
    {
        v.push(&f, Rule::OneOf, format!("{f} must name one of the tools"));
    }
}

/// A function or schema name: 1–64 of `[A-Za-z0-9_-]`. Whether it was one.
fn function_name(v: &mut Violations, field: &str, name: Option<&Value>) -> bool {
    let Some(name) = name else {
        v.push(field, Rule::Required, format!("{field} is required"));
        return false;
    };
    let Some(name) = name.as_str() else {
        v.push(field, Rule::Type, format!("{field} must be a string"));
        return false;
    };
    if name.is_empty() || name.len() > FUNCTION_NAME_MAX_CHARS {
        v.push(
            field,
            Rule::Length,
            format!("{field} must be 1–{FUNCTION_NAME_MAX_CHARS} characters"),
        );
        return false;
    }
    if !name
        .bytes()
        .all(|c| c.is_ascii_alphanumeric() || c == b'_' || c == b'-')
    {
        v.push(
            field,
            Rule::Characters,
            format!("{field} may only have letters, digits, _ and -"),
        );
        return false;
    }
    true
}

/// A JSON Schema object (or `true`/`false`) that compiles: the meta-schema
/// check included, so `{"type": "objekt"}` is refused on save.
fn json_schema(v: &mut Violations, field: &str, schema: &Value) {
    if !schema.is_object() && !schema.is_boolean() {
        v.push(
            field,
            Rule::Type,
            format!("{field} must be a JSON Schema object"),
        );
        return;
    }
    if json_len(schema) > SCHEMA_MAX_BYTES {
        v.push(
            field,
            Rule::Size,
            format!("{field} must be at most {SCHEMA_MAX_BYTES} bytes of JSON"),
        );
        return;
    }
    let built = jsonschema::options()
        .with_pattern_options(jsonschema::PatternOptions::regex().size_limit(REGEX_SIZE_LIMIT))
        .build(schema);
    if let Err(e) = built {
        // The first line names the problem; the schema itself is not echoed.
        let why = e.to_string();
        let why = why.lines().next().unwrap_or_default();
        let why: String = why.chars().take(300).collect();
        v.push(
            field,
            Rule::Format,
            format!("{field} is not a valid JSON Schema: {why}"),
        );
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::super::rules::testing::{fails, ok};
    use super::*;

    fn with(f: impl FnOnce(&mut ModelSettings)) -> ModelSettings {
        let mut s = ModelSettings::default();
        f(&mut s);
        s
    }

    fn tool(name: &str, parameters: Value) -> Value {
        json!({"type": "function", "function": {"name": name, "description": "d", "parameters": parameters}})
    }

    #[test]
    fn every_new_setting_at_a_valid_value_passes() {
        let s = with(|s| {
            s.tools = Some(vec![tool(
                "get_weather",
                json!({"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}),
            )]);
            s.tool_choice = Some(json!({"type": "function", "function": {"name": "get_weather"}}));
            s.parallel_tool_calls = Some(false);
            s.response_format = Some(
                json!({"type": "json_schema", "json_schema": {"name": "answer", "strict": true, "schema": {"type": "object"}}}),
            );
            s.frequency_penalty = Some(-2.0);
            s.presence_penalty = Some(2.0);
            s.logit_bias = Some([("50256".to_string(), -100), ("1".to_string(), 100)].into());
            s.max_completion_tokens = Some(1);
            s.reasoning_effort = Some("low".into());
            s.extra = Some(
                json!({"top_k": 40, "repetition_penalty": 1.1})
                    .as_object()
                    .unwrap()
                    .clone(),
            );
        });
        ok(|v| settings(v, "settings", &s));
        for c in ["none", "auto", "required"] {
            let s = with(|s| s.tool_choice = Some(json!(c)));
            ok(|v| settings(v, "settings", &s));
        }
    }

    #[test]
    fn a_tool_schema_that_is_not_a_json_schema_is_named() {
        let s = with(|s| {
            s.tools = Some(vec![
                tool("ok", json!({"type": "object"})),
                tool("bad", json!({"type": "objekt"})),
                tool("bad2", json!([1])),
            ])
        });
        fails(
            |v| settings(v, "settings", &s),
            &[
                ("settings.tools[1].function.parameters", "format"),
                ("settings.tools[2].function.parameters", "type"),
            ],
        );
    }

    #[test]
    fn tools_need_the_function_shape_and_unique_names() {
        let s = with(|s| {
            s.tools = Some(vec![
                json!("get"),
                json!({"type": "web", "function": {"name": "a"}}),
                json!({"type": "function"}),
                json!({"type": "function", "function": {"name": "has space"}}),
                json!({"type": "function", "function": {"name": "a", "strict": "yes"}}),
            ])
        });
        fails(
            |v| settings(v, "settings", &s),
            &[
                ("settings.tools[0]", "type"),
                ("settings.tools[1].type", "oneOf"),
                ("settings.tools[2].function", "required"),
                ("settings.tools[3].function.name", "characters"),
                ("settings.tools[4].function.name", "duplicate"),
                ("settings.tools[4].function.strict", "type"),
            ],
        );
    }

    #[test]
    fn tool_choice_must_be_a_known_word_or_name_a_tool() {
        let s = with(|s| s.tool_choice = Some(json!("always")));
        fails(|v| settings(v, "", &s), &[("toolChoice", "oneOf")]);
        let s = with(|s| s.tool_choice = Some(json!(3)));
        fails(|v| settings(v, "", &s), &[("toolChoice", "type")]);
        let s = with(|s| {
            s.tools = Some(vec![tool("a", json!({}))]);
            s.tool_choice = Some(json!({"type": "function", "function": {"name": "b"}}));
        });
        fails(
            |v| settings(v, "", &s),
            &[("toolChoice.function.name", "oneOf")],
        );
    }

    #[test]
    fn a_merged_tool_choice_must_name_a_tool_in_effect() {
        let s = with(|s| {
            s.tools = Some(vec![tool("a", json!({}))]);
            s.tool_choice = Some(json!({"type": "function", "function": {"name": "b"}}));
        });
        fails(
            |v| tool_choice_in_tools(v, "params.toolChoice.function.name", &s),
            &[("params.toolChoice.function.name", "oneOf")],
        );
        let s = with(|s| {
            s.tools = Some(vec![tool("a", json!({}))]);
            s.tool_choice = Some(json!("auto"));
        });
        ok(|v| tool_choice_in_tools(v, "x", &s));
    }

    #[test]
    fn a_json_schema_response_format_needs_a_name_and_a_valid_schema() {
        for (rf, expected) in [
            (json!({"type": "json_schema"}), "responseFormat.json_schema"),
            (
                json!({"type": "json_schema", "json_schema": {"schema": {}}}),
                "responseFormat.json_schema.name",
            ),
            (
                json!({"type": "json_schema", "json_schema": {"name": "x"}}),
                "responseFormat.json_schema.schema",
            ),
            (
                json!({"type": "json_schema", "json_schema": {"name": "x", "schema": {"minLength": -1}}}),
                "responseFormat.json_schema.schema",
            ),
        ] {
            let s = with(|s| s.response_format = Some(rf.clone()));
            let found = super::super::rules::testing::run(|v| settings(v, "", &s));
            assert_eq!(found.len(), 1, "{rf}: {found:?}");
            assert_eq!(found[0].0, expected, "{rf}");
        }
    }

    #[test]
    fn penalties_bias_effort_and_completion_tokens_have_ranges() {
        let s = with(|s| {
            s.frequency_penalty = Some(2.5);
            s.presence_penalty = Some(f64::NAN);
            s.logit_bias = Some([("abc".to_string(), 5), ("7".to_string(), 101)].into());
            s.max_completion_tokens = Some(0);
            s.reasoning_effort = Some("max".into());
        });
        fails(
            |v| settings(v, "params", &s),
            &[
                ("params.maxCompletionTokens", "range"),
                ("params.frequencyPenalty", "range"),
                ("params.presencePenalty", "range"),
                ("params.logitBias[\"7\"]", "range"),
                ("params.logitBias[\"abc\"]", "format"),
                ("params.reasoningEffort", "oneOf"),
            ],
        );
    }

    #[test]
    fn extra_may_not_set_what_the_server_or_a_named_setting_sends() {
        for key in ["model", "messages", "stream", "tools", "temperature"] {
            let s = with(|s| {
                s.extra = Some(json!({ key: 1, "top_k": 3 }).as_object().unwrap().clone())
            });
            fails(
                |v| settings(v, "settings", &s),
                &[(&format!("settings.extra.{key}"), "reserved")],
            );
        }
    }
}
