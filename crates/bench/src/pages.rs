//! B9: the HTML pages. Issue 6 asks that every page renders in under 50 ms
//! of server time with 1,000 prompts and 10,000 runs; by the time B9 runs the
//! database holds more than that (B5 grew the prompts list, and one prompt
//! has `runs_small` runs). Measured end to end on loopback at c=1, so the
//! figure is an upper bound of the server's own time.

use anyhow::Result;
use reqwest::StatusCode;
use reqwest::header::{COOKIE, HeaderValue};

use serde_json::json;

use crate::experiments;
use crate::load::{self, shot};
use crate::plan::{Mode, size};
use crate::procs;
use crate::report::{Row, Verdict};
use crate::workloads::{Ctx, Seeded, fmt_ms};

pub(crate) async fn b9(ctx: &Ctx<'_>, seeded: &Seeded, rows: &mut Vec<Row>) -> Result<()> {
    let cookie = HeaderValue::from_str(&procs::session_cookie(&ctx.http, &ctx.base).await?)?;
    let prompts = ctx.store.prompts().count().await?;
    let runs = ctx.plan.runs_small;
    let pages = [
        (
            format!("prompts list /app ({} prompts)", size(prompts as usize)),
            "/app".to_string(),
        ),
        (
            format!(
                "prompt page: editor, versions, newest runs ({} runs)",
                size(runs)
            ),
            format!("/app/prompts/{}", seeded.runs_small),
        ),
        ("settings".to_string(), "/app/settings".to_string()),
    ];
    page_rows(ctx, &cookie, pages, rows).await;
    Ok(())
}

/// B9's results pages (issue 16): an experiment of `n` items × 2 variants
/// with an evaluator, its first page as it opens, filtered and sorted.
pub(crate) async fn b9_results(ctx: &Ctx<'_>, rows: &mut Vec<Row>) -> Result<()> {
    let n = if ctx.plan.mode == Mode::Smoke {
        50
    } else {
        10_000
    };
    let s = experiments::setup(ctx, "bench-results", n).await?;
    // Two instant variants (the mock echoes), one evaluator that passes on
    // about a fifth of the items, so every filter has something to sort.
    let extra = json!({
        "variants": [{ "model": "mock-echo" }, { "model": "mock-echo", "params": { "temperature": 0.5 } }],
        "evaluators": [{ "name": "seven", "type": "contains", "values": ["7"] }],
    });
    let (id, done) = experiments::run_with(ctx, &s, 2 * n, 64, extra).await?;
    anyhow::ensure!(
        done.status == "succeeded",
        "results experiment {}",
        done.status
    );
    let cookie = HeaderValue::from_str(&procs::session_cookie(&ctx.http, &ctx.base).await?)?;
    let of = format!("{} items × 2 variants", size(n));
    let pages = [
        (
            format!("experiment results, first page ({of})"),
            format!("/app/experiments/{id}"),
        ),
        (
            format!("experiment results, regressed, by score ({of})"),
            format!("/app/experiments/{id}?show=regressed&sort=score"),
        ),
        (
            format!("experiment results, evaluator, by latency ({of})"),
            format!("/app/experiments/{id}/results?show=ev:seven&sort=latency"),
        ),
    ];
    page_rows(ctx, &cookie, pages, rows).await;
    Ok(())
}

/// One B9 row per page: c=1, p99 ≤ 50 ms.
async fn page_rows(
    ctx: &Ctx<'_>,
    cookie: &HeaderValue,
    pages: impl IntoIterator<Item = (String, String)>,
    rows: &mut Vec<Row>,
) {
    for (what, path) in pages {
        let url = format!("{}{path}", ctx.base);
        let (http, cookie) = (ctx.http.clone(), cookie.clone());
        let page = shot(move |_| {
            let fut = http.get(&url).header(COOKIE, cookie.clone()).send();
            async move {
                match fut.await {
                    Ok(r) => r.status() == StatusCode::OK && r.bytes().await.is_ok(),
                    Err(_) => false,
                }
            }
        });
        let stats = load::drive(ctx.plan.load(1), page).await;
        let ok = stats.errors == 0 && stats.ok > 0;
        rows.push(
            Row::new("B9", format!("page {what}, c=1"), ctx.db)
                .measured(format!(
                    "p50 {} / p99 {}",
                    fmt_ms(stats.p50_ms()),
                    fmt_ms(stats.p99_ms())
                ))
                .target("p99 ≤ 50 ms", Verdict::of(ok && stats.p99_ms() <= 50.0)),
        );
    }
}
