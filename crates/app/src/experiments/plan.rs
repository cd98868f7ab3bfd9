//! From a request to a stored experiment: variants resolved, the pinned
//! items rendered once each (a missing variable is a 422 now, not a failed
//! cell later), prompt tokens counted, and each cell's worst-case cost —
//! what the budget reserves — worked out.

use std::collections::BTreeMap;
use std::sync::Arc;

use promptrefine_core::template::{RenderError, render_content_limited};
use promptrefine_core::validate::{self, LabelName, ModelName, Violations};
use promptrefine_core::{CostEstimate, ExperimentId, ModelSettings, Variant, Version};
use promptrefine_llm::PriceTable;
use promptrefine_llm::tokens::estimate_usage;
use promptrefine_store::{NewExperiment, NewExperimentItem, StoreError};

use super::judges::{Judge, input_text, judge_cost};
use super::limits::*;
use super::scorer::Scorer;
use super::{CreateExperiment, VariantSpec, micro_usd};
use crate::App;
use crate::error::{AppError, Result, check};
use crate::presets::ModelChoice;

/// Refuses a budget over calls (provider, model) without a price: their
/// cost is unknown, so the cap could not be kept. A stored provider's own
/// prices count, over the server's.
pub(super) async fn require_prices(app: &App, field: &str, calls: &[(&str, &str)]) -> Result<()> {
    let mut unpriced: Vec<String> = Vec::new();
    for &(provider, model) in calls {
        if app.prices_for(provider).await.price(model).is_none() {
            let call = format!("{model} ({provider})");
            if !unpriced.contains(&call) {
                unpriced.push(call);
            }
        }
    }
    if unpriced.is_empty() {
        return Ok(());
    }
    Err(AppError::invalid(
        field,
        "oneOf",
        format!(
            "a budget needs a price for every model, and {} has none; configure a price (for a stored provider, in its prices) or drop the budget",
            unpriced.join(", ")
        ),
    ))
}

impl App {
    /// Each spec with its preset applied (see [`crate::presets`]); a
    /// preset that does not exist is a violation of `variants[i].preset`.
    async fn with_presets(
        &self,
        v: &mut Violations,
        specs: Vec<VariantSpec>,
    ) -> Result<Vec<VariantSpec>> {
        let mut out = Vec::with_capacity(specs.len());
        for (i, spec) in specs.into_iter().enumerate() {
            let Some(name) = &spec.preset else {
                out.push(spec);
                continue;
            };
            let preset = match self
                .preset_for(&format!("variants[{i}].preset"), name)
                .await
            {
                Ok(p) => p,
                Err(AppError::Invalid(e)) => {
                    v.0.extend(e.0);
                    out.push(spec);
                    continue;
                }
                Err(e) => return Err(e),
            };
            let choice = ModelChoice {
                provider: spec.provider,
                model: spec.model,
                params: spec.params,
            }
            .over(&preset);
            out.push(VariantSpec {
                provider: choice.provider,
                model: choice.model,
                params: choice.params,
                preset: Some(preset.name),
                ..spec
            });
        }
        Ok(out)
    }

    pub(super) async fn plan_experiment(&self, input: &CreateExperiment) -> Result<NewExperiment> {
        let mut v = Violations::default();
        let scorer = match self.parse_evaluators(input.evaluators.as_ref()).await {
            Ok(scorer) => scorer,
            Err(AppError::Invalid(e)) => {
                v.0.extend(e.0);
                Scorer::default()
            }
            Err(e) => return Err(e),
        };
        let name = input.name.as_deref().map(str::trim).unwrap_or("");
        if name.chars().count() > NAME_MAX_CHARS || name.chars().any(char::is_control) {
            v.push(
                "name",
                "length",
                format!("name must be at most {NAME_MAX_CHARS} printable characters"),
            );
        }
        if input.variants.len() > VARIANTS_MAX {
            v.push(
                "variants",
                "count",
                format!("at most {VARIANTS_MAX} variants"),
            );
        }
        let repeats = input.repeats.unwrap_or(1);
        if !(1..=REPEATS_MAX).contains(&repeats) {
            v.push(
                "repeats",
                "range",
                format!("repeats must be between 1 and {REPEATS_MAX}"),
            );
        }
        let concurrency = input.concurrency.unwrap_or(CONCURRENCY_DEFAULT);
        if !(1..=CONCURRENCY_MAX).contains(&concurrency) {
            v.push(
                "concurrency",
                "range",
                format!("concurrency must be between 1 and {CONCURRENCY_MAX}"),
            );
        }
        if let Some(d) = input.dataset_version
            && d < 1
        {
            v.push(
                "datasetVersion",
                "range",
                "datasetVersion must be 1 or more",
            );
        }
        let max_cost = micro_usd(&mut v, "maxCostUsd", input.max_cost_usd);
        let specs: Vec<VariantSpec> = if input.variants.is_empty() {
            vec![VariantSpec::default()]
        } else {
            input.variants.clone()
        };
        let specs = self.with_presets(&mut v, specs).await?;
        for (i, spec) in specs.iter().enumerate() {
            let field = format!("variants[{i}]");
            if spec.version_id.is_some() && spec.label.is_some() {
                v.push(&field, "oneOf", "give versionId or label, not both");
            }
            if let Some(l) = &spec.label
                && let Err(e) = LabelName::parse(&format!("{field}.label"), l)
            {
                v.extend(e);
            }
            if let Some(m) = &spec.model
                && let Err(e) = ModelName::parse(&format!("{field}.model"), m)
            {
                v.extend(e);
            }
            if let Some(p) = &spec.params {
                validate::settings(&mut v, &format!("{field}.params"), p);
            }
            if self
                .find_provider(spec.provider.as_deref())
                .await?
                .is_none()
            {
                v.push(
                    format!("{field}.provider"),
                    "oneOf",
                    match &spec.provider {
                        Some(p) => format!(
                            "unknown provider {p:?}; configured: {}",
                            self.provider_names().await.join(", ")
                        ),
                        None => "no model provider is configured on this server".to_string(),
                    },
                );
            }
        }
        check(v)?;

        let prompt = self.require_prompt(input.prompt_id).await?;
        let mut variants = Vec::with_capacity(specs.len());
        let mut versions: Vec<Version> = Vec::with_capacity(specs.len());
        for (i, spec) in specs.iter().enumerate() {
            let field = format!("variants[{i}]");
            let version =
                match (&spec.version_id, &spec.label) {
                    (Some(id), _) => {
                        self.get_version_by_id(prompt.id, *id)
                            .await
                            .map_err(|e| match e {
                                AppError::NotFound(_) => AppError::invalid(
                                    &format!("{field}.versionId"),
                                    "oneOf",
                                    "no such version of this prompt",
                                ),
                                e => e,
                            })?
                    }
                    (None, Some(label)) => {
                        match self.store.labels().resolve(prompt.id, label.trim()).await {
                            Ok(v) => v,
                            Err(StoreError::NotFound) => {
                                return Err(AppError::invalid(
                                    &format!("{field}.label"),
                                    "oneOf",
                                    format!("this prompt has no label {label:?}"),
                                ));
                            }
                            Err(e) => return Err(e.into()),
                        }
                    }
                    (None, None) => self.store.versions().get_current(prompt.id).await.map_err(
                        |e| match e {
                            StoreError::NotFound => AppError::invalid(
                                "promptId",
                                "required",
                                "the prompt has no saved version yet; save one before running it",
                            ),
                            e => e.into(),
                        },
                    )?,
                };
            let params = spec.params.clone().unwrap_or_default();
            let settings = version.settings.overridden_by(&params);
            let Some(model) = spec
                .model
                .clone()
                .map(|m| m.trim().to_string())
                .or_else(|| settings.model.clone())
            else {
                return Err(AppError::invalid(
                    &format!("{field}.model"),
                    "required",
                    "model is required: the version's settings name none",
                ));
            };
            let provider = self
                .find_provider(spec.provider.as_deref())
                .await?
                .map(|p| p.name().to_owned())
                .unwrap_or_default();
            variants.push(Variant {
                version_id: version.id,
                version_number: version.version,
                label: spec.label.as_ref().map(|l| l.trim().to_string()),
                preset: spec.preset.as_ref().map(|p| p.trim().to_string()),
                provider,
                model: model.clone(),
                params: ModelSettings {
                    model: Some(model),
                    ..settings
                },
            });
            versions.push(version);
        }
        if max_cost.is_some() {
            let calls: Vec<(&str, &str)> = variants
                .iter()
                .map(|v| (v.provider.as_str(), v.model.as_str()))
                .collect();
            require_prices(self, "maxCostUsd", &calls).await?;
            for (i, judge) in &scorer.judges {
                require_prices(
                    self,
                    &format!("evaluators[{i}].promptId"),
                    &[(judge.provider.as_str(), judge.model.as_str())],
                )
                .await?;
            }
        }

        let (dataset_version, items) = self
            .pinned_items(input.dataset_id, input.dataset_version)
            .await?;
        if items.is_empty() {
            return Err(AppError::invalid(
                "datasetId",
                "count",
                "the dataset has no items at this version",
            ));
        }
        let cells = items.len() as i64 * variants.len() as i64 * repeats;
        if cells > CELLS_MAX {
            return Err(AppError::invalid(
                "repeats",
                "range",
                format!("{cells} cells (items × variants × repeats); at most {CELLS_MAX}"),
            ));
        }

        // Every (item, variant) rendered once: its tokens and worst case.
        // Counting tokens is CPU work (a BPE for OpenAI models): off the
        // async threads.
        let mut variant_prices = Vec::with_capacity(variants.len());
        for v in &variants {
            variant_prices.push(self.prices_for(&v.provider).await);
        }
        let judges: Vec<Judge> = scorer.judges.values().cloned().collect();
        let mut judge_prices = Vec::with_capacity(judges.len());
        for j in &judges {
            judge_prices.push(self.prices_for(&j.provider).await);
        }
        let limit = self.runs.max_rendered_bytes();
        let (items, variants, worst, estimate, missing) = tokio::task::spawn_blocking(move || {
            let plan = CostPlan {
                variant_prices: &variant_prices,
                judge_prices: &judge_prices,
                limit,
                versions: &versions,
                judges: &judges,
                repeats,
                cells,
            };
            cost_cells(&plan, items, variants)
        })
        .await
        .map_err(|e| AppError::Internal(format!("counting tokens failed: {e}")))??;
        if !missing.is_empty() {
            let mut v = Violations::default();
            for (name, item) in missing {
                v.push(
                    format!("variables.{name}"),
                    "required",
                    format!("item {item} (and maybe others) has no value for variable {name}"),
                );
            }
            return Err(AppError::Invalid(v));
        }
        let name = if name.is_empty() {
            format!(
                "{} — {} items × {} variants",
                prompt.title,
                items.len(),
                variants.len()
            )
        } else {
            name.to_string()
        };
        Ok(NewExperiment {
            id: ExperimentId::new(),
            name,
            prompt_id: prompt.id,
            dataset_id: input.dataset_id,
            dataset_version,
            variants,
            repeats,
            concurrency,
            max_cost_micro_usd: max_cost,
            estimate,
            evaluators: promptrefine_eval::EvaluatorSpec::list_to_json(&scorer.specs),
            items,
            worst_micro_usd: worst,
        })
    }
}

/// What `cost_cells` works out: the items and variants back, each cell's
/// worst case by [item][variant], the estimate, and the first item missing
/// each variable.
type Costed = (
    Vec<NewExperimentItem>,
    Vec<Variant>,
    Vec<Vec<i64>>,
    CostEstimate,
    BTreeMap<String, usize>,
);

/// What costing the cells reads besides the items and variants.
struct CostPlan<'a> {
    /// By variant: its provider's prices.
    variant_prices: &'a [Arc<PriceTable>],
    /// By judge, likewise.
    judge_prices: &'a [Arc<PriceTable>],
    limit: usize,
    versions: &'a [Version],
    /// Each succeeded cell is judged by each of these: their worst case is
    /// part of the cell's reservation.
    judges: &'a [Judge],
    repeats: i64,
    cells: i64,
}

fn cost_cells(
    plan: &CostPlan<'_>,
    items: Vec<NewExperimentItem>,
    variants: Vec<Variant>,
) -> Result<Costed> {
    let CostPlan {
        variant_prices,
        judge_prices,
        limit,
        versions,
        judges,
        repeats,
        cells,
    } = *plan;
    let mut worst = Vec::with_capacity(items.len());
    let mut estimate = CostEstimate {
        cells,
        cost_micro_usd: Some(0),
        max_cost_micro_usd: Some(0),
        ..Default::default()
    };
    let mut missing: BTreeMap<String, usize> = BTreeMap::new();
    for (p, item) in items.iter().enumerate() {
        let mut row = Vec::with_capacity(variants.len());
        for ((variant, version), prices) in variants.iter().zip(versions).zip(variant_prices) {
            let messages = match render_content_limited(&version.content, &item.variables, limit) {
                Ok(c) => c.to_messages(),
                Err(RenderError::MissingVariables(names)) => {
                    for n in names {
                        missing.entry(n).or_insert(p + 1);
                    }
                    row.push(0);
                    continue;
                }
                Err(RenderError::TooLarge { limit, .. }) => {
                    return Err(AppError::RenderedTooLarge {
                        field: "variables",
                        limit,
                    });
                }
            };
            let prompt_tokens = estimate_usage(&variant.model, &messages, "").prompt_tokens;
            let completion = variant
                .params
                .max_tokens
                .map_or(RESERVED_COMPLETION_TOKENS, i64::from);
            let mut cell_worst = prices.cost_micro_usd(&variant.model, prompt_tokens, completion);
            let mut cell_expected =
                prices.cost_micro_usd(&variant.model, prompt_tokens, completion / 4);
            if !judges.is_empty() {
                let input = input_text(&messages);
                for (judge, prices) in judges.iter().zip(judge_prices) {
                    match judge_cost(prices, limit, judge, &item.variables, &input, completion) {
                        Ok((w, e)) => {
                            cell_worst = cell_worst.zip(w).map(|(a, b)| a + b);
                            cell_expected = cell_expected.zip(e).map(|(a, b)| a + b);
                        }
                        Err(RenderError::MissingVariables(names)) => {
                            for n in names {
                                missing.entry(n).or_insert(p + 1);
                            }
                        }
                        Err(RenderError::TooLarge { limit, .. }) => {
                            return Err(AppError::RenderedTooLarge {
                                field: "evaluators",
                                limit,
                            });
                        }
                    }
                }
            }
            estimate.prompt_tokens += prompt_tokens * repeats;
            estimate.max_cost_micro_usd = estimate
                .max_cost_micro_usd
                .zip(cell_worst)
                .map(|(a, b)| a + b * repeats);
            estimate.cost_micro_usd = estimate
                .cost_micro_usd
                .zip(cell_expected)
                .map(|(a, b)| a + b * repeats);
            row.push(cell_worst.unwrap_or(0));
        }
        worst.push(row);
    }
    Ok((items, variants, worst, estimate, missing))
}
