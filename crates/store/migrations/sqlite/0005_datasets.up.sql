-- Datasets and their versioned items (SQLite). Kept in lockstep with
-- ../postgres/0005_datasets.up.sql.
--
-- Versioning: `datasets.version` is bumped once per change (an add, edit or
-- delete call, or an import) inside the transaction that makes it. Item rows
-- are revisions: never changed, except that the revision an edit or delete
-- replaces is closed by setting `valid_to`. The dataset as of version N is
-- every row with valid_from <= N and (valid_to is null or valid_to > N).

create table datasets (
    id          text primary key,
    name        text not null unique,
    slug        text not null unique,
    description text,
    version     integer not null default 0,   -- the current version; 0 = created, no change yet
    item_count  integer not null default 0,   -- items at the current version, kept by the changing transaction
    created_at  text not null,
    updated_at  text not null
);
-- The datasets list: newest change first, keyset on (updated_at, id).
create index datasets_updated_idx on datasets (updated_at desc, id desc);

create table dataset_items (
    id         text primary key,             -- the revision: experiments reference this exact row
    dataset_id text not null references datasets (id) on delete cascade,
    item_id    text not null,                -- the logical item, the same across its revisions
    variables  text not null,                -- JSON object of strings
    expected   text,                         -- JSON value (a string or anything)
    metadata   text not null default '{}',   -- JSON object
    valid_from integer not null,
    valid_to   integer,
    created_at text not null
);
-- Items at any version, in item order: (dataset, item) is the page key.
create index dataset_items_item_idx on dataset_items (dataset_id, item_id, valid_from);
-- At most one current revision per item, and the current page's index.
create unique index dataset_items_current_idx on dataset_items (dataset_id, item_id) where valid_to is null;

-- Revisions are immutable: the only change allowed is closing a current one.
create trigger dataset_items_immutable
before update on dataset_items
when old.valid_to is not null or new.valid_to is null
  or new.id is not old.id or new.dataset_id is not old.dataset_id or new.item_id is not old.item_id
  or new.variables is not old.variables or new.expected is not old.expected
  or new.metadata is not old.metadata or new.valid_from is not old.valid_from
  or new.created_at is not old.created_at
begin
    select raise(abort, 'dataset_items revisions are immutable');
end;
