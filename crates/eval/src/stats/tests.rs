use super::bootstrap::below;
use super::*;
use rand_chacha::ChaCha8Rng;
use rand_chacha::rand_core::SeedableRng;

fn close(a: f64, b: f64, tol: f64) -> bool {
    (a - b).abs() <= tol
}

#[test]
fn wilson_matches_textbook_intervals() {
    let (lo, hi) = wilson(8, 10, 1.96);
    assert!(
        close(lo, 0.490, 5e-4) && close(hi, 0.943, 5e-4),
        "({lo}, {hi})"
    );
    let (lo, hi) = wilson(0, 10, 1.96);
    assert!(lo == 0.0 && close(hi, 0.2775, 5e-4), "({lo}, {hi})");
    let (lo, hi) = wilson(10, 10, 1.96);
    assert!(close(lo, 0.7225, 5e-4) && hi == 1.0, "({lo}, {hi})");
    // 50/100 at 95 %: (0.4038, 0.5962).
    let (lo, hi) = wilson(50, 100, Z95);
    assert!(
        close(lo, 0.4038, 5e-4) && close(hi, 0.5962, 5e-4),
        "({lo}, {hi})"
    );
    assert_eq!(wilson(0, 0, 1.96), (0.0, 1.0));
    assert_eq!(wilson_f(8.0, 10.0, 1.96), wilson(8, 10, 1.96));
}

#[test]
fn mcnemar_exact_matches_the_binomial_test() {
    assert_eq!(mcnemar_exact(0, 0), 1.0);
    assert!(close(mcnemar_exact(1, 9), 0.021484375, 1e-12));
    assert!(close(mcnemar_exact(9, 1), 0.021484375, 1e-12), "symmetric");
    assert_eq!(mcnemar_exact(5, 5), 1.0);
    assert!(close(mcnemar_exact(2, 8), 0.109375, 1e-12));
    assert!(close(mcnemar_exact(0, 4), 0.125, 1e-12));
    assert!(close(mcnemar_exact(0, 10), 2.0 / 1024.0, 1e-15));
    // Large counts neither overflow nor underflow into nonsense.
    let p = mcnemar_exact(4000, 4000);
    assert!(p == 1.0 || close(p, 1.0, 1e-9), "{p}");
    let p = mcnemar_exact(900, 1100);
    assert!(p > 0.0 && p < 1e-5, "{p}");
}

#[test]
fn percentiles_interpolate_between_ranks() {
    assert_eq!(percentile(&[4.0, 1.0, 3.0, 2.0], 50.0), Some(2.5));
    let hundred: Vec<f64> = (1..=100).map(f64::from).collect();
    assert!(close(percentile(&hundred, 95.0).unwrap(), 95.05, 1e-9));
    assert_eq!(percentile(&hundred, 0.0), Some(1.0));
    assert_eq!(percentile(&hundred, 100.0), Some(100.0));
    assert_eq!(percentile(&[7.0], 95.0), Some(7.0));
    assert_eq!(percentile(&[], 50.0), None);
    assert_eq!(percentile(&[f64::NAN, 1.0], 50.0), Some(1.0));
}

#[test]
fn the_bootstrap_is_deterministic_for_a_seed() {
    let values: Vec<f64> = (0..37).map(|i| f64::from(i % 7) / 6.0).collect();
    let a = bootstrap_mean_ci(&values, 2000, 42).unwrap();
    let b = bootstrap_mean_ci(&values, 2000, 42).unwrap();
    assert_eq!(a, b);
    let c = bootstrap_mean_ci(&values, 2000, 43).unwrap();
    assert_ne!((a.lo, a.hi), (c.lo, c.hi));
    assert_eq!(
        a.mean, c.mean,
        "the point estimate does not depend on the seed"
    );
    assert!(a.lo < a.mean && a.mean < a.hi);
}

#[test]
fn the_bootstrap_gives_these_exact_numbers_for_seed_7() {
    // Pinned: a change of generator, sampler or quantile rule changes
    // every stored interval, and must be a deliberate one.
    let values = [0.0, 1.0, 1.0, 0.5, 0.25, 1.0, 0.0, 0.75];
    let e = bootstrap_mean_ci(&values, 500, 7).unwrap();
    assert_eq!(e.mean, 0.5625);
    let pinned = (e.lo, e.hi);
    assert_eq!(bootstrap_mean_ci(&values, 500, 7).unwrap(), e);
    assert!(
        close(pinned.0, 0.183_233_095_169_440_5, 1e-12) && close(pinned.1, 0.90625, 1e-12),
        "{pinned:?}"
    );
}

#[test]
fn the_bootstrap_interval_is_about_the_normal_one_for_many_values() {
    // 100 values, half 0 and half 1: mean 0.5, standard error 0.05.
    let values: Vec<f64> = (0..100).map(|i| f64::from(i % 2)).collect();
    let e = bootstrap_mean_ci(&values, 4000, 1).unwrap();
    assert_eq!(e.mean, 0.5);
    assert!(
        close(e.lo, 0.402, 0.02) && close(e.hi, 0.598, 0.02),
        "{e:?}"
    );
}

#[test]
fn bootstrap_edge_cases() {
    assert_eq!(bootstrap_mean_ci(&[], 100, 0), None);
    let one = bootstrap_mean_ci(&[0.3], 100, 0).unwrap();
    assert_eq!((one.mean, one.lo, one.hi), (0.3, 0.3, 0.3));
    let same = bootstrap_mean_ci(&[0.7; 20], 100, 0).unwrap();
    assert!(close(same.lo, 0.7, 1e-12) && close(same.hi, 0.7, 1e-12));
    assert!(bootstrap_mean_ci(&[0.0, 1.0], 0, 0).is_some());
}

#[test]
fn the_paired_bootstrap_is_of_candidate_minus_baseline() {
    let pairs: Vec<(f64, f64)> = (0..50)
        .map(|i| (0.5, if i % 5 == 0 { 0.5 } else { 0.7 }))
        .collect();
    let e = paired_bootstrap_diff_ci(&pairs, 2000, 3).unwrap();
    assert!(close(e.mean, 0.16, 1e-12), "{e:?}");
    assert!(e.lo > 0.1 && e.hi <= 0.2 + 1e-12, "{e:?}");
    let flipped: Vec<(f64, f64)> = pairs.iter().map(|(b, c)| (*c, *b)).collect();
    let f = paired_bootstrap_diff_ci(&flipped, 2000, 3).unwrap();
    assert!(close(f.mean, -0.16, 1e-12) && f.hi < 0.0);
    assert_eq!(paired_bootstrap_diff_ci(&[], 10, 0), None);
}

#[test]
fn the_index_sampler_is_uniform_and_in_range() {
    let mut rng = ChaCha8Rng::seed_from_u64(9);
    let mut counts = [0usize; 3];
    for _ in 0..30_000 {
        counts[below(&mut rng, 3)] += 1;
    }
    assert!(
        counts.iter().all(|c| (9_500..10_500).contains(c)),
        "{counts:?}"
    );
    assert!((0..100).all(|_| below(&mut rng, 1) == 0));
}

#[test]
fn repeats_give_pass_at_k_pass_hat_k_consistency_and_flakes() {
    let items = vec![
        ("a".to_owned(), vec![true, true, true]),
        ("b".to_owned(), vec![true, false, false]),
        ("c".to_owned(), vec![false, false, false]),
        ("empty".to_owned(), vec![]),
    ];
    let r = repeat_stats(&items).unwrap();
    assert_eq!(r.k, 3);
    assert!(close(r.pass_at_k, 2.0 / 3.0, 1e-12));
    assert!(close(r.pass_hat_k, 1.0 / 3.0, 1e-12));
    assert!(close(r.consistency, 2.0 / 3.0, 1e-12));
    assert_eq!(r.flaky, ["b"]);
    assert_eq!(repeat_stats(&[]), None);
}

#[test]
fn items_with_more_repeats_than_k_use_the_unbiased_estimators() {
    // k = 2 (the fewest). Item x: n = 4, c = 1 → pass@2 = 1 − C(3,2)/C(4,2)
    // = 0.5 and pass^2 = C(1,2)/C(4,2) = 0. Item y: n = 2, c = 2 → 1 and 1.
    let items = vec![
        ("x".to_owned(), vec![true, false, false, false]),
        ("y".to_owned(), vec![true, true]),
    ];
    let r = repeat_stats(&items).unwrap();
    assert_eq!(r.k, 2);
    assert!(close(r.pass_at_k, 0.75, 1e-12));
    assert!(close(r.pass_hat_k, 0.5, 1e-12));
    assert_eq!(r.flaky, ["x"]);
}

#[test]
fn the_expanded_tail_uses_t_and_tends_to_two_and_a_half_percent() {
    use super::bootstrap::{expanded_tail, normal_cdf, t_quantile_975};
    // Textbook t quantiles.
    for (df, t) in [
        (5.0, 2.5706),
        (9.0, 2.2622),
        (29.0, 2.0452),
        (49.0, 2.0096),
        (99.0, 1.9842),
    ] {
        assert!(
            close(t_quantile_975(df), t, 1e-3),
            "df {df}: {}",
            t_quantile_975(df)
        );
    }
    assert!(close(normal_cdf(0.0), 0.5, 1e-7));
    assert!(close(normal_cdf(-Z95), 0.025, 1e-6));
    assert!(close(normal_cdf(1.0), 0.841_344_7, 1e-6));
    // 50 values: Φ(−√(50/49)·2.0096) ≈ 0.0212.
    assert!(
        close(expanded_tail(50), 0.0212, 3e-4),
        "{}",
        expanded_tail(50)
    );
    assert!(expanded_tail(10) < expanded_tail(50));
    assert!(close(expanded_tail(100_000), 0.025, 1e-4));
    assert_eq!(expanded_tail(1), 0.025);
}

#[test]
fn the_sign_flip_test_is_exact_enough_and_deterministic() {
    assert_eq!(sign_flip_p(&[], 100, 0), 1.0);
    // All zero differences: every flip is as extreme, p = 1.
    assert_eq!(sign_flip_p(&[0.0; 20], 200, 0), 1.0);
    // 12 equal positive differences: only the all-positive and all-negative
    // flips (2 of 4096) are as extreme, so p ≈ 2/4096 plus Monte Carlo error.
    let p = sign_flip_p(&[0.1; 12], 20_000, 1);
    assert!(p < 0.002, "{p}");
    // Symmetric differences: p is large.
    let sym: Vec<f64> = (0..40)
        .map(|i| if i % 2 == 0 { 0.3 } else { -0.3 })
        .collect();
    assert!(sign_flip_p(&sym, 2000, 2) > 0.9);
    let d: Vec<f64> = (0..30).map(|i| f64::from(i % 7) / 10.0 - 0.2).collect();
    assert_eq!(sign_flip_p(&d, 500, 3), sign_flip_p(&d, 500, 3));
}
