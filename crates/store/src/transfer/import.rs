//! Reading a file into an empty database in one transaction: every line is
//! checked (JSON, type, fields, the values the application will later read)
//! and inserted in file order, and any failure rolls the whole import back,
//! naming the line. The database's own constraints catch duplicates and
//! records whose parent is missing; a few cross-row rules the schema cannot
//! express are checked once at the end.

use std::collections::BTreeMap;
use std::io::BufRead;

use promptrefine_core::{ChatMessage, Content, ModelSettings, PromptType, RunStatus};
use serde::de::DeserializeOwned;
use serde_json::Value;

use super::records::Record;
use super::{Counts, FORMAT, Header, Progress, TransferError, TransferResult, VERSION};
use crate::codec::DbUuid;
use crate::{Store, on_backend};

/// Stored for a user imported without its password hash: it is not a valid
/// PHC string, so no password matches it until `user set-password` sets one.
const NO_PASSWORD: &str = "!imported-without-password";

/// Records between two progress reports.
const REPORT_EVERY: u64 = 500;

impl Store {
    /// Reads an export into this (empty, migrated) database, all or nothing.
    #[tracing::instrument(skip_all, fields(backend = self.kind()))]
    pub async fn import<R: BufRead + Send>(
        &self,
        mut input: R,
        mut progress: impl FnMut(Progress) + Send,
    ) -> TransferResult<Counts> {
        let mut buf = Vec::new();
        let header = match read_line(&mut input, &mut buf, 1)? {
            None => return Err(TransferError::File("the file is empty".into())),
            Some(text) => parse_header(text)?,
        };
        let total = header.counts.total();
        let mut read = Counts::default();
        // Not retried: the records are read from a stream as they are
        // inserted, and a stream cannot be read twice (the transaction
        // rolls back; the caller runs the import again).
        on_backend!(self, write, |pool, _pg| {
            let mut tx = pool.begin().await?;
            let users: i64 = sqlx::query_scalar("select count(*) from users")
                .fetch_one(&mut *tx)
                .await?;
            let prompts: i64 = sqlx::query_scalar("select count(*) from prompts")
                .fetch_one(&mut *tx)
                .await?;
            if users > 0 || prompts > 0 {
                return Err(TransferError::NotEmpty { users, prompts });
            }
            let mut line = 1;
            loop {
                line += 1;
                let Some(text) = read_line(&mut input, &mut buf, line)? else {
                    break;
                };
                let record: Record =
                    serde_json::from_str(text).map_err(|e| TransferError::Line {
                        line,
                        message: format!("not a valid record: {e}"),
                    })?;
                check(&record).map_err(|message| TransferError::Line { line, message })?;
                let what = describe(&record);
                let inserted = async {
                    match &record {
                        Record::User(u) => {
                            sqlx::query(
                                "insert into users (id, email, password_hash, created_at, updated_at)
                                 values ($1, $2, $3, $4, $5)",
                            )
                            .bind(u.id)
                            .bind(&u.email)
                            .bind(u.password_hash.as_deref().unwrap_or(NO_PASSWORD))
                            .bind(u.created_at)
                            .bind(u.updated_at)
                            .execute(&mut *tx)
                            .await?;
                        }
                        Record::Prompt(p) => {
                            sqlx::query(
                                "insert into prompts (id, title, slug, type, tags, current_version_id,
                                                      next_version, created_at, updated_at)
                                 values ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
                            )
                            .bind(p.id)
                            .bind(&p.title)
                            .bind(&p.slug)
                            .bind(&p.prompt_type)
                            .bind(&p.tags)
                            .bind(p.current_version_id)
                            .bind(p.next_version)
                            .bind(p.created_at)
                            .bind(p.updated_at)
                            .execute(&mut *tx)
                            .await?;
                            // The filter index is derived from the prompt's tags.
                            for tag in &p.tags.0 {
                                sqlx::query(
                                    "insert into prompt_tags (prompt_id, tag) values ($1, $2)
                                     on conflict do nothing",
                                )
                                .bind(p.id)
                                .bind(tag)
                                .execute(&mut *tx)
                                .await?;
                            }
                        }
                        Record::Version(v) => {
                            sqlx::query(
                                "insert into prompt_versions (id, prompt_id, number, content, settings,
                                                              variables, note, author_id, created_at)
                                 values ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
                            )
                            .bind(v.id)
                            .bind(v.prompt_id)
                            .bind(v.number)
                            .bind(&v.content)
                            .bind(&v.settings)
                            .bind(&v.variables)
                            .bind(v.note.as_deref())
                            .bind(v.author_id)
                            .bind(v.created_at)
                            .execute(&mut *tx)
                            .await?;
                        }
                        Record::Label(l) => {
                            sqlx::query(
                                "insert into prompt_labels (prompt_id, label, version_id, updated_at)
                                 values ($1, $2, $3, $4)",
                            )
                            .bind(l.prompt_id)
                            .bind(&l.label)
                            .bind(l.version_id)
                            .bind(l.updated_at)
                            .execute(&mut *tx)
                            .await?;
                        }
                        Record::Run(r) => {
                            sqlx::query(
                                "insert into test_runs (id, prompt_id, version_id, provider, model, params,
                                     variables, input, output, finish_reason, status, error_code,
                                     error_message, prompt_tokens, completion_tokens, total_tokens,
                                     cost_micro_usd, latency_ms, ttft_ms, request_id, created_at,
                                     finished_at, tokens_estimated, request_body, response_id,
                                     response_model, system_fingerprint, tool_calls, replay_of)
                                 values ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14,
                                         $15, $16, $17, $18, $19, $20, $21, $22, $23, $24, $25, $26,
                                         $27, $28, $29)",
                            )
                            .bind(r.id)
                            .bind(r.prompt_id)
                            .bind(r.version_id)
                            .bind(&r.provider)
                            .bind(&r.model)
                            .bind(&r.params)
                            .bind(&r.variables)
                            .bind(&r.input)
                            .bind(&r.output)
                            .bind(r.finish_reason.as_deref())
                            .bind(&r.status)
                            .bind(r.error_code.as_deref())
                            .bind(r.error_message.as_deref())
                            .bind(r.prompt_tokens)
                            .bind(r.completion_tokens)
                            .bind(r.total_tokens)
                            .bind(r.cost_micro_usd)
                            .bind(r.latency_ms)
                            .bind(r.ttft_ms)
                            .bind(r.request_id.as_deref())
                            .bind(r.created_at)
                            .bind(r.finished_at)
                            .bind(r.tokens_estimated)
                            .bind(r.request_body.as_deref())
                            .bind(r.response_id.as_deref())
                            .bind(r.response_model.as_deref())
                            .bind(r.system_fingerprint.as_deref())
                            .bind(&r.tool_calls)
                            .bind(r.replay_of)
                            .execute(&mut *tx)
                            .await?;
                        }
                        Record::Provider(p) => {
                            sqlx::query(
                                "insert into providers (id, name, base_url, models, prices, created_at,
                                     updated_at, api_key_nonce, api_key_sealed, headers_nonce, headers_sealed)
                                 values ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)",
                            )
                            .bind(p.id)
                            .bind(&p.name)
                            .bind(&p.base_url)
                            .bind(&p.models)
                            .bind(&p.prices)
                            .bind(p.created_at)
                            .bind(p.updated_at)
                            .bind(p.api_key_nonce.as_deref())
                            .bind(p.api_key_sealed.as_deref())
                            .bind(p.headers_nonce.as_deref())
                            .bind(p.headers_sealed.as_deref())
                            .execute(&mut *tx)
                            .await?;
                        }
                        Record::ModelPreset(m) => {
                            sqlx::query(
                                "insert into model_presets (id, name, provider, model, params,
                                     created_at, updated_at)
                                 values ($1, $2, $3, $4, $5, $6, $7)",
                            )
                            .bind(m.id)
                            .bind(&m.name)
                            .bind(m.provider.as_deref())
                            .bind(&m.model)
                            .bind(&m.params)
                            .bind(m.created_at)
                            .bind(m.updated_at)
                            .execute(&mut *tx)
                            .await?;
                        }
                        Record::ApiToken(t) => {
                            sqlx::query(
                                "insert into api_tokens (id, user_id, name, prefix, token_hash, created_at,
                                                         last_used_at, revoked_at, expires_at)
                                 values ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
                            )
                            .bind(t.id)
                            .bind(t.user_id)
                            .bind(&t.name)
                            .bind(&t.prefix)
                            .bind(&t.token_hash)
                            .bind(t.created_at)
                            .bind(t.last_used_at)
                            .bind(t.revoked_at)
                            .bind(t.expires_at)
                            .execute(&mut *tx)
                            .await?;
                        }
                    }
                    Ok::<_, sqlx::Error>(())
                }
                .await;
                inserted.map_err(|e| insert_error(line, &what, e))?;
                bump(&mut read, &record);
                if read.total() % REPORT_EVERY == 0 {
                    progress(Progress {
                        done: read.total(),
                        total,
                    });
                }
            }
            if read != header.counts {
                return Err(TransferError::File(format!(
                    "the header announces {} but the file holds {}: it is incomplete or was edited",
                    header.counts, read
                )));
            }

            // Rules the schema cannot state, checked once over the imported rows.
            let rules: [(&str, &str); 4] = [
                (
                    "select p.id from prompts p where p.current_version_id is not null and not exists
                     (select 1 from prompt_versions v where v.id = p.current_version_id and v.prompt_id = p.id)
                     limit 1",
                    "its currentVersionId is not one of its versions",
                ),
                (
                    "select p.id from prompts p where p.next_version <=
                     (select coalesce(max(v.number), 0) from prompt_versions v where v.prompt_id = p.id)
                     limit 1",
                    "its nextVersion is not above its highest version number",
                ),
                (
                    "select l.prompt_id from prompt_labels l join prompt_versions v on v.id = l.version_id
                     where v.prompt_id <> l.prompt_id limit 1",
                    "one of its labels points at another prompt's version",
                ),
                (
                    "select r.prompt_id from test_runs r join prompt_versions v on v.id = r.version_id
                     where v.prompt_id <> r.prompt_id limit 1",
                    "one of its runs names another prompt's version",
                ),
            ];
            for (sql, rule) in rules {
                let bad: Option<DbUuid> = sqlx::query_scalar(sql).fetch_optional(&mut *tx).await?;
                if let Some(id) = bad {
                    return Err(TransferError::File(format!("prompt {}: {rule}", id.0)));
                }
            }
            // A first-run setup link makes no sense once users exist.
            if read.users > 0 {
                sqlx::query("delete from setup_tokens")
                    .execute(&mut *tx)
                    .await?;
            }
            tx.commit().await?;
        });
        progress(Progress {
            done: read.total(),
            total,
        });
        tracing::info!(records = read.total(), "import committed");
        Ok(read)
    }
}

/// The next line without its newline; None at the end of the file. Every
/// line the exporter writes ends with a newline, so one without is a file cut
/// short.
fn read_line<'b>(
    input: &mut impl BufRead,
    buf: &'b mut Vec<u8>,
    line: u64,
) -> TransferResult<Option<&'b str>> {
    buf.clear();
    if input.read_until(b'\n', buf)? == 0 {
        return Ok(None);
    }
    let err = |message: &str| TransferError::Line {
        line,
        message: message.to_string(),
    };
    if buf.pop() != Some(b'\n') {
        return Err(err("truncated: the file ends in the middle of this line"));
    }
    let text = std::str::from_utf8(buf).map_err(|_| err("not valid UTF-8"))?;
    if text.trim().is_empty() {
        return Err(err("empty line"));
    }
    Ok(Some(text))
}

fn parse_header(text: &str) -> TransferResult<Header> {
    let value: Value = serde_json::from_str(text).map_err(|e| TransferError::Line {
        line: 1,
        message: format!("not a PromptRefine export header: {e}"),
    })?;
    if value.get("format").and_then(Value::as_str) != Some(FORMAT) {
        return Err(TransferError::File(format!(
            "not a PromptRefine export: the first line must have \"format\":\"{FORMAT}\""
        )));
    }
    let version = value.get("version").and_then(Value::as_u64);
    if version != Some(u64::from(VERSION)) {
        return Err(TransferError::File(format!(
            "unsupported format version {}: this binary reads version {VERSION}",
            version.map_or("(missing)".to_string(), |v| v.to_string())
        )));
    }
    serde_json::from_value(value).map_err(|e| TransferError::Line {
        line: 1,
        message: format!("invalid header: {e}"),
    })
}

/// The values the application reads back must decode as its types, or the
/// first page showing the row would fail after a "successful" import.
fn check(record: &Record) -> Result<(), String> {
    fn decodes<T: DeserializeOwned>(field: &str, v: &Value) -> Result<(), String> {
        serde_json::from_value::<T>(v.clone())
            .map(drop)
            .map_err(|e| format!("{field}: {e}"))
    }
    match record {
        Record::Prompt(p) if PromptType::parse(&p.prompt_type).is_none() => Err(format!(
            "promptType {:?}: expected \"text\" or \"chat\"",
            p.prompt_type
        )),
        Record::Version(v) => {
            decodes::<Content>("content", &v.content.0)?;
            decodes::<ModelSettings>("settings", &v.settings.0)?;
            decodes::<Vec<String>>("variables", &v.variables.0)
        }
        Record::Run(r) => {
            if RunStatus::parse(&r.status).is_none() {
                return Err(format!("status {:?} is not a run status", r.status));
            }
            decodes::<ModelSettings>("params", &r.params.0)?;
            decodes::<BTreeMap<String, String>>("variables", &r.variables.0)?;
            decodes::<Vec<ChatMessage>>("input", &r.input.0)
        }
        _ => Ok(()),
    }
}

fn describe(record: &Record) -> String {
    let id = match record {
        Record::User(u) => u.id,
        Record::Prompt(p) => p.id,
        Record::Version(v) => v.id,
        Record::Label(l) => return format!("label {:?} of prompt {}", l.label, l.prompt_id.0),
        Record::Run(r) => r.id,
        Record::ApiToken(t) => t.id,
        Record::Provider(p) => p.id,
        Record::ModelPreset(m) => m.id,
    };
    format!("{} {}", record.kind(), id.0)
}

fn insert_error(line: u64, what: &str, e: sqlx::Error) -> TransferError {
    let message = match &e {
        sqlx::Error::Database(db) if db.is_unique_violation() => {
            format!(
                "{what} duplicates a record earlier in the file ({})",
                db.message()
            )
        }
        sqlx::Error::Database(db) if db.is_foreign_key_violation() => format!(
            "{what} refers to a record that is not earlier in the file ({})",
            db.message()
        ),
        sqlx::Error::Database(db) => {
            format!("{what} was refused by the database: {}", db.message())
        }
        _ => return e.into(),
    };
    TransferError::Line { line, message }
}

fn bump(c: &mut Counts, record: &Record) {
    match record {
        Record::User(_) => c.users += 1,
        Record::Prompt(_) => c.prompts += 1,
        Record::Version(_) => c.versions += 1,
        Record::Label(_) => c.labels += 1,
        Record::Run(_) => c.runs += 1,
        Record::ApiToken(_) => c.api_tokens += 1,
        Record::Provider(_) => c.providers += 1,
        Record::ModelPreset(_) => c.presets += 1,
    }
}
