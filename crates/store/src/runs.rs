//! `test_runs`: one row per run, created when the run starts and finished once.

use std::collections::BTreeMap;

use promptrefine_core::{
    ChatMessage, ExperimentId, InstanceId, ModelSettings, PromptId, Run, RunId, RunKind, RunStatus,
    ToolCall, VersionId,
};
use sqlx::types::Json;
use sqlx::{FromRow, QueryBuilder};

use crate::codec::{DbTime, DbUuid};
use crate::error::{Result, StoreError};
use crate::page::{Cursor, Page, page_from, push_newest_first};
use crate::{Store, on_backend};

const RUN_COLUMNS: &str = "id, prompt_id, version_id, provider, model, params, variables, input, output, \
     finish_reason, status, error_code, error_message, prompt_tokens, completion_tokens, total_tokens, \
     cost_micro_usd, latency_ms, ttft_ms, request_id, created_at, finished_at, tokens_estimated, \
     experiment_id, item_id, variant, repeat_index, attempts, judge_of, request_body, response_id, \
     response_model, system_fingerprint, tool_calls, replay_of";

/// A run of a prompt's history with the number of its version, joined in
/// the same query (a page of runs never looks versions up one by one).
#[derive(Clone, Debug, PartialEq)]
pub struct ListedRun {
    pub run: Run,
    pub version_number: i64,
}

#[derive(FromRow)]
struct ListedRunRow {
    #[sqlx(flatten)]
    run: RunRow,
    version_number: i64,
}

#[derive(FromRow)]
struct RunRow {
    id: DbUuid,
    prompt_id: DbUuid,
    version_id: DbUuid,
    provider: String,
    model: String,
    params: Json<ModelSettings>,
    variables: Json<BTreeMap<String, String>>,
    input: Json<Vec<ChatMessage>>,
    output: String,
    finish_reason: Option<String>,
    status: String,
    error_code: Option<String>,
    error_message: Option<String>,
    prompt_tokens: Option<i64>,
    completion_tokens: Option<i64>,
    total_tokens: Option<i64>,
    cost_micro_usd: Option<i64>,
    latency_ms: Option<i64>,
    ttft_ms: Option<i64>,
    request_id: Option<String>,
    created_at: DbTime,
    finished_at: Option<DbTime>,
    /// `integer` 0/1 on SQLite, `boolean` on PostgreSQL: both decode to `bool`.
    tokens_estimated: bool,
    experiment_id: Option<DbUuid>,
    item_id: Option<DbUuid>,
    variant: Option<i64>,
    repeat_index: Option<i64>,
    attempts: Option<i64>,
    judge_of: Option<DbUuid>,
    /// Text on both backends: the body byte for byte.
    request_body: Option<String>,
    response_id: Option<String>,
    response_model: Option<String>,
    system_fingerprint: Option<String>,
    tool_calls: Option<Json<Vec<ToolCall>>>,
    replay_of: Option<DbUuid>,
}

impl From<RunRow> for Run {
    fn from(r: RunRow) -> Self {
        Run {
            id: r.id.0.into(),
            prompt_id: r.prompt_id.0.into(),
            version_id: r.version_id.0.into(),
            provider: r.provider,
            model: r.model,
            params: r.params.0,
            variables: r.variables.0,
            input: r.input.0,
            output: r.output,
            finish_reason: r.finish_reason,
            status: RunStatus::parse(&r.status).unwrap_or(RunStatus::Failed),
            error_code: r.error_code,
            error_message: r.error_message,
            prompt_tokens: r.prompt_tokens,
            completion_tokens: r.completion_tokens,
            total_tokens: r.total_tokens,
            tokens_estimated: r.tokens_estimated,
            cost_micro_usd: r.cost_micro_usd,
            latency_ms: r.latency_ms,
            ttft_ms: r.ttft_ms,
            request_id: r.request_id,
            created_at: r.created_at.0,
            finished_at: r.finished_at.map(|t| t.0),
            experiment_id: r.experiment_id.map(|e| e.0.into()),
            item_id: r.item_id.map(|i| i.0),
            variant: r.variant,
            repeat: r.repeat_index,
            attempt: r.attempts,
            kind: if r.judge_of.is_some() {
                RunKind::Judge
            } else {
                RunKind::Test
            },
            judge_of: r.judge_of.map(|j| j.0.into()),
            // Stored by this server, so it parses; a row edited by hand
            // that does not shows as a JSON string.
            request_body: r
                .request_body
                .map(|b| serde_json::from_str(&b).unwrap_or(serde_json::Value::String(b))),
            response_id: r.response_id,
            response_model: r.response_model,
            system_fingerprint: r.system_fingerprint,
            tool_calls: r.tool_calls.map(|t| t.0),
            replay_of: r.replay_of.map(|j| j.0.into()),
        }
    }
}

/// A run about to be sent upstream.
#[derive(Clone, Debug)]
pub struct NewRun {
    pub id: RunId,
    pub prompt_id: PromptId,
    pub version_id: VersionId,
    pub provider: String,
    pub model: String,
    pub params: ModelSettings,
    pub variables: BTreeMap<String, String>,
    pub input: Vec<ChatMessage>,
    pub request_id: Option<String>,
    /// The process that executes it; the run is only taken from it (marked
    /// `interrupted`) once its lease is gone (see [`crate::InstanceRepo`]).
    pub owner: InstanceId,
    /// Set when the run is an attempt at an experiment cell.
    pub cell: Option<RunCell>,
    /// Set when the run is an LLM judge's call on that run's output.
    pub judge_of: Option<RunId>,
    /// The JSON text sent upstream, exactly (no key: that is a header).
    pub request_body: Option<String>,
    /// Set when the run sends another run's stored body again.
    pub replay_of: Option<RunId>,
}

/// The experiment cell a run is an attempt at.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RunCell {
    pub experiment_id: ExperimentId,
    pub item_id: uuid::Uuid,
    pub variant: i64,
    pub repeat: i64,
    /// 1 for the first attempt.
    pub attempt: i64,
}

/// How a run ended. Serialized (without its status, see [`RunEnd`]) as
/// the columns of [`RUN_END_COLUMNS`].
#[derive(Clone, Debug, Default, PartialEq, serde::Serialize)]
pub struct RunOutcome {
    #[serde(skip)]
    pub status: Option<RunStatus>,
    pub output: String,
    pub finish_reason: Option<String>,
    pub error_code: Option<String>,
    pub error_message: Option<String>,
    pub prompt_tokens: Option<i64>,
    pub completion_tokens: Option<i64>,
    pub total_tokens: Option<i64>,
    /// The token counts are the server's estimate (the upstream sent none).
    pub tokens_estimated: bool,
    pub cost_micro_usd: Option<i64>,
    pub latency_ms: Option<i64>,
    pub ttft_ms: Option<i64>,
    /// What the answer said about itself: its id, the model that answered.
    pub response_id: Option<String>,
    pub response_model: Option<String>,
    pub system_fingerprint: Option<String>,
    /// `None` (not an empty list) when the answer called no tool.
    pub tool_calls: Option<Vec<ToolCall>>,
}

#[derive(Clone, Debug, Default)]
pub struct RunFilter {
    pub version_id: Option<VersionId>,
    /// Only the runs of this experiment's cells.
    pub experiment_id: Option<ExperimentId>,
    /// The version by its number (as a person types it), through the join.
    pub version_number: Option<i64>,
    pub status: Option<RunStatus>,
}

/// The columns of a run's outcome as [`finish_many_sql`] reads them from a
/// JSON array of [`RunEnd`]s, with their PostgreSQL types.
const RUN_END_COLUMNS: &[(&str, &str)] = &[
    ("id", "uuid"),
    ("status", "text"),
    ("output", "text"),
    ("finish_reason", "text"),
    ("error_code", "text"),
    ("error_message", "text"),
    ("prompt_tokens", "bigint"),
    ("completion_tokens", "bigint"),
    ("total_tokens", "bigint"),
    ("cost_micro_usd", "bigint"),
    ("latency_ms", "bigint"),
    ("ttft_ms", "bigint"),
    ("tokens_estimated", "boolean"),
    ("response_id", "text"),
    ("response_model", "text"),
    ("system_fingerprint", "text"),
    ("tool_calls", "jsonb"),
];

/// One run's outcome, an element of the JSON array [`finish_many_sql`]
/// binds (its fields are [`RUN_END_COLUMNS`]).
#[derive(serde::Serialize)]
pub(crate) struct RunEnd<'a> {
    id: uuid::Uuid,
    /// An outcome without a status is a failure, as in `finish`.
    status: &'static str,
    #[serde(flatten)]
    outcome: &'a RunOutcome,
}

impl<'a> RunEnd<'a> {
    pub(crate) fn new(id: RunId, outcome: &'a RunOutcome) -> Self {
        RunEnd {
            id: id.into(),
            status: outcome.status.unwrap_or(RunStatus::Failed).as_str(),
            outcome,
        }
    }
}

/// Writes the outcomes of many runs in one statement: `$1` the JSON array
/// of [`RunEnd`]s, `$2` the time. Each run only once (one already final,
/// cancelled from another replica, is left as is); answers the ids written.
pub(crate) fn finish_many_sql(pg: bool) -> String {
    let set: Vec<String> = RUN_END_COLUMNS[1..]
        .iter()
        .map(|(c, _)| format!("{c} = v.{c}"))
        .collect();
    format!(
        "update test_runs set {}, finished_at = $2
           from {}
          where test_runs.id = v.id and test_runs.status in ('queued', 'running')
         returning test_runs.id",
        set.join(", "),
        crate::codec::json_rows(pg, "$1", RUN_END_COLUMNS)
    )
}

/// `insert into test_runs … values …` of runs starting now, as `running`:
/// a macro, so one text serves both backends' query builders.
macro_rules! insert_started {
    ($runs:expr, $now:expr) => {{
        let mut qb = QueryBuilder::new(
            "insert into test_runs (id, prompt_id, version_id, provider, model, params, variables, input,
                                    status, request_id, created_at, owner_instance,
                                    experiment_id, item_id, variant, repeat_index, attempts, judge_of,
                                    request_body, replay_of) ",
        );
        qb.push_values($runs, |mut row, new: &NewRun| {
            row.push_bind(DbUuid::from(new.id))
                .push_bind(DbUuid::from(new.prompt_id))
                .push_bind(DbUuid::from(new.version_id))
                .push_bind(&new.provider)
                .push_bind(&new.model)
                .push_bind(Json(&new.params))
                .push_bind(Json(&new.variables))
                .push_bind(Json(&new.input))
                .push_unseparated(", 'running'")
                .push_bind(new.request_id.as_deref())
                .push_bind($now)
                .push_bind(DbUuid::from(new.owner))
                .push_bind(new.cell.map(|c| DbUuid::from(c.experiment_id)))
                .push_bind(new.cell.map(|c| DbUuid(c.item_id)))
                .push_bind(new.cell.map(|c| c.variant))
                .push_bind(new.cell.map(|c| c.repeat))
                .push_bind(new.cell.map(|c| c.attempt))
                .push_bind(new.judge_of.map(DbUuid::from))
                .push_bind(new.request_body.as_deref())
                .push_bind(new.replay_of.map(DbUuid::from));
        });
        qb
    }};
}

pub struct RunRepo<'a> {
    store: &'a Store,
}

impl Store {
    pub fn runs(&self) -> RunRepo<'_> {
        RunRepo { store: self }
    }
}

impl RunRepo<'_> {
    /// Records a run as `running`, owned by `new.owner`, before the upstream
    /// call, so a crash leaves a trace that the lease sweep turns into
    /// `interrupted` once the owner's lease is gone.
    pub async fn start(&self, new: &NewRun) -> Result<Run> {
        let now = DbTime::now();
        on_backend!(self.store, write_retry, |pool, _pg| {
            let mut qb = insert_started!(std::slice::from_ref(new), now);
            qb.push(format_args!(" returning {RUN_COLUMNS}"));
            let row: RunRow = qb.build_query_as().fetch_one(pool).await?;
            Ok::<_, StoreError>(row.into())
        })
    }

    /// [`Self::start`] for many runs in one statement: an experiment's
    /// engine starts the cells it claimed together, so a busy experiment
    /// costs a write per batch and not per cell.
    pub async fn start_many(&self, runs: &[NewRun]) -> Result<()> {
        if runs.is_empty() {
            return Ok(());
        }
        let now = DbTime::now();
        on_backend!(self.store, write_retry, |pool, _pg| {
            // Bound parameters per run: 19, so 1,000 runs stay under either
            // backend's limit of bound parameters in one statement.
            for chunk in runs.chunks(1_000) {
                insert_started!(chunk, now).build().execute(pool).await?;
            }
            Ok::<_, StoreError>(())
        })
    }

    /// Writes the outcome once; a run already final (e.g. cancelled) is left as is.
    /// Returns whether this call finished it.
    pub async fn finish(&self, id: RunId, outcome: &RunOutcome) -> Result<bool> {
        Ok(self.finish_returning(id, outcome).await?.is_some())
    }

    /// [`Self::finish`] that answers the run as this call stored it (one
    /// statement, no read after the write), or `None` when it was already
    /// final.
    pub async fn finish_returning(&self, id: RunId, outcome: &RunOutcome) -> Result<Option<Run>> {
        let now = DbTime::now();
        on_backend!(self.store, write_retry, |pool, _pg| {
            let row: Option<RunRow> = sqlx::query_as(&format!(
                "update test_runs set status = $2, output = $3, finish_reason = $4, error_code = $5,
                        error_message = $6, prompt_tokens = $7, completion_tokens = $8, total_tokens = $9,
                        cost_micro_usd = $10, latency_ms = $11, ttft_ms = $12, finished_at = $13,
                        tokens_estimated = $14, response_id = $15, response_model = $16,
                        system_fingerprint = $17, tool_calls = $18
                 where id = $1 and status in ('queued', 'running')
                 returning {RUN_COLUMNS}"
            ))
            .bind(DbUuid::from(id))
            .bind(outcome.status.unwrap_or(RunStatus::Failed).as_str())
            .bind(&outcome.output)
            .bind(outcome.finish_reason.as_deref())
            .bind(outcome.error_code.as_deref())
            .bind(outcome.error_message.as_deref())
            .bind(outcome.prompt_tokens)
            .bind(outcome.completion_tokens)
            .bind(outcome.total_tokens)
            .bind(outcome.cost_micro_usd)
            .bind(outcome.latency_ms)
            .bind(outcome.ttft_ms)
            .bind(now)
            .bind(outcome.tokens_estimated)
            .bind(outcome.response_id.as_deref())
            .bind(outcome.response_model.as_deref())
            .bind(outcome.system_fingerprint.as_deref())
            .bind(outcome.tool_calls.as_ref().map(Json))
            .fetch_optional(pool)
            .await?;
            Ok(row.map(Run::from))
        })
    }

    pub async fn get(&self, id: RunId) -> Result<Run> {
        on_backend!(self.store, read_retry, |pool, _pg| {
            let row: RunRow = sqlx::query_as(&format!(
                "select {RUN_COLUMNS} from test_runs where id = $1"
            ))
            .bind(DbUuid::from(id))
            .fetch_one(pool)
            .await?;
            Ok(row.into())
        })
    }

    /// The request body a run stored, as the exact text that was sent.
    pub async fn request_body(&self, id: RunId) -> Result<Option<String>> {
        on_backend!(self.store, read_retry, |pool, _pg| {
            let row: (Option<String>,) =
                sqlx::query_as("select request_body from test_runs where id = $1")
                    .bind(DbUuid::from(id))
                    .fetch_one(pool)
                    .await?;
            Ok(row.0)
        })
    }

    /// The judge runs that scored `run` (`judge_of`), oldest first.
    pub async fn judges_of(&self, run: RunId) -> Result<Vec<Run>> {
        let rows: Vec<RunRow> = on_backend!(self.store, read_retry, |pool, _pg| {
            // test_runs_judge_of_idx serves it.
            Ok(sqlx::query_as(&format!(
                "select {RUN_COLUMNS} from test_runs where judge_of = $1 order by created_at, id"
            ))
            .bind(DbUuid::from(run))
            .fetch_all(pool)
            .await?)
        })?;
        Ok(rows.into_iter().map(Run::from).collect())
    }

    /// A prompt's runs, newest first, keyset-paginated on (created_at, id),
    /// each with its version's number.
    pub async fn list_for_prompt(
        &self,
        prompt_id: PromptId,
        filter: &RunFilter,
        cursor: Option<Cursor>,
        limit: usize,
    ) -> Result<Page<ListedRun>> {
        // `r.` on every run column: both tables have id, prompt_id, created_at.
        let columns = RUN_COLUMNS
            .split(", ")
            .map(|c| format!("r.{}", c.trim()))
            .collect::<Vec<_>>()
            .join(", ");
        let rows: Vec<ListedRunRow> = on_backend!(self.store, read_retry, |pool, _pg| {
            let mut qb = QueryBuilder::new(format!(
                "select {columns}, v.number as version_number
                 from test_runs r join prompt_versions v on v.id = r.version_id
                 where r.prompt_id = "
            ));
            qb.push_bind(DbUuid::from(prompt_id));
            if let Some(v) = filter.version_id {
                qb.push(" and r.version_id = ").push_bind(DbUuid::from(v));
            }
            if let Some(n) = filter.version_number {
                qb.push(" and v.number = ").push_bind(n);
            }
            if let Some(e) = filter.experiment_id {
                qb.push(" and r.experiment_id = ")
                    .push_bind(DbUuid::from(e));
            }
            if let Some(s) = filter.status {
                qb.push(" and r.status = ").push_bind(s.as_str());
            }
            push_newest_first(&mut qb, cursor, "r.created_at", "r.id", limit);
            qb.build_query_as()
                .fetch_all(pool)
                .await
                .map_err(crate::StoreError::from)
        })?;
        let runs = rows
            .into_iter()
            .map(|r| ListedRun {
                run: r.run.into(),
                version_number: r.version_number,
            })
            .collect();
        Ok(page_from(runs, limit, |r: &ListedRun| Cursor {
            time: r.run.created_at.into(),
            id: r.run.id.0,
        }))
    }

    /// Counts by status (for metrics and the reliability suite).
    pub async fn count_by_status(&self) -> Result<Vec<(String, i64)>> {
        on_backend!(self.store, read_retry, |pool, _pg| {
            Ok(sqlx::query_as(
                "select status, count(*) from test_runs group by status order by status",
            )
            .fetch_all(pool)
            .await?)
        })
    }
}
