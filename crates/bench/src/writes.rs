//! B3 and B4: saving versions through the API, against a raw sqlx loop.

use std::time::Duration;

use anyhow::Result;
use reqwest::StatusCode;
use serde_json::json;

use crate::load::{self, Load, shot};
use crate::report::{Row, Verdict};
use crate::seed;
use crate::workloads::{Ctx, Seeded, fmt_rps, throughput};

fn save(ctx: &Ctx<'_>, prompt: String) -> load::Shot {
    let http = ctx.http.clone();
    let auth = ctx.auth.clone();
    let url = format!("{}/api/prompts/{prompt}/versions", ctx.base);
    shot(move |i| {
        let fut = http
            .post(&url)
            .header(reqwest::header::AUTHORIZATION, auth.clone())
            .json(&json!({
                "content": seed::body_text(i + 2),
                "settings": { "model": "mock-echo", "temperature": 0.2 },
                "note": "bench"
            }))
            .send();
        async move {
            match fut.await {
                Ok(r) => r.status() == StatusCode::CREATED && r.bytes().await.is_ok(),
                Err(_) => false,
            }
        }
    })
}

pub(crate) async fn b3_b4(ctx: &Ctx<'_>, seeded: &Seeded, rows: &mut Vec<Row>) -> Result<()> {
    let db = ctx.db;
    let api = load::drive(ctx.plan.load(1), save(ctx, seeded.save_prompt.to_string())).await;
    let raw = seed::raw_version_inserts(&ctx.store, seeded.raw_prompt, ctx.plan.load(1)).await?;
    let r = if raw.rps() > 0.0 {
        api.rps() / raw.rps()
    } else {
        0.0
    };
    rows.push(
        Row::new("B3", "save versions sequentially (API), c=1", db)
            .measured(throughput(&api))
            .baseline(format!(
                "raw sqlx begin/insert/commit {}: {:.0} %",
                fmt_rps(&raw),
                100.0 * r
            ))
            .target("≥ 50 % of raw", Verdict::of(api.errors == 0 && r >= 0.5)),
    );

    // No warm-up: every save must be counted, to check the numbers after.
    let conc = Load {
        concurrency: 8,
        warmup: Duration::ZERO,
        duration: ctx.plan.phase,
    };
    let b4 = load::drive(conc, save(ctx, seeded.conc_prompt.to_string())).await;
    let numbers = seed::version_numbers(&ctx.store, seeded.conc_prompt).await?;
    let gapless = numbers.iter().enumerate().all(|(i, n)| *n == i as i64 + 1);
    let all_saved = numbers.len() as u64 == b4.ok + 1;
    let met = b4.errors == 0 && gapless && all_saved && b4.rps() >= api.rps();
    rows.push(
        Row::new("B4", "8 clients save versions of one prompt", db)
            .measured(format!(
                "{}; {} errors; numbers 1..{} {}",
                throughput(&b4),
                b4.errors,
                numbers.len(),
                if gapless && all_saved {
                    "gapless"
                } else {
                    "NOT gapless"
                }
            ))
            .baseline(format!("B3 {}", fmt_rps(&api)))
            .target("no error, gapless, ≥ B3", Verdict::of(met)),
    );
    Ok(())
}
