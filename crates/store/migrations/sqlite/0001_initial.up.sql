-- PromptRefine schema v1 (SQLite). Kept in lockstep with ../postgres/0001_initial.up.sql:
-- same tables, same columns, same names. Ids are UUIDv7 as text; times are
-- fixed-width RFC 3339 text in UTC (YYYY-MM-DDTHH:MM:SS.ffffffZ) so they sort as text.

create table users (
    id            text primary key,
    email         text not null unique,
    password_hash text not null,          -- argon2id PHC string, never the password
    created_at    text not null,
    updated_at    text not null
);

-- Server-side sessions. Only a SHA-256 of the session id is stored, so a copy of
-- the database does not let anyone sign in.
create table sessions (
    id_hash             text primary key,
    user_id             text not null references users (id) on delete cascade,
    csrf_token          text not null,
    created_at          text not null,
    last_seen_at        text not null,
    idle_expires_at     text not null,
    absolute_expires_at text not null
);
create index sessions_user_idx on sessions (user_id);
create index sessions_absolute_expiry_idx on sessions (absolute_expires_at);

create table api_tokens (
    id           text primary key,
    user_id      text not null references users (id) on delete cascade,
    name         text not null,
    prefix       text not null,           -- the first characters, shown so a user can recognise a token
    token_hash   text not null unique,
    created_at   text not null,
    last_used_at text,
    revoked_at   text
);
create index api_tokens_user_idx on api_tokens (user_id, created_at desc);

-- One-time first-run setup token (hashed). Lives in the database so any replica can check it.
create table setup_tokens (
    token_hash text primary key,
    created_at text not null,
    expires_at text not null
);

-- Login throttling counters, shared by every replica. key is 'email:…' or 'addr:…'.
create table login_throttle (
    key             text primary key,
    failures        integer not null,
    last_failure_at text not null,
    blocked_until   text
);

create table prompts (
    id                 text primary key,
    title              text not null,
    slug               text not null unique,
    type               text not null check (type in ('text', 'chat')),
    tags               text not null default '[]',   -- JSON array, the order the user gave
    current_version_id text,                          -- no FK: versions reference prompts (cycle); kept right by the app's transactions
    next_version       integer not null default 1,    -- per-prompt counter, bumped in the saving transaction
    created_at         text not null,
    updated_at         text not null
);
-- The prompts list: newest change first, keyset on (updated_at, id).
create index prompts_updated_idx on prompts (updated_at desc, id desc);

-- Tag filter index; prompts.tags stays the source for display.
create table prompt_tags (
    prompt_id text not null references prompts (id) on delete cascade,
    tag       text not null,
    primary key (prompt_id, tag)
);
create index prompt_tags_tag_idx on prompt_tags (tag, prompt_id);

create table prompt_versions (
    id         text primary key,
    prompt_id  text not null references prompts (id) on delete cascade,
    number     integer not null,
    content    text not null,   -- JSON: a string (text prompt) or [{role, content}] (chat prompt)
    settings   text not null,   -- JSON model settings
    variables  text not null,   -- JSON array of variable names found at save time
    note       text,
    author_id  text references users (id) on delete set null,
    created_at text not null,
    unique (prompt_id, number)
);

-- Versions are immutable: the database itself refuses to change one.
create trigger prompt_versions_immutable
before update on prompt_versions
begin
    select raise(abort, 'prompt_versions are immutable');
end;

create table prompt_labels (
    prompt_id  text not null references prompts (id) on delete cascade,
    label      text not null,
    version_id text not null references prompt_versions (id) on delete cascade,
    updated_at text not null,
    primary key (prompt_id, label)
);

create table test_runs (
    id                text primary key,
    prompt_id         text not null references prompts (id) on delete cascade,
    version_id        text not null references prompt_versions (id) on delete cascade,
    provider          text not null,
    model             text not null,
    params            text not null,   -- JSON settings actually used
    variables         text not null,   -- JSON object
    input             text not null,   -- JSON rendered messages
    output            text not null default '',
    finish_reason     text,
    status            text not null check (status in ('queued', 'running', 'succeeded', 'failed', 'cancelled', 'interrupted')),
    error_code        text,
    error_message     text,
    prompt_tokens     integer,
    completion_tokens integer,
    total_tokens      integer,
    cost_micro_usd    integer,
    latency_ms        integer,
    ttft_ms           integer,
    request_id        text,
    created_at        text not null,
    finished_at       text
);
-- Run history per prompt, newest first, keyset on (created_at, id).
create index test_runs_prompt_idx on test_runs (prompt_id, created_at desc, id desc);
-- Runs still in flight, swept to 'interrupted' at start-up.
create index test_runs_unfinished_idx on test_runs (status) where status in ('queued', 'running');
