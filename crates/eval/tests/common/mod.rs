//! Builders for cells in the integration tests.

#![allow(dead_code, unreachable_pub)]

use promptrefine_eval::{CellScore, Score};

pub fn score(evaluator: &str, value: f64, pass: Option<bool>) -> Score {
    Score {
        evaluator: evaluator.into(),
        kind: "test".into(),
        value: Some(value),
        pass,
        reason: None,
        error: None,
    }
}

/// A pass/fail score: value 1 or 0.
pub fn pf(evaluator: &str, pass: bool) -> Score {
    score(evaluator, if pass { 1.0 } else { 0.0 }, Some(pass))
}

pub fn error(evaluator: &str) -> Score {
    Score {
        evaluator: evaluator.into(),
        kind: "test".into(),
        value: None,
        pass: None,
        reason: None,
        error: Some("could not judge".into()),
    }
}

pub fn cell(item: &str, variant: u32, repeat: u32, scores: Vec<Score>) -> CellScore {
    CellScore {
        item_id: item.into(),
        variant,
        repeat,
        scores,
        cost_usd: None,
        latency_ms: None,
        tokens: None,
    }
}

/// One pass/fail cell per item: `outcomes[i]` for item `i{i:03}`.
pub fn pass_cells(evaluator: &str, variant: u32, outcomes: &[bool]) -> Vec<CellScore> {
    outcomes
        .iter()
        .enumerate()
        .map(|(i, p)| cell(&format!("i{i:03}"), variant, 0, vec![pf(evaluator, *p)]))
        .collect()
}
