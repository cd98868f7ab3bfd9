-- Provider connections managed in the app (PostgreSQL). Kept in lockstep
-- with ../sqlite/0011_providers.up.sql, which explains the sealed columns.
create table providers (
    id                uuid primary key,
    name              text not null unique,
    base_url          text not null,
    api_key_nonce     bytea,
    api_key_sealed    bytea,
    headers_nonce     bytea,
    headers_sealed    bytea,
    models            jsonb not null default '[]',
    prices            jsonb not null default '{}',
    created_at        timestamptz not null,
    updated_at        timestamptz not null,
    check ((api_key_nonce is null) = (api_key_sealed is null)),
    check ((headers_nonce is null) = (headers_sealed is null))
);
