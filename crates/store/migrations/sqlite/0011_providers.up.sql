-- Provider connections managed in the app (issue 17). Kept in lockstep with
-- ../postgres/0011_providers.up.sql.
--
-- Secrets are sealed by the app (AES-256-GCM under the server key, which is
-- never stored here): the API key and the extra headers (one JSON object,
-- sealed as one value, since any header may carry a credential) are each a
-- nonce plus a ciphertext. A provider without a key (a local Ollama) has
-- both key columns null.
create table providers (
    id                text primary key,
    name              text not null unique,
    base_url          text not null,
    api_key_nonce     blob,
    api_key_sealed    blob,
    headers_nonce     blob,
    headers_sealed    blob,
    models            text not null default '[]',  -- JSON array of model names
    prices            text not null default '{}',  -- JSON object: model -> {input, output} USD per 1M tokens
    created_at        text not null,
    updated_at        text not null,
    -- Both halves of a sealed value, or neither.
    check ((api_key_nonce is null) = (api_key_sealed is null)),
    check ((headers_nonce is null) = (headers_sealed is null))
);
