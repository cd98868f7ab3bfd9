//! Scores one output with every evaluator of an experiment: the rules in
//! `promptrefine_eval` for the deterministic kinds, a POST for `http`
//! evaluators, a judge run for `llm_judge` ones. Evaluators never fail a
//! cell: a call that goes wrong is a score with `error`.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use promptrefine_core::{ChatMessage, RunId};
use promptrefine_eval::{EvaluatorKind, EvaluatorSpec, Sample, Score};
use tokio::sync::Semaphore;

use super::judges::{JudgedRun, Judges, input_text};
use crate::App;

/// An experiment's evaluators, with their judges resolved.
#[derive(Clone, Debug, Default)]
pub(crate) struct Scorer {
    pub specs: Vec<EvaluatorSpec>,
    pub judges: Judges,
}

impl Scorer {
    /// Whether any evaluator calls out (a judge or an http endpoint).
    pub(crate) fn calls_out(&self) -> bool {
        self.specs.iter().any(|s| !s.is_deterministic())
    }
}

/// What the evaluators of one cell read.
pub(crate) struct ToScore<'a> {
    pub output: &'a str,
    pub expected: Option<&'a serde_json::Value>,
    pub variables: &'a BTreeMap<String, String>,
    pub metadata: Option<&'a serde_json::Map<String, serde_json::Value>>,
    pub latency_ms: Option<i64>,
    pub cost_micro_usd: Option<i64>,
    /// The run that produced the output (what a judge run names).
    pub run_id: Option<RunId>,
    /// The messages that run sent.
    pub input: &'a [ChatMessage],
}

impl ToScore<'_> {
    fn sample(&self) -> Sample<'_> {
        let mut sample = Sample::new(self.output).with_variables(self.variables);
        if let Some(e) = self.expected {
            sample = sample.with_expected(e);
        }
        if let Some(m) = self.metadata {
            sample = sample.with_metadata(m);
        }
        if let Some(ms) = self.latency_ms {
            sample = sample.with_latency_ms(ms.max(0) as u64);
        }
        if let Some(micro) = self.cost_micro_usd {
            sample = sample.with_cost_usd(micro as f64 / 1e6);
        }
        sample
    }
}

/// The scores of one cell and what its judges cost.
pub(crate) struct Scored {
    /// The stored JSON array; `None` when there are no evaluators.
    pub scores: Option<serde_json::Value>,
    pub judge_cost_micro_usd: Option<i64>,
}

impl App {
    /// Every evaluator on one output, in order. Judge calls take slots of
    /// `permits` (the engine's cap, or a rescore's own); `on_judge` is told
    /// each judge run's id as it starts (so a cancel can reach it).
    pub(crate) async fn score_output(
        &self,
        scorer: &Scorer,
        cell: &ToScore<'_>,
        permits: &Arc<Semaphore>,
        on_judge: impl Fn(RunId),
    ) -> Scored {
        if scorer.specs.is_empty() {
            return Scored {
                scores: None,
                judge_cost_micro_usd: None,
            };
        }
        let sample = cell.sample();
        let input = input_text(cell.input);
        let mut scores = Vec::with_capacity(scorer.specs.len());
        let mut judge_cost: Option<i64> = None;
        for (i, spec) in scorer.specs.iter().enumerate() {
            let score = match &spec.kind {
                EvaluatorKind::Http { url, timeout_ms } => {
                    self.score_by_http(spec, url, *timeout_ms, &sample, &input)
                        .await
                }
                EvaluatorKind::LlmJudge { .. } => {
                    let (Some(judge), Some(run_id)) = (scorer.judges.get(&i), cell.run_id) else {
                        scores.push(Score::error(
                            spec,
                            "the judge prompt could not be resolved on this instance",
                        ));
                        continue;
                    };
                    let judged = JudgedRun {
                        run_id,
                        input: &input,
                        sample,
                    };
                    let (score, cost) = self
                        .judge_output(spec, judge, judged, permits, &on_judge)
                        .await;
                    if let Some(c) = cost {
                        judge_cost = Some(judge_cost.unwrap_or(0) + c);
                    }
                    score
                }
                _ => promptrefine_eval::score(spec, &sample),
            };
            scores.push(score);
        }
        Scored {
            scores: serde_json::to_value(scores).ok(),
            judge_cost_micro_usd: judge_cost,
        }
    }

    /// An `http` evaluator: checked against the allow-list again (the
    /// configuration may have changed since the experiment was made).
    async fn score_by_http(
        &self,
        spec: &EvaluatorSpec,
        url: &str,
        timeout_ms: u64,
        sample: &Sample<'_>,
        input: &str,
    ) -> Score {
        if promptrefine_eval::spec::check_http_allowed(
            std::slice::from_ref(spec),
            &self.evaluation.http_hosts,
            "evaluators",
        )
        .is_err()
        {
            return Score::error(
                spec,
                "the evaluator's host is not in this server's allow-list (EVALUATOR_HTTP_HOSTS)",
            );
        }
        let Some(client) = self.evaluation.webhook() else {
            return Score::error(spec, "this server has no HTTP client for evaluators");
        };
        let body = promptrefine_eval::http::request_body(sample, input);
        let answer = client
            .post_json(url, &body, Duration::from_millis(timeout_ms))
            .await
            .and_then(|text| promptrefine_eval::http::parse_response_text(&text));
        promptrefine_eval::http::to_score(spec, answer)
    }
}
