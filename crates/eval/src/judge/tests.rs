use super::*;
use serde_json::json;

fn score_mode(text: &str) -> Result<JudgeAnswer, String> {
    parse_answer(text, JudgeMode::Score, 0.5)
}

#[test]
fn pure_json_from_a_structured_output() {
    let a = score_mode(r#"{"score": 0.8, "reason": "mostly right"}"#).unwrap();
    assert_eq!(
        a,
        JudgeAnswer {
            value: 0.8,
            pass: true,
            reason: Some("mostly right".into())
        }
    );
    let a = parse_answer(
        r#"{"pass": false, "reason": "wrong city"}"#,
        JudgeMode::Pass,
        0.5,
    )
    .unwrap();
    assert_eq!((a.value, a.pass), (0.0, false));
}

#[test]
fn json_in_a_fence_or_in_prose_is_found() {
    let fenced =
        "Here is my verdict:\n```json\n{\"score\": 0.25, \"reason\": \"off topic\"}\n```\nThanks.";
    let a = score_mode(fenced).unwrap();
    assert_eq!((a.value, a.pass), (0.25, false));
    let prose = "I think the answer deserves {\"score\": \"0.9\", \"reason\": \"a {nested} brace in a string\"} overall.";
    let a = score_mode(prose).unwrap();
    assert_eq!(a.value, 0.9, "a numeric string is a number");
    assert_eq!(a.reason.as_deref(), Some("a {nested} brace in a string"));
    // A first object without the key does not hide a later one.
    let two = "Rubric: {\"criteria\": [\"accuracy\"]}. Verdict: {\"Score\": 1, \"reason\": \"ok\"}";
    assert_eq!(score_mode(two).unwrap().value, 1.0);
    // Nested: the inner object carries the score.
    let nested = "{\"verdict\": {\"score\": 0.5, \"reason\": \"meh\"}, broken";
    assert_eq!(score_mode(nested).unwrap().value, 0.5);
    let pass_text = "```\n{\"pass\": \"TRUE\", \"reason\": \"fine\"}\n```";
    assert!(parse_answer(pass_text, JudgeMode::Pass, 0.5).unwrap().pass);
}

#[test]
fn the_threshold_decides_pass_in_score_mode() {
    let a = parse_answer(r#"{"score": 0.7, "reason": ""}"#, JudgeMode::Score, 0.7).unwrap();
    assert!(a.pass, "at the threshold passes");
    let a = parse_answer(r#"{"score": 0.69, "reason": ""}"#, JudgeMode::Score, 0.7).unwrap();
    assert!(!a.pass);
}

#[test]
fn other_scales_are_errors_not_rescaled() {
    let e = score_mode(r#"{"score": 8, "reason": "good"}"#).unwrap_err();
    assert!(e.contains("outside 0..1"), "{e}");
    let e = score_mode(r#"{"score": 85}"#).unwrap_err();
    assert!(e.contains("85"), "{e}");
    assert!(score_mode(r#"{"score": -0.1}"#).is_err());
}

#[test]
fn garbage_is_an_error_with_an_excerpt() {
    let e = score_mode("I would rate this a solid seven out of ten.").unwrap_err();
    assert!(e.contains("no JSON object with \"score\""), "{e}");
    assert!(e.contains("solid seven"), "{e}");
    let long = "x".repeat(5000);
    let e = score_mode(&long).unwrap_err();
    assert!(e.len() < 400, "the excerpt is short");
    assert!(
        score_mode(r#"{"score": "high"}"#)
            .unwrap_err()
            .contains("not a number")
    );
    assert!(parse_answer(r#"{"pass": "maybe"}"#, JudgeMode::Pass, 0.5).is_err());
    assert!(parse_answer(r#"{"score": 1}"#, JudgeMode::Pass, 0.5).is_err());
    assert!(score_mode("{{{{{{{{").is_err());
    assert!(score_mode("").is_err());
}

#[test]
fn scores_from_answers_and_from_failures() {
    let spec = EvaluatorSpec::parse_list(
        &json!([{ "name": "judge", "type": "llm_judge", "promptId": "j", "mode": "pass" }]),
        "e",
    )
    .unwrap()
    .remove(0);
    let s = score_text(&spec, r#"{"pass": true, "reason": "right"}"#);
    assert_eq!(
        (s.evaluator.as_str(), s.kind.as_str(), s.value, s.pass),
        ("judge", "llm_judge", Some(1.0), Some(true))
    );
    let s = score_text(&spec, "no idea");
    assert!(s.is_error() && s.pass.is_none());
    let s = to_score(&spec, Err("timeout after 30 s".into()));
    assert_eq!(s.error.as_deref(), Some("timeout after 30 s"));
}

#[test]
fn variables_give_input_output_and_expected_over_the_items_own() {
    let mut item = BTreeMap::new();
    item.insert("city".to_owned(), "Paris".to_owned());
    item.insert("output".to_owned(), "forged".to_owned());
    let expected = json!({ "capital": "Paris" });
    let sample = Sample::new("It is Paris.")
        .with_variables(&item)
        .with_expected(&expected);
    let vars = variables(&sample, "What is the capital?");
    assert_eq!(vars["input"], "What is the capital?");
    assert_eq!(vars["output"], "It is Paris.");
    assert_eq!(vars["expected"], "{\"capital\":\"Paris\"}");
    assert_eq!(vars["city"], "Paris");
    assert_eq!(vars.len(), 4);
    assert_eq!(variables(&Sample::new("o"), "i")["expected"], "");
}

#[test]
fn the_response_schema_is_strict_and_accepts_what_the_parser_accepts() {
    for mode in [JudgeMode::Score, JudgeMode::Pass] {
        let schema = response_schema(mode);
        assert_eq!(schema["additionalProperties"], json!(false));
        let props: Vec<_> = schema["properties"]
            .as_object()
            .unwrap()
            .keys()
            .cloned()
            .collect();
        let mut required: Vec<String> = serde_json::from_value(schema["required"].clone()).unwrap();
        required.sort();
        let mut props_sorted = props.clone();
        props_sorted.sort();
        assert_eq!(
            required, props_sorted,
            "strict mode needs every property required"
        );
        let validator = jsonschema::validator_for(&schema).unwrap();
        let sample = match mode {
            JudgeMode::Score => json!({ "score": 0.5, "reason": "r" }),
            JudgeMode::Pass => json!({ "pass": true, "reason": "r" }),
        };
        assert!(validator.is_valid(&sample));
        assert!(parse_answer(&sample.to_string(), mode, 0.5).is_ok());
        let format = response_format(mode);
        assert_eq!(format["type"], "json_schema");
        assert_eq!(format["json_schema"]["strict"], json!(true));
        assert_eq!(format["json_schema"]["schema"], schema);
    }
}
