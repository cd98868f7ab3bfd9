//! Percentile bootstrap intervals, seeded.

use rand_chacha::ChaCha8Rng;
use rand_chacha::rand_core::{RngCore, SeedableRng};

use super::{Estimate, mean, percentile_sorted};

/// Resamples per interval unless told otherwise: enough that the 2.5 % and
/// 97.5 % quantiles move by well under a percentage point between seeds.
pub const DEFAULT_RESAMPLES: usize = 2000;

/// The mean of `values` with a 95 % percentile-bootstrap interval: the
/// 2.5th and 97.5th percentiles (linear interpolation) of the means of
/// `resamples` resamples drawn with replacement. `None` for no values; one
/// value gives a zero-width interval. `resamples = 0` is taken as 1.
pub fn bootstrap_mean_ci(values: &[f64], resamples: usize, seed: u64) -> Option<Estimate> {
    let point = mean(values)?;
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let n = values.len();
    let mut means: Vec<f64> = (0..resamples.max(1))
        .map(|_| {
            let sum: f64 = (0..n).map(|_| values[below(&mut rng, n)]).sum();
            sum / n as f64
        })
        .collect();
    Some(interval(point, &mut means))
}

/// The mean difference `candidate − baseline` over paired items with a 95 %
/// paired percentile-bootstrap interval: pairs are resampled together, so
/// what an item makes easy or hard for both sides cancels out. `pairs` are
/// `(baseline, candidate)`; `None` for no pairs.
pub fn paired_bootstrap_diff_ci(
    pairs: &[(f64, f64)],
    resamples: usize,
    seed: u64,
) -> Option<Estimate> {
    let diffs: Vec<f64> = pairs.iter().map(|(b, c)| c - b).collect();
    bootstrap_mean_ci(&diffs, resamples, seed)
}

fn interval(point: f64, means: &mut [f64]) -> Estimate {
    means.sort_by(f64::total_cmp);
    Estimate {
        mean: point,
        lo: percentile_sorted(means, 2.5).unwrap_or(point),
        hi: percentile_sorted(means, 97.5).unwrap_or(point),
    }
}

/// A uniform index in `0..n` (n ≥ 1): Lemire's multiply-shift with
/// rejection, on 64-bit draws. Ours rather than `rand`'s `random_range`,
/// whose algorithm has changed between releases and would change every
/// stored interval with it.
pub(crate) fn below(rng: &mut ChaCha8Rng, n: usize) -> usize {
    let n = n as u64;
    let threshold = n.wrapping_neg() % n;
    loop {
        let m = u128::from(rng.next_u64()) * u128::from(n);
        if (m as u64) >= threshold {
            return (m >> 64) as usize;
        }
    }
}
