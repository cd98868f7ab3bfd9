use super::*;
use serde_json::json;

fn parse(v: Value) -> Result<Vec<EvaluatorSpec>, promptrefine_core::validate::Violations> {
    EvaluatorSpec::parse_list(&v, "evaluators")
}

/// `(field, rule)` of every violation.
fn errors(v: Value) -> Vec<(String, String)> {
    parse(v)
        .unwrap_err()
        .into_iter()
        .map(|e| (e.field, e.rule))
        .collect()
}

fn pairs(list: &[(&str, &str)]) -> Vec<(String, String)> {
    list.iter()
        .map(|(f, r)| (f.to_string(), r.to_string()))
        .collect()
}

fn every_kind() -> Value {
    json!([
        { "type": "exact_match", "trim": false, "ignoreCase": true, "collapseWhitespace": true },
        { "type": "exact_match", "value": "Paris" },
        { "type": "contains", "values": ["a", "b"], "mode": "all", "ignoreCase": true },
        { "type": "not_contains", "values": ["sorry"] },
        { "type": "regex", "pattern": "^\\d{3}$" },
        { "type": "json_valid" },
        { "type": "json_schema", "schema": { "type": "object", "required": ["a"] } },
        { "type": "json_equals", "value": { "a": [1, 2] }, "pointer": "/answer" },
        { "type": "json_equals" },
        { "type": "similarity", "metric": "token_f1", "threshold": 0.6 },
        { "type": "similarity", "metric": "levenshtein" },
        { "type": "length", "minChars": 1, "maxChars": 300 },
        { "type": "length", "maxChars": 10 },
        { "type": "latency", "maxMs": 2000 },
        { "type": "cost", "maxUsd": 0.01 },
        { "name": "helpful", "type": "llm_judge", "promptId": "judge-helpfulness", "label": "production" },
        { "type": "llm_judge", "promptId": "p2", "versionId": "v-123", "mode": "pass", "threshold": 0.7 },
        { "type": "http", "url": "https://eval.example.com/score" },
    ])
}

#[test]
fn every_kind_parses_with_its_defaults_and_default_names_are_unique() {
    let specs = parse(every_kind()).unwrap();
    let names: Vec<_> = specs.iter().map(|s| s.name.as_str()).collect();
    assert_eq!(
        names,
        [
            "exact_match",
            "exact_match_2",
            "contains",
            "not_contains",
            "regex",
            "json_valid",
            "json_schema",
            "json_equals",
            "json_equals_2",
            "similarity",
            "similarity_2",
            "length",
            "length_2",
            "latency",
            "cost",
            "helpful",
            "llm_judge",
            "http"
        ]
    );
    assert_eq!(
        specs[1].kind,
        EvaluatorKind::ExactMatch {
            value: Some("Paris".into()),
            trim: true,
            ignore_case: false,
            collapse_whitespace: false
        }
    );
    assert_eq!(
        specs[3].kind,
        EvaluatorKind::NotContains {
            values: vec!["sorry".into()],
            mode: MatchMode::Any,
            ignore_case: false
        }
    );
    assert_eq!(
        specs[10].kind,
        EvaluatorKind::Similarity {
            metric: SimilarityMetric::Levenshtein,
            threshold: 0.8
        }
    );
    assert_eq!(
        specs[15].kind,
        EvaluatorKind::LlmJudge {
            prompt_id: "judge-helpfulness".into(),
            label: Some("production".into()),
            version_id: None,
            mode: JudgeMode::Score,
            threshold: 0.5
        }
    );
    assert_eq!(
        specs[17].kind,
        EvaluatorKind::Http {
            url: "https://eval.example.com/score".into(),
            timeout_ms: 10_000
        }
    );
    let det: Vec<_> = specs.iter().map(EvaluatorSpec::is_deterministic).collect();
    assert!(det[..15].iter().all(|d| *d) && !det[15] && !det[16] && !det[17]);
}

#[test]
fn canonical_json_round_trips_and_spells_out_defaults() {
    let specs = parse(every_kind()).unwrap();
    let stored = EvaluatorSpec::list_to_json(&specs);
    assert_eq!(parse(stored.clone()).unwrap(), specs);
    assert_eq!(
        stored[3],
        json!({ "name": "not_contains", "type": "not_contains", "values": ["sorry"], "mode": "any", "ignoreCase": false })
    );
    assert_eq!(
        stored[17],
        json!({ "name": "http", "type": "http", "url": "https://eval.example.com/score", "timeoutMs": 10000 })
    );
    assert_eq!(
        stored[12],
        json!({ "name": "length_2", "type": "length", "maxChars": 10 })
    );
    // Stored JSON is itself canonical.
    assert_eq!(
        EvaluatorSpec::list_to_json(&parse(stored.clone()).unwrap()),
        stored
    );
}

#[test]
fn explicit_names_win_and_defaults_skip_them() {
    let specs = parse(json!([
        { "type": "contains", "values": ["x"] },
        { "name": "contains", "type": "json_valid" },
    ]))
    .unwrap();
    assert_eq!(specs[0].name, "contains_2");
    assert_eq!(specs[1].name, "contains");
    assert_eq!(specs[1].type_name(), "json_valid");
}

#[test]
fn duplicate_names_are_refused() {
    assert_eq!(
        errors(json!([
            { "name": "a", "type": "json_valid" },
            { "name": " a ", "type": "json_valid" },
        ])),
        pairs(&[("evaluators[1].name", "duplicate")])
    );
}

#[test]
fn the_list_must_be_an_array_of_at_most_twenty_objects() {
    assert_eq!(errors(json!({})), pairs(&[("evaluators", "type")]));
    let many: Vec<Value> = (0..21).map(|_| json!({ "type": "json_valid" })).collect();
    assert_eq!(
        errors(Value::Array(many)),
        pairs(&[("evaluators", "count")])
    );
    let twenty: Vec<Value> = (0..20).map(|_| json!({ "type": "json_valid" })).collect();
    assert_eq!(parse(Value::Array(twenty)).unwrap().len(), 20);
    assert_eq!(errors(json!([1])), pairs(&[("evaluators[0]", "type")]));
    assert_eq!(parse(json!([])).unwrap(), vec![]);
}

#[test]
fn an_unknown_type_is_one_of_naming_the_allowed_types() {
    let err = parse(json!([{ "type": "bleu", "n": 4 }])).unwrap_err();
    assert_eq!(err.len(), 1, "no unknown-key noise for an unknown type");
    assert_eq!(err.0[0].field, "evaluators[0].type");
    assert_eq!(err.0[0].rule, "oneOf");
    assert!(err.0[0].message.contains("exact_match") && err.0[0].message.contains("http"));
    assert_eq!(
        errors(json!([{ "name": "x", "pattern": "a" }])),
        pairs(&[("evaluators[0].type", "required")])
    );
    assert_eq!(
        errors(json!([{ "type": 3 }])),
        pairs(&[("evaluators[0].type", "type")])
    );
}

#[test]
fn unknown_keys_are_errors_so_a_typo_does_not_fall_back_to_a_default() {
    let err = parse(json!([{ "type": "exact_match", "ignorecase": true }])).unwrap_err();
    assert_eq!(err.0[0].field, "evaluators[0].ignorecase");
    assert_eq!(err.0[0].rule, "oneOf");
    assert!(
        err.0[0].message.contains("ignoreCase"),
        "{}",
        err.0[0].message
    );
    assert_eq!(
        errors(json!([{ "type": "json_valid", "schema": {} }])),
        pairs(&[("evaluators[0].schema", "oneOf")])
    );
}

#[test]
fn every_bad_option_is_named_with_its_rule() {
    let got = errors(json!([
        { "type": "exact_match", "trim": "yes", "value": 3 },
        { "type": "contains" },
        { "type": "contains", "values": [] , "mode": "some" },
        { "type": "not_contains", "values": ["ok", "", 7] },
        { "type": "regex" },
        { "type": "regex", "pattern": "(" },
        { "type": "regex", "pattern": "a{1000}{1000}" },
        { "type": "json_schema", "schema": { "type": "nonsense" } },
        { "type": "json_schema", "schema": "x" },
        { "type": "json_equals", "pointer": "answer" },
        { "type": "similarity", "metric": "bleu", "threshold": 1.5 },
        { "type": "length" },
        { "type": "length", "minChars": 10, "maxChars": 5 },
        { "type": "latency", "maxMs": -1 },
        { "type": "cost", "maxUsd": "0.1" },
        { "type": "llm_judge", "label": "prod", "versionId": "v1", "mode": "grade" },
        { "type": "http", "url": "ftp://x", "timeoutMs": 60001 },
        { "name": "", "type": "json_valid" },
    ]));
    assert_eq!(
        got,
        pairs(&[
            ("evaluators[0].value", "type"),
            ("evaluators[0].trim", "type"),
            ("evaluators[1].values", "required"),
            ("evaluators[2].mode", "oneOf"),
            ("evaluators[2].values", "count"),
            ("evaluators[3].values[1]", "length"),
            ("evaluators[3].values[2]", "type"),
            ("evaluators[4].pattern", "required"),
            ("evaluators[5].pattern", "format"),
            ("evaluators[6].pattern", "size"),
            ("evaluators[7].schema", "format"),
            ("evaluators[8].schema", "type"),
            ("evaluators[9].pointer", "format"),
            ("evaluators[10].metric", "oneOf"),
            ("evaluators[10].threshold", "range"),
            ("evaluators[11].maxChars", "required"),
            ("evaluators[12].maxChars", "range"),
            ("evaluators[13].maxMs", "range"),
            ("evaluators[14].maxUsd", "type"),
            ("evaluators[15].promptId", "required"),
            ("evaluators[15].versionId", "oneOf"),
            ("evaluators[15].mode", "oneOf"),
            ("evaluators[16].url", "format"),
            ("evaluators[16].timeoutMs", "range"),
            ("evaluators[17].name", "length"),
        ])
    );
}

#[test]
fn the_field_prefix_is_the_callers() {
    let err =
        EvaluatorSpec::parse_list(&json!([{ "type": "regex" }]), "body.evaluators").unwrap_err();
    assert_eq!(err.0[0].field, "body.evaluators[0].pattern");
}

#[test]
fn a_parsed_regex_is_compiled_and_compares_by_its_pattern() {
    let specs = parse(json!([{ "type": "regex", "pattern": "(?i)^yes" }])).unwrap();
    let EvaluatorKind::Regex { pattern } = &specs[0].kind else {
        panic!()
    };
    assert!(pattern.regex().is_match("Yes, indeed"));
    assert_eq!(pattern.as_str(), "(?i)^yes");
    assert_eq!(specs[0].clone(), specs[0]);
}

#[test]
fn a_schema_with_a_remote_ref_cannot_fetch() {
    // No HTTP or file retrieval is compiled in: the reference fails to
    // resolve at parse time instead of making the server call out.
    let got = errors(
        json!([{ "type": "json_schema", "schema": { "$ref": "https://example.com/s.json" } }]),
    );
    assert_eq!(got, pairs(&[("evaluators[0].schema", "format")]));
}

#[test]
fn schema_patterns_use_the_linear_time_engine() {
    // Look-around needs a backtracking engine; the schema is refused at
    // parse time rather than risking catastrophic backtracking per cell.
    let got = errors(
        json!([{ "type": "json_schema", "schema": { "type": "string", "pattern": "^(?=a)a+$" } }]),
    );
    assert_eq!(got, pairs(&[("evaluators[0].schema", "format")]));
    assert!(
        parse(
            json!([{ "type": "json_schema", "schema": { "type": "string", "pattern": "^a+$" } }])
        )
        .is_ok()
    );
}

#[test]
fn http_urls_need_a_scheme_and_a_plain_host() {
    assert_eq!(
        http_host("https://Eval.Example.com:8443/x?y"),
        Some("eval.example.com".into())
    );
    assert_eq!(
        http_host("http://127.0.0.1/score"),
        Some("127.0.0.1".into())
    );
    assert_eq!(http_host("http://[::1]:80/"), Some("[::1]".into()));
    for bad in [
        "ftp://x",
        "https://",
        "https://a b",
        "https://user@evil.com/",
        "http://h:port/",
        "eval.example.com",
    ] {
        assert_eq!(http_host(bad), None, "{bad}");
    }
}

#[test]
fn http_evaluators_are_off_unless_their_host_is_allowed() {
    let specs = parse(json!([
        { "type": "json_valid" },
        { "type": "http", "url": "https://EVAL.example.com/a" },
        { "type": "http", "url": "http://other.example.com/a" },
    ]))
    .unwrap();
    let err = check_http_allowed(&specs, &[], "evaluators").unwrap_err();
    let fields: Vec<_> = err.iter().map(|e| e.field.as_str()).collect();
    assert_eq!(fields, ["evaluators[1].url", "evaluators[2].url"]);
    assert!(err.0[0].message.contains("off"));
    let err = check_http_allowed(&specs, &["eval.example.com".into()], "evaluators").unwrap_err();
    assert_eq!(err.len(), 1);
    assert_eq!(err.0[0].field, "evaluators[2].url");
    assert_eq!(err.0[0].rule, "oneOf");
    assert!(
        check_http_allowed(
            &specs,
            &["eval.example.com".into(), " Other.Example.com:8443 ".into()],
            "evaluators"
        )
        .is_ok()
    );
}

#[test]
fn null_options_count_as_absent() {
    let specs = parse(json!([{ "type": "exact_match", "value": null, "trim": null }])).unwrap();
    assert_eq!(
        specs[0].kind,
        EvaluatorKind::ExactMatch {
            value: None,
            trim: true,
            ignore_case: false,
            collapse_whitespace: false
        }
    );
}

#[test]
fn judge_labels_follow_the_label_rule() {
    let got = errors(json!([{ "type": "llm_judge", "promptId": "p", "label": "Bad Label!" }]));
    assert_eq!(got.len(), 1);
    assert_eq!(got[0].0, "evaluators[0].label");
}
