-- Model presets (issue 17): a named provider + model + parameters, offered
-- in the run panel and as experiment variants. Kept in lockstep with
-- ../postgres/0012_model_presets.up.sql.
--
-- `provider` is a name, not a foreign key: it may be a provider of the
-- server's environment, which has no row, and a preset whose provider was
-- deleted is refused when used (a 422 naming it), not deleted with it.
-- A run or an experiment copies what a preset resolves to when it starts,
-- so editing or deleting a preset never changes what was run.
create table model_presets (
    id          text primary key,
    name        text not null unique,
    provider    text,                          -- null: the default provider
    model       text not null,
    params      text not null default '{}',    -- JSON ModelSettings, without `model`
    created_at  text not null,
    updated_at  text not null
);
