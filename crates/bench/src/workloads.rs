//! One database's run: create a scratch database, seed it, start the real
//! server on it, run B0–B10 and E1 (E2 on PostgreSQL) in order, and clean up whatever happens.

use std::path::Path;
use std::time::Duration;

use anyhow::{Context, Result};
use promptrefine_core::PromptId;
use promptrefine_store::Store;
use promptrefine_testkit::TestDb;
use reqwest::header::HeaderValue;

use crate::load::Stats;
use crate::plan::{Plan, size};
use crate::procs::{self, ServerSpec};
use crate::report::{Row, Verdict};
use crate::{llm_runs, reads, seed, writes};

/// What every workload needs.
pub(crate) struct Ctx<'a> {
    pub plan: &'a Plan,
    pub db: &'static str,
    pub http: reqwest::Client,
    pub base: String,
    /// `Bearer pr_…`
    pub auth: HeaderValue,
    /// The bench's own connection to the server's database (seeding, checks, B3's baseline).
    pub store: Store,
}

/// The prompts seeded for the workloads.
pub(crate) struct Seeded {
    pub read_prompt: PromptId,
    pub read_slug: String,
    pub save_prompt: PromptId,
    pub raw_prompt: PromptId,
    pub conc_prompt: PromptId,
    pub runs_small: PromptId,
    pub runs_large: PromptId,
    pub b6_prompt: PromptId,
    pub b7_prompt: PromptId,
}

pub(crate) fn fmt_ms(ms: f64) -> String {
    if ms < 10.0 {
        format!("{ms:.2} ms")
    } else {
        format!("{ms:.1} ms")
    }
}

pub(crate) fn fmt_rps(s: &Stats) -> String {
    format!("{:.0} req/s", s.rps())
}

/// `1234 req/s, p50 0.40 ms, p99 1.20 ms` (+ errors when any).
pub(crate) fn throughput(s: &Stats) -> String {
    let mut t = format!(
        "{}, p50 {}, p99 {}",
        fmt_rps(s),
        fmt_ms(s.p50_ms()),
        fmt_ms(s.p99_ms())
    );
    if s.errors > 0 {
        t.push_str(&format!(", {} errors", s.errors));
    }
    t
}

/// A scratch database from the testkit (the tests' own `TestDb`): a SQLite
/// file under `workdir`, or a new PostgreSQL database dropped at the end.
async fn scratch_db(kind: &str, workdir: &Path) -> Result<TestDb> {
    if kind == "sqlite" {
        return TestDb::sqlite_in(workdir).context("cannot create a SQLite scratch folder");
    }
    TestDb::try_postgres()
        .await
        .map_err(|why| anyhow::anyhow!("{why} (set PROMPTREFINE_TEST_DATABASE_URL)"))
}

/// Every row of one database; a workload that fails becomes a MISSED row
/// saying why, and the others still run.
pub(crate) async fn run_db(
    plan: &Plan,
    kind: &'static str,
    bin: &Path,
    workdir: &Path,
    mock_base: &str,
) -> Result<Vec<Row>> {
    let scratch = scratch_db(kind, workdir).await?;
    let result = run_on(plan, kind, bin, workdir, mock_base, scratch.url()).await;
    drop(scratch);
    result
}

async fn seed_all(plan: &Plan, store: &Store) -> Result<Seeded> {
    let (read_prompt, _) = seed::prompt(store, "bench-read").await?;
    let (save_prompt, _) = seed::prompt(store, "bench-save").await?;
    let (raw_prompt, _) = seed::prompt(store, "bench-raw").await?;
    let (conc_prompt, _) = seed::prompt(store, "bench-concurrent").await?;
    let (runs_small, v_small) = seed::prompt(store, "bench-runs-small").await?;
    let (runs_large, v_large) = seed::prompt(store, "bench-runs-large").await?;
    let (b6_prompt, _) = seed::prompt(store, "bench-b6").await?;
    let (b7_prompt, _) = seed::prompt(store, "bench-b7").await?;
    seed::bulk_runs(store, runs_small, v_small, plan.runs_small).await?;
    seed::bulk_runs(store, runs_large, v_large, plan.runs_large).await?;
    // The eight prompts above count towards the small size.
    seed::bulk_prompts(store, 0, plan.prompts_small.saturating_sub(8)).await?;
    seed::analyze(store).await?;
    Ok(Seeded {
        read_prompt,
        read_slug: "bench-read".into(),
        save_prompt,
        raw_prompt,
        conc_prompt,
        runs_small,
        runs_large,
        b6_prompt,
        b7_prompt,
    })
}

async fn run_on(
    plan: &Plan,
    kind: &'static str,
    bin: &Path,
    workdir: &Path,
    mock_base: &str,
    url: &str,
) -> Result<Vec<Row>> {
    let store = seed::open(url).await?;
    let t = std::time::Instant::now();
    let seeded = if plan.experiments_only {
        None
    } else {
        let seeded = seed_all(plan, &store).await?;
        eprintln!(
            "bench: {kind}: seeded {} + {} runs and {} prompts in {:.1} s",
            size(plan.runs_small),
            size(plan.runs_large),
            size(plan.prompts_small),
            t.elapsed().as_secs_f64()
        );
        Some(seeded)
    };
    let spec = ServerSpec {
        bin: bin.to_path_buf(),
        database_url: url.to_owned(),
        mock_base: mock_base.to_owned(),
        workdir: workdir.to_path_buf(),
        runs_max_in_flight: plan.b7_runs + 64,
        experiments_max_in_flight: crate::experiments::PER_PROCESS,
    };
    let http = reqwest::Client::builder()
        .timeout(Duration::from_secs(60))
        .build()?;
    let (server, _first_start) = procs::start_server(&spec, &http).await?;
    let token = procs::api_token(&http, &server.base).await?;
    let ctx = Ctx {
        plan,
        db: kind,
        http,
        base: server.base.clone(),
        auth: HeaderValue::from_str(&format!("Bearer {token}"))?,
        store,
    };
    let pid = server.pid();
    eprintln!("bench: {kind}: server pid {pid} at {}", server.base);
    let mut rows = Vec::new();
    if let Some(seeded) = &seeded {
        b_rows(&ctx, seeded, mock_base, pid, &mut rows).await;
        if kind == "postgres" {
            let r = crate::delivery::b11(&ctx, &spec, &mut rows).await;
            failed(&mut rows, r, "B11", "B11 staleness across replicas", kind);
        }
        let r = crate::delivery::b12(&ctx, pid, &mut rows).await;
        failed(&mut rows, r, "B12", "B12 idle watchers", kind);
    }
    match crate::experiments::e1(&ctx, mock_base, pid, &mut rows).await {
        Ok(one) if kind == "postgres" => {
            let r = crate::experiments::e2(&ctx, &spec, mock_base, &one, &mut rows).await;
            failed(&mut rows, r, "E2", "E2 two replicas", kind);
        }
        Ok(_) => {}
        Err(e) => failed(&mut rows, Err(e), "E1", "E1 experiment", kind),
    }
    server.stop().await;
    if seeded.is_some() {
        let r = b8(&ctx, &spec, &mut rows).await;
        failed(&mut rows, r, "B8", "B8 process figures", kind);
    }
    ctx.store.close().await;
    Ok(rows)
}

/// B0–B7 on the running server (B8 restarts it, after E1/E2).
async fn b_rows(ctx: &Ctx<'_>, seeded: &Seeded, mock_base: &str, pid: u32, rows: &mut Vec<Row>) {
    let kind = ctx.db;
    let r = reads::b0_b1_b2(ctx, seeded, rows).await;
    failed(rows, r, "B1", "B0–B2 reads", kind);
    let r = writes::b3_b4(ctx, seeded, rows).await;
    failed(rows, r, "B3", "B3–B4 saves", kind);
    let r = reads::b5(ctx, seeded, rows).await;
    failed(rows, r, "B5", "B5 lists", kind);
    let r = crate::pages::b9(ctx, seeded, rows).await;
    failed(rows, r, "B9", "B9 pages", kind);
    let r = crate::pages::b9_results(ctx, rows).await;
    failed(rows, r, "B9", "B9 results pages", kind);
    let r = crate::datasets::b10(ctx, rows).await;
    failed(rows, r, "B10", "B10 dataset import", kind);
    let r = llm_runs::b6(ctx, mock_base, seeded, rows).await;
    failed(rows, r, "B6", "B6 run overhead", kind);
    let r = llm_runs::b7(ctx, pid, seeded, rows).await;
    failed(rows, r, "B7", "B7 concurrent streams", kind);
}

fn failed(rows: &mut Vec<Row>, r: Result<()>, id: &'static str, what: &str, db: &'static str) {
    if let Err(e) = r {
        eprintln!("bench: {db}: {what} failed: {e:#}");
        rows.push(Row::failed(id, what, db, &format!("{e:#}")));
    }
}

/// B8: a restart on the now well-filled database, idle memory, binary size.
async fn b8(ctx: &Ctx<'_>, spec: &ServerSpec, rows: &mut Vec<Row>) -> Result<()> {
    let (server, ready) = procs::start_server(spec, &ctx.http).await?;
    // Let start-up work (pools, first queries) settle before reading RSS.
    let settle = Duration::from_millis(if ctx.plan.mode == crate::plan::Mode::Smoke {
        200
    } else {
        1_000
    });
    tokio::time::sleep(settle).await;
    let rss = procs::proc_kib(server.pid(), "VmRSS").context("no VmRSS for the server")?;
    // What a server that people use sits at: a few sign-ins (argon2id takes
    // 19 MiB each time) and API-token requests, then quiet again.
    signed_in_use(ctx, &server.base).await?;
    tokio::time::sleep(settle).await;
    let used = procs::proc_kib(server.pid(), "VmRSS").context("no VmRSS for the server")?;
    server.stop().await;
    let db = ctx.db;
    let rss_mb = rss as f64 / 1024.0;
    rows.push(
        Row::new("B8", "idle RSS after start", db)
            .measured(format!("{rss_mb:.1} MB"))
            .target("≤ 30 MB", Verdict::of(rss_mb <= 30.0)),
    );
    let used_mb = used as f64 / 1024.0;
    rows.push(
        Row::new("B8", "idle RSS after 5 logins and 50 token requests", db)
            .measured(format!("{used_mb:.1} MB"))
            .target("≤ 22 MB", Verdict::of(used_mb <= 22.0)),
    );
    let ms = ready.as_secs_f64() * 1000.0;
    rows.push(
        Row::new("B8", "start to ready (/readyz) on an existing database", db)
            .measured(format!("{ms:.0} ms"))
            .target("≤ 300 ms", Verdict::of(ms <= 300.0)),
    );
    let bytes = std::fs::metadata(&spec.bin)?.len();
    rows.push(
        Row::new("B8", "server binary size", db)
            .measured(format!(
                "{:.1} MB ({})",
                bytes as f64 / 1_048_576.0,
                binary_kind(&spec.bin)
            ))
            .target("reported", Verdict::NotApplicable),
    );
    Ok(())
}

/// Five sign-ins (the last one makes a token) and fifty requests with it.
async fn signed_in_use(ctx: &Ctx<'_>, base: &str) -> Result<()> {
    for _ in 0..4 {
        procs::session_cookie(&ctx.http, base).await?;
    }
    let token = procs::api_token(&ctx.http, base).await?;
    for _ in 0..50 {
        let res = ctx
            .http
            .get(format!("{base}/api/prompts?limit=20"))
            .bearer_auth(&token)
            .send()
            .await?;
        anyhow::ensure!(res.status().is_success(), "token request: {}", res.status());
        res.bytes().await?;
    }
    Ok(())
}

fn binary_kind(bin: &Path) -> &'static str {
    let s = bin.to_string_lossy();
    if s.contains("/release/") {
        "release"
    } else if s.contains("/debug/") {
        "debug"
    } else {
        "as given"
    }
}
