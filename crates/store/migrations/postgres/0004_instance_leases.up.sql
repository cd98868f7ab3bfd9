-- Leases (issue 14): every server process is an instance that holds a lease
-- in this table and renews it while it lives. Work it started (runs today,
-- experiment cells next) names it as owner; only work whose owner's lease has
-- expired (or which has no owner: rows from before this migration) is taken
-- from it. A second replica starting no longer touches the first one's runs.
-- Kept in lockstep with ../sqlite/0004_instance_leases.up.sql.
create table instances (
    id               uuid primary key,
    -- host:port it serves on. A new process with the same name is the
    -- restart of a dead one (two live processes cannot listen on one port),
    -- so it takes over that one's work at once instead of after the lease.
    name             text not null,
    version          text not null,
    started_at       timestamptz not null,
    lease_expires_at timestamptz not null
);
create index instances_name_idx on instances (name);

-- No foreign key: the instance row goes away when its lease is given up or
-- taken over, while its finished runs stay.
alter table test_runs add column owner_instance uuid;
