-- Datasets and their versioned items (PostgreSQL). Kept in lockstep with
-- ../sqlite/0005_datasets.up.sql, which explains the versioning scheme.

create table datasets (
    id          uuid primary key,
    name        text not null unique,
    slug        text not null unique,
    description text,
    version     bigint not null default 0,
    item_count  bigint not null default 0,
    created_at  timestamptz not null,
    updated_at  timestamptz not null
);
create index datasets_updated_idx on datasets (updated_at desc, id desc);

create table dataset_items (
    id         uuid primary key,
    dataset_id uuid not null references datasets (id) on delete cascade,
    item_id    uuid not null,
    variables  jsonb not null,
    expected   jsonb,
    metadata   jsonb not null default '{}',
    valid_from bigint not null,
    valid_to   bigint,
    created_at timestamptz not null
);
create index dataset_items_item_idx on dataset_items (dataset_id, item_id, valid_from);
create unique index dataset_items_current_idx on dataset_items (dataset_id, item_id) where valid_to is null;

create function dataset_items_reject_change() returns trigger
language plpgsql as $$
begin
    if old.valid_to is not null or new.valid_to is null
       or (new.id, new.dataset_id, new.item_id, new.variables, new.expected, new.metadata,
           new.valid_from, new.created_at)
          is distinct from
          (old.id, old.dataset_id, old.item_id, old.variables, old.expected, old.metadata,
           old.valid_from, old.created_at) then
        raise exception 'dataset_items revisions are immutable';
    end if;
    return new;
end;
$$;

create trigger dataset_items_immutable
before update on dataset_items
for each row execute function dataset_items_reject_change();
