//! `seed`: demo data (prompts of both types, versions, labels, variables,
//! runs of every final status). Idempotent: a second run adds nothing.

use std::process::ExitCode;

use promptrefine_app::App;

use crate::config::Config;
use crate::database;

pub async fn run(cfg: &Config) -> anyhow::Result<ExitCode> {
    let store = database::connect_current(cfg).await?;
    let report = App::new(store.clone(), cfg.auth_policy())
        .seed_demo()
        .await?;
    store.close().await;
    println!(
        "seeded {} prompts ({} versions, {} runs); {} demo prompts were already there",
        report.prompts_created, report.versions, report.runs, report.prompts_skipped
    );
    Ok(ExitCode::SUCCESS)
}
