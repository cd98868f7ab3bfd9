//! Writing the file: header, then every table in keyset pages of ids, all
//! inside one read transaction so the counts and the rows agree even while
//! the server writes.

use std::io::{BufWriter, Write};

use super::records::{
    ApiTokenRec, LabelRec, PresetRec, PromptRec, ProviderRec, Record, RunRec, UserRec, VersionRec,
};
use super::{Counts, ExportOptions, FORMAT, Header, Progress, TransferResult, VERSION};
use crate::codec::{DbTime, DbUuid};
use crate::{Store, on_backend};

const USERS: &str = "select id, email, password_hash, created_at, updated_at from users";
const PROMPTS: &str = "select id, title, slug, type, tags, current_version_id, next_version, \
     created_at, updated_at from prompts";
const VERSIONS: &str = "select id, prompt_id, number, content, settings, variables, note, \
     author_id, created_at from prompt_versions";
const RUNS: &str = "select id, prompt_id, version_id, provider, model, params, variables, input, \
     output, finish_reason, status, error_code, error_message, prompt_tokens, completion_tokens, \
     total_tokens, cost_micro_usd, latency_ms, ttft_ms, request_id, created_at, finished_at, \
     tokens_estimated, request_body, response_id, response_model, system_fingerprint, tool_calls, \
     replay_of from test_runs";
const PROVIDERS: &str = "select id, name, base_url, models, prices, created_at, updated_at, \
     api_key_nonce, api_key_sealed, headers_nonce, headers_sealed from providers";
const PRESETS: &str = "select id, name, provider, model, params, created_at, updated_at \
     from model_presets";
const TOKENS: &str = "select id, user_id, name, prefix, token_hash, created_at, last_used_at, \
     revoked_at, expires_at from api_tokens";

/// Streams one table ordered by `id` (uuid order on PostgreSQL, text order
/// of the hyphenated lowercase form on SQLite: the same order), a page at a
/// time.
macro_rules! export_by_id {
    ($tx:expr, $sink:expr, $page:expr, $select:expr, $rec:ty, $variant:path) => {{
        let mut after: Option<DbUuid> = None;
        loop {
            let rows: Vec<$rec> = match after {
                None => {
                    sqlx::query_as(&format!("{} order by id limit $1", $select))
                        .bind($page)
                        .fetch_all(&mut *$tx)
                        .await?
                }
                Some(id) => {
                    sqlx::query_as(&format!("{} where id > $1 order by id limit $2", $select))
                        .bind(id)
                        .bind($page)
                        .fetch_all(&mut *$tx)
                        .await?
                }
            };
            let full = rows.len() as i64 == $page;
            after = rows.last().map(|r| r.id);
            for row in rows {
                $sink.write($variant(row))?;
            }
            $sink.report();
            if !full {
                break;
            }
        }
    }};
}

/// Where records go: the file, the running counts and the progress callback.
struct Sink<W: Write, P: FnMut(Progress)> {
    out: BufWriter<W>,
    include_secrets: bool,
    written: Counts,
    total: u64,
    progress: P,
}

impl<W: Write, P: FnMut(Progress)> Sink<W, P> {
    fn write(&mut self, mut record: Record) -> TransferResult<()> {
        let c = &mut self.written;
        match &mut record {
            Record::User(u) => {
                if !self.include_secrets {
                    u.password_hash = None;
                }
                c.users += 1
            }
            Record::Prompt(_) => c.prompts += 1,
            Record::Version(_) => c.versions += 1,
            Record::Label(_) => c.labels += 1,
            Record::Run(_) => c.runs += 1,
            Record::ApiToken(_) => c.api_tokens += 1,
            Record::Provider(p) => {
                if !self.include_secrets {
                    p.drop_secrets();
                }
                c.providers += 1
            }
            Record::ModelPreset(_) => c.presets += 1,
        }
        serde_json::to_writer(&mut self.out, &record).map_err(std::io::Error::from)?;
        self.out.write_all(b"\n")?;
        Ok(())
    }

    fn report(&mut self) {
        (self.progress)(Progress {
            done: self.written.total(),
            total: self.total,
        });
    }
}

impl Store {
    /// Writes every user, prompt, version, label and run (and, when asked,
    /// the password and API token hashes) to `out`; returns what it wrote.
    #[tracing::instrument(skip_all, fields(backend = self.kind(), secrets = opts.include_secrets))]
    pub async fn export<W: Write + Send>(
        &self,
        out: W,
        opts: ExportOptions,
        progress: impl FnMut(Progress) + Send,
    ) -> TransferResult<Counts> {
        let mut sink = Sink {
            out: BufWriter::new(out),
            include_secrets: opts.include_secrets,
            written: Counts::default(),
            total: 0,
            progress,
        };
        let page = i64::from(opts.page_size.max(1));
        // Not retried: records already written to the output cannot be
        // taken back (the caller sees the error and runs it again).
        on_backend!(self, read, |pool, pg| {
            let mut tx = pool.begin().await?;
            if pg {
                // One snapshot for every query below; SQLite's read transaction
                // (WAL) already is one.
                sqlx::query("set transaction isolation level repeatable read, read only")
                    .execute(&mut *tx)
                    .await?;
            }
            let count = |table: &'static str| format!("select count(*) from {table}");
            let mut counts = Counts::default();
            for (table, slot) in [
                ("users", &mut counts.users),
                ("prompts", &mut counts.prompts),
                ("prompt_versions", &mut counts.versions),
                ("prompt_labels", &mut counts.labels),
                ("test_runs", &mut counts.runs),
                ("providers", &mut counts.providers),
                ("model_presets", &mut counts.presets),
            ] {
                let n: i64 = sqlx::query_scalar(&count(table))
                    .fetch_one(&mut *tx)
                    .await?;
                *slot = n as u64;
            }
            if opts.include_secrets {
                let n: i64 = sqlx::query_scalar(&count("api_tokens"))
                    .fetch_one(&mut *tx)
                    .await?;
                counts.api_tokens = n as u64;
            }
            let header = Header {
                format: FORMAT.into(),
                version: VERSION,
                exported_at: DbTime::now().to_text(),
                source: self.kind().into(),
                includes_secrets: opts.include_secrets,
                counts,
            };
            serde_json::to_writer(&mut sink.out, &header).map_err(std::io::Error::from)?;
            sink.out.write_all(b"\n")?;
            sink.total = counts.total();

            // Parents first: users (authors, token owners), prompts, versions,
            // then what points at versions.
            export_by_id!(tx, sink, page, USERS, UserRec, Record::User);
            export_by_id!(tx, sink, page, PROMPTS, PromptRec, Record::Prompt);
            export_by_id!(tx, sink, page, VERSIONS, VersionRec, Record::Version);

            // Labels have no id: keyset on (prompt_id, label). PostgreSQL
            // compares text by the database's collation, so ask for bytewise
            // order ("C"), which is SQLite's.
            let c = if pg { " collate \"C\"" } else { "" };
            let select = "select prompt_id, label, version_id, updated_at from prompt_labels";
            let mut after: Option<(DbUuid, String)> = None;
            loop {
                let rows: Vec<LabelRec> = match &after {
                    None => {
                        sqlx::query_as(&format!("{select} order by prompt_id, label{c} limit $1"))
                            .bind(page)
                            .fetch_all(&mut *tx)
                            .await?
                    }
                    Some((prompt, label)) => {
                        sqlx::query_as(&format!(
                            "{select} where prompt_id > $1 or (prompt_id = $1 and label{c} > $2)
                             order by prompt_id, label{c} limit $3"
                        ))
                        .bind(*prompt)
                        .bind(label)
                        .bind(page)
                        .fetch_all(&mut *tx)
                        .await?
                    }
                };
                let full = rows.len() as i64 == page;
                after = rows.last().map(|r| (r.prompt_id, r.label.clone()));
                for row in rows {
                    sink.write(Record::Label(row))?;
                }
                sink.report();
                if !full {
                    break;
                }
            }

            export_by_id!(tx, sink, page, RUNS, RunRec, Record::Run);
            export_by_id!(tx, sink, page, PROVIDERS, ProviderRec, Record::Provider);
            export_by_id!(tx, sink, page, PRESETS, PresetRec, Record::ModelPreset);
            if opts.include_secrets {
                export_by_id!(tx, sink, page, TOKENS, ApiTokenRec, Record::ApiToken);
            }
            tx.rollback().await?;
        });
        sink.out.flush()?;
        tracing::info!(records = sink.written.total(), "export written");
        Ok(sink.written)
    }
}
