//! `instances`: the lease each live process holds, and the sweep that takes
//! unfinished work from processes whose lease has run out.
//!
//! A process registers at start with a lease of a few tens of seconds and
//! renews it (one row, however much work it owns) until it stops. Work it
//! starts names it as `owner_instance`. The sweep, run by every live
//! instance, marks unfinished runs `interrupted` only when their owner holds
//! no live lease, so a replica that starts never touches another live
//! replica's runs, and a process that dies loses its runs once its lease
//! expires (at once when it is restarted under the same name).
//!
//! Times are the processes' clocks: the lease must be longer than the clock
//! skew between replicas (NTP keeps it to milliseconds; the default lease is
//! 30 s).

use promptrefine_core::InstanceId;
use time::OffsetDateTime;

use crate::codec::{DbTime, DbUuid};
use crate::error::{Result, StoreError};
use crate::{Store, on_backend};

/// A live process, as it registers.
#[derive(Clone, Debug)]
pub struct NewInstance {
    pub id: InstanceId,
    /// `host:port` (or the configured name); unique among live processes.
    pub name: String,
    pub version: String,
}

/// What a sweep did.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Swept {
    /// Runs whose owner had no live lease, now `interrupted`.
    pub runs_interrupted: u64,
    /// Expired instance rows removed.
    pub instances_removed: u64,
}

pub struct InstanceRepo<'a> {
    store: &'a Store,
}

impl Store {
    pub fn instances(&self) -> InstanceRepo<'_> {
        InstanceRepo { store: self }
    }
}

impl InstanceRepo<'_> {
    /// Registers `new` with a lease until `lease_until`, and removes the rows
    /// of earlier processes with the same name: they are dead (a live one
    /// would still hold the name), so the next sweep takes their work at once.
    /// Returns how many such predecessors there were.
    pub async fn register(&self, new: &NewInstance, lease_until: OffsetDateTime) -> Result<u64> {
        let now = DbTime::now();
        on_backend!(self.store, write_retry, |pool, _pg| {
            let mut tx = pool.begin().await?;
            let predecessors = sqlx::query("delete from instances where name = $1 and id <> $2")
                .bind(&new.name)
                .bind(DbUuid::from(new.id))
                .execute(&mut *tx)
                .await?
                .rows_affected();
            sqlx::query(
                "insert into instances (id, name, version, started_at, lease_expires_at)
                 values ($1, $2, $3, $4, $5)
                 on conflict (id) do update set lease_expires_at = excluded.lease_expires_at",
            )
            .bind(DbUuid::from(new.id))
            .bind(&new.name)
            .bind(&new.version)
            .bind(now)
            .bind(DbTime::from(lease_until))
            .execute(&mut *tx)
            .await?;
            tx.commit().await?;
            Ok::<_, StoreError>(predecessors)
        })
    }

    /// Extends the lease of `id`. `false` when the row is gone: the lease
    /// had expired and another instance swept it (this process was stalled
    /// longer than its lease), so its unfinished work was taken; the caller
    /// registers again and logs it.
    pub async fn renew(&self, id: InstanceId, lease_until: OffsetDateTime) -> Result<bool> {
        on_backend!(self.store, write_retry, |pool, _pg| {
            let done = sqlx::query("update instances set lease_expires_at = $2 where id = $1")
                .bind(DbUuid::from(id))
                .bind(DbTime::from(lease_until))
                .execute(pool)
                .await?;
            Ok(done.rows_affected() > 0)
        })
    }

    /// Gives the lease up (graceful shutdown, after the work was drained).
    pub async fn retire(&self, id: InstanceId) -> Result<()> {
        on_backend!(self.store, write_retry, |pool, _pg| {
            sqlx::query("delete from instances where id = $1")
                .bind(DbUuid::from(id))
                .execute(pool)
                .await?;
            Ok(())
        })
    }

    /// Marks unfinished runs whose owner holds no live lease (or that have
    /// no owner: rows from before leases) `interrupted`, then removes the
    /// expired instance rows. One transaction, so a run is never left
    /// pointing at a removed owner without being swept.
    pub async fn sweep(&self) -> Result<Swept> {
        let now = DbTime::now();
        on_backend!(self.store, write_retry, |pool, _pg| {
            let mut tx = pool.begin().await?;
            let runs_interrupted = sqlx::query(
                "update test_runs set status = 'interrupted', error_code = 'interrupted',
                        error_message = 'the server stopped while this run was in flight',
                        finished_at = $1
                 where status in ('queued', 'running')
                   and (owner_instance is null
                        or owner_instance not in
                           (select id from instances where lease_expires_at > $1))",
            )
            .bind(now)
            .execute(&mut *tx)
            .await?
            .rows_affected();
            let instances_removed =
                sqlx::query("delete from instances where lease_expires_at <= $1")
                    .bind(now)
                    .execute(&mut *tx)
                    .await?
                    .rows_affected();
            tx.commit().await?;
            Ok::<_, StoreError>(Swept {
                runs_interrupted,
                instances_removed,
            })
        })
    }

    /// The names of instances holding a live lease (for `/healthz` and tests).
    pub async fn live(&self) -> Result<Vec<String>> {
        let now = DbTime::now();
        on_backend!(self.store, read_retry, |pool, _pg| {
            Ok(sqlx::query_scalar(
                "select name from instances where lease_expires_at > $1 order by name",
            )
            .bind(now)
            .fetch_all(pool)
            .await?)
        })
    }
}
