//! The crash suite: concurrent version saves, label moves and test runs
//! against the real server, SIGKILL at random moments, restart, and after
//! every restart a check that every acknowledged write is there and right,
//! version numbers are gapless, no run is left `running`/`queued`, and
//! `/readyz` went green quickly — through the API and, behind its back,
//! in the database itself ([`crate::store_check`]).
//!
//! Workers pause (a write lock) while the checker reads, so the check sees a
//! still database; a kill lands while they run. Each worker moves its own
//! label, so "the last acknowledged move" is well defined; a move sent but
//! not answered before a kill may or may not have happened, and either
//! outcome is accepted.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, bail, ensure};
use rand::Rng;
use serde_json::json;
use tokio::sync::{Mutex, RwLock};

use crate::Args;
use crate::api::{all_pages, call, create_prompt, token_client};
use crate::procs::{self, Server};
use crate::report::Row;

const PROMPTS: usize = 3;
const WORKERS: usize = 4;

pub(crate) fn backends(db: &str) -> Vec<&'static str> {
    match db {
        "sqlite" => vec!["sqlite"],
        "postgres" => vec!["postgres"],
        _ => vec!["sqlite", "postgres"],
    }
}

/// What the server acknowledged, and what it may have done unanswered.
#[derive(Default)]
struct Ledger {
    /// (prompt, number) → content of every 201 version save.
    versions: BTreeMap<(String, i64), String>,
    /// (prompt, label) → the last acknowledged version id, and the ids of
    /// moves sent after it whose answer never came.
    labels: HashMap<(String, String), (Option<String>, Vec<String>)>,
    /// run id → status, for every answered run.
    runs: HashMap<String, String>,
    acknowledged: usize,
}

pub(crate) async fn run(args: &Args, backend: &'static str) -> anyhow::Result<Row> {
    let kills = args.kills.unwrap_or(if args.quick { 5 } else { 20 });
    let setup = procs::Setup::new(backend).await?;
    let http = &setup.http;
    let mut server = setup.server();
    let mut max_ready = server.start(http).await?;
    let api = token_client(&server).await?;
    let mut prompts = vec![];
    for i in 0..PROMPTS {
        prompts.push(
            create_prompt(
                &api,
                &server,
                &format!("Crash {i}"),
                "v1 {{x}}",
                "mock-slow",
            )
            .await?,
        );
    }
    let ledger = Arc::new(Mutex::new(Ledger::default()));
    for (i, p) in prompts.iter().enumerate() {
        ledger
            .lock()
            .await
            .versions
            .insert((p.clone(), 1), "v1 {{x}}".into());
        let _ = i;
    }
    let gate = Arc::new(RwLock::new(()));
    let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let base = server.url("");
    let mut workers = vec![];
    for w in 0..WORKERS {
        let (api, base, prompts, ledger, gate, stop) = (
            api.clone(),
            base.clone(),
            prompts.clone(),
            ledger.clone(),
            gate.clone(),
            stop.clone(),
        );
        workers.push(tokio::spawn(async move {
            let mut n = 0u64;
            while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                let _open = gate.read().await;
                n += 1;
                work(w, n, &api, &base, &prompts, &ledger).await;
            }
        }));
    }
    let mut pg_restarted = false;
    let mut failures = vec![];
    for k in 0..kills {
        let wait = rand::rng().random_range(200..1200);
        tokio::time::sleep(Duration::from_millis(wait)).await;
        server.kill().await;
        if backend == "postgres" && args.pg_restart && !args.quick && k == kills / 2 {
            restart_postgres().await?;
            pg_restarted = true;
        }
        let t = std::time::Instant::now();
        let _closed = gate.write().await;
        let paused = t.elapsed();
        let ready = server.start(http).await?;
        max_ready = max_ready.max(ready);
        let t = std::time::Instant::now();
        if let Err(e) = verify(&api, &server, &prompts, &*ledger.lock().await).await {
            failures.push(format!("after kill {}: {e:#}", k + 1));
        }
        if std::env::var_os("RELIABILITY_DEBUG").is_some() {
            eprintln!(
                "kill {}: paused {paused:?}, ready {ready:?}, verified {:?}",
                k + 1,
                t.elapsed()
            );
        }
    }
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    for w in workers {
        let _ = w.await;
    }
    let interrupted = match verify(&api, &server, &prompts, &*ledger.lock().await).await {
        Ok(n) => n,
        Err(e) => {
            failures.push(format!("at the end: {e:#}"));
            0
        }
    };
    server.kill().await;
    let l = ledger.lock().await;
    let acknowledged = l.acknowledged + PROMPTS;
    // Every failure so far is about the data; readiness time is judged apart.
    let data_ok = failures.is_empty();
    // The target is 1 s. `--quick` runs beside the whole test suite on a shared
    // 2-core machine, where a second is noise: there it reports the time and
    // fails only when readiness is plainly broken, never on speed.
    let ready_limit = Duration::from_secs(if args.quick { 10 } else { 1 });
    if max_ready >= ready_limit {
        failures.push(format!(
            "/readyz took {max_ready:?} (limit {ready_limit:?})"
        ));
    }
    for f in &failures {
        eprintln!("crash/{backend}: {f}");
    }
    let passed = failures.is_empty();
    Ok(Row {
        scenario: "SIGKILL during writes, restart, verify".into(),
        backend: backend.into(),
        load: format!(
            "{WORKERS} clients: version saves, label moves, mock-slow runs on {PROMPTS} prompts"
        ),
        faults: format!(
            "{kills} × SIGKILL{}",
            if pg_restarted {
                " + 1 PostgreSQL restart"
            } else {
                ""
            }
        ),
        acknowledged,
        verified: if data_ok { acknowledged } else { 0 },
        lost: failures.iter().filter(|f| f.contains("lost")).count(),
        result: if passed {
            format!(
                "pass; /readyz max {} ms after spawn; {interrupted} runs cut by a kill marked interrupted",
                max_ready.as_millis()
            )
        } else {
            format!("FAIL: {}", failures.join("; ").replace('|', "/"))
        },
        passed,
    })
}

/// One random operation; acknowledged results go into the ledger.
async fn work(
    w: usize,
    n: u64,
    api: &reqwest::Client,
    base: &str,
    prompts: &[String],
    ledger: &Mutex<Ledger>,
) {
    let p = prompts[(n as usize + w) % prompts.len()].clone();
    let choice = rand::rng().random_range(0..10);
    if choice < 6 {
        let content = format!("w{w} n{n} {{{{x}}}}");
        let url = format!("{base}/api/prompts/{p}/versions");
        if let Ok((201, body)) = call(
            api,
            reqwest::Method::POST,
            &url,
            Some(json!({ "content": content })),
        )
        .await
        {
            let number = body["data"]["version"].as_i64().unwrap_or(-1);
            let mut l = ledger.lock().await;
            l.versions.insert((p, number), content);
            l.acknowledged += 1;
        }
    } else if choice < 9 {
        // Move this worker's label to a version acknowledged earlier.
        let target = {
            let l = ledger.lock().await;
            let numbers: Vec<i64> = l
                .versions
                .keys()
                .filter(|(q, _)| *q == p)
                .map(|(_, n)| *n)
                .collect();
            numbers[rand::rng().random_range(0..numbers.len())]
        };
        let Ok((200, v)) = call(
            api,
            reqwest::Method::GET,
            &format!("{base}/api/prompts/{p}/versions/{target}"),
            None,
        )
        .await
        else {
            return;
        };
        let vid = v["data"]["id"].as_str().unwrap_or_default().to_string();
        let key = (p.clone(), format!("w{w}"));
        ledger
            .lock()
            .await
            .labels
            .entry(key.clone())
            .or_default()
            .1
            .push(vid.clone());
        let url = format!("{base}/api/prompts/{p}/labels/w{w}");
        if let Ok((200, _)) = call(
            api,
            reqwest::Method::PUT,
            &url,
            Some(json!({ "versionId": vid })),
        )
        .await
        {
            let mut l = ledger.lock().await;
            l.labels.insert(key, (Some(vid), vec![]));
            l.acknowledged += 1;
        }
    } else {
        let url = format!("{base}/api/test-runs");
        let body = json!({ "promptId": p, "model": "mock-slow", "variables": { "x": "y" } });
        if let Ok((201, run)) = call(api, reqwest::Method::POST, &url, Some(body)).await {
            let mut l = ledger.lock().await;
            l.runs.insert(
                run["data"]["id"].as_str().unwrap_or_default().into(),
                run["data"]["status"].as_str().unwrap_or_default().into(),
            );
            l.acknowledged += 1;
        }
    }
}

/// Checks everything; returns how many runs the restarts marked `interrupted`.
async fn verify(
    api: &reqwest::Client,
    server: &Server,
    prompts: &[String],
    l: &Ledger,
) -> anyhow::Result<usize> {
    let mut interrupted = 0;
    for p in prompts {
        // Gapless numbers: every page of the version list.
        let mut numbers = vec![];
        for v in all_pages(api, server, &format!("/api/prompts/{p}/versions?")).await? {
            numbers.push(v["version"].as_i64().context("version")?);
        }
        numbers.sort();
        let expected: Vec<i64> = (1..=numbers.len() as i64).collect();
        ensure!(
            numbers == expected,
            "version numbers of {p} are not 1..n: {numbers:?}"
        );
        // Runs: none left running or queued; answered ones kept their status.
        let (s, body) = call(
            api,
            reqwest::Method::GET,
            &server.url(&format!("/api/test-runs?promptId={p}&limit=100")),
            None,
        )
        .await?;
        ensure!(s == 200, "list runs: {s}");
        for r in body["data"]["items"].as_array().context("runs")? {
            let status = r["status"].as_str().unwrap_or_default();
            interrupted += usize::from(status == "interrupted");
            ensure!(
                status != "running" && status != "queued",
                "run {} is {status} after restart",
                r["id"]
            );
        }
    }
    crate::store_check::verify(&server.database_url).await?;
    for ((p, number), content) in &l.versions {
        let (s, body) = call(
            api,
            reqwest::Method::GET,
            &server.url(&format!("/api/prompts/{p}/versions/{number}")),
            None,
        )
        .await?;
        ensure!(s == 200, "lost: version {number} of {p} ({s})");
        ensure!(
            body["data"]["content"] == json!(content),
            "lost: version {number} of {p} changed: {}",
            body["data"]["content"]
        );
    }
    for (id, status) in &l.runs {
        let (s, body) = call(
            api,
            reqwest::Method::GET,
            &server.url(&format!("/api/test-runs/{id}")),
            None,
        )
        .await?;
        ensure!(s == 200, "lost: run {id} ({s})");
        ensure!(
            body["data"]["status"] == json!(status),
            "run {id} was {status}, now {}",
            body["data"]["status"]
        );
    }
    for p in prompts {
        let (s, body) = call(
            api,
            reqwest::Method::GET,
            &server.url(&format!("/api/prompts/{p}/labels")),
            None,
        )
        .await?;
        ensure!(s == 200, "labels: {s}");
        let now: HashMap<String, String> = body["data"]
            .as_array()
            .context("labels")?
            .iter()
            .map(|l| {
                (
                    l["label"].as_str().unwrap_or_default().to_string(),
                    l["versionId"].as_str().unwrap_or_default().to_string(),
                )
            })
            .collect();
        for ((q, label), (acked, pending)) in &l.labels {
            if q != p {
                continue;
            }
            let got = now.get(label);
            let ok = got == acked.as_ref() || got.is_some_and(|g| pending.contains(g));
            ensure!(
                ok,
                "lost: label {label} of {p} is {got:?}, acknowledged {acked:?}"
            );
        }
    }
    Ok(interrupted)
}

/// Restarts the local PostgreSQL cluster (`pg_ctlcluster VERSION NAME restart`).
async fn restart_postgres() -> anyhow::Result<()> {
    let out = tokio::process::Command::new("pg_lsclusters")
        .arg("-h")
        .output()
        .await?;
    let text = String::from_utf8_lossy(&out.stdout);
    let mut cols = text
        .lines()
        .next()
        .context("no cluster")?
        .split_whitespace();
    let (version, name) = (
        cols.next().context("version")?,
        cols.next().context("name")?,
    );
    let status = tokio::process::Command::new("pg_ctlcluster")
        .args([version, name, "restart"])
        .status()
        .await?;
    if !status.success() {
        bail!("pg_ctlcluster {version} {name} restart failed");
    }
    Ok(())
}
