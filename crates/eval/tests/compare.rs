//! Comparisons and verdicts against hand-computed numbers.

mod common;

use common::{cell, error, pass_cells, pf, score};
use promptrefine_eval::{CellScore, ItemOutcome, Verdict, compare};
use serde_json::json;

#[test]
fn too_few_pairs_are_insufficient_data() {
    let base = pass_cells("m", 0, &[false; 5]);
    let cand = pass_cells("m", 1, &[true; 5]);
    let c = compare(&base, &cand, 0, 10);
    assert_eq!(c.evaluators[0].verdict, Verdict::InsufficientData);
    assert_eq!(c.evaluators[0].pairs, 5);
    // Enough pairs now, but 5 flips of 5 is p = 0.0625 by the exact test;
    // 6 of 6 (p = 0.03125) is evidence.
    assert_eq!(
        compare(&base, &cand, 0, 5).evaluators[0].verdict,
        Verdict::NoDifference
    );
    let six = compare(
        &pass_cells("m", 0, &[false; 6]),
        &pass_cells("m", 1, &[true; 6]),
        0,
        5,
    );
    assert_eq!(six.evaluators[0].verdict, Verdict::Better);
}

#[test]
fn a_clear_improvement_is_better_with_mcnemar_agreeing() {
    let base = pass_cells("m", 0, &[false; 30]);
    let cand = pass_cells("m", 1, &[true; 30]);
    let c = compare(&base, &cand, 1, 10);
    let e = &c.evaluators[0];
    assert_eq!(e.verdict, Verdict::Better);
    assert_eq!(
        (e.baseline_mean, e.candidate_mean, e.diff),
        (Some(0.0), Some(1.0), Some(1.0))
    );
    let m = e.mcnemar.unwrap();
    assert_eq!((m.b, m.c), (0, 30));
    assert!(m.p < 1e-8);
    assert_eq!(c.shared_items, 30);
    assert!(c.items.iter().all(|i| i.outcome == ItemOutcome::Improved));
    // And the other way round.
    let c = compare(&cand, &base, 1, 10);
    assert_eq!(c.evaluators[0].verdict, Verdict::Worse);
    assert!(c.items.iter().all(|i| i.outcome == ItemOutcome::Regressed));
}

#[test]
fn a_pass_fail_evaluator_needs_mcnemar_too() {
    // 4 of 50 items flip fail → pass. The bootstrap interval excludes 0
    // (a resample without any flip is rarer than 2.5 %), but the exact test
    // gives p = 0.125: not evidence of a change.
    let base_outcomes = [false; 50];
    let mut cand_outcomes = [false; 50];
    cand_outcomes[..4].fill(true);
    let c = compare(
        &pass_cells("m", 0, &base_outcomes),
        &pass_cells("m", 1, &cand_outcomes),
        2,
        10,
    );
    let e = &c.evaluators[0];
    assert!(e.ci.unwrap()[0] > 0.0, "{:?}", e.ci);
    let m = e.mcnemar.unwrap();
    assert_eq!((m.b, m.c, m.p), (0, 4, 0.125));
    assert_eq!(e.verdict, Verdict::NoDifference);
    // Identical sides: no difference, zero-width interval at 0.
    let same = compare(
        &pass_cells("m", 0, &base_outcomes),
        &pass_cells("m", 1, &base_outcomes),
        2,
        10,
    );
    assert_eq!(same.evaluators[0].verdict, Verdict::NoDifference);
    assert_eq!(same.evaluators[0].ci, Some([0.0, 0.0]));
    assert!(
        same.items
            .iter()
            .all(|i| i.outcome == ItemOutcome::Unchanged)
    );
}

#[test]
fn a_continuous_score_is_judged_by_its_interval() {
    let make = |variant, shift: f64| -> Vec<CellScore> {
        (0..20)
            .map(|i| {
                let v = 0.3 + f64::from(i % 5) * 0.1 + shift;
                cell(&format!("i{i}"), variant, 0, vec![score("sim", v, None)])
            })
            .collect()
    };
    let c = compare(&make(0, 0.2), &make(1, 0.0), 3, 10);
    let e = &c.evaluators[0];
    assert_eq!(e.verdict, Verdict::Worse);
    assert!((e.diff.unwrap() + 0.2).abs() < 1e-12);
    assert!(e.mcnemar.is_none(), "no pass outcomes");
    // Without pass outcomes the item outcome is the sign of the difference.
    assert!(c.items.iter().all(|i| i.outcome == ItemOutcome::Regressed));
    assert!((c.items[0].score_diff.unwrap() + 0.2).abs() < 1e-12);
}

#[test]
fn a_zero_one_score_without_pass_outcomes_is_still_guarded_by_the_exact_test() {
    let make = |variant, ones: usize| -> Vec<CellScore> {
        (0..50)
            .map(|i| {
                cell(
                    &format!("i{i}"),
                    variant,
                    0,
                    vec![score("h", if i < ones { 1.0 } else { 0.0 }, None)],
                )
            })
            .collect()
    };
    let c = compare(&make(0, 0), &make(1, 4), 2, 10);
    let e = &c.evaluators[0];
    let m = e.mcnemar.unwrap();
    assert_eq!((m.b, m.c), (0, 4));
    assert_eq!(e.verdict, Verdict::NoDifference);
    assert_eq!(
        compare(&make(0, 0), &make(1, 20), 2, 10).evaluators[0].verdict,
        Verdict::Better
    );
}

#[test]
fn items_on_one_side_only_are_listed_and_left_out() {
    let mut base = pass_cells("m", 0, &[true; 12]);
    base.push(cell("only-base", 0, 0, vec![pf("m", false)]));
    let mut cand = pass_cells("m", 1, &[true; 12]);
    cand.push(cell("only-cand", 1, 0, vec![pf("m", true)]));
    let c = compare(&base, &cand, 0, 10);
    assert_eq!(c.shared_items, 12);
    assert_eq!(c.baseline_only, ["only-base"]);
    assert_eq!(c.candidate_only, ["only-cand"]);
    assert_eq!(c.evaluators[0].pairs, 12);
    assert_eq!(c.evaluators[0].baseline_mean, Some(1.0));
    assert_eq!(c.items.len(), 12);
}

#[test]
fn errored_scores_are_not_paired() {
    let mut base = pass_cells("m", 0, &[true; 12]);
    base[0].scores = vec![error("m")];
    let cand = pass_cells("m", 1, &[true; 12]);
    let c = compare(&base, &cand, 0, 10);
    assert_eq!(c.evaluators[0].pairs, 11);
    assert!(c.items[0].evaluators.is_empty());
    assert_eq!(c.items[0].outcome, ItemOutcome::Unchanged);
}

#[test]
fn item_outcomes_with_repeats_and_several_evaluators() {
    let base = vec![
        // flaky on the baseline: mixed outcomes across repeats.
        cell("f", 0, 0, vec![pf("m", true)]),
        cell("f", 0, 1, vec![pf("m", false)]),
        // one evaluator improves, another regresses: regressed wins.
        cell("r", 0, 0, vec![pf("m", false), pf("n", true)]),
        // same pass, different score: unchanged (the threshold was not crossed).
        cell("u", 0, 0, vec![score("s", 0.9, Some(true))]),
    ];
    let cand = vec![
        cell("f", 1, 0, vec![pf("m", true)]),
        cell("f", 1, 1, vec![pf("m", true)]),
        cell("r", 1, 0, vec![pf("m", true), pf("n", false)]),
        cell("u", 1, 0, vec![score("s", 0.85, Some(true))]),
    ];
    let c = compare(&base, &cand, 0, 10);
    let outcome = |id: &str| c.items.iter().find(|i| i.item_id == id).unwrap().outcome;
    assert_eq!(outcome("f"), ItemOutcome::Flaky);
    assert_eq!(outcome("r"), ItemOutcome::Regressed);
    assert_eq!(outcome("u"), ItemOutcome::Unchanged);
    let f = c.items.iter().find(|i| i.item_id == "f").unwrap();
    // Repeats averaged: baseline 0.5, candidate 1.
    assert_eq!(
        (f.evaluators[0].baseline, f.evaluators[0].candidate),
        (0.5, 1.0)
    );
    assert_eq!(f.evaluators[0].baseline_pass, None);
    assert_eq!(f.evaluators[0].candidate_pass, Some(true));
    // Evaluators: the baseline's in order.
    let names: Vec<_> = c.evaluators.iter().map(|e| e.evaluator.as_str()).collect();
    assert_eq!(names, ["m", "n", "s"]);
    // McNemar by majority per item; f's baseline tie (1 of 2) is left out.
    let m = c.evaluators[0].mcnemar.unwrap();
    assert_eq!((m.b, m.c), (0, 1));
}

#[test]
fn an_evaluator_on_one_side_only_is_insufficient_data() {
    let base = pass_cells("old", 0, &[true; 12]);
    let cand = pass_cells("new", 1, &[true; 12]);
    let c = compare(&base, &cand, 0, 10);
    assert_eq!(c.evaluators.len(), 2);
    assert!(
        c.evaluators
            .iter()
            .all(|e| e.verdict == Verdict::InsufficientData && e.pairs == 0)
    );
}

#[test]
fn cost_latency_and_token_deltas_are_over_shared_items() {
    let mut base = pass_cells("m", 0, &[true; 3]);
    let mut cand = pass_cells("m", 1, &[true; 3]);
    for (i, c) in base.iter_mut().enumerate() {
        c.cost_usd = Some(0.01);
        c.latency_ms = Some(100 + 100 * i as u64);
        c.tokens = Some(100);
    }
    for c in cand.iter_mut() {
        c.cost_usd = Some(0.02);
        c.latency_ms = Some(150);
        c.tokens = Some(80);
    }
    let mut extra = cell("not-shared", 0, 0, vec![]);
    extra.cost_usd = Some(100.0);
    base.push(extra);
    let c = compare(&base, &cand, 0, 10);
    let cost = c.cost_delta.unwrap();
    assert!((cost.baseline - 0.01).abs() < 1e-12 && (cost.diff - 0.01).abs() < 1e-12);
    let lat = c.latency_p50_delta.unwrap();
    assert_eq!(
        (lat.baseline, lat.candidate, lat.diff),
        (200.0, 150.0, -50.0)
    );
    let tok = c.tokens_delta.unwrap();
    assert_eq!(tok.diff, -20.0);
    assert!(
        compare(
            &pass_cells("m", 0, &[true]),
            &pass_cells("m", 1, &[true]),
            0,
            1
        )
        .cost_delta
        .is_none()
    );
}

#[test]
fn the_comparison_serializes_in_camel_case_with_snake_case_words() {
    let c = compare(
        &pass_cells("m", 0, &[true; 3]),
        &pass_cells("m", 1, &[true; 3]),
        0,
        10,
    );
    let v = serde_json::to_value(&c).unwrap();
    for key in [
        "sharedItems",
        "baselineOnly",
        "candidateOnly",
        "evaluators",
        "items",
        "costDelta",
        "latencyP50Delta",
        "tokensDelta",
    ] {
        assert!(v.get(key).is_some(), "{key}");
    }
    assert_eq!(v["evaluators"][0]["verdict"], json!("insufficient_data"));
    assert_eq!(v["items"][0]["outcome"], json!("unchanged"));
    assert!(v["evaluators"][0].get("baselineMean").is_some());
    assert_eq!(
        serde_json::to_value(Verdict::NoDifference).unwrap(),
        json!("no_difference")
    );
    let back: promptrefine_eval::Comparison = serde_json::from_value(v).unwrap();
    assert_eq!(back, c);
}

#[test]
fn the_same_data_and_seed_give_the_same_comparison() {
    let base = pass_cells(
        "m",
        0,
        &[
            true, false, true, true, false, true, false, true, true, true, false, true,
        ],
    );
    let cand = pass_cells(
        "m",
        1,
        &[
            true, true, true, false, true, true, true, true, false, true, true, true,
        ],
    );
    assert_eq!(compare(&base, &cand, 9, 10), compare(&base, &cand, 9, 10));
}
