-- Token counts the server estimated because the upstream sent no usage
-- (1 = estimated; 0 = the upstream's own, or no counts at all).
alter table test_runs add column tokens_estimated integer not null default 0;
