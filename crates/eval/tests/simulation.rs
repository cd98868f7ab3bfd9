//! Does the verdict mean what it says? Two identical variants must be
//! judged `no_difference` in at least 95 % of 200 seeded synthetic datasets,
//! and a real shift of a stated size must be judged `better` in most.
//!
//! The data are generated here from ChaCha8 seeds, so every run sees the
//! same 200 datasets and the asserted rates are exact, not flaky. The
//! comparisons use 1000 bootstrap resamples (the default is 2000) to keep the
//! test fast in debug builds; the verdicts' error rates are not sensitive to
//! that. Run with `--nocapture` to see the measured rates (they are in the
//! crate's README).

mod common;

use common::{cell, pf, score};
use promptrefine_eval::{CellScore, CompareOptions, Verdict, compare_with};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

const DATASETS: u64 = 200;
const RESAMPLES: usize = 1000;

#[derive(Default, Debug)]
struct Tally {
    better: u32,
    worse: u32,
    no_difference: u32,
    insufficient: u32,
}

impl Tally {
    fn add(&mut self, v: Verdict) {
        match v {
            Verdict::Better => self.better += 1,
            Verdict::Worse => self.worse += 1,
            Verdict::NoDifference => self.no_difference += 1,
            Verdict::InsufficientData => self.insufficient += 1,
        }
    }

    fn total(&self) -> u32 {
        self.better + self.worse + self.no_difference + self.insufficient
    }

    fn share(&self, n: u32) -> f64 {
        f64::from(n) / f64::from(self.total())
    }
}

/// Runs `DATASETS` comparisons of data made by `make(rng)` and tallies the
/// verdict of the one evaluator.
fn simulate(
    name: &str,
    base_seed: u64,
    make: impl Fn(&mut ChaCha8Rng) -> (Vec<CellScore>, Vec<CellScore>),
) -> Tally {
    simulate_n(name, DATASETS, base_seed, make)
}

fn simulate_n(
    name: &str,
    datasets: u64,
    base_seed: u64,
    make: impl Fn(&mut ChaCha8Rng) -> (Vec<CellScore>, Vec<CellScore>),
) -> Tally {
    let mut tally = Tally::default();
    for d in 0..datasets {
        let mut rng = ChaCha8Rng::seed_from_u64(base_seed + d);
        let (base, cand) = make(&mut rng);
        let options = CompareOptions {
            seed: d,
            resamples: RESAMPLES,
            ..CompareOptions::default()
        };
        tally.add(compare_with(&base, &cand, &options).evaluators[0].verdict);
    }
    println!(
        "{name} ({datasets} datasets): better {:.1} %, worse {:.1} %, no_difference {:.1} %",
        100.0 * tally.share(tally.better),
        100.0 * tally.share(tally.worse),
        100.0 * tally.share(tally.no_difference)
    );
    assert_eq!(tally.insufficient, 0);
    tally
}

/// Pass/fail outcomes for `items` items. Item i's chance of passing is
/// `p_base(i)` / `p_cand(i)`; with `shared` probability both sides use the
/// same uniform draw for an item (what is hard is hard for both), otherwise
/// independent ones. The marginal pass rates are exactly as given.
fn pass_fail(
    rng: &mut ChaCha8Rng,
    items: usize,
    shared: f64,
    p_base: impl Fn(usize) -> f64,
    p_cand: impl Fn(usize) -> f64,
) -> (Vec<CellScore>, Vec<CellScore>) {
    let (mut base, mut cand) = (Vec::new(), Vec::new());
    for i in 0..items {
        let u: f64 = rng.random();
        let v: f64 = if rng.random_bool(shared) {
            u
        } else {
            rng.random()
        };
        let id = format!("i{i:03}");
        base.push(cell(&id, 0, 0, vec![pf("m", u < p_base(i))]));
        cand.push(cell(&id, 1, 0, vec![pf("m", v < p_cand(i))]));
    }
    (base, cand)
}

/// Roughly normal noise (Irwin–Hall: a sum of 12 uniforms) with this sd.
fn noise(rng: &mut ChaCha8Rng, sd: f64) -> f64 {
    let s: f64 = (0..12).map(|_| rng.random::<f64>()).sum();
    (s - 6.0) * sd
}

/// Continuous scores in 0..1: item i has a mean `mu_i` (uniform in
/// 0.2..0.7) shared by both sides, each repeat adds noise (sd 0.15), and the
/// candidate adds `shift`.
fn continuous(
    rng: &mut ChaCha8Rng,
    items: usize,
    repeats: u32,
    shift: f64,
) -> (Vec<CellScore>, Vec<CellScore>) {
    let (mut base, mut cand) = (Vec::new(), Vec::new());
    for i in 0..items {
        let mu = rng.random_range(0.2..0.7);
        let id = format!("i{i:03}");
        for r in 0..repeats {
            let b = (mu + noise(rng, 0.15)).clamp(0.0, 1.0);
            let c = (mu + shift + noise(rng, 0.15)).clamp(0.0, 1.0);
            base.push(cell(&id, 0, r, vec![score("s", b, None)]));
            cand.push(cell(&id, 1, r, vec![score("s", c, None)]));
        }
    }
    (base, cand)
}

#[test]
fn identical_pass_fail_variants_are_no_difference_in_at_least_95_percent() {
    // 50 items, each with its own difficulty (pass chance 0.1..0.95), the
    // two sides drawn independently: the hardest case for a false alarm.
    let t = simulate("null pass/fail, 50 items", 1_000, |rng| {
        let p: Vec<f64> = (0..50).map(|_| rng.random_range(0.1..0.95)).collect();
        pass_fail(rng, 50, 0.0, |i| p[i], |i| p[i])
    });
    assert!(t.share(t.no_difference) >= 0.95, "{t:?}");
    assert!(
        t.share(t.better) <= 0.04 && t.share(t.worse) <= 0.04,
        "{t:?}"
    );
}

#[test]
fn identical_continuous_variants_with_repeats_are_no_difference_about_95_percent() {
    // 50 items × 3 repeats: repeats averaged per item, not counted as 150
    // independent samples (which would push false alarms far above 5 %).
    //
    // The verdict's test has a 5 % false-alarm rate by design, and on 200
    // datasets the measured share has a standard error of 1.5 points: these
    // seeds give 94.5 %. So this asserts the rate within two standard errors
    // of nominal; the ignored test below runs 10 000 datasets and holds
    // ≥ 95 % (95.2 % measured).
    let t = simulate("null continuous, 50 items × 3 repeats", 2_000, |rng| {
        continuous(rng, 50, 3, 0.0)
    });
    assert!(t.share(t.no_difference) >= 0.92, "{t:?}");
    assert!(
        t.share(t.better) <= 0.05 && t.share(t.worse) <= 0.05,
        "{t:?}"
    );
}

/// About a minute in debug: `cargo test -p promptrefine-eval --test
/// simulation -- --ignored --nocapture`.
#[test]
#[ignore = "10 000 datasets: run on demand"]
fn identical_continuous_variants_over_10_000_datasets_are_no_difference_in_at_least_95_percent() {
    let t = simulate_n(
        "null continuous, 50 items × 3 repeats",
        10_000,
        2_000,
        |rng| continuous(rng, 50, 3, 0.0),
    );
    assert!(t.share(t.no_difference) >= 0.95, "{t:?}");
}

#[test]
fn a_pass_rate_from_60_to_75_percent_is_found_in_most_datasets_of_100_items() {
    // Items share their difficulty half of the time (see `pass_fail`).
    let t = simulate("pass 0.60 → 0.75, 100 items, coupled", 3_000, |rng| {
        pass_fail(rng, 100, 0.5, |_| 0.60, |_| 0.75)
    });
    assert!(t.share(t.better) >= 0.65, "{t:?}");
    assert_eq!(t.worse, 0, "{t:?}");
    // Fully independent sides: the most discordant pairs, the least power.
    let t = simulate("pass 0.60 → 0.75, 100 items, independent", 4_000, |rng| {
        pass_fail(rng, 100, 0.0, |_| 0.60, |_| 0.75)
    });
    assert!(t.share(t.better) >= 0.40, "{t:?}");
    assert_eq!(t.worse, 0, "{t:?}");
    // How many items 80 % power takes at that shift.
    let t = simulate("pass 0.60 → 0.75, 200 items, coupled", 7_000, |rng| {
        pass_fail(rng, 200, 0.5, |_| 0.60, |_| 0.75)
    });
    assert!(t.share(t.better) >= 0.85, "{t:?}");
}

#[test]
fn a_mean_score_shift_of_a_tenth_is_found_over_100_items() {
    let t = simulate("score +0.10, 100 items", 5_000, |rng| {
        continuous(rng, 100, 1, 0.10)
    });
    assert!(t.share(t.better) >= 0.95, "{t:?}");
    let t = simulate("score +0.05, 50 items", 6_000, |rng| {
        continuous(rng, 50, 1, 0.05)
    });
    assert!(t.share(t.better) >= 0.30, "{t:?}");
    assert_eq!(t.worse, 0, "{t:?}");
}
