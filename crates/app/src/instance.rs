//! This process as an owner of work: its lease in the `instances` table and
//! the keeper task that renews it and sweeps the work of dead processes.
//!
//! Every [`App`] has an [`InstanceId`]; runs it starts name it as owner. A
//! server joins (registers its lease) before it takes requests and keeps the
//! lease until it stops; see `promptrefine_store::InstanceRepo` for what
//! the sweep takes and why a restart under the same name takes over at once.

use std::time::Duration;

use promptrefine_core::InstanceId;
use promptrefine_store::{NewInstance, StoreError, Swept};
use time::OffsetDateTime;
use tokio_util::sync::CancellationToken;

use crate::App;

/// How this process holds its lease.
#[derive(Clone, Debug)]
pub struct LeaseSettings {
    /// Unique among live processes: `host:port` by default.
    pub name: String,
    /// How long the lease lasts without renewal. It is renewed every third
    /// of this, so a process that stalls for less keeps its work; one that
    /// dies loses it after at most this long (at once if restarted under
    /// the same name).
    pub lease: Duration,
}

impl LeaseSettings {
    pub const DEFAULT_LEASE: Duration = Duration::from_secs(30);

    fn until(&self) -> OffsetDateTime {
        OffsetDateTime::now_utc() + self.lease
    }

    fn new_instance(&self, id: InstanceId) -> NewInstance {
        NewInstance {
            id,
            name: self.name.clone(),
            version: env!("CARGO_PKG_VERSION").to_string(),
        }
    }
}

/// What joining found.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Joined {
    /// Earlier processes under this name (dead: this one holds the name now).
    pub predecessors: u64,
    /// Runs of dead processes marked `interrupted` by the first sweep.
    pub runs_interrupted: u64,
}

impl App {
    /// The id that work this process starts is owned by.
    pub fn instance_id(&self) -> InstanceId {
        self.instance
    }

    /// Registers this process's lease and sweeps once, before the server
    /// takes requests: work of dead processes (a predecessor under the same
    /// name, or an owner whose lease expired) is marked `interrupted`; work
    /// of live replicas is not touched.
    pub async fn join(&self, lease: &LeaseSettings) -> Result<Joined, StoreError> {
        let instances = self.store.instances();
        let predecessors = instances
            .register(&lease.new_instance(self.instance), lease.until())
            .await?;
        let Swept {
            runs_interrupted, ..
        } = instances.sweep().await?;
        self.store.experiments().reclaim_cells().await?;
        Ok(Joined {
            predecessors,
            runs_interrupted,
        })
    }

    /// Renews the lease and sweeps every third of the lease until `stop`,
    /// then gives the lease up. A store error is logged and retried at the
    /// next tick: the lease is long enough to ride out a short outage.
    pub async fn keep_lease(&self, lease: LeaseSettings, stop: CancellationToken) {
        let instances = self.store.instances();
        let mut tick = tokio::time::interval(lease.lease / 3);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        tick.tick().await; // The first tick is immediate; join just ran.
        loop {
            tokio::select! {
                _ = stop.cancelled() => break,
                _ = tick.tick() => {}
            }
            match instances.renew(self.instance, lease.until()).await {
                Ok(true) => {}
                Ok(false) => {
                    // Stalled past the lease: another instance took this
                    // one's unfinished runs (their outcomes here will be
                    // ignored). Hold a lease again for the work to come.
                    tracing::warn!(
                        instance = %self.instance,
                        "this process's lease had expired and its unfinished runs were taken; registering again"
                    );
                    if let Err(e) = instances
                        .register(&lease.new_instance(self.instance), lease.until())
                        .await
                    {
                        tracing::error!(error = %e, "cannot register the lease again");
                    }
                }
                Err(e) => tracing::error!(error = %e, "cannot renew this process's lease"),
            }
            match self.store.experiments().reclaim_cells().await {
                Ok(r) if r.pending + r.cancelled + r.completed > 0 => tracing::warn!(
                    cells = r.pending + r.cancelled + r.completed,
                    "took experiment cells back from a process whose lease expired"
                ),
                Ok(_) => {}
                Err(e) => tracing::error!(error = %e, "cannot take back expired experiment cells"),
            }
            match instances.sweep().await {
                Ok(s) if s.runs_interrupted > 0 => tracing::warn!(
                    runs = s.runs_interrupted,
                    "marked runs of a process whose lease expired as interrupted"
                ),
                Ok(_) => {}
                Err(e) => tracing::error!(error = %e, "cannot sweep expired leases"),
            }
        }
        if let Err(e) = instances.retire(self.instance).await {
            tracing::warn!(error = %e, "cannot give the lease up; it will expire");
        }
    }
}
