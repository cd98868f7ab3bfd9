-- What the results pages filter and sort by, and the summary the pages and
-- the API show, derived once an experiment has ended (issue 16: a page of
-- 10,000 results in 50 ms). Derived data: it is valid while
-- experiments.derived_at equals experiments.updated_at (a rescore bumps
-- updated_at, so a stale derivation is never read), and it can always be
-- made again from the cells.
alter table experiments add column derived_at text;
-- The summary (JSON) as of derived_at.
alter table experiments add column summary text;

-- One row per item: its facts over all its cells. The sort keys are
-- ascending in page order (worst first, missing values last), so each sort
-- is one index range after the cursor.
create table experiment_item_facts (
    experiment_id     text not null references experiments (id) on delete cascade,
    position          integer not null,
    failed            integer not null,
    regressed         integer not null,
    flaky             integer not null,
    -- JSON array of the evaluators that failed or errored in some cell.
    failed_evaluators text not null,
    score_key         integer not null,
    cost_key          integer not null,
    latency_key       integer not null,
    primary key (experiment_id, position)
);
create index experiment_item_facts_score_idx on experiment_item_facts (experiment_id, score_key, position);
create index experiment_item_facts_cost_idx on experiment_item_facts (experiment_id, cost_key, position);
create index experiment_item_facts_latency_idx on experiment_item_facts (experiment_id, latency_key, position);
