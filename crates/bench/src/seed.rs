//! Data the workloads need, written through the store crate before the
//! server starts (or, for the second size of B5, while it idles), plus the
//! raw-sqlx baseline of B3 and the checks of B4 and B7.
//!
//! Large tables are filled with multi-row inserts in one transaction per
//! batch group: a million runs take seconds, not the hours that one
//! statement per row would.

use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use promptrefine_core::{Content, ModelSettings, PromptId, PromptType, RunId, VersionId};
use promptrefine_store::codec::{DbTime, DbUuid};
use promptrefine_store::{NewPrompt, NewVersion, Store, StoreOptions, migrate, on_backend};
use sqlx::QueryBuilder;
use sqlx::types::Json;
use time::OffsetDateTime;

use crate::load::{Load, Stats};

/// Rows per multi-row insert (5 bound parameters each: well under both limits).
const BATCH: usize = 2_000;
/// Batches per transaction.
const BATCHES_PER_TX: usize = 25;

/// A prompt body of a realistic size (about 600 bytes), the same for every save.
pub(crate) fn body_text(n: u64) -> String {
    format!(
        "You are a careful assistant for {{{{company}}}}. Answer the customer's question in \
         {{{{language}}}}, in at most three short paragraphs, citing the relevant policy section \
         when there is one. Never promise refunds; offer to escalate instead. If the question is \
         unclear, ask one clarifying question first. Keep a friendly, plain tone and avoid jargon. \
         Question: {{{{question}}}}\n\nContext from the knowledge base:\n{{{{context}}}}\n\n\
         Revision marker {n}."
    )
}

/// Opens a store on `url` and brings its schema up to date.
pub(crate) async fn open(url: &str) -> Result<Store> {
    let store = Store::connect(&StoreOptions::new(url))
        .await
        .with_context(|| format!("cannot open {url}"))?;
    migrate::up(&store).await.context("cannot migrate")?;
    Ok(store)
}

/// A prompt with version 1 and the `production` label on it.
pub(crate) async fn prompt(store: &Store, slug: &str) -> Result<(PromptId, VersionId)> {
    let (p, v) = store
        .prompts()
        .create(NewPrompt {
            title: format!("Bench {slug}"),
            slug: slug.to_owned(),
            prompt_type: PromptType::Text,
            tags: vec!["bench".into(), "support".into()],
            first_version: Some(NewVersion {
                content: Content::Text(body_text(1)),
                settings: ModelSettings {
                    model: Some("mock-echo".into()),
                    temperature: Some(0.2),
                    max_tokens: Some(256),
                    ..ModelSettings::default()
                },
                variables: ["company", "language", "question", "context"]
                    .map(String::from)
                    .to_vec(),
                note: Some("first".into()),
                author_id: None,
            }),
        })
        .await?;
    let v = v.context("version 1 was not created")?;
    store.labels().set(p.id, "production", v.id).await?;
    Ok((p.id, v.id))
}

/// Adds `n` finished runs to one prompt, older than now, newest last.
pub(crate) async fn bulk_runs(
    store: &Store,
    prompt: PromptId,
    version: VersionId,
    n: usize,
) -> Result<()> {
    let now = OffsetDateTime::now_utc();
    let mut done = 0;
    while done < n {
        let group = (n - done).min(BATCH * BATCHES_PER_TX);
        on_backend!(store, write, |pool, _pg| {
            let mut tx = pool.begin().await?;
            for chunk_start in (0..group).step_by(BATCH) {
                let rows = (group - chunk_start).min(BATCH);
                let mut q = QueryBuilder::new(
                    "insert into test_runs (id, prompt_id, version_id, created_at, finished_at, provider, model, \
                     params, variables, input, output, finish_reason, status, prompt_tokens, completion_tokens, \
                     total_tokens, cost_micro_usd, latency_ms, ttft_ms) ",
                );
                q.push_values(0..rows, |mut b, i| {
                    let age = (n - (done + chunk_start + i)) as i64;
                    let at = DbTime::from(now - time::Duration::milliseconds(age + 1_000));
                    b.push_bind(DbUuid::from(RunId::new()))
                        .push_bind(DbUuid::from(prompt))
                        .push_bind(DbUuid::from(version))
                        .push_bind(at)
                        .push_bind(at)
                        .push("'openai'")
                        .push("'mock-echo'")
                        .push("'{}'")
                        .push("'{}'")
                        .push(r#"'[{"role":"user","content":"Where is my parcel? It was due on Monday."}]'"#)
                        .push("'Echo: Where is my parcel? It was due on Monday. We are sorry for the delay.'")
                        .push("'stop'")
                        .push("'succeeded'")
                        .push("12")
                        .push("16")
                        .push("28")
                        .push("3")
                        .push("420")
                        .push("95");
                });
                q.build().execute(&mut *tx).await?;
            }
            tx.commit().await?;
            Ok::<_, anyhow::Error>(())
        })?;
        done += group;
    }
    Ok(())
}

/// Adds `n` prompts without versions, slugs `bulk-{first}…`, changed in the past.
pub(crate) async fn bulk_prompts(store: &Store, first: usize, n: usize) -> Result<()> {
    let now = OffsetDateTime::now_utc();
    let mut done = 0;
    while done < n {
        let group = (n - done).min(BATCH * BATCHES_PER_TX);
        on_backend!(store, write, |pool, _pg| {
            let mut tx = pool.begin().await?;
            for chunk_start in (0..group).step_by(BATCH) {
                let rows = (group - chunk_start).min(BATCH);
                let mut q = QueryBuilder::new(
                    "insert into prompts (id, title, slug, created_at, updated_at, type, tags) ",
                );
                q.push_values(0..rows, |mut b, i| {
                    let k = first + done + chunk_start + i;
                    let at = DbTime::from(now - time::Duration::seconds(10 + k as i64));
                    b.push_bind(DbUuid::from(PromptId::new()))
                        .push_bind(format!("Bulk prompt {k}"))
                        .push_bind(format!("bulk-{k}"))
                        .push_bind(at)
                        .push_bind(at)
                        .push("'text'")
                        .push("'[]'");
                });
                q.build().execute(&mut *tx).await?;
            }
            tx.commit().await?;
            Ok::<_, anyhow::Error>(())
        })?;
        done += group;
    }
    Ok(())
}

/// Fresh planner statistics after a bulk load (PostgreSQL; autovacuum would
/// get there, later). SQLite plans these queries from the indexes alone.
pub(crate) async fn analyze(store: &Store) -> Result<()> {
    if let promptrefine_store::Backend::Postgres(pool) = store.backend() {
        sqlx::query("analyze").execute(pool).await?;
    }
    Ok(())
}

/// B3's baseline: one version row per transaction (`begin; insert; commit`),
/// sequentially, on the store's own writer with the server's settings.
pub(crate) async fn raw_version_inserts(
    store: &Store,
    prompt: PromptId,
    load: Load,
) -> Result<Stats> {
    let content = Json(Content::Text(body_text(2)));
    let settings = Json(ModelSettings::default());
    let variables = Json(vec!["company".to_string()]);
    let start = Instant::now();
    let measure_from = start + load.warmup;
    let end = measure_from + load.duration;
    let mut stats = Stats::empty();
    let mut number = 1_i64;
    loop {
        let t0 = Instant::now();
        if t0 >= end {
            break;
        }
        let res: Result<()> = async {
            on_backend!(store, write, |pool, _pg| {
            let mut tx = pool.begin().await?;
            sqlx::query(
                "insert into prompt_versions (id, prompt_id, number, content, settings, variables, note, author_id, created_at)
                 values ($1, $2, $3, $4, $5, $6, null, null, $7)",
            )
            .bind(DbUuid::from(VersionId::new()))
            .bind(DbUuid::from(prompt))
            .bind(number)
            .bind(&content)
            .bind(&settings)
            .bind(&variables)
            .bind(DbTime::now())
            .execute(&mut *tx)
            .await?;
            tx.commit().await?;
            Ok(())
            })
        }
        .await;
        number += 1;
        if t0 >= measure_from {
            stats.record(t0.elapsed(), res.is_ok());
        }
    }
    stats.elapsed = load.duration;
    Ok(stats)
}

/// A prompt's version numbers, ascending.
pub(crate) async fn version_numbers(store: &Store, prompt: PromptId) -> Result<Vec<i64>> {
    Ok(on_backend!(store, read, |pool, _pg| {
        sqlx::query_scalar(
            "select number from prompt_versions where prompt_id = $1 order by number",
        )
        .bind(DbUuid::from(prompt))
        .fetch_all(pool)
        .await?
    }))
}

/// How many of a prompt's runs have this status.
pub(crate) async fn count_runs(store: &Store, prompt: PromptId, status: &str) -> Result<i64> {
    Ok(on_backend!(store, read, |pool, _pg| {
        sqlx::query_scalar("select count(*) from test_runs where prompt_id = $1 and status = $2")
            .bind(DbUuid::from(prompt))
            .bind(status)
            .fetch_one(pool)
            .await?
    }))
}

/// Waits until no run of the prompt is `running` (runs are stored just after
/// their stream ends), at most `limit`.
pub(crate) async fn wait_runs_settled(
    store: &Store,
    prompt: PromptId,
    limit: Duration,
) -> Result<()> {
    let t0 = Instant::now();
    while count_runs(store, prompt, "running").await? > 0 && t0.elapsed() < limit {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    Ok(())
}
