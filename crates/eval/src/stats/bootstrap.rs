//! Percentile bootstrap intervals, seeded.

use rand_chacha::ChaCha8Rng;
use rand_chacha::rand_core::{RngCore, SeedableRng};

use super::{Estimate, mean, percentile_sorted};

/// Resamples per interval unless told otherwise: enough that the 2.5 % and
/// 97.5 % quantiles move by well under a percentage point between seeds.
pub const DEFAULT_RESAMPLES: usize = 2000;

/// The mean of `values` with a 95 % bootstrap interval: percentiles
/// (linear interpolation) of the means of `resamples` resamples drawn with
/// replacement. `None` for no values; one value gives a zero-width
/// interval. `resamples = 0` is taken as 1.
///
/// The percentiles are Hesterberg's *expanded* ones, not the plain 2.5th
/// and 97.5th: the plain percentile interval is too narrow for small
/// samples (the bootstrap distribution has variance `(n−1)/n` of the
/// truth, and it uses z where t is due). Expanding by `√(n/(n−1))·t(n−1)`
/// (for 50 items: the 2.1th and 97.9th percentiles) makes it behave like a
/// t interval on near-normal data while leaving large samples as they were
/// (T. Hesterberg, "What teachers should know about the bootstrap", The
/// American Statistician, 2015). On the simulation's 200 null datasets of
/// 50 items it lowered false alarms from 6.5 % to 6.0 %.
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
    Some(interval(point, &mut means, n))
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

fn interval(point: f64, means: &mut [f64], n: usize) -> Estimate {
    means.sort_by(f64::total_cmp);
    let tail = 100.0 * expanded_tail(n);
    Estimate {
        mean: point,
        lo: percentile_sorted(means, tail).unwrap_or(point),
        hi: percentile_sorted(means, 100.0 - tail).unwrap_or(point),
    }
}

/// The lower tail probability of the expanded percentile interval for a
/// 95 % interval over `n` values: `Φ(−√(n/(n−1)) · t₀.₉₇₅(n−1))`, 0.025
/// in the limit. Below 2 values there is nothing to expand.
pub(crate) fn expanded_tail(n: usize) -> f64 {
    if n < 2 {
        return 0.025;
    }
    let nf = n as f64;
    let z = (nf / (nf - 1.0)).sqrt() * t_quantile_975(nf - 1.0);
    normal_cdf(-z)
}

/// The 0.975 quantile of Student's t with `df` degrees of freedom, by the
/// Cornish–Fisher expansion in z (Abramowitz & Stegun 26.7.5): within
/// 0.001 for df ≥ 5, which is far below what moves a percentile of a few
/// thousand resamples. (Below that it is too small, and `min_pairs` keeps
/// comparisons out of that range anyway.)
pub(crate) fn t_quantile_975(df: f64) -> f64 {
    let z = super::Z95;
    let z2 = z * z;
    let g1 = (z2 + 1.0) * z / 4.0;
    let g2 = ((5.0 * z2 + 16.0) * z2 + 3.0) * z / 96.0;
    let g3 = (((3.0 * z2 + 19.0) * z2 + 17.0) * z2 - 15.0) * z / 384.0;
    let g4 = ((((79.0 * z2 + 776.0) * z2 + 1482.0) * z2 - 1920.0) * z2 - 945.0) * z / 92160.0;
    z + g1 / df + g2 / df.powi(2) + g3 / df.powi(3) + g4 / df.powi(4)
}

/// The standard normal CDF, by Abramowitz & Stegun 7.1.26 for erf
/// (absolute error below 1.5e-7).
pub(crate) fn normal_cdf(x: f64) -> f64 {
    let t = x.abs() / std::f64::consts::SQRT_2;
    let k = 1.0 / (1.0 + 0.327_591_1 * t);
    let poly = k
        * (0.254_829_592
            + k * (-0.284_496_736
                + k * (1.421_413_741 + k * (-1.453_152_027 + k * 1.061_405_429))));
    let erf = 1.0 - poly * (-t * t).exp();
    if x >= 0.0 {
        0.5 * (1.0 + erf)
    } else {
        0.5 * (1.0 - erf)
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

/// The two-sided p-value of a paired sign-flip permutation test of "no
/// difference" on `diffs` (candidate − baseline per item): under the null
/// that both sides are the same process, each item's difference is as
/// likely to have either sign, so the observed |mean| is compared with the
/// |mean|s of `resamples` random sign flips. The Monte Carlo p-value
/// `(1 + hits) / (1 + resamples)` never falls below its true size, which is
/// why it can guard a verdict: its false-alarm rate is at most the level
/// whatever the scores' distribution. 1 for no differences.
pub fn sign_flip_p(diffs: &[f64], resamples: usize, seed: u64) -> f64 {
    let Some(observed) = mean(diffs) else {
        return 1.0;
    };
    let observed = observed.abs();
    let n = diffs.len() as f64;
    // A tolerance so flips that reproduce the observed mean up to rounding
    // count as at least as extreme (they are, exactly).
    let tolerance = 1e-12 * (1.0 + observed);
    let mut rng = ChaCha8Rng::seed_from_u64(seed ^ 0x5157_4e5f_464c_4950);
    let resamples = resamples.max(1);
    let mut bits = 0u64;
    let mut left = 0u32;
    let mut hits = 0usize;
    for _ in 0..resamples {
        let mut sum = 0.0;
        for d in diffs {
            if left == 0 {
                bits = rng.next_u64();
                left = 64;
            }
            sum += if bits & 1 == 1 { *d } else { -*d };
            bits >>= 1;
            left -= 1;
        }
        if (sum / n).abs() >= observed - tolerance {
            hits += 1;
        }
    }
    (1 + hits) as f64 / (1 + resamples) as f64
}
