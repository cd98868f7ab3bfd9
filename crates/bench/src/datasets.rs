//! B10: a dataset import through the API (one CSV body, one transaction),
//! against the target of 100,000 rows in 10 s on SQLite.

use std::time::Instant;

use anyhow::{Context, Result, bail};
use serde_json::{Value, json};

use crate::plan::size;
use crate::report::{Row, Verdict};
use crate::workloads::Ctx;

/// A CSV of `rows` rows: two variables, an expected answer, one metadata column.
fn csv(rows: usize) -> String {
    let mut out = String::from("question,context,expected,metadata.source\n");
    for i in 0..rows {
        out.push_str(&format!(
            "What is the capital of country {i}?,\"Country {i}, a place\",City {i},bench\n"
        ));
    }
    out
}

pub(crate) async fn b10(ctx: &Ctx<'_>, rows: &mut Vec<Row>) -> Result<()> {
    let n = ctx.plan.dataset_rows;
    let created: Value = ctx
        .http
        .post(format!("{}/api/datasets", ctx.base))
        .header(reqwest::header::AUTHORIZATION, ctx.auth.clone())
        .json(&json!({ "name": "bench-import" }))
        .send()
        .await?
        .json()
        .await?;
    let id = created["data"]["id"]
        .as_str()
        .context("no dataset id")?
        .to_string();
    let body = csv(n);
    let bytes = body.len();
    let t = Instant::now();
    let res = ctx
        .http
        .post(format!("{}/api/datasets/{id}/import", ctx.base))
        .header(reqwest::header::AUTHORIZATION, ctx.auth.clone())
        .header(reqwest::header::CONTENT_TYPE, "text/csv")
        .body(body)
        .send()
        .await?;
    let status = res.status();
    let answer: Value = res.json().await?;
    let secs = t.elapsed().as_secs_f64();
    if status != reqwest::StatusCode::CREATED
        || answer["data"]["imported"].as_u64() != Some(n as u64)
    {
        bail!("the import answered {status}: {answer}");
    }
    // The target is scaled to the plan's size: 100,000 rows in 10 s.
    let limit = 10.0 * n as f64 / 100_000.0;
    rows.push(
        Row::new(
            "B10",
            format!("import {} CSV rows (API, one version)", size(n)),
            ctx.db,
        )
        .measured(format!(
            "{secs:.2} s, {:.0} rows/s, {:.1} MB",
            n as f64 / secs.max(1e-9),
            bytes as f64 / 1_048_576.0
        ))
        .target("100k rows ≤ 10 s", Verdict::of(secs <= limit)),
    );
    Ok(())
}
