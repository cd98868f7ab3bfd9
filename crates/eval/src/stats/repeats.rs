//! What repeats of the same item say: pass@k, pass^k, consistency, flakes.

use serde::{Deserialize, Serialize};

/// Repeat statistics over items, each with its pass/fail outcomes.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct RepeatStats {
    /// The `k` of pass@k and pass^k: the fewest repeats any item has (an
    /// item with more repeats still gives an unbiased estimate at that k).
    pub k: u32,
    /// The chance that at least one of `k` tries passes, by the unbiased
    /// estimator `1 − C(n−c, k) / C(n, k)` per item (n tries, c passes;
    /// Chen et al. 2021), averaged over items.
    pub pass_at_k: f64,
    /// The chance that all `k` tries pass, `C(c, k) / C(n, k)` per item,
    /// averaged; with `n = k` it is the share of items where every repeat
    /// passed.
    pub pass_hat_k: f64,
    /// The share of items with the same outcome in every repeat.
    pub consistency: f64,
    /// Ids of the items with mixed outcomes, sorted.
    pub flaky: Vec<String>,
}

/// Repeat statistics of `items` (`(item id, outcomes)`); items without
/// outcomes are skipped. `None` when no item has any.
pub fn repeat_stats(items: &[(String, Vec<bool>)]) -> Option<RepeatStats> {
    let items: Vec<_> = items.iter().filter(|(_, o)| !o.is_empty()).collect();
    let k = items.iter().map(|(_, o)| o.len()).min()?;
    let count = items.len() as f64;
    let (mut at_k, mut hat_k, mut same) = (0.0, 0.0, 0usize);
    let mut flaky = Vec::new();
    for (id, outcomes) in &items {
        let n = outcomes.len();
        let c = outcomes.iter().filter(|p| **p).count();
        at_k += 1.0 - choose_ratio(n - c, n, k);
        hat_k += choose_ratio(c, n, k);
        if c == 0 || c == n {
            same += 1;
        } else {
            flaky.push(id.clone());
        }
    }
    flaky.sort();
    Some(RepeatStats {
        k: u32::try_from(k).unwrap_or(u32::MAX),
        pass_at_k: at_k / count,
        pass_hat_k: hat_k / count,
        consistency: same as f64 / count,
        flaky,
    })
}

/// `C(m, k) / C(n, k)` for `m <= n`, as a product so nothing overflows.
fn choose_ratio(m: usize, n: usize, k: usize) -> f64 {
    if m < k {
        return 0.0;
    }
    (0..k).map(|j| (m - j) as f64 / (n - j) as f64).product()
}
