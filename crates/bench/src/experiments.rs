//! E1 and E2: experiments (issue 14) through the API against the mock at
//! about 50 ms per call.
//!
//! * E1: one experiment of `plan.exp_cells` cells at concurrency 64 on one
//!   server: wall time against the ideal `cells × 50 ms / 64`, the server's
//!   peak RSS during it, and the per-cell overhead.
//! * E2 (PostgreSQL): the same experiment at concurrency 128 shared by two
//!   servers (each `EXPERIMENTS_MAX_IN_FLIGHT=64`) against E1's one server,
//!   and a check through the run list that no cell ran twice.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail, ensure};
use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::llm_runs::post;
use crate::load;
use crate::plan::size;
use crate::procs::{self, ServerSpec};
use crate::report::{Row, Verdict};
use crate::workloads::{Ctx, fmt_ms};

/// What the mock takes per call: the engine streams, and the mock sleeps
/// between pieces only, so two tokens 50 ms apart are one 50 ms wait
/// (`mock-stream-1x50ms` streams at once; non-streamed it waits 2 × 50 ms).
const CALL_MS: f64 = 50.0;
const MODEL: &str = "mock-stream-2x50ms";
/// The engine's own cap per process (`EXPERIMENTS_MAX_IN_FLIGHT`).
pub(crate) const PER_PROCESS: usize = 64;

/// A prompt and a dataset of `cells` items, made through the API.
pub(crate) struct Setup {
    prompt: String,
    dataset: String,
}

/// One finished experiment.
pub(crate) struct Finished {
    pub cells: usize,
    pub wall: Duration,
    pub status: String,
    pub succeeded: u64,
    /// How long `POST /api/experiments` took (it writes every cell).
    pub created: Duration,
    /// From the experiment's `startedAt` (its first claim) to its
    /// `finishedAt`, as the server stamped them: the engine's own time.
    pub engine: Option<Duration>,
}

impl Finished {
    /// Where the wall time went: the create call, the engine's own time.
    pub(crate) fn breakdown(&self) -> String {
        let engine = self
            .engine
            .map_or("?".into(), |d| format!("{:.2} s", d.as_secs_f64()));
        format!(
            "created in {:.0} ms, first claim to last cell {engine}",
            self.created.as_secs_f64() * 1000.0
        )
    }
}

/// The seconds between two of an experiment's RFC 3339 stamps.
fn between(e: &Value, from: &str, to: &str) -> Option<Duration> {
    let at = |k: &str| {
        time::OffsetDateTime::parse(
            e[k].as_str()?,
            &time::format_description::well_known::Rfc3339,
        )
        .ok()
    };
    Duration::try_from(at(to)? - at(from)?).ok()
}

async fn api(ctx: &Ctx<'_>, base: &str, path: &str, body: Value) -> Result<Value> {
    let res = ctx
        .http
        .post(format!("{base}{path}"))
        .header(reqwest::header::AUTHORIZATION, ctx.auth.clone())
        .json(&body)
        .send()
        .await?;
    let status = res.status();
    let v: Value = res.json().await?;
    if !status.is_success() {
        bail!("POST {path} answered {status}: {v}");
    }
    Ok(v)
}

async fn get(ctx: &Ctx<'_>, path: &str) -> Result<Value> {
    let res = ctx
        .http
        .get(format!("{}{path}", ctx.base))
        .header(reqwest::header::AUTHORIZATION, ctx.auth.clone())
        .send()
        .await?;
    let status = res.status();
    let v: Value = res.json().await?;
    if status != StatusCode::OK {
        bail!("GET {path} answered {status}: {v}");
    }
    Ok(v)
}

pub(crate) async fn setup(ctx: &Ctx<'_>, name: &str, cells: usize) -> Result<Setup> {
    let p = api(
        ctx,
        &ctx.base,
        "/api/prompts",
        json!({ "title": name, "type": "text", "content": "Answer {{question}}",
                "settings": { "model": MODEL } }),
    )
    .await?;
    let prompt = p["data"]["id"].as_str().context("no prompt id")?.to_owned();
    let d = api(ctx, &ctx.base, "/api/datasets", json!({ "name": name })).await?;
    let dataset = d["data"]["id"]
        .as_str()
        .context("no dataset id")?
        .to_owned();
    let mut done = 0;
    while done < cells {
        let n = (cells - done).min(1_000);
        let items: Vec<Value> = (done..done + n)
            .map(|i| json!({ "variables": { "question": format!("number {i}?") } }))
            .collect();
        api(
            ctx,
            &ctx.base,
            &format!("/api/datasets/{dataset}/items"),
            json!({ "items": items }),
        )
        .await?;
        done += n;
    }
    Ok(Setup { prompt, dataset })
}

/// Starts the experiment (one variant, one repeat) and polls it to its end.
pub(crate) async fn run(
    ctx: &Ctx<'_>,
    s: &Setup,
    cells: usize,
    conc: usize,
) -> Result<(String, Finished)> {
    run_with(ctx, s, cells, conc, json!({})).await
}

/// `run`, with `extra` fields (variants, evaluators) in the experiment's body.
pub(crate) async fn run_with(
    ctx: &Ctx<'_>,
    s: &Setup,
    cells: usize,
    conc: usize,
    extra: Value,
) -> Result<(String, Finished)> {
    let t0 = Instant::now();
    let mut body =
        json!({ "promptId": s.prompt, "datasetId": s.dataset, "repeats": 1, "concurrency": conc });
    if let (Some(body), Value::Object(extra)) = (body.as_object_mut(), extra) {
        body.extend(extra);
    }
    let e = api(ctx, &ctx.base, "/api/experiments", body).await?;
    let created = t0.elapsed();
    let id = e["data"]["id"]
        .as_str()
        .context("no experiment id")?
        .to_owned();
    let limit = Duration::from_secs_f64((cells as f64 * CALL_MS / 1000.0).max(60.0) * 3.0);
    loop {
        let e = get(ctx, &format!("/api/experiments/{id}")).await?;
        let status = e["data"]["status"].as_str().unwrap_or_default().to_owned();
        if matches!(status.as_str(), "succeeded" | "failed" | "cancelled") {
            let wall = t0.elapsed();
            let succeeded = e["data"]["progress"]["succeeded"].as_u64().unwrap_or(0);
            return Ok((
                id,
                Finished {
                    cells,
                    wall,
                    status,
                    succeeded,
                    created,
                    engine: between(&e["data"], "startedAt", "finishedAt"),
                },
            ));
        }
        ensure!(
            t0.elapsed() < limit,
            "experiment not ended after {limit:?}: {e}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Every run of the experiment through the run list.
async fn runs_of(ctx: &Ctx<'_>, prompt: &str, id: &str) -> Result<Vec<Value>> {
    let mut all = vec![];
    let mut cursor: Option<String> = None;
    loop {
        let mut path = format!("/api/test-runs?promptId={prompt}&experimentId={id}&limit=100");
        if let Some(c) = &cursor {
            path.push_str(&format!("&cursor={c}"));
        }
        let page = get(ctx, &path).await?;
        let items = page["data"]["items"].as_array().context("no items")?;
        all.extend(items.iter().cloned());
        match page["data"]["nextCursor"].as_str() {
            Some(c) => cursor = Some(c.to_owned()),
            None => return Ok(all),
        }
    }
}

/// Succeeded runs per (itemId, variant, repeat): (cells seen, cells run more than once).
fn cells_twice(runs: &[Value]) -> (usize, usize) {
    let mut per: HashMap<(String, i64, i64), usize> = HashMap::new();
    for r in runs.iter().filter(|r| r["status"] == "succeeded") {
        let key = (
            r["itemId"].as_str().unwrap_or_default().to_owned(),
            r["variant"].as_i64().unwrap_or(-1),
            r["repeat"].as_i64().unwrap_or(-1),
        );
        *per.entry(key).or_default() += 1;
    }
    (per.len(), per.values().filter(|&&n| n > 1).count())
}

fn p50(mut v: Vec<f64>) -> f64 {
    if v.is_empty() {
        return f64::NAN;
    }
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

/// The mock alone, streamed as the engine asks: p50 of `MODEL` at c=1 (what a cell's call costs), and its
/// throughput at `conc` (it must not be the limit of E2).
async fn mock_alone(ctx: &Ctx<'_>, mock_base: &str, conc: usize) -> (load::Stats, load::Stats) {
    let body = json!({ "model": MODEL, "stream": true,
                       "messages": [{ "role": "user", "content": "number 1?" }] });
    let url = format!("{mock_base}/chat/completions");
    let ok: fn(StatusCode, &[u8]) -> bool = |s, b| s == StatusCode::OK && !b.is_empty();
    let one = load::drive(
        ctx.plan.load(1),
        post(&ctx.http, url.clone(), None, body.clone(), ok),
    )
    .await;
    let many = load::drive(ctx.plan.load(conc), post(&ctx.http, url, None, body, ok)).await;
    (one, many)
}

/// E1; returns the finished experiment for E2's one-server baseline.
pub(crate) async fn e1(
    ctx: &Ctx<'_>,
    mock_base: &str,
    server_pid: u32,
    rows: &mut Vec<Row>,
) -> Result<Finished> {
    let n = ctx.plan.exp_cells;
    let conc = PER_PROCESS;
    let (direct, _) = mock_alone(ctx, mock_base, 1).await;
    let s = setup(ctx, "bench-e1", n).await?;
    let reset = procs::reset_peak_rss(server_pid);
    let before = procs::proc_kib(server_pid, "VmRSS").unwrap_or(0);
    let (id, f) = run(ctx, &s, n, conc).await?;
    let peak = procs::proc_kib(server_pid, "VmHWM").context("no VmHWM for the server")?;
    let db = ctx.db;
    let ideal = n as f64 * CALL_MS / 1000.0 / conc as f64;
    let secs = f.wall.as_secs_f64();
    let ratio = ideal / secs;
    let all_ok = f.status == "succeeded" && f.succeeded == n as u64;
    rows.push(
        Row::new(
            "E1",
            format!(
                "experiment of {} cells, mock ~50 ms/call, concurrency {conc}",
                size(n)
            ),
            db,
        )
        .measured(format!(
            "{secs:.2} s wall ({}), {}/{n} succeeded ({})",
            f.breakdown(),
            f.succeeded,
            f.status
        ))
        .baseline(format!(
            "ideal {ideal:.2} s: ideal/actual {:.0} %",
            ratio * 100.0
        ))
        .target("ideal/actual ≥ 85 %", Verdict::of(all_ok && ratio >= 0.85)),
    );
    let peak_mb = peak as f64 / 1024.0;
    rows.push(
        Row::new(
            "E1",
            format!("server peak RSS during the {}-cell experiment", size(n)),
            db,
        )
        .measured(format!(
            "{peak_mb:.1} MB (VmHWM{})",
            if reset {
                " reset before"
            } else {
                ", lifetime: not reset"
            }
        ))
        .baseline(format!("RSS before {:.1} MB", before as f64 / 1024.0))
        .target("≤ 150 MB", Verdict::of(peak_mb <= 150.0)),
    );
    let runs = runs_of(ctx, &s.prompt, &id).await?;
    let lat: Vec<f64> = runs
        .iter()
        .filter_map(|r| r["latencyMs"].as_f64())
        .collect();
    let lat_p50 = p50(lat);
    let call = direct.p50_ms();
    // Each of `conc` slots holds a cell for wall × conc / n on average.
    let slot = secs * 1000.0 * conc as f64 / n as f64;
    rows.push(
        Row::new(
            "E1",
            "per-cell engine overhead (run latencyMs p50 and mean slot time, vs the mock alone)",
            db,
        )
        .measured(format!(
            "run latencyMs p50 {} ({} runs listed); mean slot time per cell {}",
            fmt_ms(lat_p50),
            runs.len(),
            fmt_ms(slot)
        ))
        .baseline(format!(
            "mock alone p50 {}: +{} in the run, +{} per slot",
            fmt_ms(call),
            fmt_ms(lat_p50 - call),
            fmt_ms(slot - call)
        ))
        .target("reported", Verdict::NotApplicable),
    );
    Ok(f)
}

/// E2: a second server on the same PostgreSQL; the experiment at 128 across both.
pub(crate) async fn e2(
    ctx: &Ctx<'_>,
    spec: &ServerSpec,
    mock_base: &str,
    one: &Finished,
    rows: &mut Vec<Row>,
) -> Result<()> {
    let n = one.cells;
    let conc = 2 * PER_PROCESS;
    let (_, mock_many) = mock_alone(ctx, mock_base, conc).await;
    let need = conc as f64 * 1000.0 / CALL_MS;
    rows.push(
        Row::new(
            "E2",
            format!("the mock alone at c={conc} ({MODEL})"),
            ctx.db,
        )
        .measured(format!(
            "{:.0} calls/s, p50 {}, {} errors",
            mock_many.rps(),
            fmt_ms(mock_many.p50_ms()),
            mock_many.errors
        ))
        .baseline(format!("two replicas need ≤ {need:.0} calls/s"))
        .target(
            "mock not the limit (≥ 90 % of need)",
            Verdict::of(mock_many.rps() >= 0.9 * need),
        ),
    );
    let s = setup(ctx, "bench-e2", n).await?;
    let (second, _) = procs::start_server(spec, &ctx.http).await?;
    let result = run(ctx, &s, n, conc).await;
    second.stop().await;
    let (id, two) = result?;
    let runs = runs_of(ctx, &s.prompt, &id).await?;
    let (seen, twice) = cells_twice(&runs);
    let ratio = one.wall.as_secs_f64() / two.wall.as_secs_f64();
    let all_ok = two.status == "succeeded" && two.succeeded == n as u64;
    rows.push(
        Row::new("E2", format!("{}-cell experiment on two servers (c={conc}, {PER_PROCESS} in flight each) vs one (c={PER_PROCESS})", size(n)), ctx.db)
            .measured(format!(
                "{:.2} s wall, {:.0} cells/s, {}/{n} succeeded ({})",
                two.wall.as_secs_f64(),
                n as f64 / two.wall.as_secs_f64(),
                two.succeeded,
                two.status
            ))
            .baseline(format!(
                "one server (E1) {:.2} s, {:.0} cells/s: {ratio:.2}×",
                one.wall.as_secs_f64(),
                n as f64 / one.wall.as_secs_f64()
            ))
            .target("≥ 1.7×", Verdict::of(all_ok && ratio >= 1.7)),
    );
    let exact = seen == n && twice == 0 && runs.len() == n;
    rows.push(
        Row::new(
            "E2",
            "no cell ran twice on two servers (succeeded runs per item × variant × repeat)",
            ctx.db,
        )
        .measured(format!(
            "{} runs listed, {seen}/{n} cells succeeded, {twice} cells twice",
            runs.len()
        ))
        .target("every cell exactly once", Verdict::of(exact)),
    );
    Ok(())
}
