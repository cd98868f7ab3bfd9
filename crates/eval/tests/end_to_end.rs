//! The pieces together, as the app will use them: parse the stored
//! evaluators, score each cell's output (deterministic ones here, a judge's
//! scripted answer for the judge), then summarise and compare.

use promptrefine_eval::{
    CellScore, EvaluatorSpec, ItemOutcome, Sample, Score, Verdict, compare, judge, score, summarize,
};
use serde_json::{Value, json};

fn cells(specs: &[EvaluatorSpec], variant: u32, outputs: &[(&str, &str, &str)]) -> Vec<CellScore> {
    outputs
        .iter()
        .map(|(id, expected, output)| {
            let expected = Value::String((*expected).to_owned());
            let sample = Sample::new(output)
                .with_expected(&expected)
                .with_latency_ms(120);
            let scores: Vec<Score> = specs
                .iter()
                .map(|spec| {
                    if spec.is_deterministic() {
                        score(spec, &sample)
                    } else {
                        // What the app gets back from the judge run.
                        let verdict = output.eq_ignore_ascii_case(expected.as_str().unwrap());
                        judge::score_text(
                            spec,
                            &format!("Verdict: {{\"pass\": {verdict}, \"reason\": \"checked\"}}"),
                        )
                    }
                })
                .collect();
            CellScore {
                item_id: (*id).to_owned(),
                variant,
                repeat: 0,
                scores,
                cost_usd: Some(0.001),
                latency_ms: Some(120),
                tokens: Some(42),
            }
        })
        .collect()
}

#[test]
fn stored_evaluators_score_summarise_and_compare() {
    let stored = json!([
        { "type": "exact_match", "ignoreCase": true },
        { "type": "similarity", "metric": "token_f1", "threshold": 0.5 },
        { "name": "judge", "type": "llm_judge", "promptId": "judge-capitals", "mode": "pass" },
    ]);
    let specs = EvaluatorSpec::parse_list(&stored, "evaluators").unwrap();
    let capitals = [
        ("fr", "Paris"),
        ("de", "Berlin"),
        ("it", "Rome"),
        ("es", "Madrid"),
        ("pt", "Lisbon"),
        ("nl", "Amsterdam"),
        ("be", "Brussels"),
        ("at", "Vienna"),
        ("ch", "Bern"),
        ("pl", "Warsaw"),
        ("cz", "Prague"),
        ("hu", "Budapest"),
    ];
    let base: Vec<(&str, &str, &str)> = capitals
        .iter()
        .enumerate()
        .map(|(i, (id, c))| (*id, *c, if i % 2 == 0 { *c } else { "I am not sure" }))
        .collect();
    let cand: Vec<(&str, &str, &str)> = capitals.iter().map(|(id, c)| (*id, *c, *c)).collect();
    let base_cells = cells(&specs, 0, &base);
    let cand_cells = cells(&specs, 1, &cand);

    let mut all = base_cells.clone();
    all.extend(cand_cells.clone());
    let summary = summarize(&all, 15);
    let v0 = &summary.variants[0];
    let names: Vec<_> = v0.evaluators.iter().map(|e| e.evaluator.as_str()).collect();
    assert_eq!(names, ["exact_match", "similarity", "judge"]);
    assert!(
        v0.evaluators
            .iter()
            .all(|e| e.pass_rate == Some(0.5) && e.errors == 0)
    );
    assert_eq!(summary.variants[1].evaluators[0].pass_rate, Some(1.0));
    assert_eq!(v0.tokens_total, Some(12 * 42));

    let c = compare(&base_cells, &cand_cells, 15, 10);
    assert_eq!(c.shared_items, 12);
    for e in &c.evaluators {
        // 6 of 12 flip fail → pass: p = 2/64 < 0.05 and the interval is above 0.
        assert_eq!(
            e.mcnemar.map(|m| (m.b, m.c)),
            Some((0, 6)),
            "{}",
            e.evaluator
        );
        assert_eq!(e.verdict, Verdict::Better, "{}", e.evaluator);
    }
    let improved = c
        .items
        .iter()
        .filter(|i| i.outcome == ItemOutcome::Improved)
        .count();
    assert_eq!(improved, 6);
    // What the API returns.
    let wire = serde_json::to_value(&c).unwrap();
    assert_eq!(wire["evaluators"][2]["verdict"], "better");
}
