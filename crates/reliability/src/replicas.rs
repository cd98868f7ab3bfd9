//! Two replicas of the real server on one database: what leases promise.
//!
//! 1. A replica that starts leaves the other's in-flight runs alone: a run
//!    on A that is running while B starts (and sweeps) ends `succeeded`
//!    with its output, not `interrupted`.
//! 2. A replica that dies loses its runs only through its lease: after a
//!    SIGKILL of A, B marks A's in-flight run `interrupted` once A's lease
//!    has run out (a short `INSTANCE_LEASE_SECS` here), without a restart.
//! 3. Cancel crosses replicas: a run on A cancelled through B is stored
//!    `cancelled` and stays so (A's later outcome is not written over it).
//! 4. An experiment shared by both replicas survives a SIGKILL of one:
//!    every cell ends with exactly one succeeded run, and the upstream calls
//!    (one per run: retries are off) are at most the cells plus those in
//!    flight at the kill.
//! 5. Cancelling an experiment through one replica stops the cells the
//!    other is running within about a second, not when they would end.

use std::time::{Duration, Instant};

use anyhow::ensure;
use serde_json::{Value, json};

use crate::Args;
use crate::api::{
    call, create_prompt, dataset, experiment_runs, get, start_experiment, token_client,
    wait_progress,
};
use crate::procs::{self, Server};
use crate::report::Row;

/// Short, so the scenario waits seconds, not the default 30 s.
const LEASE_SECS: u64 = 3;
/// About 3 s of streamed output: long enough to be in flight while the
/// other replica starts or the owner is killed.
const SLOW_MODEL: &str = "mock-stream-30x100ms";
/// Experiment cells: 200 ms each.
const CELL_MODEL: &str = "mock-stream-4x50ms";
const CELLS: i64 = 60;
const CELL_CONCURRENCY: i64 = 8;

pub(crate) async fn run(_args: &Args, backend: &'static str) -> anyhow::Result<Row> {
    let setup = procs::Setup::new(backend).await?;
    let http = &setup.http;
    let replica = || {
        let mut s = setup.server();
        s.env
            .push(("INSTANCE_LEASE_SECS".into(), LEASE_SECS.to_string()));
        s
    };
    let (mut a, mut b) = (replica(), replica());
    a.start(http).await?;
    // Tokens live in the database, so one works on both replicas.
    let api = token_client(&a).await?;
    let prompt = create_prompt(&api, &a, "Replicas", "hello {{x}}", SLOW_MODEL).await?;
    let mut failures = vec![];

    // 1. B starts while A runs.
    let on_a = start_run(&api, &a, &prompt);
    let id = running_run(&api, &a, &prompt).await?;
    b.start(http).await?;
    let (s, finished) = on_a.await??;
    let status = finished["data"]["status"]
        .as_str()
        .unwrap_or("?")
        .to_string();
    if s != 201 || status != "succeeded" {
        failures.push(format!(
            "a run on A while B started ended {s} {status}: {finished}"
        ));
    }
    let seen_by_b = run_status(&api, &b, &id).await?;
    if seen_by_b != "succeeded" {
        failures.push(format!("B sees A's finished run as {seen_by_b}"));
    }

    // 2. A dies with a run in flight; B takes it once A's lease is gone.
    let cut = start_run(&api, &a, &prompt);
    let id = running_run(&api, &a, &prompt).await?;
    a.kill().await;
    drop(cut);
    let killed = Instant::now();
    let taken_after = loop {
        let status = run_status(&api, &b, &id).await?;
        if status == "interrupted" {
            break Some(killed.elapsed());
        }
        if status != "running" {
            failures.push(format!(
                "A's run after the kill is {status}, not interrupted"
            ));
            break None;
        }
        if killed.elapsed() > Duration::from_secs(LEASE_SECS * 10) {
            failures.push(format!(
                "A's run is still running {:?} after the kill (lease {LEASE_SECS} s)",
                killed.elapsed()
            ));
            break None;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    };

    // 3. A again (a new process on its port takes over at once); cancel via B.
    a.start(http).await?;
    let on_a = start_run(&api, &a, &prompt);
    let id = running_run(&api, &a, &prompt).await?;
    let (s, body) = call(
        &api,
        reqwest::Method::POST,
        &b.url(&format!("/api/test-runs/{id}/cancel")),
        Some(json!({})),
    )
    .await?;
    if s != 200 || body["data"]["status"] != "cancelled" {
        failures.push(format!("cancel through B answered {s} {body}"));
    }
    // A's own outcome comes later and must not overwrite the cancel.
    let _ = on_a.await?;
    let status = run_status(&api, &a, &id).await?;
    if status != "cancelled" {
        failures.push(format!("a run cancelled through B ended {status}"));
    }

    // 4. An experiment on both replicas; A is killed halfway and comes back.
    let cells_prompt = create_prompt(&api, &b, "Cells", "cell {{x}}", CELL_MODEL).await?;
    let dataset = dataset(&api, &b, "replicas", CELLS).await?;
    let experiment = start_experiment(&api, &b, &cells_prompt, &dataset, CELL_CONCURRENCY).await?;
    wait_progress(&api, &b, &experiment, |p| {
        p["succeeded"].as_i64() >= Some(CELLS / 4)
    })
    .await?;
    a.kill().await;
    a.start(http).await?;
    let done = wait_progress(&api, &b, &experiment, |p| {
        p["pending"] == 0 && p["running"] == 0
    })
    .await?;
    let e = get(&api, &b, &format!("/api/experiments/{experiment}")).await?;
    if e["data"]["status"] != "succeeded" || done["succeeded"] != CELLS {
        failures.push(format!(
            "the experiment across a kill ended {}: {done}",
            e["data"]["status"]
        ));
    }
    let runs = experiment_runs(&api, &b, &cells_prompt, &experiment).await?;
    let mut succeeded = std::collections::HashMap::new();
    for r in &runs {
        if r["status"] == "succeeded" {
            *succeeded
                .entry((
                    r["itemId"].to_string(),
                    r["variant"].to_string(),
                    r["repeat"].to_string(),
                ))
                .or_insert(0) += 1;
        }
    }
    if succeeded.len() as i64 != CELLS || succeeded.values().any(|n| *n != 1) {
        failures.push(format!(
            "not exactly one succeeded run per cell: {} cells with one, {} runs",
            succeeded.values().filter(|n| **n == 1).count(),
            runs.len()
        ));
    }
    let calls = runs.len() as i64;
    if calls > CELLS + CELL_CONCURRENCY {
        failures.push(format!(
            "{calls} upstream calls for {CELLS} cells (at most {} in flight at the kill)",
            CELL_CONCURRENCY
        ));
    }

    // 5. Cancel through B while both replicas run slow cells.
    let slow = start_experiment(&api, &b, &prompt, &dataset, 4).await?;
    wait_progress(&api, &b, &slow, |p| p["running"] == 4).await?;
    let (s, body) = call(
        &api,
        reqwest::Method::POST,
        &b.url(&format!("/api/experiments/{slow}/cancel")),
        Some(json!({})),
    )
    .await?;
    if s != 200 {
        failures.push(format!("cancel experiment through B: {s} {body}"));
    }
    let cancelled = Instant::now();
    wait_progress(&api, &a, &slow, |p| p["running"] == 0).await?;
    let stopped_after = cancelled.elapsed();
    // The cells stream for about 3 s; stopping them must not wait for that.
    if stopped_after > Duration::from_millis(2500) {
        failures.push(format!(
            "cancelled cells were still running {stopped_after:?} after the cancel"
        ));
    }

    a.kill().await;
    b.kill().await;
    for f in &failures {
        eprintln!("replicas/{backend}: {f}");
    }
    let passed = failures.is_empty();
    Ok(Row {
        scenario: "two replicas on one database".into(),
        backend: backend.into(),
        load: format!("{SLOW_MODEL} runs on replica A"),
        faults: "replica B starts; SIGKILL of A (twice); cancel through B".into(),
        acknowledged: 3 + CELLS as usize,
        verified: if passed { 3 + CELLS as usize } else { 0 },
        lost: 0,
        result: if passed {
            format!(
                "pass; B took A's run {} ms after the kill (lease {LEASE_SECS} s); {CELLS}-cell experiment across a kill: one succeeded run per cell, {calls} upstream calls; cancel stopped the other replica's cells in {} ms",
                taken_after.map_or(0, |d| d.as_millis()),
                stopped_after.as_millis()
            )
        } else {
            format!("FAIL: {}", failures.join("; ").replace('|', "/"))
        },
        passed,
    })
}

/// Starts a (non-streamed) run of `prompt` on `server` in a task.
fn start_run(
    api: &reqwest::Client,
    server: &Server,
    prompt: &str,
) -> tokio::task::JoinHandle<anyhow::Result<(u16, Value)>> {
    let (api, url) = (api.clone(), server.url("/api/test-runs"));
    let body = json!({ "promptId": prompt, "variables": { "x": "there" } });
    tokio::spawn(async move { call(&api, reqwest::Method::POST, &url, Some(body)).await })
}

/// The id of the prompt's run that is `running`, once there is one.
async fn running_run(
    api: &reqwest::Client,
    server: &Server,
    prompt: &str,
) -> anyhow::Result<String> {
    let url = server.url(&format!(
        "/api/test-runs?promptId={prompt}&status=running&limit=1"
    ));
    let t = Instant::now();
    loop {
        let (s, body) = call(api, reqwest::Method::GET, &url, None).await?;
        ensure!(s == 200, "list runs: {s} {body}");
        if let Some(id) = body["data"]["items"][0]["id"].as_str() {
            return Ok(id.to_string());
        }
        ensure!(
            t.elapsed() < Duration::from_secs(10),
            "no run of {prompt} started running"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

async fn run_status(api: &reqwest::Client, server: &Server, id: &str) -> anyhow::Result<String> {
    let body = get(api, server, &format!("/api/test-runs/{id}")).await?;
    Ok(body["data"]["status"].as_str().unwrap_or("?").to_string())
}
