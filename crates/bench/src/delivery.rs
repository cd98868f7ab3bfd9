//! B11 and B12: how fresh and how cheap delivery is.
//!
//! - B11 (PostgreSQL): two replicas of one database; a label moved through
//!   one, the other's `by-slug` answers read in a tight loop until they show
//!   the move. The staleness of a move is the time from the write's answer to
//!   the first answer of the other replica that has it.
//! - B12: thousands of idle `watch` streams on one server: the server's RSS
//!   before and after they connect, and the time from a label move until
//!   every stream has its event.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail, ensure};
use promptrefine_core::{Content, ModelSettings, PromptId, VersionId};
use promptrefine_store::NewVersion;
use tokio::sync::Notify;

use crate::plan::Mode;
use crate::procs::{self, ServerSpec};
use crate::report::{Row, Verdict};
use crate::workloads::{Ctx, fmt_ms};

/// A prompt with two versions, `production` on version 1.
async fn two_versions(ctx: &Ctx<'_>, slug: &str) -> Result<(PromptId, [VersionId; 2])> {
    let (prompt, v1) = crate::seed::prompt(&ctx.store, slug).await?;
    let v2 = ctx
        .store
        .versions()
        .save(
            prompt,
            NewVersion {
                content: Content::Text(crate::seed::body_text(2)),
                settings: ModelSettings::default(),
                variables: vec![],
                note: Some("second".into()),
                author_id: None,
            },
        )
        .await?;
    Ok((prompt, [v1, v2.id]))
}

/// Points `production` at `version` through the server at `base`.
async fn move_label(ctx: &Ctx<'_>, base: &str, prompt: PromptId, version: VersionId) -> Result<()> {
    let res = ctx
        .http
        .put(format!("{base}/api/prompts/{prompt}/labels/production"))
        .header(reqwest::header::AUTHORIZATION, ctx.auth.clone())
        .json(&serde_json::json!({ "versionId": version }))
        .send()
        .await?;
    ensure!(
        res.status().is_success(),
        "moving the label: {}",
        res.status()
    );
    res.bytes().await?;
    Ok(())
}

/// The version id `production` resolves to on the server at `url`.
async fn resolved(ctx: &Ctx<'_>, url: &str) -> Result<String> {
    let res = ctx
        .http
        .get(url)
        .header(reqwest::header::AUTHORIZATION, ctx.auth.clone())
        .send()
        .await?;
    ensure!(res.status().is_success(), "by-slug: {}", res.status());
    let body: serde_json::Value = res.json().await?;
    body["data"]["version"]["id"]
        .as_str()
        .map(str::to_owned)
        .context("no version id in the by-slug answer")
}

/// B11: staleness of a label move seen from the other replica.
pub(crate) async fn b11(ctx: &Ctx<'_>, spec: &ServerSpec, rows: &mut Vec<Row>) -> Result<()> {
    let moves = if ctx.plan.mode == Mode::Smoke { 5 } else { 200 };
    let (prompt, versions) = two_versions(ctx, "bench-stale").await?;
    let (other, _) = procs::start_server(spec, &ctx.http).await?;
    let result = staleness(ctx, &other.base, prompt, versions, moves).await;
    other.stop().await;
    let mut took = result?;
    took.sort_by(f64::total_cmp);
    let p50 = took[took.len() / 2];
    let p99 = took[(took.len() * 99).div_ceil(100) - 1];
    let max = took[took.len() - 1];
    rows.push(
        Row::new(
            "B11",
            format!("label moved on one replica, read on the other ({moves} moves)"),
            ctx.db,
        )
        .measured(format!(
            "staleness p50 {}, p99 {}, max {}",
            fmt_ms(p50),
            fmt_ms(p99),
            fmt_ms(max)
        ))
        .target("p99 ≤ 50 ms", Verdict::of(p99 <= 50.0)),
    );
    Ok(())
}

/// Milliseconds from each move's answer to the other replica's first
/// answer that has it.
async fn staleness(
    ctx: &Ctx<'_>,
    other: &str,
    prompt: PromptId,
    versions: [VersionId; 2],
    moves: usize,
) -> Result<Vec<f64>> {
    let url = format!("{other}/api/prompts/by-slug/bench-stale?label=production");
    // Both replicas have served the label before the first move, so the
    // other one answers from its cache: a stale answer is possible.
    ensure!(resolved(ctx, &url).await? == versions[0].to_string());
    let mut took = Vec::with_capacity(moves);
    for i in 0..moves {
        let target = versions[(i + 1) % 2];
        move_label(ctx, &ctx.base, prompt, target).await?;
        let acked = Instant::now();
        let want = target.to_string();
        loop {
            let seen = resolved(ctx, &url).await?;
            if seen == want {
                break;
            }
            if acked.elapsed() > Duration::from_secs(10) {
                bail!("the other replica still served the old version after 10 s");
            }
        }
        took.push(acked.elapsed().as_secs_f64() * 1000.0);
        // Moves a little apart, as people make them.
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    Ok(took)
}

/// B12: idle watchers' memory, and one move reaching all of them.
pub(crate) async fn b12(ctx: &Ctx<'_>, pid: u32, rows: &mut Vec<Row>) -> Result<()> {
    let n = if ctx.plan.mode == Mode::Smoke {
        100
    } else {
        10_000
    };
    let (prompt, versions) = two_versions(ctx, "bench-watch").await?;
    let url = format!(
        "{}/api/prompts/by-slug/bench-watch/watch?label=production",
        ctx.base
    );
    // Streams hold one connection each; a client of its own keeps them out
    // of the shared pool.
    let http = reqwest::Client::builder()
        .timeout(Duration::from_secs(120))
        .build()?;
    tokio::time::sleep(Duration::from_millis(500)).await;
    let before = procs::proc_kib(pid, "VmRSS").context("no VmRSS")?;
    let watchers = Watchers::default();
    let opening = Arc::new(tokio::sync::Semaphore::new(64));
    let mut tasks = tokio::task::JoinSet::new();
    for _ in 0..n {
        let (http, url, auth, w, opening) = (
            http.clone(),
            url.clone(),
            ctx.auth.clone(),
            watchers.clone(),
            opening.clone(),
        );
        tasks.spawn(async move { watch_one(&http, &url, auth, &w, &opening).await });
    }
    let connected = watchers
        .wait(&watchers.connected, n, Duration::from_secs(120))
        .await;
    if let Some(e) = first_error(&mut tasks) {
        bail!("a watcher failed: {e:#}");
    }
    ensure!(
        connected,
        "only {} of {n} watchers connected",
        watchers.count(&watchers.connected)
    );
    tokio::time::sleep(Duration::from_secs(1)).await;
    let after = procs::proc_kib(pid, "VmRSS").context("no VmRSS")?;
    let moved = Instant::now();
    move_label(ctx, &ctx.base, prompt, versions[1]).await?;
    let told = watchers
        .wait(&watchers.told, n, Duration::from_secs(30))
        .await;
    let reach = moved.elapsed().as_secs_f64() * 1000.0;
    let got = watchers.count(&watchers.told);
    tasks.abort_all();
    while tasks.join_next().await.is_some() {}
    let extra_mb = (after.saturating_sub(before)) as f64 / 1024.0;
    rows.push(
        Row::new("B12", format!("{n} idle watch streams"), ctx.db)
            .measured(format!(
                "{extra_mb:.1} MB extra server RSS ({:.1} KB each)",
                (after.saturating_sub(before)) as f64 / n as f64
            ))
            .baseline(format!("{:.1} MB before", before as f64 / 1024.0))
            .target("≤ 100 MB", Verdict::of(extra_mb <= 100.0)),
    );
    rows.push(
        Row::new("B12", format!("a label move reaching {n} watchers"), ctx.db)
            .measured(format!("{got}/{n} told in {}", fmt_ms(reach)))
            .target("all in ≤ 1 s", Verdict::of(told && reach <= 1000.0)),
    );
    Ok(())
}

/// Counters the watcher tasks move, and a wake-up for whoever waits on them.
#[derive(Clone, Default)]
struct Watchers {
    connected: Arc<AtomicUsize>,
    told: Arc<AtomicUsize>,
    changed: Arc<Notify>,
}

impl Watchers {
    fn bump(&self, counter: &AtomicUsize) {
        counter.fetch_add(1, Ordering::SeqCst);
        self.changed.notify_waiters();
    }

    fn count(&self, counter: &AtomicUsize) -> usize {
        counter.load(Ordering::SeqCst)
    }

    /// Whether `counter` reached `n` within `limit`.
    async fn wait(&self, counter: &AtomicUsize, n: usize, limit: Duration) -> bool {
        let deadline = tokio::time::Instant::now() + limit;
        loop {
            let woken = self.changed.notified();
            if self.count(counter) >= n {
                return true;
            }
            // Woken by a bump, or checked again every 100 ms (a failed
            // watcher bumps nothing).
            let tick = tokio::time::sleep(Duration::from_millis(100));
            tokio::select! {
                _ = woken => {}
                _ = tick => {}
            }
            if tokio::time::Instant::now() >= deadline {
                return self.count(counter) >= n;
            }
        }
    }
}

/// One watcher: connects (at most 64 opening at once), counts its first
/// event as connected and its second as told, then idles until aborted.
async fn watch_one(
    http: &reqwest::Client,
    url: &str,
    auth: reqwest::header::HeaderValue,
    w: &Watchers,
    opening: &tokio::sync::Semaphore,
) -> Result<()> {
    let permit = opening.acquire().await?;
    let mut res = http
        .get(url)
        .header(reqwest::header::AUTHORIZATION, auth)
        .send()
        .await?;
    drop(permit);
    ensure!(res.status().is_success(), "watch: {}", res.status());
    let mut events = 0;
    let mut text = String::new();
    while let Some(chunk) = res.chunk().await? {
        text.push_str(&String::from_utf8_lossy(&chunk));
        // Events end with a blank line; count the whole ones and keep the rest.
        while let Some(end) = text.find("\n\n") {
            let block: String = text.drain(..end + 2).collect();
            if block.lines().any(|l| l == "event: prompt") {
                events += 1;
                match events {
                    1 => w.bump(&w.connected),
                    2 => w.bump(&w.told),
                    _ => {}
                }
            }
        }
    }
    bail!("the watch stream ended")
}

fn first_error(tasks: &mut tokio::task::JoinSet<Result<()>>) -> Option<anyhow::Error> {
    while let Some(done) = tasks.try_join_next() {
        match done {
            Ok(Err(e)) => return Some(e),
            Err(e) if e.is_panic() => return Some(anyhow::anyhow!("a watcher panicked")),
            _ => {}
        }
    }
    None
}
