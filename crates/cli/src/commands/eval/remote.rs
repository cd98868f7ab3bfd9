//! The gate against a running server (`--url`): the same questions as
//! [`super::local`], asked over the JSON API with the API token in
//! `PROMPTREFINE_TOKEN`; the server's engine runs the cells, this process
//! only follows the experiment's progress.

use std::time::Duration;

use anyhow::{Context, anyhow, bail};
use promptrefine_app::experiments::scoring::CompareSide;
use promptrefine_app::experiments::{CreateExperiment, Reusable, VariantSpec};
use promptrefine_core::{Experiment, ExperimentId, ExperimentStatus};
use promptrefine_eval::{Comparison, Summary};
use reqwest::{Method, StatusCode, Url};
use serde::Deserialize;
use serde::de::DeserializeOwned;
use serde_json::{Value, json};

use super::{Backend, Compared};
use crate::commands::experiment::{bar, summary as one_line};

/// The environment variable holding the API token (a token from Settings →
/// API tokens, or `POST /api/tokens`); never a command-line argument, where
/// `ps` and shell history would keep it.
pub(crate) const TOKEN_VAR: &str = "PROMPTREFINE_TOKEN";
/// How often the experiment's progress is read.
const POLL: Duration = Duration::from_millis(500);
/// One API request; the experiment itself may take as long as it takes.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(60);

pub(super) struct Remote {
    base: Url,
    token: String,
    http: reqwest::Client,
}

impl Remote {
    pub(super) fn new(url: &str) -> anyhow::Result<Remote> {
        let base = Url::parse(url).with_context(|| format!("--url {url:?} is not a URL"))?;
        if !matches!(base.scheme(), "http" | "https") || base.cannot_be_a_base() {
            bail!("--url {url:?}: expected http(s)://HOST[:PORT]");
        }
        let token = std::env::var(TOKEN_VAR)
            .ok()
            .filter(|t| !t.trim().is_empty())
            .ok_or_else(|| anyhow!("--url needs an API token in {TOKEN_VAR}"))?;
        crate::logging::register_secret(&token);
        let http = reqwest::Client::builder()
            .timeout(REQUEST_TIMEOUT)
            .redirect(reqwest::redirect::Policy::none())
            .build()?;
        Ok(Remote {
            base,
            token: token.trim().to_string(),
            http,
        })
    }

    /// `/api/…` on the server, each of `segments` percent-encoded.
    fn url(&self, segments: &[&str]) -> Url {
        let mut url = self.base.clone();
        url.path_segments_mut()
            .expect("checked in new()")
            .pop_if_empty()
            .push("api")
            .extend(segments);
        url
    }

    /// One request; the envelope's `data`, or an error with the server's
    /// status, code and message (and the fields it names).
    async fn call<T: DeserializeOwned>(
        &self,
        method: Method,
        url: Url,
        body: Option<Value>,
    ) -> anyhow::Result<T> {
        let shown = format!("{method} {}", url.path());
        let mut req = self.http.request(method, url).bearer_auth(&self.token);
        if let Some(body) = body {
            req = req.json(&body);
        }
        let res = req
            .send()
            .await
            .with_context(|| format!("{shown}: the server did not answer"))?;
        let status = res.status();
        let envelope: Envelope<T> = res
            .json()
            .await
            .with_context(|| format!("{shown}: {status}, and not the API's JSON"))?;
        match (envelope.data, envelope.error) {
            (_, Some(e)) => Err(api_error(&shown, status, &e)),
            (Some(data), None) if status.is_success() => Ok(data),
            _ => bail!("{shown}: {status} without data"),
        }
    }

    async fn get<T: DeserializeOwned>(&self, segments: &[&str]) -> anyhow::Result<T> {
        self.call(Method::GET, self.url(segments), None).await
    }

    async fn post<T: DeserializeOwned>(&self, segments: &[&str], body: Value) -> anyhow::Result<T> {
        self.call(Method::POST, self.url(segments), Some(body))
            .await
    }
}

#[derive(Deserialize)]
struct Envelope<T> {
    data: Option<T>,
    error: Option<ApiError>,
}

#[derive(Deserialize)]
struct ApiError {
    code: String,
    message: String,
    #[serde(default)]
    details: Option<Value>,
}

fn api_error(shown: &str, status: StatusCode, e: &ApiError) -> anyhow::Error {
    let fields = e
        .details
        .as_ref()
        .and_then(|d| d.get("fields"))
        .and_then(Value::as_array)
        .map(|fields| {
            fields
                .iter()
                .filter_map(|f| {
                    Some(format!(
                        "{}: {}",
                        f.get("field")?.as_str()?,
                        f.get("message")?.as_str()?
                    ))
                })
                .collect::<Vec<_>>()
                .join("; ")
        })
        .filter(|f| !f.is_empty())
        .map(|f| format!(" ({f})"))
        .unwrap_or_default();
    anyhow!("{shown}: {status} {}: {}{fields}", e.code, e.message)
}

#[derive(Deserialize)]
struct WithId {
    id: String,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct ReusableBody {
    experiment: Option<Experiment>,
    variant: Option<i64>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct ComparisonBody {
    same_dataset_version: bool,
    #[serde(flatten)]
    comparison: Comparison,
}

/// The body `POST /api/experiments` takes.
fn body(r: &CreateExperiment) -> Value {
    let variants: Vec<Value> = r
        .variants
        .iter()
        .map(|v| {
            let mut o = serde_json::Map::new();
            if let Some(id) = v.version_id {
                o.insert("versionId".into(), json!(id));
            }
            if let Some(l) = &v.label {
                o.insert("label".into(), json!(l));
            }
            if let Some(p) = &v.provider {
                o.insert("provider".into(), json!(p));
            }
            if let Some(m) = &v.model {
                o.insert("model".into(), json!(m));
            }
            if let Some(p) = &v.params {
                o.insert("params".into(), json!(p));
            }
            Value::Object(o)
        })
        .collect();
    let mut o = json!({
        "promptId": r.prompt_id,
        "datasetId": r.dataset_id,
        "variants": variants,
    });
    let fields = [
        ("name", r.name.as_ref().map(|n| json!(n))),
        ("datasetVersion", r.dataset_version.map(|v| json!(v))),
        ("repeats", r.repeats.map(|v| json!(v))),
        ("concurrency", r.concurrency.map(|v| json!(v))),
        ("maxCostUsd", r.max_cost_usd.map(|v| json!(v))),
        ("evaluators", r.evaluators.clone()),
    ];
    for (k, v) in fields {
        if let Some(v) = v {
            o[k] = v;
        }
    }
    o
}

impl Backend for Remote {
    async fn resolve(&self, prompt: &str, dataset: &str) -> anyhow::Result<(String, String)> {
        let p: WithId = self.get(&["prompts", prompt]).await.context("--prompt")?;
        let d: WithId = self
            .get(&["datasets", dataset])
            .await
            .context("--dataset")?;
        Ok((p.id, d.id))
    }

    async fn variant(&self, prompt: &str, text: &str) -> anyhow::Result<VariantSpec> {
        if !text.is_empty() && text.bytes().all(|b| b.is_ascii_digit()) {
            let v: WithId = self.get(&["prompts", prompt, "versions", text]).await?;
            return Ok(VariantSpec {
                version_id: Some(v.id.parse()?),
                ..VariantSpec::default()
            });
        }
        Ok(VariantSpec {
            label: Some(text.to_string()),
            ..VariantSpec::default()
        })
    }

    async fn reusable(&self, request: &CreateExperiment) -> anyhow::Result<Option<Reusable>> {
        let found: ReusableBody = self
            .post(
                &["experiments", "reusable"],
                json!({ "experiment": body(request), "variant": 0 }),
            )
            .await?;
        Ok(match (found.experiment, found.variant) {
            (Some(experiment), Some(variant)) => Some(Reusable {
                experiment,
                variant,
            }),
            _ => None,
        })
    }

    async fn run(&self, request: CreateExperiment) -> anyhow::Result<Experiment> {
        let experiment: Experiment = self.post(&["experiments"], body(&request)).await?;
        eprintln!(
            "experiment {}: {} cells, run by the server at {}",
            experiment.id, experiment.progress.total, self.base
        );
        let id = experiment.id.to_string();
        let bar = bar(experiment.progress.total);
        loop {
            let e: Experiment = self.get(&["experiments", &id]).await?;
            let p = e.progress;
            bar.set_position((p.succeeded + p.failed + p.cancelled) as u64);
            bar.set_message(format!("{} running, {} failed", p.running, p.failed));
            if e.status.is_final() || (e.status == ExperimentStatus::Paused && p.running == 0) {
                bar.finish_and_clear();
                if e.status != ExperimentStatus::Succeeded {
                    eprintln!("{}", one_line(&e));
                }
                return Ok(e);
            }
            tokio::time::sleep(POLL).await;
        }
    }

    async fn compare(
        &self,
        baseline: CompareSide,
        candidate: CompareSide,
    ) -> anyhow::Result<Compared> {
        let mut url = self.url(&["experiments", "compare"]);
        url.query_pairs_mut()
            .append_pair("baseline", &baseline.experiment.to_string())
            .append_pair("candidate", &candidate.experiment.to_string())
            .append_pair("baselineVariant", &baseline.variant.to_string())
            .append_pair("candidateVariant", &candidate.variant.to_string());
        let c: ComparisonBody = self.call(Method::GET, url, None).await?;
        Ok(Compared {
            same_dataset_version: c.same_dataset_version,
            comparison: c.comparison,
        })
    }

    async fn summary(&self, experiment: ExperimentId) -> anyhow::Result<Summary> {
        self.get(&["experiments", &experiment.to_string(), "summary"])
            .await
    }
}
