//! Launching an experiment from the prompt page
//! (`/app/prompts/{id}/experiments/new`): dataset, variants, repeats,
//! concurrency, budget and evaluators in one form. "Estimate" re-renders
//! the form with the app's estimate; "Start" creates the experiment and
//! redirects to its page. Every error is shown next to the field it names.

use askama::Template;
use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::{Html, IntoResponse, Redirect};
use promptrefine_app::AppError;
use promptrefine_app::datasets::ListDatasets;
use promptrefine_app::experiments::{CreateExperiment, VariantSpec};
use promptrefine_app::prompts::ListPrompts;
use promptrefine_core::{CostEstimate, DatasetId, ModelSettings, PromptId};
use serde::Deserialize;
use serde_json::{Map, Value, json};

use crate::pages::Chrome;
use crate::pages::params::{PageId, nonempty};
use crate::pages::support::{Errors, FormData, PageResult, PageUser, PostForm, fmt_cost};
use crate::state::AppState;

/// Variant rows the form offers (the API takes more).
pub(super) const VARIANT_ROWS: usize = 3;

/// How one option of an evaluator is entered.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(super) enum Input {
    Text,
    Number,
    Check,
    Area,
    Select(&'static [&'static str]),
    /// The choices the page passes (datasets, versions).
    Choices,
    /// Free text, with the choices the page passes as suggestions: for a
    /// registry of any size (a judge prompt by slug or id).
    Suggest,
}

/// The evaluator kinds the form offers, each with its options (form field
/// `ev_{kind}_{option}`: the API's option in snake case).
/// An option of an evaluator: (option, label, how it is entered).
type OptionDef = (&'static str, &'static str, Input);

pub(super) const KINDS: [(&str, &str, &[OptionDef]); 12] = [
    (
        "exact_match",
        "Exact match with the expected answer",
        &[("ignore_case", "Ignore case", Input::Check)],
    ),
    (
        "contains",
        "Contains",
        &[
            ("values", "Values (one per line)", Input::Area),
            ("mode", "Mode", Input::Select(&["any", "all"])),
            ("ignore_case", "Ignore case", Input::Check),
        ],
    ),
    (
        "not_contains",
        "Does not contain",
        &[
            ("values", "Values (one per line)", Input::Area),
            ("mode", "Mode", Input::Select(&["any", "all"])),
            ("ignore_case", "Ignore case", Input::Check),
        ],
    ),
    (
        "regex",
        "Matches a regular expression",
        &[("pattern", "Pattern", Input::Text)],
    ),
    ("json_valid", "Valid JSON", &[]),
    (
        "json_schema",
        "Valid against a JSON Schema",
        &[("schema", "Schema (JSON)", Input::Area)],
    ),
    (
        "json_equals",
        "JSON equal to the expected answer",
        &[("pointer", "JSON pointer (optional)", Input::Text)],
    ),
    (
        "similarity",
        "Similar to the expected answer",
        &[
            (
                "metric",
                "Metric",
                Input::Select(&["token_f1", "jaccard", "levenshtein"]),
            ),
            ("threshold", "Pass at or above", Input::Number),
        ],
    ),
    (
        "length",
        "Length in characters",
        &[
            ("min_chars", "At least", Input::Number),
            ("max_chars", "At most", Input::Number),
        ],
    ),
    (
        "latency",
        "Latency",
        &[("max_ms", "At most (ms)", Input::Number)],
    ),
    (
        "cost",
        "Cost",
        &[("max_usd", "At most (USD)", Input::Number)],
    ),
    (
        "llm_judge",
        "LLM judge (a prompt from the registry)",
        &[
            ("prompt_id", "Judge prompt (slug or id)", Input::Suggest),
            (
                "label",
                "Label of the judge's version (optional)",
                Input::Text,
            ),
            ("mode", "Mode", Input::Select(&["score", "pass"])),
            ("threshold", "Pass at or above", Input::Number),
        ],
    ),
];

/// One input of the form as the template draws it.
pub(super) struct FieldView {
    pub name: String,
    pub label: String,
    /// `text`, `number`, `checkbox`, `textarea` or `select`.
    pub input: &'static str,
    pub value: String,
    pub options: Vec<Choice>,
    pub error: String,
}

pub(super) struct KindView {
    pub kind: &'static str,
    pub title: &'static str,
    pub checked: bool,
    pub error: String,
    pub fields: Vec<FieldView>,
}

pub(super) struct VariantView {
    pub n: usize,
    pub fields: Vec<FieldView>,
}

/// One choice of a select: (value, text).
pub(super) type Choice = (String, String);

#[derive(Template)]
#[template(path = "experiment_new.html")]
struct LaunchPage {
    chrome: Chrome,
    prompt_id: String,
    prompt_title: String,
    top: Vec<FieldView>,
    variants: Vec<VariantView>,
    run: Vec<FieldView>,
    kinds: Vec<KindView>,
    others: Vec<String>,
    estimate: Option<EstimateView>,
}

/// Fields the form shows; an error on any other field is listed apart.
fn shown_fields() -> Vec<String> {
    let mut shown: Vec<String> = [
        "name",
        "dataset",
        "dataset_version",
        "repeats",
        "concurrency",
        "budget",
    ]
    .map(String::from)
    .to_vec();
    for i in 0..VARIANT_ROWS {
        for f in [
            "ref",
            "preset",
            "provider",
            "model",
            "temperature",
            "max_tokens",
        ] {
            shown.push(format!("v{i}_{f}"));
        }
    }
    for (kind, _, options) in KINDS {
        shown.push(format!("ev_{kind}"));
        shown.extend(options.iter().map(|(o, _, _)| format!("ev_{kind}_{o}")));
    }
    shown
}

fn field(
    form: &FormData,
    errors: &Errors,
    name: String,
    label: &str,
    input: Input,
    choices: &[Choice],
) -> FieldView {
    let (kind, options) = match input {
        Input::Text => ("text", vec![]),
        Input::Number => ("number", vec![]),
        Input::Check => ("checkbox", vec![]),
        Input::Area => ("textarea", vec![]),
        Input::Select(values) => (
            "select",
            values
                .iter()
                .map(|v| (v.to_string(), v.to_string()))
                .collect(),
        ),
        Input::Choices => ("select", choices.to_vec()),
        Input::Suggest => ("suggest", choices.to_vec()),
    };
    FieldView {
        value: form.get(&name).to_string(),
        error: errors.get(&name),
        name,
        label: label.to_string(),
        input: kind,
        options,
    }
}

pub(super) struct EstimateView {
    pub cells: i64,
    pub prompt_tokens: i64,
    pub cost: String,
    pub worst: String,
}

impl From<CostEstimate> for EstimateView {
    fn from(e: CostEstimate) -> Self {
        EstimateView {
            cells: e.cells,
            prompt_tokens: e.prompt_tokens,
            cost: fmt_cost(e.cost_micro_usd),
            worst: fmt_cost(e.max_cost_micro_usd),
        }
    }
}

#[derive(Deserialize, Default)]
pub(crate) struct NewQuery {
    dataset: Option<String>,
}

/// Datasets, versions and judge prompts the selects offer (judge prompts
/// are suggestions: any other can be typed by slug).
const CHOICES: i64 = 100;

async fn render(
    state: &AppState,
    user: &PageUser,
    id: PromptId,
    form: FormData,
    errors: Errors,
    estimate: Option<EstimateView>,
) -> PageResult<String> {
    let detail = state.app.get_prompt(id).await?;
    let versions = state.app.list_versions(id, None, Some(CHOICES)).await?;
    let mut refs: Vec<Choice> = vec![("current".into(), "current version".into())];
    refs.extend(detail.labels.iter().map(|l| {
        (
            format!("l:{}", l.label),
            format!("label {} (v{})", l.label, l.version),
        )
    }));
    refs.extend(
        versions
            .items
            .iter()
            .map(|v| (format!("v:{}", v.id), format!("v{}", v.version))),
    );
    let datasets: Vec<Choice> = state
        .app
        .list_datasets(ListDatasets {
            limit: Some(CHOICES),
            ..ListDatasets::default()
        })
        .await?
        .items
        .iter()
        .map(|d| {
            (
                d.id.to_string(),
                format!("{} ({} items, v{})", d.name, d.item_count, d.version),
            )
        })
        .collect();
    let judges: Vec<Choice> = state
        .app
        .list_prompts(ListPrompts {
            limit: Some(CHOICES),
            ..ListPrompts::default()
        })
        .await?
        .items
        .iter()
        .map(|p| (p.slug.clone(), p.title.clone()))
        .collect();
    let f = |name: &str, label: &str, input: Input, choices: &[Choice]| {
        field(&form, &errors, name.to_string(), label, input, choices)
    };
    let mut top = vec![
        f("name", "Name (optional)", Input::Text, &[]),
        f("dataset", "Dataset", Input::Choices, &datasets),
        f(
            "dataset_version",
            "Dataset version (empty: the newest)",
            Input::Number,
            &[],
        ),
    ];
    if datasets.is_empty() {
        top[1].error = "There is no dataset yet: create one first.".into();
    }
    let mut presets: Vec<Choice> = vec![(String::new(), "(none)".into())];
    presets.extend(state.app.list_presets().await?.iter().map(|p| {
        (
            p.name.clone(),
            format!(
                "{} ({}/{})",
                p.name,
                p.provider.as_deref().unwrap_or("default"),
                p.model
            ),
        )
    }));
    let mut none_or_refs: Vec<Choice> = vec![(String::new(), "(not used)".into())];
    none_or_refs.extend(refs.iter().cloned());
    let variants = (0..VARIANT_ROWS)
        .map(|i| VariantView {
            n: i + 1,
            fields: vec![
                f(
                    &format!("v{i}_ref"),
                    "Version or label",
                    Input::Choices,
                    if i == 0 { &refs } else { &none_or_refs },
                ),
                f(
                    &format!("v{i}_preset"),
                    "Preset (fills what is left empty)",
                    Input::Choices,
                    &presets,
                ),
                f(
                    &format!("v{i}_provider"),
                    "Provider (empty: the preset's, else the default)",
                    Input::Text,
                    &[],
                ),
                f(
                    &format!("v{i}_model"),
                    "Model (empty: the preset's, else the version's)",
                    Input::Text,
                    &[],
                ),
                f(
                    &format!("v{i}_temperature"),
                    "Temperature",
                    Input::Number,
                    &[],
                ),
                f(
                    &format!("v{i}_max_tokens"),
                    "Max tokens",
                    Input::Number,
                    &[],
                ),
            ],
        })
        .collect();
    let run = vec![
        f("repeats", "Repeats", Input::Number, &[]),
        f("concurrency", "Concurrency", Input::Number, &[]),
        f("budget", "Budget (USD, empty: no cap)", Input::Number, &[]),
    ];
    let kinds = KINDS
        .iter()
        .map(|(kind, title, options)| KindView {
            kind,
            title,
            checked: !form.get(&format!("ev_{kind}")).is_empty(),
            error: errors.get(&format!("ev_{kind}")),
            fields: options
                .iter()
                .map(|(o, label, input)| f(&format!("ev_{kind}_{o}"), label, *input, &judges))
                .collect(),
        })
        .collect();
    let shown = shown_fields();
    let shown: Vec<&str> = shown.iter().map(String::as_str).collect();
    Ok(LaunchPage {
        chrome: Chrome::for_user(user, None),
        prompt_id: id.to_string(),
        prompt_title: detail.prompt.title,
        top,
        variants,
        run,
        kinds,
        others: errors.others(&shown),
        estimate,
    }
    .render()?)
}

/// The form as it first shows: one variant (the current version), one
/// repeat, the default concurrency.
fn defaults(dataset: Option<String>) -> FormData {
    let mut f = vec![
        ("v0_ref".to_string(), "current".to_string()),
        ("repeats".to_string(), "1".to_string()),
        ("concurrency".to_string(), "4".to_string()),
        ("ev_similarity_metric".to_string(), "token_f1".to_string()),
        ("ev_llm_judge_mode".to_string(), "score".to_string()),
    ];
    if let Some(d) = dataset {
        f.push(("dataset".into(), d));
    }
    FormData(f)
}

pub(crate) async fn new(
    user: PageUser,
    State(state): State<AppState>,
    PageId(id): PageId<PromptId>,
    Query(q): Query<NewQuery>,
) -> PageResult {
    let form = defaults(nonempty(q.dataset));
    Ok(Html(render(&state, &user, id, form, Errors::default(), None).await?).into_response())
}

pub(crate) async fn create(
    State(state): State<AppState>,
    PageId(id): PageId<PromptId>,
    PostForm { user, form }: PostForm,
) -> PageResult {
    let (input, kinds, mut errors) = parse(id, &form);
    if !errors.is_empty() {
        let html = render(&state, &user, id, form, errors, None).await?;
        return Ok((StatusCode::UNPROCESSABLE_ENTITY, Html(html)).into_response());
    }
    let estimate_only = form.get("action") == "estimate";
    let result = if estimate_only {
        state.app.estimate_experiment(input).await.map(Err)
    } else {
        state.app.create_experiment(input).await.map(Ok)
    };
    match result {
        Ok(Ok(e)) => {
            Ok(Redirect::to(&format!("/app/experiments/{}?ok=experiment", e.id)).into_response())
        }
        Ok(Err(estimate)) => {
            let html = render(
                &state,
                &user,
                id,
                form,
                Errors::default(),
                Some(estimate.into()),
            )
            .await?;
            Ok(Html(html).into_response())
        }
        // A dataset the select offered but that is gone since.
        Err(AppError::NotFound(what)) if what != "prompt" => {
            errors.0.push((
                "dataset".into(),
                format!("that {what} does not exist (any more)"),
            ));
            let html = render(&state, &user, id, form, errors, None).await?;
            Ok((StatusCode::UNPROCESSABLE_ENTITY, Html(html)).into_response())
        }
        Err(e) => {
            // The API's field names (`variants[0].model`) become the form's.
            let errors = Errors(
                Errors::fixable(e)?
                    .0
                    .into_iter()
                    .map(|(f, m)| (form_field(&f, &kinds), m))
                    .collect(),
            );
            let html = render(&state, &user, id, form, errors, None).await?;
            Ok((StatusCode::UNPROCESSABLE_ENTITY, Html(html)).into_response())
        }
    }
}

/// `ignoreCase` → `ignore_case`.
fn snake(s: &str) -> String {
    let mut out = String::new();
    for c in s.chars() {
        if c.is_ascii_uppercase() {
            out.push('_');
            out.push(c.to_ascii_lowercase());
        } else {
            out.push(c);
        }
    }
    out
}

/// The form field an API field names: `variants[1].params.maxTokens` →
/// `v1_max_tokens`, `evaluators[0].pattern` → `ev_regex_pattern` (by the
/// kinds in the order they were sent), `maxCostUsd` → `budget`.
pub(super) fn form_field(api: &str, kinds: &[&str]) -> String {
    let indexed = |rest: &str| -> Option<(usize, String)> {
        let (i, tail) = rest.split_once(']')?;
        Some((i.parse().ok()?, tail.trim_start_matches('.').to_string()))
    };
    if let Some(rest) = api.strip_prefix("variants[")
        && let Some((i, tail)) = indexed(rest)
    {
        let last = tail.rsplit('.').next().unwrap_or("");
        return match last {
            "" | "versionId" | "label" => format!("v{i}_ref"),
            other => format!("v{i}_{}", snake(other)),
        };
    }
    if let Some(rest) = api.strip_prefix("evaluators[")
        && let Some((i, tail)) = indexed(rest)
        && let Some(kind) = kinds.get(i)
    {
        let option = tail.split(['.', '[']).next().unwrap_or("");
        return match option {
            "" | "type" | "name" => format!("ev_{kind}"),
            o => format!("ev_{kind}_{}", snake(o)),
        };
    }
    match api {
        "maxCostUsd" => "budget".into(),
        "datasetId" | "variables" => "dataset".into(),
        "datasetVersion" => "dataset_version".into(),
        "variants" => "v0_ref".into(),
        other => other.to_string(),
    }
}

/// Reads a number field; text that is not one is an error naming it.
fn number<T: std::str::FromStr>(
    form: &FormData,
    field: &str,
    what: &str,
    errors: &mut Errors,
) -> Option<T> {
    let text = form.get(field).trim();
    if text.is_empty() {
        return None;
    }
    let parsed = text.parse::<T>();
    if parsed.is_err() {
        errors.0.push((
            field.into(),
            format!("{what} must be a number (got {text:?})"),
        ));
    }
    parsed.ok()
}

fn list(text: &str) -> Vec<String> {
    text.split(['\n', ','])
        .map(|s| s.trim().to_string())
        .filter(|s| !s.is_empty())
        .collect()
}

/// The form as the app's input, the evaluator kinds in the order they are
/// sent (to name their errors) and what cannot even be sent.
pub(super) fn parse(
    id: PromptId,
    form: &FormData,
) -> (CreateExperiment, Vec<&'static str>, Errors) {
    let mut errors = Errors::default();
    let dataset_id = match form.get("dataset").parse::<DatasetId>() {
        Ok(d) => Some(d),
        Err(_) => {
            errors.0.push(("dataset".into(), "choose a dataset".into()));
            None
        }
    };
    let mut variants = Vec::new();
    for i in 0..VARIANT_ROWS {
        let r = form.get(&format!("v{i}_ref"));
        if r.is_empty() {
            continue;
        }
        let mut spec = VariantSpec::default();
        if let Some(v) = r.strip_prefix("v:") {
            match v.parse() {
                Ok(v) => spec.version_id = Some(v),
                Err(_) => errors
                    .0
                    .push((format!("v{i}_ref"), "choose a version or a label".into())),
            }
        } else if let Some(l) = r.strip_prefix("l:") {
            spec.label = Some(l.to_string());
        }
        spec.preset = nonempty(Some(form.get(&format!("v{i}_preset")).to_string()));
        spec.provider = nonempty(Some(form.get(&format!("v{i}_provider")).to_string()));
        spec.model = nonempty(Some(form.get(&format!("v{i}_model")).to_string()));
        let temperature = number::<f64>(
            form,
            &format!("v{i}_temperature"),
            "temperature",
            &mut errors,
        );
        let max_tokens =
            number::<u32>(form, &format!("v{i}_max_tokens"), "max tokens", &mut errors);
        if temperature.is_some() || max_tokens.is_some() {
            spec.params = Some(ModelSettings {
                temperature,
                max_tokens,
                ..ModelSettings::default()
            });
        }
        variants.push(spec);
    }
    if variants.is_empty() {
        errors
            .0
            .push(("v0_ref".into(), "choose at least one variant".into()));
    }
    let (evaluators, kinds) = evaluators(form, &mut errors);
    let input = CreateExperiment {
        name: nonempty(Some(form.get("name").to_string())),
        prompt_id: id,
        dataset_id: dataset_id.unwrap_or_default(),
        dataset_version: number(form, "dataset_version", "dataset version", &mut errors),
        variants,
        repeats: number(form, "repeats", "repeats", &mut errors),
        concurrency: number(form, "concurrency", "concurrency", &mut errors),
        max_cost_usd: number(form, "budget", "budget (USD)", &mut errors),
        evaluators: Some(Value::Array(evaluators)),
    };
    (input, kinds, errors)
}

/// The checked evaluators as the API's JSON, with their kinds in order.
fn evaluators(form: &FormData, errors: &mut Errors) -> (Vec<Value>, Vec<&'static str>) {
    let mut out = Vec::new();
    let mut kinds = Vec::new();
    for k in KINDS.iter().map(|(k, _, _)| *k) {
        if form.get(&format!("ev_{k}")).is_empty() {
            continue;
        }
        let opt = |o: &str| form.get(&format!("ev_{k}_{o}")).trim().to_string();
        let flag = |o: &str| !form.get(&format!("ev_{k}_{o}")).is_empty();
        let mut m = Map::new();
        m.insert("type".into(), json!(k));
        let mut put_num = |m: &mut Map<String, Value>, key: &str, o: &str, whole: bool| {
            let field = format!("ev_{k}_{o}");
            let text = form.get(&field).trim();
            if text.is_empty() {
                return;
            }
            let parsed = if whole {
                text.parse::<u64>().ok().map(|v| json!(v))
            } else {
                text.parse::<f64>()
                    .ok()
                    .filter(|v| v.is_finite())
                    .map(|v| json!(v))
            };
            match parsed {
                Some(v) => {
                    m.insert(key.into(), v);
                }
                None => errors.0.push((
                    field,
                    format!(
                        "{key} must be {}",
                        if whole { "a whole number" } else { "a number" }
                    ),
                )),
            }
        };
        match k {
            "exact_match" => {
                m.insert("ignoreCase".into(), json!(flag("ignore_case")));
            }
            "contains" | "not_contains" => {
                m.insert("values".into(), json!(list(&opt("values"))));
                if !opt("mode").is_empty() {
                    m.insert("mode".into(), json!(opt("mode")));
                }
                m.insert("ignoreCase".into(), json!(flag("ignore_case")));
            }
            "regex" => {
                m.insert("pattern".into(), json!(opt("pattern")));
            }
            "json_schema" => match serde_json::from_str::<Value>(&opt("schema")) {
                Ok(s) => {
                    m.insert("schema".into(), s);
                }
                Err(e) => errors.0.push((
                    format!("ev_{k}_schema"),
                    format!("the schema is not JSON: {e}"),
                )),
            },
            "json_equals" if !opt("pointer").is_empty() => {
                m.insert("pointer".into(), json!(opt("pointer")));
            }
            "similarity" => {
                m.insert("metric".into(), json!(opt("metric")));
                put_num(&mut m, "threshold", "threshold", false);
            }
            "length" => {
                put_num(&mut m, "minChars", "min_chars", true);
                put_num(&mut m, "maxChars", "max_chars", true);
            }
            "latency" => put_num(&mut m, "maxMs", "max_ms", true),
            "cost" => put_num(&mut m, "maxUsd", "max_usd", false),
            "llm_judge" => {
                m.insert("promptId".into(), json!(opt("prompt_id")));
                if !opt("label").is_empty() {
                    m.insert("label".into(), json!(opt("label")));
                }
                if !opt("mode").is_empty() {
                    m.insert("mode".into(), json!(opt("mode")));
                }
                put_num(&mut m, "threshold", "threshold", false);
            }
            _ => {}
        }
        out.push(Value::Object(m));
        kinds.push(k);
    }
    (out, kinds)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn api_fields_name_the_form_fields() {
        let kinds = ["contains", "regex"];
        assert_eq!(
            form_field("evaluators[1].pattern", &kinds),
            "ev_regex_pattern"
        );
        assert_eq!(
            form_field("evaluators[0].values[2]", &kinds),
            "ev_contains_values"
        );
        assert_eq!(form_field("evaluators[0]", &kinds), "ev_contains");
        assert_eq!(
            form_field("variants[2].params.maxTokens", &kinds),
            "v2_max_tokens"
        );
        assert_eq!(form_field("variants[1].label", &kinds), "v1_ref");
        assert_eq!(form_field("variants[0].model", &kinds), "v0_model");
        assert_eq!(form_field("variants[1].preset", &kinds), "v1_preset");
        assert_eq!(form_field("maxCostUsd", &kinds), "budget");
        assert_eq!(form_field("repeats", &kinds), "repeats");
    }

    #[test]
    fn text_in_a_number_field_is_an_error_naming_it() {
        let form = FormData(vec![
            ("dataset".into(), "nope".into()),
            ("v0_ref".into(), "current".into()),
            ("repeats".into(), "two".into()),
            ("ev_length".into(), "on".into()),
            ("ev_length_min_chars".into(), "-1".into()),
        ]);
        let (input, kinds, errors) = parse(PromptId::default(), &form);
        assert_eq!(input.variants[0].preset, None, "no preset by default");
        assert_eq!(kinds, ["length"]);
        assert!(errors.has("repeats"), "{errors:?}");
        assert!(errors.has("dataset"), "{errors:?}");
        assert!(errors.has("ev_length_min_chars"), "{errors:?}");
    }
}
