//! What the gate prints and writes: the table on standard output, and the
//! JUnit XML a CI system shows (one test case per threshold, per evaluator
//! and per regressed item).

use std::fmt::Write as _;

use promptrefine_eval::{Comparison, ItemOutcome, Verdict};
use quick_junit::{NonSuccessKind, Report, TestCase, TestCaseStatus, TestSuite};

use super::Threshold;

fn verdict(v: Verdict) -> &'static str {
    match v {
        Verdict::Better => "better",
        Verdict::Worse => "WORSE",
        Verdict::NoDifference => "no difference",
        Verdict::InsufficientData => "insufficient data",
    }
}

pub(super) fn num(x: Option<f64>) -> String {
    x.map_or("—".into(), |x| format!("{x:.3}"))
}

/// One row per evaluator, then the items that regressed.
pub(super) fn table(c: &Comparison) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "{:<24} {:>9} {:>9} {:>8} {:>19} {:>8}  verdict",
        "evaluator", "baseline", "candidate", "diff", "95% interval", "p"
    );
    for e in &c.evaluators {
        let ci =
            e.ci.map_or("—".into(), |[lo, hi]| format!("[{lo:+.3}, {hi:+.3}]"));
        let p = e.mcnemar.map(|m| m.p).or(e.permutation_p);
        let _ = writeln!(
            out,
            "{:<24} {:>9} {:>9} {:>8} {:>19} {:>8}  {}",
            e.evaluator,
            num(e.baseline_mean),
            num(e.candidate_mean),
            e.diff.map_or("—".into(), |d| format!("{d:+.3}")),
            ci,
            num(p),
            verdict(e.verdict)
        );
    }
    let regressed: Vec<&str> = c
        .items
        .iter()
        .filter(|i| i.outcome == ItemOutcome::Regressed)
        .map(|i| i.item_id.as_str())
        .collect();
    let _ = writeln!(
        out,
        "{} items compared, {} regressed{}",
        c.shared_items,
        regressed.len(),
        if regressed.is_empty() {
            String::new()
        } else {
            format!(": {}", regressed.join(", "))
        }
    );
    out
}

/// JUnit XML: a test case per evaluator (failed when worse) and one per
/// regressed item, so CI systems list what regressed.
pub(super) fn junit(c: &Comparison, thresholds: &[Threshold]) -> anyhow::Result<String> {
    let mut suite = TestSuite::new("promptrefine eval");
    for t in thresholds {
        let status = if t.holds() {
            TestCaseStatus::success()
        } else {
            let mut s = TestCaseStatus::non_success(NonSuccessKind::Failure);
            s.set_message(format!("{} < {:.3}", num(t.got), t.min));
            s
        };
        suite.add_test_case(TestCase::new(format!("threshold {}", t.evaluator), status));
    }
    for e in &c.evaluators {
        let status = if e.verdict == Verdict::Worse {
            let mut s = TestCaseStatus::non_success(NonSuccessKind::Failure);
            s.set_message(format!(
                "worse: {} → {} (diff {})",
                num(e.baseline_mean),
                num(e.candidate_mean),
                e.diff.map_or("—".into(), |d| format!("{d:+.3}"))
            ));
            s
        } else {
            TestCaseStatus::success()
        };
        suite.add_test_case(TestCase::new(format!("evaluator {}", e.evaluator), status));
    }
    for item in c
        .items
        .iter()
        .filter(|i| i.outcome == ItemOutcome::Regressed)
    {
        let mut s = TestCaseStatus::non_success(NonSuccessKind::Failure);
        let which: Vec<&str> = item
            .evaluators
            .iter()
            .filter(|e| e.outcome == ItemOutcome::Regressed)
            .map(|e| e.evaluator.as_str())
            .collect();
        s.set_message(format!("regressed on {}", which.join(", ")));
        suite.add_test_case(TestCase::new(format!("item {}", item.item_id), s));
    }
    let mut report = Report::new("promptrefine eval");
    report.add_test_suite(suite);
    Ok(report.to_string()?)
}
