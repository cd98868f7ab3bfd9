//! A variant's summary: per evaluator a mean with a bootstrap interval, a
//! pass rate with a Wilson interval and, with repeats, pass@k, pass^k,
//! consistency and the flaky items; and the variant's cost, latency and
//! tokens.
//!
//! **The unit is the item, not the cell.** Repeats of one item are averaged
//! into one value before anything else, and intervals are over items. Repeats
//! of the same input are not independent samples of the dataset: counting
//! them as such would shrink every interval by about √repeats and make
//! noise look like a difference.
//!
//! Errored scores are counted (`errors`) and left out of every mean and
//! rate; an item whose every repeat errored is not among the `n` items.

use std::collections::{BTreeMap, HashMap};

use serde::{Deserialize, Serialize};

use crate::score::Score;
use crate::stats::{self, DEFAULT_RESAMPLES, Z95};

/// One cell's outcome: an item, run by a variant, in a repeat, and what it
/// scored. The app builds these from its stored cells.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct CellScore {
    pub item_id: String,
    pub variant: u32,
    pub repeat: u32,
    pub scores: Vec<Score>,
    pub cost_usd: Option<f64>,
    pub latency_ms: Option<u64>,
    pub tokens: Option<u64>,
}

#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct Summary {
    /// One per variant, by variant number.
    pub variants: Vec<VariantSummary>,
}

#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct VariantSummary {
    pub variant: u32,
    /// Cells (items × repeats) that reached scoring.
    pub cells: usize,
    /// Distinct items.
    pub items: usize,
    /// In the order the evaluators first appear in the cells.
    pub evaluators: Vec<EvaluatorSummary>,
    /// Sum over cells with a known cost; `None` when no cell has one.
    pub cost_total: Option<f64>,
    /// Mean per cell with a known cost.
    pub cost_mean: Option<f64>,
    /// Over cells, in milliseconds (see [`stats::percentile`]).
    pub latency_p50: Option<f64>,
    pub latency_p95: Option<f64>,
    pub tokens_total: Option<u64>,
}

#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct EvaluatorSummary {
    pub evaluator: String,
    #[serde(rename = "type")]
    pub kind: String,
    /// Items with at least one scored (non-error) repeat.
    pub n: usize,
    /// Mean over items of each item's mean over repeats.
    pub mean: Option<f64>,
    /// 95 % percentile-bootstrap interval of `mean`, over items.
    pub ci: Option<[f64; 2]>,
    /// Items with at least one pass/fail outcome.
    pub pass_n: usize,
    /// Mean over items of each item's share of passing repeats.
    pub pass_rate: Option<f64>,
    /// Wilson 95 % interval of `pass_rate` over `pass_n` items.
    pub pass_ci: Option<[f64; 2]>,
    /// The `k` of pass@k / pass^k; set (with the next four) only when some
    /// item has at least two repeats with an outcome.
    pub k: Option<u32>,
    pub pass_at_k: Option<f64>,
    pub pass_hat_k: Option<f64>,
    pub consistency: Option<f64>,
    pub flaky_items: Vec<String>,
    /// Errored scores (cells, not items): left out of everything above.
    pub errors: usize,
}

/// [`summarize_with`] at [`DEFAULT_RESAMPLES`].
pub fn summarize(cells: &[CellScore], seed: u64) -> Summary {
    summarize_with(cells, seed, DEFAULT_RESAMPLES)
}

/// Summarises every variant in `cells`. The same cells (in any order) and
/// seed give the same summary.
pub fn summarize_with(cells: &[CellScore], seed: u64, resamples: usize) -> Summary {
    let mut by_variant: BTreeMap<u32, Vec<&CellScore>> = BTreeMap::new();
    for cell in cells {
        by_variant.entry(cell.variant).or_default().push(cell);
    }
    let variants = by_variant
        .into_iter()
        .map(|(variant, cells)| summarize_variant(variant, &cells, seed, resamples))
        .collect();
    Summary { variants }
}

fn summarize_variant(
    variant: u32,
    cells: &[&CellScore],
    seed: u64,
    resamples: usize,
) -> VariantSummary {
    let index = Index::new(cells);
    let evaluators = index
        .evaluators
        .iter()
        .map(|(name, kind)| summarize_evaluator(name, kind, &index.scores[name], seed, resamples))
        .collect();
    let costs: Vec<f64> = cells
        .iter()
        .filter_map(|c| c.cost_usd)
        .filter(|c| c.is_finite())
        .collect();
    let latencies: Vec<f64> = cells
        .iter()
        .filter_map(|c| c.latency_ms)
        .map(|l| l as f64)
        .collect();
    let tokens: Vec<u64> = cells.iter().filter_map(|c| c.tokens).collect();
    VariantSummary {
        variant,
        cells: cells.len(),
        items: index.item_count,
        evaluators,
        cost_total: (!costs.is_empty()).then(|| costs.iter().sum()),
        cost_mean: stats::mean(&costs),
        latency_p50: stats::percentile(&latencies, 50.0),
        latency_p95: stats::percentile(&latencies, 95.0),
        tokens_total: (!tokens.is_empty()).then(|| tokens.iter().sum()),
    }
}

fn summarize_evaluator(
    name: &str,
    kind: &str,
    items: &BTreeMap<String, ItemScores>,
    seed: u64,
    resamples: usize,
) -> EvaluatorSummary {
    let values: Vec<f64> = items.values().filter_map(ItemScores::value).collect();
    let estimate = stats::bootstrap_mean_ci(&values, resamples, seed);
    let shares: Vec<f64> = items.values().filter_map(ItemScores::pass_share).collect();
    let pass_rate = stats::mean(&shares);
    let pass_ci = pass_rate.map(|_| {
        let (lo, hi) = stats::wilson_f(shares.iter().sum(), shares.len() as f64, Z95);
        [lo, hi]
    });
    let with_repeats = items.values().any(|i| i.passes.len() >= 2);
    let outcomes: Vec<(String, Vec<bool>)> = items
        .iter()
        .filter(|(_, s)| !s.passes.is_empty())
        .map(|(id, s)| (id.clone(), s.passes.clone()))
        .collect();
    let repeats = with_repeats
        .then(|| stats::repeat_stats(&outcomes))
        .flatten();
    EvaluatorSummary {
        evaluator: name.to_owned(),
        kind: kind.to_owned(),
        n: values.len(),
        mean: estimate.map(|e| e.mean),
        ci: estimate.map(|e| [e.lo, e.hi]),
        pass_n: shares.len(),
        pass_rate,
        pass_ci,
        k: repeats.as_ref().map(|r| r.k),
        pass_at_k: repeats.as_ref().map(|r| r.pass_at_k),
        pass_hat_k: repeats.as_ref().map(|r| r.pass_hat_k),
        consistency: repeats.as_ref().map(|r| r.consistency),
        flaky_items: repeats.map(|r| r.flaky).unwrap_or_default(),
        errors: items.values().map(|i| i.errors).sum(),
    }
}

/// One item's scores from one evaluator, over its repeats in repeat order.
#[derive(Default, Debug)]
pub(crate) struct ItemScores {
    pub(crate) values: Vec<f64>,
    pub(crate) passes: Vec<bool>,
    pub(crate) errors: usize,
}

impl ItemScores {
    /// The item's mean over its scored repeats.
    pub(crate) fn value(&self) -> Option<f64> {
        stats::mean(&self.values)
    }

    pub(crate) fn pass_share(&self) -> Option<f64> {
        (!self.passes.is_empty())
            .then(|| self.passes.iter().filter(|p| **p).count() as f64 / self.passes.len() as f64)
    }

    /// The outcome when every repeat agrees; `None` when mixed or unknown.
    pub(crate) fn steady_pass(&self) -> Option<bool> {
        let first = *self.passes.first()?;
        self.passes.iter().all(|p| *p == first).then_some(first)
    }

    pub(crate) fn is_mixed(&self) -> bool {
        self.passes.iter().any(|p| *p) && self.passes.iter().any(|p| !*p)
    }
}

/// The cells of one side, regrouped per evaluator and item.
pub(crate) struct Index {
    /// `(name, type)` in order of first appearance.
    pub(crate) evaluators: Vec<(String, String)>,
    /// Evaluator name → item id → scores; items sorted by id so the
    /// bootstrap sees them in an order that does not depend on the input's.
    pub(crate) scores: HashMap<String, BTreeMap<String, ItemScores>>,
    pub(crate) item_count: usize,
}

impl Index {
    pub(crate) fn new(cells: &[&CellScore]) -> Index {
        let mut sorted: Vec<&CellScore> = cells.to_vec();
        sorted.sort_by(|a, b| (&a.item_id, a.repeat).cmp(&(&b.item_id, b.repeat)));
        let mut evaluators: Vec<(String, String)> = Vec::new();
        // First appearance in the caller's order, not the sorted one.
        for cell in cells {
            for s in &cell.scores {
                if !evaluators.iter().any(|(n, _)| *n == s.evaluator) {
                    evaluators.push((s.evaluator.clone(), s.kind.clone()));
                }
            }
        }
        let mut scores: HashMap<String, BTreeMap<String, ItemScores>> = HashMap::new();
        let mut items = std::collections::BTreeSet::new();
        for cell in sorted {
            items.insert(cell.item_id.as_str());
            for s in &cell.scores {
                let item = scores
                    .entry(s.evaluator.clone())
                    .or_default()
                    .entry(cell.item_id.clone())
                    .or_default();
                match (s.is_error(), s.value) {
                    (false, Some(v)) => {
                        item.values.push(v);
                        item.passes.extend(s.pass);
                    }
                    _ => item.errors += 1,
                }
            }
        }
        Index {
            evaluators,
            scores,
            item_count: items.len(),
        }
    }
}
