-- PromptRefine schema v1 (PostgreSQL). Kept in lockstep with ../sqlite/0001_initial.up.sql:
-- same tables, same columns, same names. Integers are bigint so both backends decode to i64.

create table users (
    id            uuid primary key,
    email         text not null unique,
    password_hash text not null,
    created_at    timestamptz not null,
    updated_at    timestamptz not null
);

create table sessions (
    id_hash             text primary key,
    user_id             uuid not null references users (id) on delete cascade,
    csrf_token          text not null,
    created_at          timestamptz not null,
    last_seen_at        timestamptz not null,
    idle_expires_at     timestamptz not null,
    absolute_expires_at timestamptz not null
);
create index sessions_user_idx on sessions (user_id);
create index sessions_absolute_expiry_idx on sessions (absolute_expires_at);

create table api_tokens (
    id           uuid primary key,
    user_id      uuid not null references users (id) on delete cascade,
    name         text not null,
    prefix       text not null,
    token_hash   text not null unique,
    created_at   timestamptz not null,
    last_used_at timestamptz,
    revoked_at   timestamptz
);
create index api_tokens_user_idx on api_tokens (user_id, created_at desc);

create table setup_tokens (
    token_hash text primary key,
    created_at timestamptz not null,
    expires_at timestamptz not null
);

create table login_throttle (
    key             text primary key,
    failures        bigint not null,
    last_failure_at timestamptz not null,
    blocked_until   timestamptz
);

create table prompts (
    id                 uuid primary key,
    title              text not null,
    slug               text not null unique,
    type               text not null check (type in ('text', 'chat')),
    tags               jsonb not null default '[]',
    current_version_id uuid,
    next_version       bigint not null default 1,
    created_at         timestamptz not null,
    updated_at         timestamptz not null
);
create index prompts_updated_idx on prompts (updated_at desc, id desc);

create table prompt_tags (
    prompt_id uuid not null references prompts (id) on delete cascade,
    tag       text not null,
    primary key (prompt_id, tag)
);
create index prompt_tags_tag_idx on prompt_tags (tag, prompt_id);

create table prompt_versions (
    id         uuid primary key,
    prompt_id  uuid not null references prompts (id) on delete cascade,
    number     bigint not null,
    content    jsonb not null,
    settings   jsonb not null,
    variables  jsonb not null,
    note       text,
    author_id  uuid references users (id) on delete set null,
    created_at timestamptz not null,
    unique (prompt_id, number)
);

create function prompt_versions_reject_update() returns trigger
language plpgsql as $$
begin
    raise exception 'prompt_versions are immutable';
end;
$$;

create trigger prompt_versions_immutable
before update on prompt_versions
for each row execute function prompt_versions_reject_update();

create table prompt_labels (
    prompt_id  uuid not null references prompts (id) on delete cascade,
    label      text not null,
    version_id uuid not null references prompt_versions (id) on delete cascade,
    updated_at timestamptz not null,
    primary key (prompt_id, label)
);

create table test_runs (
    id                uuid primary key,
    prompt_id         uuid not null references prompts (id) on delete cascade,
    version_id        uuid not null references prompt_versions (id) on delete cascade,
    provider          text not null,
    model             text not null,
    params            jsonb not null,
    variables         jsonb not null,
    input             jsonb not null,
    output            text not null default '',
    finish_reason     text,
    status            text not null check (status in ('queued', 'running', 'succeeded', 'failed', 'cancelled', 'interrupted')),
    error_code        text,
    error_message     text,
    prompt_tokens     bigint,
    completion_tokens bigint,
    total_tokens      bigint,
    cost_micro_usd    bigint,
    latency_ms        bigint,
    ttft_ms           bigint,
    request_id        text,
    created_at        timestamptz not null,
    finished_at       timestamptz
);
create index test_runs_prompt_idx on test_runs (prompt_id, created_at desc, id desc);
create index test_runs_unfinished_idx on test_runs (status) where status in ('queued', 'running');
