//! `check`: the preflight an operator (or a deploy script) runs before
//! starting the server. It prints what the server would use and why, tries
//! everything that can fail at start-up without changing anything but an
//! empty SQLite file, and ends with one `problem:` line per thing to fix
//! (exit 1), or `ok` (exit 0).

use std::process::ExitCode;

use promptrefine_llm::Provider;

use crate::config::Config;
use crate::database;

pub async fn run(cfg: &Config) -> anyhow::Result<ExitCode> {
    let mut problems: Vec<String> = Vec::new();

    match &cfg.config_file {
        Some(path) => println!("Settings (config file: {})", path.display()),
        None => println!("Settings (no config file)"),
    }
    let width = cfg.settings.iter().map(|s| s.key.len()).max().unwrap_or(0);
    let value_width = cfg
        .settings
        .iter()
        .map(|s| s.shown.chars().count())
        .max()
        .unwrap_or(0)
        .min(50);
    for s in &cfg.settings {
        println!(
            "  {:<width$}  {:<value_width$}  ({})",
            s.key, s.shown, s.source
        );
    }

    println!("Database");
    let url = cfg.database_url_masked();
    match database::connect(cfg).await {
        Ok(store) => {
            println!("  reachable: yes ({}, {url})", store.kind());
            match database::schema(&store).await {
                Ok(schema) => {
                    let summary = schema.summary();
                    println!("  migrations: {summary}");
                    if !schema.unknown_applied.is_empty() {
                        problems.push(summary);
                    } else if !schema.pending().is_empty() {
                        let hint = if cfg.migrate_on_start {
                            "serve will apply them at start"
                        } else {
                            "run `promptrefine migrate up` (MIGRATE_ON_START is false)"
                        };
                        problems.push(format!("migrations: {summary}; {hint}"));
                    }
                }
                Err(e) => problems.push(format!("cannot read the migration state: {e:#}")),
            }
            store.close().await;
        }
        Err(e) => {
            println!("  reachable: no ({url})");
            problems.push(format!("{e:#}"));
        }
    }

    println!("LLM providers");
    let openai_key = cfg.provider("openai").is_some_and(|p| p.api_key.is_some());
    println!(
        "  OpenAI key: {}",
        if openai_key { "present" } else { "not set" }
    );
    for p in &cfg.providers {
        let key = match &p.api_key_env {
            Some(var) if p.api_key.is_some() => format!("key {var}: set"),
            Some(var) => format!("key {var}: NOT SET"),
            None => "no key".to_string(),
        };
        let models = if p.models.is_empty() {
            "(from the server)".to_string()
        } else {
            p.models.join(", ")
        };
        println!("  {}  {}  {key}  models: {models}", p.name, p.base_url);
        // The built-in provider without a key is normal (local servers need
        // none); a provider that names a key variable expects it to be set.
        if p.name != "openai" && p.api_key_env.is_some() && p.api_key.is_none() {
            problems.push(format!(
                "provider {}: its key variable {} is not set",
                p.name,
                p.api_key_env.as_deref().unwrap_or_default()
            ));
        }
        if let Err(e) = Provider::new(p.to_llm(), cfg.llm_client_settings()) {
            problems.push(format!("provider {}: {e}", p.name));
        }
    }

    println!("Bind address");
    match std::net::TcpListener::bind(&cfg.bind) {
        Ok(l) => {
            let addr = l
                .local_addr()
                .map(|a| a.to_string())
                .unwrap_or_else(|_| cfg.bind.clone());
            println!("  {}: free ({addr})", cfg.bind);
        }
        Err(e) => {
            println!("  {}: cannot listen", cfg.bind);
            problems.push(format!("cannot listen on BIND {}: {e}", cfg.bind));
        }
    }

    if problems.is_empty() {
        println!("ok");
        Ok(ExitCode::SUCCESS)
    } else {
        for p in &problems {
            println!("problem: {}", crate::logging::redact(p));
        }
        Ok(ExitCode::FAILURE)
    }
}
