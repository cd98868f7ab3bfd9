//! What the experiment pages read beyond the API's use cases: results
//! filtered (failed, regressed, flaky, by evaluator) and sorted in the
//! server under a keyset cursor, one cell in detail with its judge runs,
//! and a prompt's latest experiment with its verdict.
//!
//! Filters and sorts read one light query over the experiment's cells
//! (no outputs, no items), decide per item in memory, and then read only
//! the page's items: so a page costs the same whichever page it is, and a
//! cursor is the last row's (sort key, position), never an offset.

use std::collections::BTreeMap;

use promptrefine_core::{CellStatus, Experiment, ExperimentId, PromptId, Run};
use promptrefine_eval::{Score, Verdict};
use promptrefine_store::{CellKey, CellResult, ExperimentFilter, FactSort, ResultRow};

use super::ResultsPage;
use super::scoring::CompareSide;
use crate::error::{AppError, OrNotFound, Result};
use crate::{App, page_limit};

pub use promptrefine_store::ResultFilter;

/// The order of a results page; every order ends with the item's position.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum ResultSort {
    #[default]
    Item,
    /// Lowest mean score first (unscored last).
    Score,
    /// Most expensive first.
    Cost,
    /// Slowest first.
    Latency,
}

impl ResultSort {
    pub const ALL: [(ResultSort, &'static str); 4] = [
        (ResultSort::Item, "item"),
        (ResultSort::Score, "score"),
        (ResultSort::Cost, "cost"),
        (ResultSort::Latency, "latency"),
    ];

    pub fn parse(s: &str) -> Option<ResultSort> {
        Self::ALL.iter().find(|(_, n)| *n == s).map(|(v, _)| *v)
    }

    pub fn as_str(self) -> &'static str {
        Self::ALL
            .iter()
            .find(|(v, _)| *v == self)
            .map_or("item", |(_, n)| n)
    }

    fn stored(self) -> FactSort {
        match self {
            ResultSort::Item => FactSort::Position,
            ResultSort::Score => FactSort::Score,
            ResultSort::Cost => FactSort::Cost,
            ResultSort::Latency => FactSort::Latency,
        }
    }
}

/// A results page as the page asks for it.
#[derive(Clone, Debug, Default)]
pub struct BrowseResults {
    pub filter: ResultFilter,
    pub sort: ResultSort,
    pub cursor: Option<String>,
    pub limit: Option<i64>,
}

/// One cell with everything the cell view shows.
#[derive(Clone, Debug)]
pub struct CellDetail {
    pub experiment: Experiment,
    pub row: ResultRow,
    pub cell: CellResult,
    pub scores: Vec<Score>,
    /// The cell's run (its rendered input and whole output).
    pub run: Option<Run>,
    /// The runs of the judges that scored it.
    pub judges: Vec<Run>,
}

/// A prompt's newest experiment, with the verdict of its second variant
/// against its first once it has ended.
#[derive(Clone, Debug)]
pub struct LatestExperiment {
    pub experiment: Experiment,
    pub verdict: Option<Verdict>,
}

/// What one item's cells say, for filtering and sorting.
#[derive(Debug, Default)]
pub(super) struct ItemFacts {
    failed: bool,
    regressed: bool,
    flaky: bool,
    failed_evaluators: Vec<String>,
    score: Option<f64>,
    cost: Option<i64>,
    latency: Option<i64>,
}

fn scores_of(v: &Option<serde_json::Value>) -> Vec<Score> {
    v.as_ref()
        .and_then(|s| serde_json::from_value(s.clone()).ok())
        .unwrap_or_default()
}

/// Per evaluator and variant: the pass outcomes and values of the repeats.
type Outcomes = BTreeMap<(String, i64), (Vec<bool>, Vec<f64>)>;

pub(super) fn facts(cells: &[CellKey]) -> ItemFacts {
    let mut f = ItemFacts::default();
    let mut outcomes: Outcomes = BTreeMap::new();
    let (mut sum, mut n) = (0.0, 0usize);
    for c in cells {
        if c.status == CellStatus::Failed {
            f.failed = true;
        }
        if let Some(m) = c.cost_micro_usd {
            *f.cost.get_or_insert(0) += m;
        }
        if let Some(l) = c.latency_ms {
            f.latency = Some(f.latency.map_or(l, |x: i64| x.max(l)));
        }
        for s in scores_of(&c.scores) {
            if s.error.is_some() || s.pass == Some(false) {
                f.failed = true;
                if !f.failed_evaluators.contains(&s.evaluator) {
                    f.failed_evaluators.push(s.evaluator.clone());
                }
            }
            let entry = outcomes
                .entry((s.evaluator.clone(), c.variant))
                .or_default();
            if let Some(p) = s.pass {
                entry.0.push(p);
            }
            if let Some(v) = s.value {
                entry.1.push(v);
                sum += v;
                n += 1;
            }
        }
    }
    f.score = (n > 0).then(|| sum / n as f64);
    let steady = |passes: &[bool]| -> Option<bool> {
        let first = *passes.first()?;
        passes.iter().all(|p| *p == first).then_some(first)
    };
    let mean = |v: &[f64]| (!v.is_empty()).then(|| v.iter().sum::<f64>() / v.len() as f64);
    for ((evaluator, variant), (passes, values)) in &outcomes {
        if passes.len() > 1 && steady(passes).is_none() {
            f.flaky = true;
        }
        if *variant == 0 {
            continue;
        }
        let Some((base_passes, base_values)) = outcomes.get(&(evaluator.clone(), 0)) else {
            continue;
        };
        let regressed = if !passes.is_empty() && !base_passes.is_empty() {
            steady(base_passes) == Some(true) && steady(passes) == Some(false)
        } else {
            matches!((mean(base_values), mean(values)), (Some(b), Some(c)) if c < b)
        };
        f.regressed |= regressed;
    }
    f
}

impl ItemFacts {
    fn matches(&self, filter: &ResultFilter) -> bool {
        match filter {
            ResultFilter::All => true,
            ResultFilter::Failed => self.failed,
            ResultFilter::Regressed => self.regressed,
            ResultFilter::Flaky => self.flaky,
            ResultFilter::Evaluator(name) => self.failed_evaluators.iter().any(|e| e == name),
        }
    }

    /// As the store keeps them, for the item at `position`.
    pub(super) fn stored(self, position: i64) -> promptrefine_store::ItemFacts {
        promptrefine_store::ItemFacts {
            position,
            failed: self.failed,
            regressed: self.regressed,
            flaky: self.flaky,
            score_key: self.key(ResultSort::Score),
            cost_key: self.key(ResultSort::Cost),
            latency_key: self.key(ResultSort::Latency),
            failed_evaluators: self.failed_evaluators,
        }
    }

    /// The sort key: ascending order is the page's order; missing values last.
    fn key(&self, sort: ResultSort) -> i64 {
        match sort {
            ResultSort::Item => 0,
            ResultSort::Score => self.score.map_or(i64::MAX, |s| (s * 1e9).round() as i64),
            ResultSort::Cost => self.cost.map_or(i64::MAX, |c| -c),
            ResultSort::Latency => self.latency.map_or(i64::MAX, |l| -l),
        }
    }
}

/// `key.position`: the last row of a sorted page.
fn parse_cursor(text: Option<&str>) -> Result<Option<(i64, i64)>> {
    let Some(text) = text.filter(|c| !c.is_empty()) else {
        return Ok(None);
    };
    let bad = || AppError::invalid("cursor", "format", "cursor is not one this server gave out");
    let (k, p) = text.split_once('.').ok_or_else(bad)?;
    let key = k.parse::<i64>().map_err(|_| bad())?;
    let position = p.parse::<i64>().ok().filter(|p| *p >= 0).ok_or_else(bad)?;
    Ok(Some((key, position)))
}

/// The worst verdict over the evaluators: any `worse` wins, then `better`.
pub fn overall_verdict(verdicts: impl IntoIterator<Item = Verdict>) -> Option<Verdict> {
    let all: Vec<Verdict> = verdicts.into_iter().collect();
    [
        Verdict::Worse,
        Verdict::Better,
        Verdict::NoDifference,
        Verdict::InsufficientData,
    ]
    .into_iter()
    .find(|v| all.contains(v))
}

impl App {
    /// A page of results, filtered and sorted in the server. Without a
    /// filter and in item order it is the API's results page.
    pub async fn browse_results(&self, id: ExperimentId, q: BrowseResults) -> Result<ResultsPage> {
        if q.filter == ResultFilter::All && q.sort == ResultSort::Item {
            return self.experiment_results(id, q.cursor, q.limit).await;
        }
        let limit = page_limit(q.limit)?;
        let after = parse_cursor(q.cursor.as_deref())?;
        let experiment = self.get_experiment(id).await?;
        let mut keyed = None;
        if experiment.status.is_final() {
            // An ended experiment's facts are derived once (by the engine
            // as it ends, or here the first time): one index range a page.
            let repo = self.store.experiments();
            let page = || repo.facts_page(id, &q.filter, q.sort.stored(), after, limit + 1);
            keyed = page().await?;
            if keyed.is_none() {
                self.derive_results(&experiment).await?;
                keyed = page().await?;
            }
        }
        let keyed = match keyed {
            Some(keyed) => keyed,
            // Still going (or rescored meanwhile): decided on its cells now.
            None => self.keyed_now(id, &q, after, limit + 1).await?,
        };
        let next_cursor = (keyed.len() > limit).then(|| {
            let (k, p) = keyed[limit - 1];
            format!("{k}.{p}")
        });
        let positions: Vec<i64> = keyed.iter().take(limit).map(|(_, p)| *p).collect();
        let mut rows = self.store.experiments().results_at(id, &positions).await?;
        // Back into the page's order (the store answers in item order).
        let order: BTreeMap<i64, usize> =
            positions.iter().enumerate().map(|(i, p)| (*p, i)).collect();
        rows.sort_by_key(|r| order.get(&r.position).copied().unwrap_or(usize::MAX));
        Ok(ResultsPage {
            experiment,
            rows,
            next_cursor,
        })
    }

    /// Up to `take` items of a results page after `after`, as `(key,
    /// position)`, decided on the experiment's cells as they are now.
    async fn keyed_now(
        &self,
        id: ExperimentId,
        q: &BrowseResults,
        after: Option<(i64, i64)>,
        take: usize,
    ) -> Result<Vec<(i64, i64)>> {
        let cells = self.store.experiments().result_keys(id).await?;
        let mut keyed: Vec<(i64, i64)> = Vec::new();
        for chunk in cells.chunk_by(|a, b| a.position == b.position) {
            let f = facts(chunk);
            if f.matches(&q.filter) {
                keyed.push((f.key(q.sort), chunk[0].position));
            }
        }
        keyed.sort_unstable();
        let start = after.map_or(0, |a| keyed.partition_point(|k| *k <= a));
        Ok(keyed.into_iter().skip(start).take(take).collect())
    }

    /// One cell: its item, outcome, every score, its run and its judges' runs.
    pub async fn cell_detail(
        &self,
        id: ExperimentId,
        position: i64,
        variant: i64,
        repeat: i64,
    ) -> Result<CellDetail> {
        let experiment = self.get_experiment(id).await?;
        let row = self
            .store
            .experiments()
            .results_at(id, &[position])
            .await?
            .pop()
            .ok_or(AppError::NotFound("cell"))?;
        let cell = row
            .cells
            .iter()
            .find(|c| c.variant == variant && c.repeat == repeat)
            .cloned()
            .ok_or(AppError::NotFound("cell"))?;
        let (run, judges) = match cell.run_id {
            Some(r) => (
                Some(self.store.runs().get(r).await.or_not_found("run")?),
                self.store.runs().judges_of(r).await?,
            ),
            None => (None, vec![]),
        };
        Ok(CellDetail {
            scores: scores_of(&cell.scores),
            experiment,
            row,
            cell,
            run,
            judges,
        })
    }

    /// The prompt's newest experiment; once it has ended with two variants
    /// or more, the overall verdict of variant 1 against variant 0.
    pub async fn latest_experiment(&self, prompt: PromptId) -> Result<Option<LatestExperiment>> {
        let filter = ExperimentFilter {
            prompt_id: Some(prompt),
            dataset_id: None,
        };
        let Some(experiment) = self
            .store
            .experiments()
            .list(&filter, None, 1)
            .await?
            .items
            .into_iter()
            .next()
        else {
            return Ok(None);
        };
        let verdict = if experiment.status.is_final() && experiment.variants.len() >= 2 {
            let remembered = experiment
                .updated_at
                .and_then(|at| self.verdicts.get(experiment.id, at));
            match remembered {
                Some(verdict) => verdict,
                None => {
                    let side = |variant| CompareSide {
                        experiment: experiment.id,
                        variant,
                    };
                    let c = self.compare_experiments(side(0), side(1)).await?;
                    let verdict =
                        overall_verdict(c.comparison.evaluators.iter().map(|e| e.verdict));
                    if let Some(at) = experiment.updated_at {
                        self.verdicts.put(experiment.id, at, verdict);
                    }
                    verdict
                }
            }
        } else {
            None
        };
        Ok(Some(LatestExperiment {
            experiment,
            verdict,
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn cell(variant: i64, repeat: i64, pass: bool, value: f64) -> CellKey {
        CellKey {
            position: 0,
            variant,
            repeat,
            status: CellStatus::Succeeded,
            cost_micro_usd: Some(10),
            latency_ms: Some(5 + variant),
            scores: Some(
                json!([{ "evaluator": "e", "type": "contains", "value": value, "pass": pass }]),
            ),
        }
    }

    #[test]
    fn a_steady_pass_that_becomes_a_steady_fail_is_a_regression() {
        let f = facts(&[cell(0, 0, true, 1.0), cell(1, 0, false, 0.0)]);
        assert!(f.regressed && f.failed && !f.flaky);
        assert_eq!(f.failed_evaluators, ["e"]);
        assert_eq!(f.cost, Some(20));
        assert_eq!(f.latency, Some(6));
        let g = facts(&[cell(0, 0, false, 0.0), cell(1, 0, true, 1.0)]);
        assert!(!g.regressed && g.failed);
    }

    #[test]
    fn repeats_that_disagree_are_flaky_and_not_a_regression() {
        let f = facts(&[
            cell(0, 0, true, 1.0),
            cell(1, 0, true, 1.0),
            cell(1, 1, false, 0.0),
        ]);
        assert!(f.flaky && !f.regressed);
    }

    #[test]
    fn sort_keys_put_missing_values_last_and_the_worst_first() {
        let none = ItemFacts::default();
        let some = facts(&[cell(0, 0, true, 0.25)]);
        assert!(some.key(ResultSort::Score) < none.key(ResultSort::Score));
        assert!(some.key(ResultSort::Cost) < none.key(ResultSort::Cost));
        assert_eq!(ResultSort::parse("cost"), Some(ResultSort::Cost));
        assert_eq!(ResultSort::parse("nope"), None);
    }

    #[test]
    fn cursors_are_key_and_position() {
        assert_eq!(parse_cursor(Some("-5.3")).unwrap(), Some((-5, 3)));
        assert_eq!(parse_cursor(None).unwrap(), None);
        assert!(parse_cursor(Some("5")).is_err());
        assert!(parse_cursor(Some("a.1")).is_err());
    }

    #[test]
    fn the_overall_verdict_is_the_worst_one() {
        use Verdict::*;
        assert_eq!(overall_verdict([Better, Worse]), Some(Worse));
        assert_eq!(overall_verdict([NoDifference, Better]), Some(Better));
        assert_eq!(overall_verdict([InsufficientData]), Some(InsufficientData));
        assert_eq!(overall_verdict([]), None);
    }
}
