//! The gate on the database directly, as the other commands open it: this
//! process joins as an instance and its engine runs the cells (a server on
//! the same database shares them).

use anyhow::{Context, anyhow};
use promptrefine_app::App;
use promptrefine_app::experiments::scoring::CompareSide;
use promptrefine_app::experiments::{CreateExperiment, Reusable, VariantSpec};
use promptrefine_core::{Experiment, ExperimentId};
use promptrefine_eval::Summary;

use super::{Backend, Compared};
use crate::commands::experiment::{run_here, variant};
use crate::commands::serve::run_service;
use crate::config::Config;
use crate::database::open_app;

pub(super) struct Local {
    cfg: Config,
    app: App,
}

impl Local {
    pub(super) async fn open(cfg: &Config) -> anyhow::Result<Local> {
        let app = open_app(cfg)
            .await?
            .with_runs(run_service(cfg)?)
            .with_providers(cfg.provider_settings()?)
            .with_evaluator_hosts(cfg.evaluator_http_hosts.clone());
        Ok(Local {
            cfg: cfg.clone(),
            app,
        })
    }

    pub(super) async fn close(self) {
        self.app.store().close().await;
    }
}

impl Backend for Local {
    async fn resolve(&self, prompt: &str, dataset: &str) -> anyhow::Result<(String, String)> {
        let prompt = self.app.prompt_ref(prompt).await.context("--prompt")?;
        let dataset = self.app.dataset_ref(dataset).await.context("--dataset")?;
        Ok((prompt.to_string(), dataset.to_string()))
    }

    async fn variant(&self, prompt: &str, text: &str) -> anyhow::Result<VariantSpec> {
        let spec = if !text.is_empty() && text.bytes().all(|b| b.is_ascii_digit()) {
            format!(":{text}")
        } else {
            format!("@{text}")
        };
        variant(&self.app, prompt.parse()?, &spec).await
    }

    async fn reusable(&self, request: &CreateExperiment) -> anyhow::Result<Option<Reusable>> {
        self.app
            .find_reusable_variant(request, 0)
            .await
            .map_err(|e| anyhow!("{e}"))
    }

    async fn run(&self, request: CreateExperiment) -> anyhow::Result<Experiment> {
        let experiment = self
            .app
            .create_experiment(request)
            .await
            .map_err(|e| anyhow!("{e}"))?;
        eprintln!(
            "experiment {}: {} cells",
            experiment.id, experiment.progress.total
        );
        run_here(&self.cfg, &self.app, &experiment).await
    }

    async fn compare(
        &self,
        baseline: CompareSide,
        candidate: CompareSide,
    ) -> anyhow::Result<Compared> {
        let c = self
            .app
            .compare_experiments(baseline, candidate)
            .await
            .map_err(|e| anyhow!("{e}"))?;
        Ok(Compared {
            same_dataset_version: c.same_dataset_version,
            comparison: c.comparison,
        })
    }

    async fn summary(&self, experiment: ExperimentId) -> anyhow::Result<Summary> {
        self.app
            .experiment_summary(experiment)
            .await
            .map_err(|e| anyhow!("{e}"))
    }
}
