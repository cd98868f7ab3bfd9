//! Summaries against hand-computed numbers.

mod common;

use common::{cell, error, pf, score};
use promptrefine_eval::stats::{bootstrap_mean_ci, wilson_f};
use promptrefine_eval::{CellScore, summarize};
use serde_json::json;

/// Items a, b, c with two repeats each; c's second repeat errored.
fn cells() -> Vec<CellScore> {
    let mut cells = vec![
        cell("a", 0, 0, vec![pf("m", true)]),
        cell("a", 0, 1, vec![pf("m", true)]),
        cell("b", 0, 0, vec![pf("m", true)]),
        cell("b", 0, 1, vec![pf("m", false)]),
        cell("c", 0, 0, vec![pf("m", false)]),
        cell("c", 0, 1, vec![error("m")]),
    ];
    for (i, c) in cells.iter_mut().enumerate() {
        c.cost_usd = Some(0.01);
        c.latency_ms = Some(100 * (i as u64 + 1));
        c.tokens = Some(10);
    }
    cells
}

#[test]
fn a_variant_summary_averages_repeats_per_item_first() {
    let summary = summarize(&cells(), 11);
    assert_eq!(summary.variants.len(), 1);
    let v = &summary.variants[0];
    assert_eq!((v.variant, v.cells, v.items), (0, 6, 3));
    let m = &v.evaluators[0];
    assert_eq!((m.evaluator.as_str(), m.kind.as_str()), ("m", "test"));
    // Item means 1, 0.5, 0 (c's error left out): mean 0.5 over 3 items.
    assert_eq!((m.n, m.mean), (3, Some(0.5)));
    // The interval is over the three items, not the five scored cells.
    let expected = bootstrap_mean_ci(&[1.0, 0.5, 0.0], 2000, 11).unwrap();
    assert_eq!(m.ci, Some([expected.lo, expected.hi]));
    assert_eq!((m.pass_n, m.pass_rate), (3, Some(0.5)));
    let (lo, hi) = wilson_f(1.5, 3.0, 1.959_963_984_540_054);
    assert_eq!(m.pass_ci, Some([lo, hi]));
    // k is the fewest outcomes of any item: c has one.
    assert_eq!(m.k, Some(1));
    assert_eq!(m.pass_at_k, Some(0.5));
    assert_eq!(m.pass_hat_k, Some(0.5));
    assert!((m.consistency.unwrap() - 2.0 / 3.0).abs() < 1e-12);
    assert_eq!(m.flaky_items, ["b"]);
    assert_eq!(m.errors, 1);
    assert!((v.cost_total.unwrap() - 0.06).abs() < 1e-12);
    assert!((v.cost_mean.unwrap() - 0.01).abs() < 1e-12);
    assert_eq!(v.latency_p50, Some(350.0));
    assert_eq!(v.latency_p95, Some(575.0));
    assert_eq!(v.tokens_total, Some(60));
}

#[test]
fn pass_at_k_and_pass_hat_k_with_full_repeats() {
    let mut cells = Vec::new();
    for (item, outcomes) in [
        ("a", [true, true, true]),
        ("b", [false, true, false]),
        ("c", [false; 3]),
    ] {
        for (r, p) in outcomes.iter().enumerate() {
            cells.push(cell(item, 0, r as u32, vec![pf("m", *p)]));
        }
    }
    let m = &summarize(&cells, 0).variants[0].evaluators[0];
    assert_eq!(m.k, Some(3));
    assert!((m.pass_at_k.unwrap() - 2.0 / 3.0).abs() < 1e-12);
    assert!((m.pass_hat_k.unwrap() - 1.0 / 3.0).abs() < 1e-12);
    assert!((m.consistency.unwrap() - 2.0 / 3.0).abs() < 1e-12);
    assert_eq!(m.flaky_items, ["b"]);
}

#[test]
fn without_repeats_there_are_no_repeat_statistics() {
    let cells = vec![
        cell("a", 0, 0, vec![pf("m", true)]),
        cell("b", 0, 0, vec![pf("m", false)]),
    ];
    let m = &summarize(&cells, 0).variants[0].evaluators[0];
    assert_eq!((m.k, m.pass_at_k, m.consistency), (None, None, None));
    assert!(m.flaky_items.is_empty());
    assert_eq!(m.pass_rate, Some(0.5));
}

#[test]
fn the_same_cells_in_any_order_give_the_same_summary() {
    let mut shuffled = cells();
    shuffled.reverse();
    shuffled.swap(1, 4);
    assert_eq!(summarize(&cells(), 5), summarize(&shuffled, 5));
}

#[test]
fn variants_are_summarised_apart_and_by_number() {
    let mut all = vec![
        cell("a", 2, 0, vec![score("sim", 0.25, None)]),
        cell("a", 0, 0, vec![score("sim", 0.75, None), pf("x", true)]),
    ];
    all.push(cell("b", 2, 0, vec![error("sim")]));
    let s = summarize(&all, 0);
    let numbers: Vec<u32> = s.variants.iter().map(|v| v.variant).collect();
    assert_eq!(numbers, [0, 2]);
    assert_eq!(s.variants[0].evaluators.len(), 2);
    let sim2 = &s.variants[1].evaluators[0];
    assert_eq!((sim2.mean, sim2.n, sim2.errors), (Some(0.25), 1, 1));
    // No pass outcomes: no pass rate, not a rate of 0.
    assert_eq!((sim2.pass_rate, sim2.pass_ci, sim2.pass_n), (None, None, 0));
    assert_eq!(s.variants[1].cost_total, None);
    assert_eq!(s.variants[1].latency_p50, None);
}

#[test]
fn an_evaluator_that_only_errored_has_no_mean() {
    let cells = vec![
        cell("a", 0, 0, vec![error("j")]),
        cell("b", 0, 0, vec![error("j")]),
    ];
    let j = &summarize(&cells, 0).variants[0].evaluators[0];
    assert_eq!((j.n, j.mean, j.ci, j.errors), (0, None, None, 2));
}

#[test]
fn the_summary_serializes_in_camel_case() {
    let v = serde_json::to_value(summarize(&cells(), 1)).unwrap();
    let variant = &v["variants"][0];
    for key in [
        "variant",
        "cells",
        "items",
        "costTotal",
        "costMean",
        "latencyP50",
        "latencyP95",
        "tokensTotal",
    ] {
        assert!(variant.get(key).is_some(), "{key}");
    }
    let e = &variant["evaluators"][0];
    for key in [
        "evaluator",
        "type",
        "mean",
        "ci",
        "n",
        "passRate",
        "passCi",
        "passAtK",
        "passHatK",
        "consistency",
        "flakyItems",
        "errors",
    ] {
        assert!(e.get(key).is_some(), "{key}");
    }
    assert_eq!(e["flakyItems"], json!(["b"]));
}
