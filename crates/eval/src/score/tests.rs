use super::*;
use serde_json::json;

fn spec(v: Value) -> EvaluatorSpec {
    EvaluatorSpec::parse_list(&json!([v]), "e")
        .unwrap()
        .remove(0)
}

fn run(v: Value, sample: Sample<'_>) -> Score {
    score(&spec(v), &sample)
}

fn passes(s: &Score) -> bool {
    assert!(s.error.is_none(), "unexpected error: {s:?}");
    s.pass.unwrap()
}

fn is_error(s: &Score) -> bool {
    s.error.is_some() && s.value.is_none() && s.pass.is_none()
}

#[test]
fn exact_match_compares_with_value_or_expected_after_normalising() {
    let paris = json!("Paris");
    let exact = json!({ "type": "exact_match" });
    let s = run(exact.clone(), Sample::new(" Paris\n").with_expected(&paris));
    assert!(passes(&s));
    assert_eq!((s.value, s.kind.as_str()), (Some(1.0), "exact_match"));
    let s = run(exact.clone(), Sample::new("paris").with_expected(&paris));
    assert!(!passes(&s));
    assert_eq!(s.value, Some(0.0));
    assert!(s.reason.unwrap().contains("expected \"Paris\""));
    assert!(passes(&run(
        json!({ "type": "exact_match", "ignoreCase": true }),
        Sample::new("PARIS").with_expected(&paris)
    )));
    assert!(!passes(&run(
        json!({ "type": "exact_match", "trim": false }),
        Sample::new("Paris ").with_expected(&paris)
    )));
    let spaced = json!("New  York\ncity");
    assert!(passes(&run(
        json!({ "type": "exact_match", "collapseWhitespace": true }),
        Sample::new("New York city").with_expected(&spaced)
    )));
    // The evaluator's own value wins over the item's expected.
    assert!(passes(&run(
        json!({ "type": "exact_match", "value": "yes" }),
        Sample::new("yes").with_expected(&paris)
    )));
}

#[test]
fn exact_match_against_a_non_string_expected_uses_its_compact_json() {
    let expected = json!({ "a": 1 });
    assert!(passes(&run(
        json!({ "type": "exact_match" }),
        Sample::new("{\"a\":1}").with_expected(&expected)
    )));
    let n = json!(42);
    assert!(passes(&run(
        json!({ "type": "exact_match" }),
        Sample::new("42").with_expected(&n)
    )));
}

#[test]
fn exact_match_without_anything_to_compare_is_an_error_not_a_zero() {
    let s = run(json!({ "type": "exact_match" }), Sample::new("x"));
    assert!(is_error(&s), "{s:?}");
    assert!(s.error.unwrap().contains("no expected"));
}

#[test]
fn contains_any_and_all_with_partial_credit_for_all() {
    let any = json!({ "type": "contains", "values": ["cat", "dog"] });
    assert!(passes(&run(any.clone(), Sample::new("a dog"))));
    assert!(!passes(&run(any.clone(), Sample::new("a DOG"))));
    let any_ci = json!({ "type": "contains", "values": ["cat", "dog"], "ignoreCase": true });
    assert!(passes(&run(any_ci, Sample::new("a DOG"))));
    let s = run(any, Sample::new("a bird"));
    assert_eq!((s.value, s.pass), (Some(0.0), Some(false)));
    let all = json!({ "type": "contains", "values": ["a", "b", "c", "d"], "mode": "all" });
    let s = run(all.clone(), Sample::new("a b"));
    assert_eq!((s.value, s.pass), (Some(0.5), Some(false)));
    assert!(s.reason.unwrap().contains("\"c\", \"d\""));
    assert!(passes(&run(all, Sample::new("abcd"))));
}

#[test]
fn not_contains_any_fails_on_one_and_all_only_on_every_one() {
    let any = json!({ "type": "not_contains", "values": ["sorry", "cannot"], "ignoreCase": true });
    assert!(passes(&run(any.clone(), Sample::new("Sure, here it is"))));
    let s = run(any, Sample::new("Sorry, no"));
    assert_eq!((s.value, s.pass), (Some(0.0), Some(false)));
    let all = json!({ "type": "not_contains", "values": ["sorry", "cannot"], "mode": "all" });
    assert!(passes(&run(all.clone(), Sample::new("sorry"))));
    assert!(!passes(&run(all, Sample::new("sorry, I cannot"))));
}

#[test]
fn regex_passes_on_a_match_anywhere() {
    let r = json!({ "type": "regex", "pattern": "\\b\\d{3}-\\d{4}\\b" });
    let s = run(r.clone(), Sample::new("call 555-1234 now"));
    assert!(passes(&s));
    assert!(s.reason.unwrap().contains("555-1234"));
    assert!(!passes(&run(r, Sample::new("no number"))));
}

#[test]
fn json_valid_fails_on_anything_but_one_json_document() {
    let j = json!({ "type": "json_valid" });
    assert!(passes(&run(j.clone(), Sample::new(" {\"a\": [1, 2]}\n"))));
    assert!(passes(&run(j.clone(), Sample::new("42"))));
    for bad in ["", "{a:1}", "{\"a\":1} trailing", "```json\n{}\n```"] {
        let s = run(j.clone(), Sample::new(bad));
        assert_eq!((s.value, s.pass), (Some(0.0), Some(false)), "{bad:?}");
        assert!(s.reason.unwrap().starts_with("output is not JSON"));
    }
}

#[test]
fn json_schema_reports_where_the_output_breaks_it() {
    let j = json!({ "type": "json_schema", "schema": {
        "type": "object",
        "properties": { "age": { "type": "integer", "minimum": 0 } },
        "required": ["age"]
    }});
    assert!(passes(&run(j.clone(), Sample::new("{\"age\": 3}"))));
    let s = run(j.clone(), Sample::new("{\"age\": -1}"));
    assert!(!passes(&s));
    assert!(s.reason.unwrap().contains("/age"));
    assert!(!passes(&run(j.clone(), Sample::new("{}"))));
    // Not JSON at all fails the schema (it is the model's failure).
    let s = run(j, Sample::new("age: 3"));
    assert_eq!((s.value, s.pass), (Some(0.0), Some(false)));
}

#[test]
fn json_equals_ignores_key_order_and_number_spelling() {
    let expected = json!({ "b": [1, 2], "a": { "x": 1.0 } });
    let j = json!({ "type": "json_equals" });
    assert!(passes(&run(
        j.clone(),
        Sample::new("{\"a\": {\"x\": 1}, \"b\": [1, 2]}").with_expected(&expected)
    )));
    assert!(!passes(&run(
        j.clone(),
        Sample::new("{\"a\": {\"x\": 1}, \"b\": [2, 1]}").with_expected(&expected)
    )));
    // An expected stored as a string holding JSON is that JSON.
    let as_text = json!("{\"k\": true}");
    assert!(passes(&run(
        j.clone(),
        Sample::new("{ \"k\" : true }").with_expected(&as_text)
    )));
    // An expected string that is not JSON is a JSON string.
    let plain = json!("hello");
    assert!(passes(&run(
        j.clone(),
        Sample::new("\"hello\"").with_expected(&plain)
    )));
}

#[test]
fn json_equals_with_a_pointer_and_a_value() {
    let j = json!({ "type": "json_equals", "pointer": "/answer/city", "value": "Paris" });
    assert!(passes(&run(
        j.clone(),
        Sample::new("{\"answer\": {\"city\": \"Paris\"}}")
    )));
    let s = run(j.clone(), Sample::new("{\"answer\": {}}"));
    assert!(!passes(&s));
    assert!(s.reason.unwrap().contains("nothing at /answer/city"));
    let s = run(j, Sample::new("Paris"));
    assert_eq!((s.value, s.pass), (Some(0.0), Some(false)));
}

#[test]
fn json_equals_without_anything_to_compare_is_an_error() {
    assert!(is_error(&run(
        json!({ "type": "json_equals" }),
        Sample::new("{}")
    )));
}

#[test]
fn similarity_metrics_and_threshold() {
    let gold = json!("the cat sat on the mat");
    let lev = json!({ "type": "similarity", "metric": "levenshtein", "threshold": 0.9 });
    let s = run(
        lev,
        Sample::new("the cat sat on the hat").with_expected(&gold),
    );
    let v = s.value.unwrap();
    assert!((v - (1.0 - 1.0 / 22.0)).abs() < 1e-12, "{v}");
    assert_eq!(s.pass, Some(true));
    let jac = json!({ "type": "similarity", "metric": "jaccard", "threshold": 0.5 });
    // {the, cat, sat, on, mat} vs {the, cat, sat, on, hat}: 4 / 6.
    let s = run(
        jac,
        Sample::new("The cat sat on the hat.").with_expected(&gold),
    );
    assert!((s.value.unwrap() - 4.0 / 6.0).abs() < 1e-12);
    let f1 = json!({ "type": "similarity", "metric": "token_f1" });
    let s = run(f1.clone(), Sample::new("the cat").with_expected(&gold));
    // precision 2/2, recall 2/6 → F1 = 0.5.
    assert!((s.value.unwrap() - 0.5).abs() < 1e-12);
    assert_eq!(s.pass, Some(false), "default threshold 0.8");
    assert!(is_error(&run(f1, Sample::new("x"))));
}

#[test]
fn token_f1_is_squads_with_multiset_overlap() {
    assert_eq!(token_f1("", ""), 1.0);
    assert_eq!(token_f1("a", ""), 0.0);
    assert_eq!(token_f1("x y", "z"), 0.0);
    // "a a b" vs "a b b": overlap {a:1, b:1} = 2; p = r = 2/3.
    assert!((token_f1("a a b", "a b b") - 2.0 / 3.0).abs() < 1e-12);
    assert_eq!(tokens("Don't STOP, now!"), ["dont", "stop", "now"]);
    assert_eq!(token_f1("Paris.", "paris"), 1.0);
    assert_eq!(jaccard("", ""), 1.0);
    assert_eq!(levenshtein("", ""), 1.0);
    assert_eq!(levenshtein("abc", "xyz"), 0.0);
}

#[test]
fn length_latency_and_cost_thresholds() {
    let len = json!({ "type": "length", "minChars": 2, "maxChars": 4 });
    assert!(
        passes(&run(len.clone(), Sample::new("ééé"))),
        "characters, not bytes"
    );
    assert!(!passes(&run(len.clone(), Sample::new("a"))));
    let s = run(len, Sample::new("abcde"));
    assert!(!passes(&s));
    assert!(s.reason.unwrap().contains("at most 4"));
    let lat = json!({ "type": "latency", "maxMs": 100 });
    assert!(passes(&run(
        lat.clone(),
        Sample::new("").with_latency_ms(100)
    )));
    assert!(!passes(&run(
        lat.clone(),
        Sample::new("").with_latency_ms(101)
    )));
    assert!(is_error(&run(lat, Sample::new(""))));
    let cost = json!({ "type": "cost", "maxUsd": 0.01 });
    assert!(passes(&run(
        cost.clone(),
        Sample::new("").with_cost_usd(0.005)
    )));
    assert!(!passes(&run(
        cost.clone(),
        Sample::new("").with_cost_usd(0.02)
    )));
    assert!(is_error(&run(cost, Sample::new(""))));
}

#[test]
fn judges_and_http_are_not_scored_here() {
    let s = run(
        json!({ "type": "llm_judge", "promptId": "j" }),
        Sample::new("x"),
    );
    assert!(is_error(&s));
    assert!(s.error.unwrap().contains("judge"));
    let s = run(
        json!({ "type": "http", "url": "http://h/" }),
        Sample::new("x"),
    );
    assert!(is_error(&s));
}

#[test]
fn scores_serialize_in_the_stored_form() {
    let s = run(
        json!({ "name": "m", "type": "regex", "pattern": "x" }),
        Sample::new("x"),
    );
    assert_eq!(
        serde_json::to_value(&s).unwrap(),
        json!({ "evaluator": "m", "type": "regex", "value": 1.0, "pass": true, "reason": "matched \"x\"" })
    );
    let e = run(json!({ "type": "latency", "maxMs": 1 }), Sample::new(""));
    let stored = serde_json::to_value(&e).unwrap();
    assert_eq!(stored["value"], Value::Null);
    assert_eq!(stored["pass"], Value::Null);
    assert!(stored.get("reason").is_none());
    let back: Score = serde_json::from_value(stored).unwrap();
    assert_eq!(back, e);
}

#[test]
fn a_nan_score_becomes_an_error_and_others_are_clamped() {
    let sp = spec(json!({ "type": "json_valid" }));
    assert!(Score::new(&sp, f64::NAN, None, None).is_error());
    assert_eq!(Score::new(&sp, 1.5, None, None).value, Some(1.0));
}
