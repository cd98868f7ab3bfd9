//! `experiment run` and `experiment status`: start an experiment from the
//! command line (the same use case as `POST /api/experiments`) and, with
//! `--wait`, run it here: this process joins the replicas as an instance
//! with a lease and runs the engine, so it works with or without a server
//! (a running server shares the cells). The exit code says how it ended:
//! 0 every cell succeeded, 1 otherwise (some failed, cancelled or paused).

use std::process::ExitCode;
use std::time::Duration;

use anyhow::{Context, anyhow, bail};
use indicatif::{ProgressBar, ProgressStyle};
use promptrefine_app::App;
use promptrefine_app::experiments::{CreateExperiment, EngineSettings, VariantSpec};
use promptrefine_app::instance::LeaseSettings;
use promptrefine_core::{Experiment, ExperimentStatus, PromptId, VersionNumber};
use tokio_util::sync::CancellationToken;

use super::serve::run_service;
use crate::cli::ExperimentRunArgs;
use crate::config::Config;
use crate::database::open_app;

/// How often `--wait` reads the progress.
const POLL: Duration = Duration::from_millis(250);

/// `SLUG`, `SLUG@LABEL` or `SLUG:VERSION`.
fn split_prompt(spec: &str) -> (&str, Option<&str>, Option<&str>) {
    if let Some((slug, label)) = spec.split_once('@') {
        (slug, Some(label), None)
    } else if let Some((slug, n)) = spec.split_once(':') {
        (slug, None, Some(n))
    } else {
        (spec, None, None)
    }
}

/// A `--variant`: `@LABEL`, `:VERSION` or empty (the current version),
/// then optionally `+PRESET` (a model preset), then optionally `/MODEL`.
pub(crate) async fn variant(
    app: &App,
    prompt: PromptId,
    spec: &str,
) -> anyhow::Result<VariantSpec> {
    let (which, model) = match spec.split_once('/') {
        Some((w, m)) => (w, Some(m.to_string())),
        None => (spec, None),
    };
    let (which, preset) = match which.split_once('+') {
        Some((w, p)) if !p.is_empty() => (w, Some(p.to_string())),
        Some(_) => bail!("--variant {spec:?}: a preset name must follow '+'"),
        None => (which, None),
    };
    let mut v = VariantSpec {
        model,
        preset,
        ..VariantSpec::default()
    };
    if let Some(label) = which.strip_prefix('@') {
        v.label = Some(label.to_string());
    } else if let Some(n) = which.strip_prefix(':') {
        let number = VersionNumber::parse(n)
            .ok_or_else(|| anyhow!("{spec:?}: :{n} is not a version number"))?;
        let version = app
            .get_version(prompt, number)
            .await
            .with_context(|| format!("--variant {spec}: no version {n}"))?;
        v.version_id = Some(version.id);
    } else if !which.is_empty() {
        bail!(
            "--variant {spec:?}: expected @LABEL, :VERSION, +PRESET or /MODEL (e.g. :7, @production/gpt-4o-mini, :7+cold)"
        );
    }
    Ok(v)
}

pub async fn run(cfg: &Config, args: &ExperimentRunArgs) -> anyhow::Result<ExitCode> {
    let app = open_app(cfg)
        .await?
        .with_runs(run_service(cfg)?)
        .with_providers(cfg.provider_settings()?)
        .with_evaluator_hosts(cfg.evaluator_http_hosts.clone());
    let result = start_and_wait(cfg, &app, args).await;
    app.store().close().await;
    result
}

async fn start_and_wait(
    cfg: &Config,
    app: &App,
    args: &ExperimentRunArgs,
) -> anyhow::Result<ExitCode> {
    let (slug, label, version) = split_prompt(&args.prompt);
    let prompt = app.prompt_ref(slug).await.context("--prompt")?;
    let dataset = app.dataset_ref(&args.dataset).await.context("--dataset")?;
    let mut variants = vec![];
    for spec in &args.variants {
        variants.push(variant(app, prompt, spec).await?);
    }
    if variants.is_empty() && (label.is_some() || version.is_some()) {
        let spec = match (label, version) {
            (Some(l), _) => format!("@{l}"),
            (_, Some(n)) => format!(":{n}"),
            _ => String::new(),
        };
        variants.push(variant(app, prompt, &spec).await?);
    }
    let experiment = app
        .create_experiment(CreateExperiment {
            name: args.name.clone(),
            prompt_id: prompt,
            dataset_id: dataset,
            dataset_version: args.dataset_version,
            variants,
            repeats: args.cells.repeats,
            concurrency: args.cells.concurrency,
            max_cost_usd: args.cells.max_cost,
            evaluators: None,
        })
        .await
        .map_err(|e| anyhow!("{e}"))?;
    println!(
        "experiment {}: {} cells ({} variants × {} repeats){}",
        experiment.id,
        experiment.progress.total,
        experiment.variants.len(),
        experiment.repeats,
        experiment
            .estimate
            .max_cost_micro_usd
            .map(|c| format!(", worst case ${:.4}", c as f64 / 1e6))
            .unwrap_or_default()
    );
    if !args.wait {
        println!(
            "follow it with `promptrefine experiment status {}`",
            experiment.id
        );
        return Ok(ExitCode::SUCCESS);
    }
    let done = run_here(cfg, app, &experiment).await?;
    println!("{}", summary(&done));
    Ok(
        if done.status == ExperimentStatus::Succeeded && done.progress.failed == 0 {
            ExitCode::SUCCESS
        } else {
            ExitCode::FAILURE
        },
    )
}

/// Joins as an instance, runs the engine until the experiment ends (or
/// pauses), then stops: cells still in flight are drained and handed back.
pub(crate) async fn run_here(
    cfg: &Config,
    app: &App,
    experiment: &Experiment,
) -> anyhow::Result<Experiment> {
    let lease = LeaseSettings {
        name: cfg
            .instance_name
            .clone()
            .unwrap_or_else(|| format!("cli-{}", std::process::id())),
        lease: cfg.instance_lease,
    };
    app.join(&lease).await?;
    let stop = CancellationToken::new();
    let keeper = tokio::spawn({
        let (app, stop, lease) = (app.clone(), stop.clone(), lease.clone());
        async move { app.keep_lease(lease, stop).await }
    });
    let engine_stop = CancellationToken::new();
    let engine = tokio::spawn({
        let (app, stop) = (app.clone(), engine_stop.clone());
        let settings = EngineSettings {
            max_in_flight: cfg.experiments_max_in_flight,
            ..EngineSettings::default()
        };
        async move { app.run_experiments(settings, stop).await }
    });
    let bar = bar(experiment.progress.total);
    let last = loop {
        let e = app.get_experiment(experiment.id).await?;
        let p = e.progress;
        bar.set_position((p.succeeded + p.failed + p.cancelled) as u64);
        bar.set_message(format!("{} running, {} failed", p.running, p.failed));
        let ended = e.status.is_final() || (e.status == ExperimentStatus::Paused && p.running == 0);
        if ended {
            break e;
        }
        tokio::select! {
            () = tokio::time::sleep(POLL) => {}
            _ = tokio::signal::ctrl_c() => {
                bar.abandon_with_message("interrupted: the cells not run stay pending; `experiment status` shows them");
                break app.get_experiment(experiment.id).await?;
            }
        }
    };
    bar.finish_and_clear();
    engine_stop.cancel();
    app.drain_runs(Duration::from_secs(5)).await;
    let _ = engine.await;
    stop.cancel();
    let _ = keeper.await;
    Ok(app.get_experiment(last.id).await?)
}

pub(crate) fn bar(total: i64) -> ProgressBar {
    use std::io::IsTerminal;
    if !std::io::stderr().is_terminal() {
        return ProgressBar::hidden();
    }
    let bar = ProgressBar::new(total.max(0) as u64);
    bar.set_style(
        ProgressStyle::with_template("cells [{bar:40}] {pos}/{len} ({eta}) {msg}")
            .expect("a valid template")
            .progress_chars("=> "),
    );
    bar
}

/// One line: how it ended, the counts and the spend.
pub(crate) fn summary(e: &Experiment) -> String {
    let p = e.progress;
    format!(
        "{} {}: {} succeeded, {} failed, {} cancelled, {} pending of {}; spent ${:.4}{}",
        e.id,
        e.status.as_str(),
        p.succeeded,
        p.failed,
        p.cancelled,
        p.pending,
        p.total,
        e.cost_micro_usd as f64 / 1e6,
        e.pause_reason
            .as_deref()
            .map(|r| format!(" (paused: {r})"))
            .unwrap_or_default()
    )
}

pub async fn status(cfg: &Config, id: &str) -> anyhow::Result<ExitCode> {
    let id = id
        .parse()
        .map_err(|_| anyhow!("{id:?} is not an experiment id"))?;
    let app = open_app(cfg).await?;
    let e = app.get_experiment(id).await;
    app.store().close().await;
    let e = e.map_err(|e| anyhow!("{e}"))?;
    println!("{}", summary(&e));
    Ok(ExitCode::SUCCESS)
}
