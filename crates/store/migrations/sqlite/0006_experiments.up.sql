-- Experiments (issue 14): prompt versions run over a pinned dataset version.
-- Kept in lockstep with ../postgres/0006_experiments.up.sql.
--
-- The work lives here, not in a process: one row per cell (item × variant ×
-- repeat) with a status and an owner instance; any live instance claims
-- pending cells, and a cell whose owner's lease is gone goes back to
-- pending. Counters and money are kept on the experiment row, changed in the
-- same transaction as the cell they count, so progress never needs a
-- count(*) and the budget check is one guarded update.
create table experiments (
    id                 text primary key,
    name               text not null,
    prompt_id          text not null references prompts (id) on delete cascade,
    dataset_id         text not null,
    dataset_version    integer not null,
    -- The variants as resolved at creation: version id, provider, model, params.
    variants           text not null,
    repeats            integer not null,
    concurrency        integer not null,
    status             text not null check (status in ('queued', 'running', 'paused', 'succeeded', 'failed', 'cancelled')),
    pause_reason       text,
    error_code         text,
    error_message      text,
    max_cost_micro_usd integer,
    -- Settled cost of the cells that ended, and the worst-case cost reserved
    -- by the cells in flight: spent + reserved never exceeds the cap.
    spent_micro_usd    integer not null default 0,
    reserved_micro_usd integer not null default 0,
    cells_total        integer not null,
    cells_pending      integer not null,
    cells_running      integer not null default 0,
    cells_succeeded    integer not null default 0,
    cells_failed       integer not null default 0,
    cells_cancelled    integer not null default 0,
    estimate           text not null,
    evaluators         text not null,
    created_at         text not null,
    started_at         text,
    finished_at        text,
    updated_at         text not null
);
create index experiments_created_idx on experiments (created_at desc, id desc);
create index experiments_prompt_idx on experiments (prompt_id, created_at desc, id desc);
create index experiments_active_idx on experiments (status) where status in ('queued', 'running');

-- The dataset items as the experiment read them (its pinned version), so
-- editing or deleting the dataset never changes what an experiment shows.
create table experiment_items (
    experiment_id text not null references experiments (id) on delete cascade,
    position      integer not null,
    item_id       text not null,
    variables     text not null,
    expected      text,
    metadata      text,
    primary key (experiment_id, position)
);

create table experiment_cells (
    id                 text primary key,
    experiment_id      text not null references experiments (id) on delete cascade,
    position           integer not null,
    variant            integer not null,
    repeat_index       integer not null,
    status             text not null check (status in ('pending', 'running', 'succeeded', 'failed', 'cancelled')),
    owner_instance     text,
    attempts           integer not null default 0,
    -- The run of the latest attempt.
    run_id             text,
    -- Its worst-case cost (prompt tokens + max_tokens at the model's
    -- price), computed at creation: what the budget reserves while it runs.
    worst_micro_usd    integer not null default 0,
    cost_micro_usd     integer,
    updated_at         text not null,
    unique (experiment_id, position, variant, repeat_index)
);
create index experiment_cells_pending_idx on experiment_cells (experiment_id, position, variant, repeat_index) where status = 'pending';
create index experiment_cells_running_idx on experiment_cells (owner_instance) where status = 'running';

-- A cell's run is an ordinary run, visible in run history.
alter table test_runs add column experiment_id text;
alter table test_runs add column item_id text;
alter table test_runs add column variant integer;
alter table test_runs add column repeat_index integer;
alter table test_runs add column attempts integer;
create index test_runs_experiment_idx on test_runs (experiment_id, created_at desc, id desc) where experiment_id is not null;
