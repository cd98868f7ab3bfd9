//! The statistics behind summaries and comparisons, each a few lines on
//! top of textbook formulas and tested against textbook values.
//!
//! Randomness is a ChaCha8 stream seeded by the caller, and indices are drawn
//! from it by this crate's own bounded sampler (not `rand`'s), so the same
//! data and seed give the same intervals on every platform and with every
//! release of `rand`.

mod bootstrap;
mod repeats;
#[cfg(test)]
mod tests;

use serde::{Deserialize, Serialize};

pub use bootstrap::{DEFAULT_RESAMPLES, bootstrap_mean_ci, paired_bootstrap_diff_ci, sign_flip_p};
pub use repeats::{RepeatStats, repeat_stats};

/// An estimate with a 95 % interval.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct Estimate {
    pub mean: f64,
    pub lo: f64,
    pub hi: f64,
}

/// The z of a two-sided 95 % interval.
pub const Z95: f64 = 1.959_963_984_540_054;

/// Wilson's score interval for a proportion `successes / n` at `z`
/// (1.96 for 95 %). Unlike the normal (Wald) interval it stays inside
/// 0..1 and is not degenerate at 0/n or n/n. `n = 0` gives the vacuous
/// `(0, 1)`.
pub fn wilson(successes: u64, n: u64, z: f64) -> (f64, f64) {
    wilson_f(successes as f64, n as f64, z)
}

/// [`wilson`] for a fractional count of successes: how a pass rate over
/// items with repeats (each item's share of passing repeats) gets an
/// interval over the items. It is conservative there: an item's share
/// varies less than one Bernoulli draw.
pub fn wilson_f(successes: f64, n: f64, z: f64) -> (f64, f64) {
    if n <= 0.0 {
        return (0.0, 1.0);
    }
    let p = (successes / n).clamp(0.0, 1.0);
    let z2 = z * z;
    let denom = 1.0 + z2 / n;
    let centre = (p + z2 / (2.0 * n)) / denom;
    let half = z * (p * (1.0 - p) / n + z2 / (4.0 * n * n)).sqrt() / denom;
    ((centre - half).max(0.0), (centre + half).min(1.0))
}

/// McNemar's exact test: the two-sided p-value of `b` vs `c` discordant
/// pairs under "either direction is equally likely", i.e. the binomial
/// test of `min(b, c)` in `b + c` draws at ½, doubled and capped at 1.
/// No discordant pairs give 1.
pub fn mcnemar_exact(b: u64, c: u64) -> f64 {
    let n = b + c;
    if n == 0 {
        return 1.0;
    }
    let k = b.min(c);
    // P(X <= k) for X ~ Binomial(n, 1/2), summing pmf terms in log space so
    // a large n neither overflows the binomial coefficient nor underflows
    // 2^-n before it is multiplied in.
    let ln_half_n = -(n as f64) * std::f64::consts::LN_2;
    let mut ln_coef = 0.0f64; // ln C(n, 0)
    let mut tail = 0.0f64;
    for i in 0..=k {
        if i > 0 {
            ln_coef += ((n - i + 1) as f64).ln() - (i as f64).ln();
        }
        tail += (ln_coef + ln_half_n).exp();
    }
    (2.0 * tail).min(1.0)
}

/// The `p`-th percentile (`p` in 0..=100) by linear interpolation between
/// the two nearest ranks (NumPy's default, "type 7"): p50 of `[1, 2, 3, 4]`
/// is 2.5. `None` for no values; NaNs are ignored.
pub fn percentile(values: &[f64], p: f64) -> Option<f64> {
    let mut sorted: Vec<f64> = values.iter().copied().filter(|v| !v.is_nan()).collect();
    sorted.sort_by(f64::total_cmp);
    percentile_sorted(&sorted, p)
}

/// [`percentile`] of values already sorted ascending.
pub(crate) fn percentile_sorted(sorted: &[f64], p: f64) -> Option<f64> {
    let last = sorted.len().checked_sub(1)?;
    let rank = (p.clamp(0.0, 100.0) / 100.0) * last as f64;
    let lo = rank.floor() as usize;
    let hi = rank.ceil() as usize;
    let frac = rank - lo as f64;
    Some(sorted[lo] + (sorted[hi] - sorted[lo]) * frac)
}

/// The arithmetic mean; `None` for no values.
pub fn mean(values: &[f64]) -> Option<f64> {
    (!values.is_empty()).then(|| values.iter().sum::<f64>() / values.len() as f64)
}
