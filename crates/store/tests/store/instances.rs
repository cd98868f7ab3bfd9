//! Leases: unfinished runs are taken (marked `interrupted`) only from an
//! owner whose lease is gone, never from a live one.

use std::time::Duration;

use promptrefine_core::{InstanceId, RunStatus};
use promptrefine_store::{NewInstance, RunOutcome, Store, Swept};
use promptrefine_testkit::{TestDb, both_backends};
use time::OffsetDateTime;

use crate::runs::new_run;
use crate::{new_prompt, open, text_version};

both_backends!(
    a_live_owners_runs_survive_the_sweep_and_a_dead_owners_do_not,
    a_restart_under_the_same_name_takes_over_at_once,
    runs_without_an_owner_row_are_swept,
    a_stalled_instance_learns_its_lease_was_taken,
);

fn instance(name: &str) -> NewInstance {
    NewInstance {
        id: InstanceId::new(),
        name: name.to_string(),
        version: "test".to_string(),
    }
}

fn in_secs(secs: i64) -> OffsetDateTime {
    OffsetDateTime::now_utc() + time::Duration::seconds(secs)
}

/// A prompt with a version, and a `running` run of it owned by `owner`.
async fn running_run(store: &Store, owner: InstanceId) -> promptrefine_core::RunId {
    let mut n = new_prompt("Leased", &format!("leased-{}", InstanceId::new()), &[]);
    n.first_version = Some(text_version("x"));
    let (p, v) = store.prompts().create(n).await.unwrap();
    let mut run = new_run(p.id, v.unwrap().id);
    run.owner = owner;
    store.runs().start(&run).await.unwrap();
    run.id
}

async fn status(store: &Store, id: promptrefine_core::RunId) -> RunStatus {
    store.runs().get(id).await.unwrap().status
}

async fn a_live_owners_runs_survive_the_sweep_and_a_dead_owners_do_not(db: TestDb) {
    let store = open(&db).await;
    let live = instance("host-a:8080");
    let dead = instance("host-b:8080");
    store
        .instances()
        .register(&live, in_secs(30))
        .await
        .unwrap();
    // Registered with a lease that has already run out: it died.
    store
        .instances()
        .register(&dead, in_secs(-1))
        .await
        .unwrap();
    let live_run = running_run(&store, live.id).await;
    let dead_run = running_run(&store, dead.id).await;

    let swept = store.instances().sweep().await.unwrap();
    assert_eq!(
        swept,
        Swept {
            runs_interrupted: 1,
            instances_removed: 1
        }
    );
    assert_eq!(status(&store, live_run).await, RunStatus::Running);
    let taken = store.runs().get(dead_run).await.unwrap();
    assert_eq!(taken.status, RunStatus::Interrupted);
    assert_eq!(taken.error_code.as_deref(), Some("interrupted"));
    assert!(taken.finished_at.is_some());
    assert_eq!(
        store.instances().live().await.unwrap(),
        vec!["host-a:8080".to_string()]
    );

    // The dead owner's late write is ignored; the live owner's lands once.
    let ok = RunOutcome {
        status: Some(RunStatus::Succeeded),
        output: "late".into(),
        ..Default::default()
    };
    assert!(!store.runs().finish(dead_run, &ok).await.unwrap());
    assert!(store.runs().finish(live_run, &ok).await.unwrap());
    assert_eq!(status(&store, dead_run).await, RunStatus::Interrupted);
    assert_eq!(status(&store, live_run).await, RunStatus::Succeeded);
    // A second sweep finds nothing more.
    assert_eq!(store.instances().sweep().await.unwrap(), Swept::default());
}

async fn a_restart_under_the_same_name_takes_over_at_once(db: TestDb) {
    let store = open(&db).await;
    let before = instance("host-a:8080");
    store
        .instances()
        .register(&before, in_secs(30))
        .await
        .unwrap();
    let orphan = running_run(&store, before.id).await;
    let other = instance("host-a:9090");
    store
        .instances()
        .register(&other, in_secs(30))
        .await
        .unwrap();
    let others_run = running_run(&store, other.id).await;

    // The process on :8080 was killed and started again: its lease has not
    // expired, but the new process holds its name, so it is dead.
    let after = instance("host-a:8080");
    let predecessors = store
        .instances()
        .register(&after, in_secs(30))
        .await
        .unwrap();
    assert_eq!(predecessors, 1);
    let swept = store.instances().sweep().await.unwrap();
    assert_eq!(swept.runs_interrupted, 1);
    assert_eq!(status(&store, orphan).await, RunStatus::Interrupted);
    assert_eq!(status(&store, others_run).await, RunStatus::Running);
}

async fn runs_without_an_owner_row_are_swept(db: TestDb) {
    let store = open(&db).await;
    // An owner that never registered (or whose row was removed): no lease.
    let run = running_run(&store, InstanceId::new()).await;
    assert_eq!(store.instances().sweep().await.unwrap().runs_interrupted, 1);
    assert_eq!(status(&store, run).await, RunStatus::Interrupted);
}

async fn a_stalled_instance_learns_its_lease_was_taken(db: TestDb) {
    let store = open(&db).await;
    let me = instance("host-a:8080");
    store
        .instances()
        .register(&me, OffsetDateTime::now_utc() + Duration::from_millis(1))
        .await
        .unwrap();
    assert!(store.instances().renew(me.id, in_secs(30)).await.unwrap());
    store.instances().retire(me.id).await.unwrap();
    assert!(
        !store.instances().renew(me.id, in_secs(30)).await.unwrap(),
        "renewing a lease that is gone says so"
    );
    assert!(store.instances().live().await.unwrap().is_empty());
}
