//! schemathesis (PyPI, pinned 3.39.16) against `/api/openapi.json` of the
//! real server with a valid API token: every operation fuzzed, bounded in
//! examples, response time and wall time, with two checks — no 5xx
//! (`not_a_server_error`) and every response matching its documented schema
//! (`response_schema_conformance`). The stateful phase (`--stateful=links`)
//! follows the document's OpenAPI links (`web/src/api/openapi.rs`): create a
//! prompt, then read, patch, save, render, label and delete it; save a
//! version, then read and diff it; start a run, then read and cancel it;
//! create a dataset, then add, import, export, read, edit and delete items. Needs `hypothesis==6.131.14`: newer Hypothesis
//! releases break schemathesis 3.39 ("'many' object has no attribute 'more'").

use std::process::Stdio;
use std::time::Duration;

use anyhow::Context;

use crate::Args;
use crate::procs;
use crate::report::Row;

pub(crate) const SCHEMATHESIS_VERSION: &str = "3.39.16";

pub(crate) async fn run(args: &Args) -> anyhow::Result<Row> {
    let st = which_st().context(format!(
        "schemathesis is not installed: pip install schemathesis=={SCHEMATHESIS_VERSION} hypothesis==6.131.14"
    ))?;
    let setup = procs::Setup::new("sqlite").await?;
    let mut server = setup.server();
    server.start(&setup.http).await?;
    let api = crate::api::token_client(&server).await?;
    let token = crate::api::token(&server, "schemathesis").await?;
    // Something to find: a prompt with two versions and a label.
    crate::api::create_prompt(&api, &server, "Fuzzed", "Hi {{name}}", "mock-echo").await?;

    let (examples, limit) = if args.quick { (10, 60) } else { (50, 300) };
    let mut cmd = tokio::process::Command::new(st);
    cmd.arg("run")
        .arg(server.url("/api/openapi.json"))
        .args(["--header", &format!("Authorization: Bearer {token}")])
        .args(["--checks", "not_a_server_error,response_schema_conformance"])
        .args(["--hypothesis-max-examples", &examples.to_string()])
        .args(["--max-response-time", "5000"])
        .args(["--hypothesis-seed", "1"])
        .args(["--stateful", "links"])
        .args(["--experimental", "openapi-3.1"])
        .args(["--no-color"])
        // Our serializers for the import bodies (CSV, JSON Lines).
        .env("SCHEMATHESIS_HOOKS", "promptrefine_hooks")
        .env("PYTHONPATH", concat!(env!("CARGO_MANIFEST_DIR"), "/hooks"))
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true);
    let out = tokio::time::timeout(Duration::from_secs(limit), cmd.output())
        .await
        .with_context(|| format!("schemathesis did not finish within {limit} s"))??;
    server.kill().await;
    let text = String::from_utf8_lossy(&out.stdout).to_string();
    std::fs::write(
        std::env::temp_dir().join("promptrefine-schemathesis.log"),
        &text,
    )?;
    let summary = text
        .lines()
        .rev()
        .find(|l| {
            l.contains(" in ")
                && (l.contains("passed") || l.contains("failed") || l.contains("errored"))
        })
        .unwrap_or("no summary line")
        .trim_matches(|c: char| c == '=' || c.is_whitespace())
        .to_string();
    // "not_a_server_error   234 / 234 passed   PASSED"
    let checks: Vec<String> = text
        .lines()
        .filter(|l| {
            l.contains(" / ")
                && (l.contains("not_a_server_error") || l.contains("response_schema_conformance"))
        })
        .map(|l| {
            let w: Vec<&str> = l.split_whitespace().collect();
            format!(
                "{} {}/{}",
                w.first().unwrap_or(&""),
                w.get(1).unwrap_or(&"?"),
                w.get(3).unwrap_or(&"?")
            )
        })
        .collect();
    // Responses checked: the first count of the `not_a_server_error` line.
    let responses: usize = checks
        .first()
        .and_then(|c| c.split_whitespace().nth(1)?.split('/').next()?.parse().ok())
        .unwrap_or(0);
    let operations: usize = summary
        .split(',')
        .filter_map(|part| part.split_whitespace().next()?.parse::<usize>().ok())
        .sum();
    // "Collected API links: 14": how many links the stateful phase had to follow.
    let links: usize = text
        .lines()
        .find_map(|l| {
            l.trim()
                .strip_prefix("Collected API links:")?
                .trim()
                .parse()
                .ok()
        })
        .unwrap_or(0);
    let passed = out.status.success();
    if !passed {
        eprintln!("{text}");
        eprintln!(
            "schemathesis log: {}",
            std::env::temp_dir()
                .join("promptrefine-schemathesis.log")
                .display()
        );
    }
    Ok(Row {
        scenario: "schemathesis: every OpenAPI operation, stateless and stateful".into(),
        backend: "sqlite".into(),
        load: format!("{operations} operations, ≤ {examples} examples each, seed 1"),
        faults: "generated valid and invalid requests".into(),
        acknowledged: responses,
        verified: if passed { responses } else { 0 },
        lost: 0,
        result: format!(
            "{} ({summary}; {}; stateful: {links} OpenAPI links followed)",
            if passed { "pass" } else { "FAIL" },
            checks.join(", ")
        ),
        passed,
    })
}

fn which_st() -> Option<String> {
    let path = std::env::var("PATH").ok()?;
    std::env::split_paths(&path)
        .map(|d| d.join("st"))
        .find(|p| p.is_file())
        .map(|p| p.display().to_string())
}
