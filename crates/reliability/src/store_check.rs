//! The same invariants read straight from the database, behind the API's
//! back: no run `running`/`queued`, version numbers 1..n per prompt, every
//! prompt's current version one of its own, and (SQLite) an intact file.
//! The SQL is written once; both backends accept it.

use anyhow::{Context, ensure};
use sqlx::Connection;

const CHECKS: [(&str, &str); 3] = [
    (
        "runs left running or queued",
        "select count(*) from test_runs where status in ('running', 'queued')",
    ),
    (
        "prompts whose version numbers are not 1..n",
        "select count(*) from (select prompt_id from prompt_versions group by prompt_id
           having min(number) <> 1 or max(number) <> count(*)) gaps",
    ),
    (
        "prompts whose current version is missing or another prompt's",
        "select count(*) from prompts p where p.current_version_id is not null and not exists
           (select 1 from prompt_versions v where v.id = p.current_version_id and v.prompt_id = p.id)",
    ),
];

pub(crate) async fn verify(database_url: &str) -> anyhow::Result<()> {
    if database_url.starts_with("sqlite:") {
        let mut conn = sqlx::SqliteConnection::connect(database_url)
            .await
            .context("open the SQLite file")?;
        let (integrity,): (String,) = sqlx::query_as("pragma integrity_check")
            .fetch_one(&mut conn)
            .await?;
        ensure!(integrity == "ok", "integrity_check: {integrity}");
        for (what, sql) in CHECKS {
            let (n,): (i64,) = sqlx::query_as(sql).fetch_one(&mut conn).await?;
            ensure!(n == 0, "store: {n} {what}");
        }
        conn.close().await?;
    } else {
        let mut conn = sqlx::PgConnection::connect(database_url)
            .await
            .context("connect to PostgreSQL")?;
        for (what, sql) in CHECKS {
            let (n,): (i64,) = sqlx::query_as(sql).fetch_one(&mut conn).await?;
            ensure!(n == 0, "store: {n} {what}");
        }
        conn.close().await?;
    }
    Ok(())
}
