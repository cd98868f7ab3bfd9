//! B6 and B7: test runs through the server against the mock upstream.

use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::load::{self, Stats, shot};
use crate::procs;
use crate::report::{Row, Verdict};
use crate::seed;
use crate::workloads::{Ctx, Seeded, fmt_ms};

fn variables() -> Value {
    json!({
        "company": "Acme",
        "language": "English",
        "question": "Where is my parcel? It was due on Monday.",
        "context": "Parcels ship within two days; delays are refunded as store credit."
    })
}

/// A stored run must say `succeeded`; a stream must end with `done` and no `error`.
fn run_ok(stream: bool, status: StatusCode, body: &[u8]) -> bool {
    let text = String::from_utf8_lossy(body);
    if stream {
        status == StatusCode::OK && text.contains("event: done") && !text.contains("event: error")
    } else {
        status == StatusCode::CREATED && text.contains(r#""status":"succeeded""#)
    }
}

pub(crate) fn post(
    http: &reqwest::Client,
    url: String,
    auth: Option<reqwest::header::HeaderValue>,
    body: Value,
    check: fn(StatusCode, &[u8]) -> bool,
) -> load::Shot {
    let http = http.clone();
    shot(move |_| {
        let mut req = http.post(&url).json(&body);
        if let Some(a) = &auth {
            req = req.header(reqwest::header::AUTHORIZATION, a.clone());
        }
        let fut = req.send();
        async move {
            match fut.await {
                Ok(r) => {
                    let status = r.status();
                    r.bytes().await.is_ok_and(|b| check(status, &b))
                }
                Err(_) => false,
            }
        }
    })
}

pub(crate) async fn b6(
    ctx: &Ctx<'_>,
    mock_base: &str,
    seeded: &Seeded,
    rows: &mut Vec<Row>,
) -> Result<()> {
    let runs_url = format!("{}/api/test-runs", ctx.base);
    let run_body = |stream: bool| json!({ "promptId": seeded.b6_prompt, "model": "mock-echo", "stream": stream, "variables": variables() });
    // The messages the server sends upstream, so the direct request is the same one.
    let first: Value = ctx
        .http
        .post(&runs_url)
        .header(reqwest::header::AUTHORIZATION, ctx.auth.clone())
        .json(&run_body(false))
        .send()
        .await?
        .json()
        .await?;
    let input = first["data"]["input"].clone();
    anyhow::ensure!(input.is_array(), "the first B6 run has no input: {first}");
    let direct_body = |stream: bool| {
        let mut b = json!({ "model": "mock-echo", "messages": input, "temperature": 0.2, "max_tokens": 256 });
        if stream {
            b["stream"] = json!(true);
            b["stream_options"] = json!({ "include_usage": true });
        }
        b
    };
    let chat = format!("{mock_base}/chat/completions");
    for stream in [false, true] {
        let direct = load::drive(
            ctx.plan.load(1),
            post(
                &ctx.http,
                chat.clone(),
                None,
                direct_body(stream),
                |s, b| s == StatusCode::OK && !b.is_empty(),
            ),
        )
        .await;
        let check: fn(StatusCode, &[u8]) -> bool = if stream {
            |s, b| run_ok(true, s, b)
        } else {
            |s, b| run_ok(false, s, b)
        };
        let via = load::drive(
            ctx.plan.load(1),
            post(
                &ctx.http,
                runs_url.clone(),
                Some(ctx.auth.clone()),
                run_body(stream),
                check,
            ),
        )
        .await;
        rows.push(b6_row(ctx.db, stream, &via, &direct));
    }
    Ok(())
}

fn b6_row(db: &'static str, stream: bool, via: &Stats, direct: &Stats) -> Row {
    let added = via.p50_ms() - direct.p50_ms();
    let kind = if stream { "streaming" } else { "non-streaming" };
    Row::new(
        "B6",
        format!("test run via server vs straight to mock, {kind}, c=1"),
        db,
    )
    .measured(format!(
        "p50 {} via server ({} runs, {} failed)",
        fmt_ms(via.p50_ms()),
        via.ok,
        via.errors
    ))
    .baseline(format!(
        "direct p50 {}: +{}",
        fmt_ms(direct.p50_ms()),
        fmt_ms(added)
    ))
    .target(
        "≤ 2 ms added at p50",
        Verdict::of(via.errors == 0 && via.ok > 0 && direct.ok > 0 && added <= 2.0),
    )
}

pub(crate) async fn b7(
    ctx: &Ctx<'_>,
    server_pid: u32,
    seeded: &Seeded,
    rows: &mut Vec<Row>,
) -> Result<()> {
    let plan = ctx.plan;
    let n = plan.b7_runs;
    let model = plan.b7_model();
    let reset = procs::reset_peak_rss(server_pid);
    let before = procs::proc_kib(server_pid, "VmRSS").unwrap_or(0);
    // Its own pool: one connection per run.
    let http = reqwest::Client::builder()
        .timeout(Duration::from_secs(300))
        .build()?;
    let url = format!("{}/api/test-runs", ctx.base);
    let t0 = Instant::now();
    let mut tasks = Vec::with_capacity(n);
    for _ in 0..n {
        let req = http
            .post(&url)
            .header(reqwest::header::AUTHORIZATION, ctx.auth.clone())
            .json(&json!({ "promptId": seeded.b7_prompt, "model": model, "stream": true, "variables": variables() }))
            .send();
        tasks.push(tokio::spawn(async move {
            match req.await {
                Ok(r) => {
                    let status = r.status();
                    r.bytes().await.is_ok_and(|b| run_ok(true, status, &b))
                }
                Err(_) => false,
            }
        }));
    }
    let mut ok = 0;
    for t in tasks {
        if t.await.unwrap_or(false) {
            ok += 1;
        }
    }
    let wall = t0.elapsed();
    let peak = procs::proc_kib(server_pid, "VmHWM").context("no VmHWM for the server")?;
    seed::wait_runs_settled(&ctx.store, seeded.b7_prompt, Duration::from_secs(30)).await?;
    let stored = seed::count_runs(&ctx.store, seeded.b7_prompt, "succeeded").await?;
    let peak_mb = peak as f64 / 1024.0;
    let met = ok == n && stored == n as i64 && peak_mb <= 150.0;
    rows.push(
        Row::new(
            "B7",
            format!(
                "{n} concurrent streaming runs, {} tokens × {} ms",
                plan.b7_tokens, plan.b7_interval_ms
            ),
            ctx.db,
        )
        .measured(format!(
            "{ok}/{n} streams complete, {stored} stored succeeded, in {:.1} s; server peak RSS {peak_mb:.1} MB",
            wall.as_secs_f64()
        ))
        .baseline(format!(
            "RSS before {:.1} MB{}",
            before as f64 / 1024.0,
            if reset { "" } else { " (peak not reset: lifetime peak)" }
        ))
        .target("all succeed and stored; peak RSS ≤ 150 MB", Verdict::of(met)),
    );
    Ok(())
}
