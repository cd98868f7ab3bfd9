//! `check`: the preflight an operator (or a deploy script) runs before
//! starting the server. It prints what the server would use and why, tries
//! everything that can fail at start-up without changing anything but an
//! empty SQLite file, and ends with one `problem:` line per thing to fix
//! (exit 1), or `ok` (exit 0). `warning:` lines name risky settings that do
//! not stop a start.
//!
//! `check` is often run next to a server that is already up: a bind address
//! held by a PromptRefine that answers `/healthz` is reported as such, not
//! as a problem, and pending migrations are not a problem when `serve` will
//! apply them at start (`MIGRATE_ON_START`, the default).

mod probe;

use std::process::ExitCode;

use promptrefine_llm::Provider;
use promptrefine_web::CookieSecure;

use crate::config::{Config, parse};
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
                        if cfg.migrate_on_start {
                            println!("  serve will apply them at start (MIGRATE_ON_START is true)");
                        } else {
                            problems.push(format!(
                                "migrations: {summary}; run `promptrefine migrate up` (MIGRATE_ON_START is false)"
                            ));
                        }
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
        let base_url = parse::mask_url_credentials(&p.base_url);
        println!("  {}  {base_url}  {key}  models: {models}", p.name);
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
        Err(_) if probe::is_promptrefine(&cfg.bind) => {
            println!(
                "  {}: in use by a running PromptRefine (it answers /healthz)",
                cfg.bind
            );
        }
        Err(e) => {
            println!("  {}: cannot listen", cfg.bind);
            problems.push(format!("cannot listen on BIND {}: {e}", cfg.bind));
        }
    }
    let warnings = cookie_warnings(cfg);

    for w in &warnings {
        println!("warning: {w}");
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

/// Session cookies without `Secure` travel in clear text on a network: warn
/// when the server listens beyond loopback and nothing turns Secure on
/// (`COOKIE_SECURE=always`, or an `https` `PUBLIC_URL`).
fn cookie_warnings(cfg: &Config) -> Vec<String> {
    let https = cfg
        .public_url
        .as_deref()
        .is_some_and(|u| u.to_ascii_lowercase().starts_with("https://"));
    if is_loopback_bind(&cfg.bind) || cfg.cookie_secure == CookieSecure::Always || https {
        return Vec::new();
    }
    vec![format!(
        "BIND {} is reachable from other machines but session cookies are not marked Secure \
         (COOKIE_SECURE is not `always` and PUBLIC_URL is not https): serve behind TLS and set \
         PUBLIC_URL=https://… (or COOKIE_SECURE=always)",
        cfg.bind
    )]
}

/// `127.x.y.z`, `[::1]` or `localhost`, on any port.
fn is_loopback_bind(bind: &str) -> bool {
    let host = bind.rsplit_once(':').map_or(bind, |(h, _)| h);
    let host = host.trim_start_matches('[').trim_end_matches(']');
    host.eq_ignore_ascii_case("localhost")
        || host
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn loopback_binds_are_told_apart_from_the_rest() {
        for lo in [
            "127.0.0.1:3000",
            "127.1.2.3:1",
            "[::1]:80",
            "localhost:3000",
        ] {
            assert!(is_loopback_bind(lo), "{lo}");
        }
        for open in ["0.0.0.0:3000", "[::]:3000", "10.0.0.5:80", "myhost:3000"] {
            assert!(!is_loopback_bind(open), "{open}");
        }
    }
}
