//! SIGKILLs during an experiment: one server runs an experiment and is
//! killed at random moments and started again (on the same port, so it
//! takes its own cells back at once). In the end every cell has exactly one
//! succeeded run, the upstream calls (one per run: retries are off) are at
//! most the cells plus the calls in flight at the kills, and the spend is
//! within the cap.

use std::collections::HashMap;
use std::time::Duration;

use rand::Rng;

use crate::Args;
use crate::api::{
    create_prompt, dataset, experiment_runs, get, start_experiment, token_client, wait_progress,
};
use crate::procs;
use crate::report::Row;

/// 100 ms per call.
const MODEL: &str = "mock-stream-2x50ms";
const CONCURRENCY: i64 = 16;

pub(crate) async fn run(args: &Args, backend: &'static str) -> anyhow::Result<Row> {
    let kills = args.kills.unwrap_or(if args.quick { 3 } else { 10 });
    let cells: i64 = if args.quick { 300 } else { 2_000 };
    let setup = procs::Setup::new(backend).await?;
    let http = &setup.http;
    let mut server = setup.server();
    server.start(http).await?;
    let api = token_client(&server).await?;
    let prompt = create_prompt(&api, &server, "Killed", "cell {{x}}", MODEL).await?;
    let dataset = dataset(&api, &server, "killed", cells).await?;
    let experiment = start_experiment(&api, &server, &prompt, &dataset, CONCURRENCY).await?;

    let mut failures = vec![];
    for _ in 0..kills {
        let wait = rand::rng().random_range(300..1500);
        tokio::time::sleep(Duration::from_millis(wait)).await;
        server.kill().await;
        server.start(http).await?;
    }
    let progress = wait_progress(&api, &server, &experiment, |p| {
        p["pending"] == 0 && p["running"] == 0
    })
    .await?;
    let e = get(&api, &server, &format!("/api/experiments/{experiment}")).await?;
    if e["data"]["status"] != "succeeded" || progress["succeeded"] != cells {
        failures.push(format!("ended {} with {progress}", e["data"]["status"]));
    }
    let runs = experiment_runs(&api, &server, &prompt, &experiment).await?;
    let mut succeeded: HashMap<String, usize> = HashMap::new();
    for r in runs.iter().filter(|r| r["status"] == "succeeded") {
        *succeeded
            .entry(format!("{}/{}/{}", r["itemId"], r["variant"], r["repeat"]))
            .or_default() += 1;
    }
    let exactly_once = succeeded.values().filter(|n| **n == 1).count() as i64;
    if exactly_once != cells || succeeded.len() as i64 != cells {
        failures.push(format!(
            "lost or doubled: {exactly_once} of {cells} cells have exactly one succeeded run"
        ));
    }
    let calls = runs.len() as i64;
    let bound = cells + CONCURRENCY * kills as i64;
    if calls > bound {
        failures.push(format!("{calls} upstream calls, more than {bound}"));
    }
    server.kill().await;
    for f in &failures {
        eprintln!("cells/{backend}: {f}");
    }
    let passed = failures.is_empty();
    Ok(Row {
        scenario: "SIGKILL during an experiment, restart, verify".into(),
        backend: backend.into(),
        load: format!("{cells} cells of {MODEL}, concurrency {CONCURRENCY}"),
        faults: format!("{kills} × SIGKILL"),
        acknowledged: cells as usize,
        verified: exactly_once as usize,
        lost: (cells - exactly_once).max(0) as usize,
        result: if passed {
            format!(
                "pass; one succeeded run per cell; {calls} upstream calls for {cells} cells (bound {bound})"
            )
        } else {
            format!("FAIL: {}", failures.join("; ").replace('|', "/"))
        },
        passed,
    })
}
