-- Model presets (PostgreSQL). Kept in lockstep with
-- ../sqlite/0012_model_presets.up.sql, which explains the columns.
create table model_presets (
    id          uuid primary key,
    name        text not null unique,
    provider    text,
    model       text not null,
    params      jsonb not null default '{}',
    created_at  timestamptz not null,
    updated_at  timestamptz not null
);
