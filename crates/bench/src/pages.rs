//! B9: the HTML pages. Issue 6 asks that every page renders in under 50 ms
//! of server time with 1,000 prompts and 10,000 runs; by the time B9 runs the
//! database holds more than that (B5 grew the prompts list, and one prompt
//! has `runs_small` runs). Measured end to end on loopback at c=1, so the
//! figure is an upper bound of the server's own time.

use anyhow::Result;
use reqwest::StatusCode;
use reqwest::header::{COOKIE, HeaderValue};

use crate::load::{self, shot};
use crate::plan::size;
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
    Ok(())
}
