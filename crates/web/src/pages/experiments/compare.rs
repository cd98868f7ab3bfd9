//! A comparison (`/app/experiments/compare?baseline=…&baseline_variant=…
//! &candidate=…&candidate_variant=…`): per evaluator the two means with
//! their intervals as an SVG drawn here (no chart library), the verdict,
//! pass rates, cost and latency deltas, a score histogram per variant, and
//! per item a word diff of the two outputs. The numbers are the app's
//! comparison (`GET /api/experiments/compare`) and summaries.

use askama::Template;
use axum::extract::{Query, State};
use axum::response::{Html, IntoResponse};
use promptrefine_app::experiments::scoring::CompareSide;
use promptrefine_core::ExperimentId;
use promptrefine_core::diff::{DiffKind, word_diff};
use promptrefine_eval::{Delta, EvaluatorSummary, ItemOutcome, Summary, Verdict};
use serde::Deserialize;

use super::display_name;
use super::show::{excerpt, fmt_ci, fmt_score, variant_label};
use crate::pages::Chrome;
use crate::pages::params::parse;
use crate::pages::support::{PageError, PageResult, PageUser};
use crate::state::AppState;

/// Items the page shows a diff for (changed ones first).
const ITEMS_SHOWN: usize = 100;
/// Characters of each output the diff reads.
const DIFF_CHARS: usize = 2_000;

// The chart's geometry, in SVG user units.
const CHART_W: f64 = 620.0;
const AXIS_X0: f64 = 180.0;
const AXIS_X1: f64 = 600.0;
const ROW_H: f64 = 44.0;
const HIST_W: f64 = 200.0;
const HIST_H: f64 = 60.0;
const BINS: usize = 10;

fn x_of(v: f64) -> f64 {
    AXIS_X0 + v.clamp(0.0, 1.0) * (AXIS_X1 - AXIS_X0)
}

/// One mean with its interval on the chart.
pub(super) struct Mark {
    pub x: String,
    pub lo: String,
    pub hi: String,
    pub y: String,
}

pub(super) struct EvaluatorRow {
    pub name: String,
    pub kind: String,
    pub verdict: &'static str,
    pub baseline: String,
    pub candidate: String,
    pub diff: String,
    pub baseline_pass: String,
    pub candidate_pass: String,
    pub p: String,
    pub label_y: String,
    pub marks: Vec<(&'static str, Mark)>,
}

pub(super) struct Bar {
    pub x: String,
    pub y: String,
    pub h: String,
    pub count: usize,
}

pub(super) struct Histogram {
    pub evaluator: String,
    pub side: &'static str,
    pub bars: Vec<Bar>,
}

pub(super) struct ItemRow {
    pub item: String,
    pub outcome: &'static str,
    pub score_diff: String,
    pub diff: Vec<(&'static str, String)>,
}

#[derive(Template)]
#[template(path = "experiment_compare.html")]
struct ComparePage {
    chrome: Chrome,
    baseline_url: String,
    baseline_name: String,
    candidate_url: String,
    candidate_name: String,
    overall: &'static str,
    same_dataset_version: bool,
    shared_items: usize,
    rows: Vec<EvaluatorRow>,
    chart_w: String,
    chart_h: String,
    ticks: Vec<(String, String)>,
    axis_top: String,
    axis_bottom: String,
    hist_w: String,
    hist_h: String,
    histograms: Vec<Histogram>,
    cost: String,
    latency: String,
    tokens: String,
    items: Vec<ItemRow>,
    items_total: usize,
}

#[derive(Deserialize, Default)]
pub(crate) struct CompareQuery {
    baseline: Option<String>,
    candidate: Option<String>,
    baseline_variant: Option<String>,
    candidate_variant: Option<String>,
}

pub(crate) fn verdict_word(v: Verdict) -> &'static str {
    match v {
        Verdict::Better => "better",
        Verdict::Worse => "worse",
        Verdict::NoDifference => "no_difference",
        Verdict::InsufficientData => "insufficient_data",
    }
}

fn outcome_word(o: ItemOutcome) -> &'static str {
    match o {
        ItemOutcome::Improved => "improved",
        ItemOutcome::Regressed => "regressed",
        ItemOutcome::Unchanged => "unchanged",
        ItemOutcome::Flaky => "flaky",
    }
}

fn fmt_delta(d: Option<Delta>, unit: &str, digits: usize) -> String {
    match d {
        Some(d) => format!(
            "{:.digits$}{unit} → {:.digits$}{unit} ({:+.digits$}{unit})",
            d.baseline, d.candidate, d.diff
        ),
        None => "—".into(),
    }
}

fn of<'a>(s: &'a Summary, variant: i64, evaluator: &str) -> Option<&'a EvaluatorSummary> {
    s.variants
        .iter()
        .find(|v| i64::from(v.variant) == variant)?
        .evaluators
        .iter()
        .find(|e| e.evaluator == evaluator)
}

/// One side: `experiment` with `variant`, or `experiment` written as
/// `ID:VARIANT` (what the experiment page's "compare with another
/// experiment" choice sends, one value per variant).
fn side(q: &Option<String>, v: &Option<String>) -> Result<CompareSide, PageError> {
    let q = q.as_deref().unwrap_or("");
    let (experiment, variant) = match q.split_once(':') {
        Some((id, n)) => (id, n),
        None => (q, v.as_deref().unwrap_or("0")),
    };
    Ok(CompareSide {
        experiment: parse::<ExperimentId>(experiment)?,
        variant: parse::<i64>(variant)?,
    })
}

/// Counts of `values` in `BINS` equal bins over 0..=1, drawn as bars.
fn histogram(values: &[f64]) -> Vec<Bar> {
    let mut counts = [0usize; BINS];
    for v in values {
        let bin = ((v.clamp(0.0, 1.0) * BINS as f64) as usize).min(BINS - 1);
        counts[bin] += 1;
    }
    let max = counts.iter().copied().max().unwrap_or(0).max(1) as f64;
    let w = HIST_W / BINS as f64;
    counts
        .iter()
        .enumerate()
        .map(|(i, &c)| {
            let h = c as f64 / max * (HIST_H - 12.0);
            Bar {
                x: format!("{:.1}", i as f64 * w + 1.0),
                y: format!("{:.1}", HIST_H - 12.0 - h),
                h: format!("{h:.1}"),
                count: c,
            }
        })
        .collect()
}

pub(crate) async fn compare(
    user: PageUser,
    State(state): State<AppState>,
    Query(q): Query<CompareQuery>,
) -> PageResult {
    let baseline = side(&q.baseline, &q.baseline_variant)?;
    let candidate = side(&q.candidate, &q.candidate_variant)?;
    let cmp = state.app.compare_experiments(baseline, candidate).await?;
    let b_exp = state.app.get_experiment(baseline.experiment).await?;
    let c_exp = if candidate.experiment == baseline.experiment {
        b_exp.clone()
    } else {
        state.app.get_experiment(candidate.experiment).await?
    };
    let b_sum = state.app.experiment_summary(baseline.experiment).await?;
    let c_sum = if candidate.experiment == baseline.experiment {
        b_sum.clone()
    } else {
        state.app.experiment_summary(candidate.experiment).await?
    };
    let c = &cmp.comparison;
    let rows: Vec<EvaluatorRow> = c
        .evaluators
        .iter()
        .enumerate()
        .map(|(i, e)| {
            let bs = of(&b_sum, baseline.variant, &e.evaluator);
            let cs = of(&c_sum, candidate.variant, &e.evaluator);
            let y0 = 20.0 + i as f64 * ROW_H;
            let mark = |s: Option<&EvaluatorSummary>, dy: f64| {
                let s = s?;
                let m = s.mean?;
                let [lo, hi] = s.ci.unwrap_or([m, m]);
                Some(Mark {
                    x: format!("{:.1}", x_of(m)),
                    lo: format!("{:.1}", x_of(lo)),
                    hi: format!("{:.1}", x_of(hi)),
                    y: format!("{:.1}", y0 + dy),
                })
            };
            let mut marks = vec![];
            if let Some(m) = mark(bs, 8.0) {
                marks.push(("baseline", m));
            }
            if let Some(m) = mark(cs, 22.0) {
                marks.push(("candidate", m));
            }
            EvaluatorRow {
                name: e.evaluator.clone(),
                kind: e.kind.clone(),
                verdict: verdict_word(e.verdict),
                baseline: bs.map_or_else(|| fmt_score(e.baseline_mean), |s| fmt_ci(s.mean, s.ci)),
                candidate: cs.map_or_else(|| fmt_score(e.candidate_mean), |s| fmt_ci(s.mean, s.ci)),
                diff: fmt_ci(e.diff, e.ci),
                baseline_pass: bs.map_or_else(|| "—".into(), |s| fmt_ci(s.pass_rate, s.pass_ci)),
                candidate_pass: cs.map_or_else(|| "—".into(), |s| fmt_ci(s.pass_rate, s.pass_ci)),
                p: e.mcnemar
                    .map(|m| m.p)
                    .or(e.permutation_p)
                    .map_or_else(|| "—".into(), |p| format!("{p:.4}")),
                label_y: format!("{:.1}", y0 + 19.0),
                marks,
            }
        })
        .collect();
    let chart_h = 30.0 + rows.len() as f64 * ROW_H;
    let ticks = (0..=4)
        .map(|t| {
            let v = t as f64 / 4.0;
            (format!("{:.1}", x_of(v)), format!("{v:.2}"))
        })
        .collect();
    let mut histograms = Vec::new();
    for e in &c.evaluators {
        let mut b = vec![];
        let mut k = vec![];
        for item in &c.items {
            if let Some(d) = item.evaluators.iter().find(|d| d.evaluator == e.evaluator) {
                b.push(d.baseline);
                k.push(d.candidate);
            }
        }
        histograms.push(Histogram {
            evaluator: e.evaluator.clone(),
            side: "baseline",
            bars: histogram(&b),
        });
        histograms.push(Histogram {
            evaluator: e.evaluator.clone(),
            side: "candidate",
            bars: histogram(&k),
        });
    }
    // Changed items first (regressed, then flaky, then improved), then the rest.
    let rank = |o: ItemOutcome| match o {
        ItemOutcome::Regressed => 0,
        ItemOutcome::Flaky => 1,
        ItemOutcome::Improved => 2,
        ItemOutcome::Unchanged => 3,
    };
    let mut order: Vec<&promptrefine_eval::ItemComparison> = c.items.iter().collect();
    order.sort_by_key(|i| rank(i.outcome));
    let items = order
        .into_iter()
        .take(ITEMS_SHOWN)
        .map(|i| {
            let (bo, co) = cmp.outputs.get(&i.item_id).cloned().unwrap_or_default();
            let diff = word_diff(
                &excerpt(bo.as_deref().unwrap_or(""), DIFF_CHARS),
                &excerpt(co.as_deref().unwrap_or(""), DIFF_CHARS),
            )
            .into_iter()
            .map(|(k, t)| {
                let class = match k {
                    DiffKind::Equal => "eq",
                    DiffKind::Insert => "ins",
                    DiffKind::Delete => "del",
                };
                (class, t)
            })
            .collect();
            ItemRow {
                item: i.item_id.chars().take(13).collect(),
                outcome: outcome_word(i.outcome),
                score_diff: i
                    .score_diff
                    .map_or_else(|| "—".into(), |d| format!("{d:+.3}")),
                diff,
            }
        })
        .collect();
    let overall = promptrefine_app::experiments::browse::overall_verdict(
        c.evaluators.iter().map(|e| e.verdict),
    )
    .map_or("insufficient_data", verdict_word);
    let page = ComparePage {
        chrome: Chrome::for_user(&user, None),
        baseline_url: format!("/app/experiments/{}", baseline.experiment),
        baseline_name: format!(
            "{} · variant {}",
            display_name(&b_exp),
            variant_label(&b_exp, baseline.variant as usize)
        ),
        candidate_url: format!("/app/experiments/{}", candidate.experiment),
        candidate_name: format!(
            "{} · variant {}",
            display_name(&c_exp),
            variant_label(&c_exp, candidate.variant as usize)
        ),
        overall,
        same_dataset_version: cmp.same_dataset_version,
        shared_items: c.shared_items,
        rows,
        chart_w: format!("{CHART_W:.0}"),
        chart_h: format!("{chart_h:.0}"),
        ticks,
        axis_top: "10".into(),
        axis_bottom: format!("{:.0}", chart_h - 14.0),
        hist_w: format!("{HIST_W:.0}"),
        hist_h: format!("{HIST_H:.0}"),
        histograms,
        cost: fmt_delta(
            c.cost_delta.map(|d| Delta {
                baseline: d.baseline * 1e6,
                candidate: d.candidate * 1e6,
                diff: d.diff * 1e6,
            }),
            " µ$",
            1,
        ),
        latency: fmt_delta(c.latency_p50_delta, " ms", 0),
        tokens: fmt_delta(c.tokens_delta, "", 1),
        items_total: c.items.len(),
        items,
    };
    Ok(Html(page.render()?).into_response())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_histogram_puts_each_value_in_its_tenth_and_one_in_the_last() {
        let bars = histogram(&[0.0, 0.05, 0.5, 1.0, 0.99]);
        let counts: Vec<usize> = bars.iter().map(|b| b.count).collect();
        assert_eq!(counts, [2, 0, 0, 0, 0, 1, 0, 0, 0, 2]);
        assert_eq!(x_of(0.0), AXIS_X0);
        assert_eq!(x_of(2.0), AXIS_X1);
    }
}
