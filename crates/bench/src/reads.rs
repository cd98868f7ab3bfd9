//! B0, B1, B2 and B5: reads through the real server, against the bare axum
//! baseline where the issue asks for one.

use anyhow::{Context, Result};
use reqwest::StatusCode;
use reqwest::header::{ETAG, HeaderName, HeaderValue, IF_NONE_MATCH};

use crate::load::{self, Stats, shot};
use crate::plan::size;
use crate::procs;
use crate::report::{Row, Verdict};
use crate::workloads::{Ctx, Seeded, fmt_ms, fmt_rps, throughput};

/// One GET that must answer `expect`; the body is read to the end.
fn get(
    ctx: &Ctx<'_>,
    url: String,
    expect: StatusCode,
    extra: Option<(HeaderName, HeaderValue)>,
) -> load::Shot {
    let http = ctx.http.clone();
    let auth = ctx.auth.clone();
    shot(move |_| {
        let mut req = http
            .get(&url)
            .header(reqwest::header::AUTHORIZATION, auth.clone());
        if let Some((k, v)) = &extra {
            req = req.header(k.clone(), v.clone());
        }
        let fut = req.send();
        async move {
            match fut.await {
                Ok(r) => r.status() == expect && r.bytes().await.is_ok(),
                Err(_) => false,
            }
        }
    })
}

async fn measure(ctx: &Ctx<'_>, concurrency: usize, s: load::Shot) -> Stats {
    load::drive(ctx.plan.load(concurrency), s).await
}

fn ratio(a: &Stats, b: &Stats) -> f64 {
    if b.rps() == 0.0 {
        0.0
    } else {
        a.rps() / b.rps()
    }
}

/// B0, B1 and B2, whose baselines share one baseline process.
pub(crate) async fn b0_b1_b2(ctx: &Ctx<'_>, seeded: &Seeded, rows: &mut Vec<Row>) -> Result<()> {
    let db = ctx.db;
    let one = format!("{}/api/prompts/{}", ctx.base, seeded.read_prompt);
    let probe = ctx
        .http
        .get(&one)
        .header(reqwest::header::AUTHORIZATION, ctx.auth.clone())
        .send()
        .await?;
    anyhow::ensure!(
        probe.status().is_success(),
        "GET prompt answered {}",
        probe.status()
    );
    let bytes = probe.bytes().await?.len();

    let baseline = procs::start_baseline(bytes).await?;
    let b0 = |ctx: &Ctx| get(ctx, format!("{}/b0", baseline.base), StatusCode::OK, None);
    let b0_c1 = measure(ctx, 1, b0(ctx)).await;
    let b1_c1 = measure(ctx, 1, get(ctx, one.clone(), StatusCode::OK, None)).await;
    let b0_c32 = measure(ctx, 32, b0(ctx)).await;
    let b1_c32 = measure(ctx, 32, get(ctx, one.clone(), StatusCode::OK, None)).await;

    let by_slug = format!(
        "{}/api/prompts/by-slug/{}?label=production",
        ctx.base, seeded.read_slug
    );
    let etag = ctx
        .http
        .get(&by_slug)
        .header(reqwest::header::AUTHORIZATION, ctx.auth.clone())
        .send()
        .await?
        .headers()
        .get(ETAG)
        .cloned()
        .context("the by-slug answer has no ETag")?;
    let b2_200 = measure(ctx, 32, get(ctx, by_slug.clone(), StatusCode::OK, None)).await;
    let b2_304 = measure(
        ctx,
        32,
        get(
            ctx,
            by_slug,
            StatusCode::NOT_MODIFIED,
            Some((IF_NONE_MATCH, etag)),
        ),
    )
    .await;
    baseline.stop().await;

    for (c, s) in [(1, &b0_c1), (32, &b0_c32)] {
        rows.push(
            Row::new(
                "B0",
                format!("bare axum, constant {bytes} B JSON, c={c}"),
                db,
            )
            .measured(throughput(s)),
        );
    }
    rows.push(
        Row::new("B1", "GET /api/prompts/{id}, token, c=1", db)
            .measured(throughput(&b1_c1))
            .baseline(format!(
                "B0 c=1 {}: {:.0} %",
                fmt_rps(&b0_c1),
                100.0 * ratio(&b1_c1, &b0_c1)
            ))
            .target(
                "p99 ≤ 5 ms",
                Verdict::of(b1_c1.errors == 0 && b1_c1.p99_ms() <= 5.0),
            ),
    );
    let r = ratio(&b1_c32, &b0_c32);
    rows.push(
        Row::new("B1", "GET /api/prompts/{id}, token, c=32", db)
            .measured(throughput(&b1_c32))
            .baseline(format!("B0 c=32 {}: {:.0} %", fmt_rps(&b0_c32), 100.0 * r))
            .target(
                "≥ 50 % of B0; p99 ≤ 5 ms",
                Verdict::of(b1_c32.errors == 0 && r >= 0.5 && b1_c32.p99_ms() <= 5.0),
            ),
    );
    rows.push(
        Row::new("B2", "GET by-slug?label=production, 200, c=32", db)
            .measured(throughput(&b2_200))
            .baseline(format!("B0 c=32: {:.0} %", 100.0 * ratio(&b2_200, &b0_c32))),
    );
    let r = ratio(&b2_304, &b0_c32);
    rows.push(
        Row::new("B2", "GET by-slug with If-None-Match, 304, c=32", db)
            .measured(throughput(&b2_304))
            .baseline(format!("B0 c=32: {:.0} %", 100.0 * r))
            .target("≥ 60 % of B0", Verdict::of(b2_304.errors == 0 && r >= 0.6)),
    );
    Ok(())
}

/// B5: one page of 50 at two sizes; the prompts list grows between the two.
pub(crate) async fn b5(ctx: &Ctx<'_>, seeded: &Seeded, rows: &mut Vec<Row>) -> Result<()> {
    let plan = ctx.plan;
    let runs = |p| format!("{}/api/test-runs?promptId={p}&limit=50", ctx.base);
    let small = measure(
        ctx,
        1,
        get(ctx, runs(seeded.runs_small), StatusCode::OK, None),
    )
    .await;
    let large = measure(
        ctx,
        1,
        get(ctx, runs(seeded.runs_large), StatusCode::OK, None),
    )
    .await;
    rows.push(flat_row(
        format!(
            "run history, newest 50, {} vs {} runs, c=1",
            size(plan.runs_small),
            size(plan.runs_large)
        ),
        ctx.db,
        &small,
        &large,
    ));

    let list = format!("{}/api/prompts?limit=50", ctx.base);
    let small = measure(ctx, 1, get(ctx, list.clone(), StatusCode::OK, None)).await;
    let have = plan.prompts_small;
    crate::seed::bulk_prompts(&ctx.store, have, plan.prompts_large - have).await?;
    crate::seed::analyze(&ctx.store).await?;
    let large = measure(ctx, 1, get(ctx, list, StatusCode::OK, None)).await;
    rows.push(flat_row(
        format!(
            "prompts list, first 50, {} vs {} prompts, c=1",
            size(have),
            size(plan.prompts_large)
        ),
        ctx.db,
        &small,
        &large,
    ));
    Ok(())
}

fn flat_row(workload: String, db: &'static str, small: &Stats, large: &Stats) -> Row {
    let growth = if small.p99_ms() > 0.0 {
        large.p99_ms() / small.p99_ms()
    } else {
        0.0
    };
    let ok = small.errors == 0 && large.errors == 0 && large.ok > 0;
    Row::new("B5", workload, db)
        .measured(format!(
            "p99 {} (small) / {} (large); p50 {} / {}",
            fmt_ms(small.p99_ms()),
            fmt_ms(large.p99_ms()),
            fmt_ms(small.p50_ms()),
            fmt_ms(large.p50_ms()),
        ))
        .baseline(format!("large/small p99: {growth:.2}×"))
        .target(
            "p99 ≤ 10 ms; ≤ 1.5× small",
            Verdict::of(ok && large.p99_ms() <= 10.0 && small.p99_ms() <= 10.0 && growth <= 1.5),
        )
}
