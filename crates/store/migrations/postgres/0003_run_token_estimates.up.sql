-- Token counts the server estimated because the upstream sent no usage
-- (true = estimated; false = the upstream's own, or no counts at all).
alter table test_runs add column tokens_estimated boolean not null default false;
