//! Experiment cells on both backends: claimed once (even by two owners at
//! the same moment), finished once, budget reserved before each claim,
//! taken back from dead owners, and progress counters that always add up.

use std::collections::{BTreeMap, HashSet};

use promptrefine_core::{
    CellStatus, CostEstimate, ExperimentId, ExperimentStatus, InstanceId, ModelSettings, RunStatus,
    ToolCall, Variant,
};
use promptrefine_store::{
    CellOutcome, NewExperiment, NewExperimentItem, NewInstance, NewRun, RunCell, RunOutcome, Store,
};
use promptrefine_testkit::{TestDb, both_backends};
use time::OffsetDateTime;

use crate::{new_prompt, open, text_version};

both_backends!(
    cells_are_claimed_in_order_up_to_the_concurrency_and_finished_once,
    two_owners_claiming_at_once_never_share_a_cell,
    the_budget_pauses_before_a_reservation_would_cross_the_cap,
    cells_of_a_dead_owner_go_back_to_pending,
    cancel_ends_pending_cells_at_once_and_running_ones_as_they_finish,
    a_cell_whose_run_succeeded_before_its_owner_died_is_not_run_again,
    a_batch_of_outcomes_is_written_once_with_counters_per_experiment,
    derived_facts_page_by_filter_and_sort_and_go_stale_with_a_rescore,
    changes_to_an_experiment_are_heard_by_listeners_on_postgres,
    cells_runs_start_together_and_end_with_their_cells,
    cells_whose_calls_ended_do_not_count_against_the_concurrency,
);

/// An experiment of `items` items × 1 variant, `worst` micro-USD per cell.
async fn experiment(
    store: &Store,
    items: usize,
    concurrency: i64,
    cap: Option<i64>,
    worst: i64,
) -> ExperimentId {
    let mut n = new_prompt("E", &format!("e-{}", ExperimentId::new()), &[]);
    n.first_version = Some(text_version("Hi {{name}}"));
    let (p, v) = store.prompts().create(n).await.unwrap();
    let v = v.unwrap();
    let new = NewExperiment {
        id: ExperimentId::new(),
        name: "test".into(),
        prompt_id: p.id,
        dataset_id: promptrefine_core::DatasetId::new(),
        dataset_version: 1,
        variants: vec![Variant {
            version_id: v.id,
            version_number: 1,
            label: None,
            preset: None,
            provider: "openai".into(),
            model: "m".into(),
            params: ModelSettings::default(),
        }],
        repeats: 1,
        concurrency,
        max_cost_micro_usd: cap,
        estimate: CostEstimate::default(),
        evaluators: serde_json::json!([]),
        items: (0..items)
            .map(|i| NewExperimentItem {
                item_id: uuid::Uuid::now_v7(),
                variables: BTreeMap::from([("name".to_string(), format!("n{i}"))]),
                expected: None,
                metadata: None,
            })
            .collect(),
        worst_micro_usd: vec![vec![worst]; items],
    };
    let e = store.experiments().create(&new).await.unwrap();
    assert_eq!(e.status, ExperimentStatus::Queued);
    assert_eq!(e.progress.total, items as i64);
    assert_eq!(e.progress.pending, items as i64);
    e.id
}

async fn live(store: &Store, name: &str) -> InstanceId {
    let id = InstanceId::new();
    store
        .instances()
        .register(
            &NewInstance {
                id,
                name: name.into(),
                version: "t".into(),
            },
            OffsetDateTime::now_utc() + time::Duration::seconds(60),
        )
        .await
        .unwrap();
    id
}

/// Whether `owner`'s outcome of `cell` was written.
async fn finish(store: &Store, cell: uuid::Uuid, owner: InstanceId, outcome: CellOutcome) -> bool {
    store
        .experiments()
        .finish_cell(cell, owner, outcome)
        .await
        .unwrap()
}

async fn claim_beside(
    store: &Store,
    owner: InstanceId,
    max: usize,
    ended: &[uuid::Uuid],
) -> Vec<promptrefine_store::ClaimedCell> {
    store
        .experiments()
        .claim_beside(owner, max, ended)
        .await
        .unwrap()
}

fn ok(cost: i64) -> CellOutcome {
    CellOutcome {
        status: CellStatus::Succeeded,
        run_id: None,
        cost_micro_usd: Some(cost),
        scores: None,
        run: None,
    }
}

async fn cells_are_claimed_in_order_up_to_the_concurrency_and_finished_once(db: TestDb) {
    let store = open(&db).await;
    let me = live(&store, "a:1").await;
    let id = experiment(&store, 5, 2, None, 0).await;
    let first = store.experiments().claim(me, 10).await.unwrap();
    assert_eq!(first.len(), 2, "the experiment's concurrency");
    assert_eq!(first.iter().map(|c| c.position).collect::<Vec<_>>(), [0, 1]);
    assert_eq!(first[0].variables["name"], "n0");
    assert_eq!(first[0].attempt, 1);
    let e = store.experiments().get(id).await.unwrap();
    assert_eq!(e.status, ExperimentStatus::Running);
    assert!(e.started_at.is_some());
    assert_eq!((e.progress.pending, e.progress.running), (3, 2));
    assert!(store.experiments().claim(me, 10).await.unwrap().is_empty());

    assert!(finish(&store, first[0].id, me, ok(7)).await);
    assert!(
        !finish(&store, first[0].id, me, ok(7)).await,
        "a cell is finished once"
    );
    assert!(
        !finish(&store, first[1].id, InstanceId::new(), ok(7)).await,
        "only by its owner"
    );
    let mut left = vec![first[1].clone()];
    loop {
        left.extend(store.experiments().claim(me, 10).await.unwrap());
        let Some(cell) = left.pop() else { break };
        assert!(finish(&store, cell.id, me, ok(7)).await);
    }
    let e = store.experiments().get(id).await.unwrap();
    assert_eq!(e.status, ExperimentStatus::Succeeded, "{e:?}");
    assert_eq!(e.progress.succeeded, 5);
    assert_eq!((e.progress.pending, e.progress.running), (0, 0));
    assert_eq!(e.cost_micro_usd, 35);
    assert!(e.finished_at.is_some());
}

async fn cells_whose_calls_ended_do_not_count_against_the_concurrency(db: TestDb) {
    let store = open(&db).await;
    let me = live(&store, "a:1").await;
    let id = experiment(&store, 6, 2, None, 0).await;
    let other = experiment(&store, 2, 1, None, 0).await;
    let first = store.experiments().claim(me, 2).await.unwrap();
    assert_eq!(first.len(), 2);
    assert!(first.iter().all(|c| c.experiment_id == id), "oldest first");
    let full = store.experiments().claim(me, 10).await.unwrap();
    assert_eq!(full.len(), 1);
    assert_eq!(
        full[0].experiment_id, other,
        "the first is at its concurrency"
    );
    assert!(!store.experiments().has_runnable(&[]).await.unwrap());
    let ended = [first[0].id];
    assert!(store.experiments().has_runnable(&ended).await.unwrap());
    // Not mine: frees nothing.
    let stranger = live(&store, "b:1").await;
    assert!(claim_beside(&store, stranger, 10, &ended).await.is_empty());
    // One of mine ended its call and waits for the writer: one more place.
    let beside = claim_beside(&store, me, 10, &ended).await;
    assert_eq!(beside.len(), 1, "one place freed, not more");
    assert_eq!((beside[0].experiment_id, beside[0].position), (id, 2));
    let e = store.experiments().get(id).await.unwrap();
    assert_eq!((e.progress.pending, e.progress.running), (3, 3));
    // Written, the ended cell is no longer running: named again, it does
    // not free its place a second time.
    assert!(finish(&store, first[0].id, me, ok(1)).await);
    assert!(claim_beside(&store, me, 10, &ended).await.is_empty());
    let both = [first[1].id, beside[0].id];
    assert_eq!(claim_beside(&store, me, 10, &both).await.len(), 2);
}

async fn two_owners_claiming_at_once_never_share_a_cell(db: TestDb) {
    let store = open(&db).await;
    let (a, b) = (live(&store, "a:1").await, live(&store, "b:1").await);
    let id = experiment(&store, 60, 60, None, 0).await;
    let claim = |owner| {
        let store = store.clone();
        tokio::spawn(async move {
            let mut mine = vec![];
            loop {
                let got = store.experiments().claim(owner, 3).await.unwrap();
                if got.is_empty() {
                    return mine;
                }
                mine.extend(got.into_iter().map(|c| c.id));
            }
        })
    };
    let (ta, tb) = (claim(a), claim(b));
    let (ca, cb) = (ta.await.unwrap(), tb.await.unwrap());
    let all: HashSet<_> = ca.iter().chain(&cb).collect();
    assert_eq!(ca.len() + cb.len(), 60, "every cell claimed");
    assert_eq!(all.len(), 60, "no cell claimed twice");
    let e = store.experiments().get(id).await.unwrap();
    assert_eq!((e.progress.pending, e.progress.running), (0, 60));
}

async fn the_budget_pauses_before_a_reservation_would_cross_the_cap(db: TestDb) {
    let store = open(&db).await;
    let me = live(&store, "a:1").await;
    // Worst case 100 per cell, cap 350: three cells fit, the fourth would cross.
    let id = experiment(&store, 6, 10, Some(350), 100).await;
    let claimed = store.experiments().claim(me, 10).await.unwrap();
    assert_eq!(claimed.len(), 3);
    let e = store.experiments().get(id).await.unwrap();
    assert_eq!(e.status, ExperimentStatus::Paused);
    assert_eq!(e.pause_reason.as_deref(), Some("budget"));
    assert_eq!(e.reserved_micro_usd, 300);
    assert!(
        store.experiments().claim(me, 10).await.unwrap().is_empty(),
        "paused"
    );
    for c in &claimed {
        // The real cost is below the worst case; the rest is released.
        assert!(finish(&store, c.id, me, ok(90)).await);
    }
    let e = store.experiments().get(id).await.unwrap();
    assert_eq!((e.cost_micro_usd, e.reserved_micro_usd), (270, 0));
    assert_eq!(
        e.status,
        ExperimentStatus::Paused,
        "still pending cells: stays paused"
    );
    assert!(
        store
            .experiments()
            .resume(id, Some(Some(1000)))
            .await
            .unwrap()
    );
    let mut done = 0;
    loop {
        let got = store.experiments().claim(me, 10).await.unwrap();
        if got.is_empty() {
            break;
        }
        for c in got {
            assert!(finish(&store, c.id, me, ok(90)).await);
            done += 1;
        }
    }
    assert_eq!(done, 3, "only the cells that had not run");
    let e = store.experiments().get(id).await.unwrap();
    assert_eq!(e.status, ExperimentStatus::Succeeded);
    assert_eq!(e.cost_micro_usd, 540);
    assert!(e.cost_micro_usd <= e.max_cost_micro_usd.unwrap());
}

async fn cells_of_a_dead_owner_go_back_to_pending(db: TestDb) {
    let store = open(&db).await;
    let dead = live(&store, "a:1").await;
    let id = experiment(&store, 4, 4, Some(1000), 100).await;
    let cut = store.experiments().claim(dead, 2).await.unwrap();
    assert_eq!(cut.len(), 2);
    // Its process died: a new one under the same name takes over.
    let alive = live(&store, "a:1").await;
    let back = store.experiments().reclaim_cells().await.unwrap();
    assert_eq!((back.pending, back.cancelled, back.completed), (2, 0, 0));
    let e = store.experiments().get(id).await.unwrap();
    assert_eq!((e.progress.pending, e.progress.running), (4, 0));
    assert_eq!(e.reserved_micro_usd, 0);
    assert_eq!(
        e.cost_micro_usd, 200,
        "a cut call is charged at its worst case"
    );
    assert!(!finish(&store, cut[0].id, dead, ok(1)).await);
    let again = store.experiments().claim(alive, 10).await.unwrap();
    assert_eq!(again.len(), 4);
    let retried = again.iter().find(|c| c.id == cut[0].id).unwrap();
    assert_eq!(retried.attempt, 2, "the attempt is counted");
    // Cells of a live owner are left alone.
    assert_eq!(
        store.experiments().reclaim_cells().await.unwrap().pending,
        0
    );
}

async fn cancel_ends_pending_cells_at_once_and_running_ones_as_they_finish(db: TestDb) {
    let store = open(&db).await;
    let me = live(&store, "a:1").await;
    let id = experiment(&store, 5, 2, None, 0).await;
    let running = store.experiments().claim(me, 10).await.unwrap();
    assert!(store.experiments().cancel(id).await.unwrap());
    assert!(!store.experiments().cancel(id).await.unwrap(), "once");
    let e = store.experiments().get(id).await.unwrap();
    assert_eq!(e.status, ExperimentStatus::Cancelled);
    assert_eq!((e.progress.cancelled, e.progress.running), (3, 2));
    assert!(e.finished_at.is_none(), "two cells still in flight");
    assert!(store.experiments().claim(me, 10).await.unwrap().is_empty());
    let retry = CellOutcome {
        status: CellStatus::Pending,
        run_id: None,
        cost_micro_usd: None,
        scores: None,
        run: None,
    };
    // A retry asked for after the cancel becomes cancelled, not pending.
    assert!(finish(&store, running[0].id, me, retry.clone()).await);
    let cancelled = CellOutcome {
        status: CellStatus::Cancelled,
        ..retry
    };
    assert!(finish(&store, running[1].id, me, cancelled).await);
    let e = store.experiments().get(id).await.unwrap();
    assert_eq!(e.status, ExperimentStatus::Cancelled);
    assert_eq!(e.progress.cancelled, 5);
    assert_eq!((e.progress.pending, e.progress.running), (0, 0));
    assert!(e.finished_at.is_some());
    assert!(store.experiments().delete(id).await.unwrap());
    assert!(!store.experiments().delete(id).await.unwrap());
}

async fn a_cell_whose_run_succeeded_before_its_owner_died_is_not_run_again(db: TestDb) {
    let store = open(&db).await;
    let dead = live(&store, "a:1").await;
    let id = experiment(&store, 2, 2, None, 100).await;
    let cells = store.experiments().claim(dead, 2).await.unwrap();
    let e = store.experiments().get(id).await.unwrap();
    // The run of the first cell was stored as succeeded; then the process
    // died before it wrote the cell.
    let cell = &cells[0];
    let mut run = crate::runs::new_run(e.prompt_id, e.variants[0].version_id);
    run.owner = dead;
    run.cell = Some(promptrefine_store::RunCell {
        experiment_id: id,
        item_id: cell.item_id,
        variant: cell.variant,
        repeat: cell.repeat,
        attempt: cell.attempt,
    });
    store.runs().start(&run).await.unwrap();
    let outcome = promptrefine_store::RunOutcome {
        status: Some(promptrefine_core::RunStatus::Succeeded),
        cost_micro_usd: Some(42),
        ..Default::default()
    };
    assert!(store.runs().finish(run.id, &outcome).await.unwrap());
    let _alive = live(&store, "a:1").await;
    let back = store.experiments().reclaim_cells().await.unwrap();
    assert_eq!((back.completed, back.pending), (1, 1));
    let e = store.experiments().get(id).await.unwrap();
    assert_eq!((e.progress.succeeded, e.progress.pending), (1, 1));
    assert_eq!(
        e.cost_micro_usd,
        42 + 100,
        "its real cost; the cut one at worst case"
    );
    assert_eq!(e.reserved_micro_usd, 0);
}

async fn a_batch_of_outcomes_is_written_once_with_counters_per_experiment(db: TestDb) {
    let store = open(&db).await;
    let me = live(&store, "a:1").await;
    let (x, y) = (
        experiment(&store, 3, 3, None, 10).await,
        experiment(&store, 2, 2, None, 10).await,
    );
    let cells = store.experiments().claim(me, 10).await.unwrap();
    assert_eq!(cells.len(), 5);
    let failed = CellOutcome {
        status: CellStatus::Failed,
        run_id: None,
        cost_micro_usd: Some(1),
        scores: None,
        run: None,
    };
    let mut batch: Vec<_> = cells
        .iter()
        .enumerate()
        .map(|(i, c)| (c.id, if i == 0 { failed.clone() } else { ok(4) }))
        .collect();
    // The same cell twice in one batch, and a cell of another owner: written once, not at all.
    batch.push((cells[1].id, ok(4)));
    let finished = store.experiments().finish_cells(me, &batch).await.unwrap();
    assert_eq!(finished.written, [true, true, true, true, true, false]);
    let mut ended = finished.ended.clone();
    ended.sort();
    let mut both = vec![x, y];
    both.sort();
    assert_eq!(ended, both, "the batch ended both experiments");
    let again = store
        .experiments()
        .finish_cells(InstanceId::new(), &batch[..1])
        .await
        .unwrap();
    assert_eq!((again.written, again.ended), (vec![false], vec![]));
    let (ex, ey) = (
        store.experiments().get(x).await.unwrap(),
        store.experiments().get(y).await.unwrap(),
    );
    for e in [&ex, &ey] {
        assert_eq!(e.status, ExperimentStatus::Succeeded, "{e:?}");
        assert_eq!((e.progress.pending, e.progress.running), (0, 0));
        assert!(e.finished_at.is_some());
    }
    let first_is_x = cells[0].experiment_id == x;
    let (with_failure, other) = if first_is_x { (&ex, &ey) } else { (&ey, &ex) };
    assert_eq!(with_failure.progress.failed, 1);
    assert_eq!(
        with_failure.cost_micro_usd + other.cost_micro_usd,
        1 + 4 * 4,
        "the real costs are spent, the reservations released"
    );
    assert_eq!(other.progress.succeeded, other.progress.total);
}

async fn changes_to_an_experiment_are_heard_by_listeners_on_postgres(db: TestDb) {
    use promptrefine_store::Change;
    let store = open(&db).await;
    let listener = store.listen_experiments().await.unwrap();
    let Some(mut listener) = listener else {
        assert_eq!(db.kind(), "sqlite", "PostgreSQL has a listener");
        return;
    };
    let id = experiment(&store, 2, 1, None, 0).await;
    assert_eq!(
        heard(&mut listener).await,
        Change::Experiment(id),
        "created"
    );
    assert!(store.experiments().pause(id, "user").await.unwrap());
    assert_eq!(heard(&mut listener).await, Change::Experiment(id), "paused");
    assert!(store.experiments().resume(id, None).await.unwrap());
    assert_eq!(
        heard(&mut listener).await,
        Change::Experiment(id),
        "resumed"
    );
    assert!(store.experiments().cancel(id).await.unwrap());
    assert_eq!(
        heard(&mut listener).await,
        Change::Experiment(id),
        "cancelled"
    );
    // A change that does not happen sends nothing: the next note is the next change.
    assert!(!store.experiments().cancel(id).await.unwrap());
    let other = experiment(&store, 1, 1, None, 0).await;
    assert_eq!(heard(&mut listener).await, Change::Experiment(other));
}

async fn heard(
    listener: &mut promptrefine_store::ExperimentListener,
) -> promptrefine_store::Change {
    tokio::time::timeout(std::time::Duration::from_secs(5), listener.next())
        .await
        .expect("a note within 5 s")
        .unwrap()
}

async fn derived_facts_page_by_filter_and_sort_and_go_stale_with_a_rescore(db: TestDb) {
    use promptrefine_store::{FactSort, ItemFacts, ResultFilter};
    let store = open(&db).await;
    let me = live(&store, "a:1").await;
    let id = experiment(&store, 6, 6, None, 1).await;
    let cells = store.experiments().claim(me, 10).await.unwrap();
    let batch: Vec<_> = cells.iter().map(|c| (c.id, ok(1))).collect();
    store.experiments().finish_cells(me, &batch).await.unwrap();
    let e = store.experiments().get(id).await.unwrap();
    assert_eq!(e.status, ExperimentStatus::Succeeded);
    let repo = store.experiments();
    let page = |filter: ResultFilter, sort, after, limit| {
        let repo = store.experiments();
        async move {
            repo.facts_page(id, &filter, sort, after, limit)
                .await
                .unwrap()
        }
    };
    assert_eq!(
        page(ResultFilter::All, FactSort::Score, None, 10).await,
        None,
        "not derived yet"
    );
    assert_eq!(repo.derived_summary(id).await.unwrap(), None);

    // Items 0..6: odd ones failed "Seven"; scores fall with the position.
    let facts: Vec<ItemFacts> = (0..6)
        .map(|p| ItemFacts {
            position: p,
            failed: p % 2 == 1,
            regressed: p == 4,
            flaky: p == 5,
            failed_evaluators: if p % 2 == 1 {
                vec!["Seven".into()]
            } else {
                vec![]
            },
            score_key: 100 - p,
            cost_key: -(p % 3),
            latency_key: i64::MAX,
        })
        .collect();
    let summary = serde_json::json!({ "variants": [] });
    let at = e.updated_at.unwrap();
    assert!(repo.store_derived(id, at, &summary, &facts).await.unwrap());
    assert!(
        !repo.store_derived(id, at, &summary, &facts).await.unwrap(),
        "a second instance finds it done"
    );
    assert_eq!(
        repo.derived_summary(id).await.unwrap(),
        Some(summary.clone())
    );

    let positions = |rows: Option<Vec<(i64, i64)>>| -> Vec<i64> {
        rows.unwrap().into_iter().map(|(_, p)| p).collect()
    };
    assert_eq!(
        positions(page(ResultFilter::All, FactSort::Score, None, 10).await),
        [5, 4, 3, 2, 1, 0]
    );
    assert_eq!(
        positions(page(ResultFilter::Failed, FactSort::Position, None, 10).await),
        [1, 3, 5]
    );
    assert_eq!(
        positions(page(ResultFilter::Regressed, FactSort::Score, None, 10).await),
        [4]
    );
    assert_eq!(
        positions(page(ResultFilter::Flaky, FactSort::Latency, None, 10).await),
        [5]
    );
    // Ties on the key go by position; the cursor is (key, position).
    let first = page(ResultFilter::All, FactSort::Cost, None, 3)
        .await
        .unwrap();
    assert_eq!(first, [(-2, 2), (-2, 5), (-1, 1)]);
    let rest = page(ResultFilter::All, FactSort::Cost, Some(first[2]), 10).await;
    assert_eq!(positions(rest), [4, 0, 3]);
    // An evaluator's name matches exactly: not another case, not a part.
    for (name, want) in [
        ("Seven", vec![1, 3, 5]),
        ("seven", vec![]),
        ("Seve", vec![]),
    ] {
        let got = positions(
            page(
                ResultFilter::Evaluator(name.into()),
                FactSort::Position,
                None,
                10,
            )
            .await,
        );
        assert_eq!(got, want, "{name}");
    }

    // A rescore changes updated_at: nothing derived is read until derived again.
    tokio::time::sleep(std::time::Duration::from_millis(2)).await;
    repo.set_scores(id, &serde_json::json!([]), &[])
        .await
        .unwrap();
    assert_eq!(
        page(ResultFilter::All, FactSort::Score, None, 10).await,
        None
    );
    assert_eq!(repo.derived_summary(id).await.unwrap(), None);
    assert!(
        !repo
            .store_derived(id, at, &summary, &facts[..1])
            .await
            .unwrap(),
        "a derivation of the older state is not stored"
    );
    let now = repo.get(id).await.unwrap().updated_at.unwrap();
    assert!(
        repo.store_derived(id, now, &summary, &facts[..2])
            .await
            .unwrap()
    );
    assert_eq!(
        positions(page(ResultFilter::All, FactSort::Position, None, 10).await),
        [0, 1],
        "replaced, not added"
    );
}

/// The engine's writes: the runs of one claim start in one statement, and
/// each run's outcome is written in the transaction of its cell's; a run
/// something else stopped first (a cancel from another replica) keeps its
/// outcome, and its cell ends `cancelled`.
async fn cells_runs_start_together_and_end_with_their_cells(db: TestDb) {
    let store = open(&db).await;
    let me = live(&store, "a:1").await;
    let id = experiment(&store, 2, 2, None, 0).await;
    let e = store.experiments().get(id).await.unwrap();
    let cells = store.experiments().claim(me, 2).await.unwrap();
    let runs: Vec<NewRun> = cells
        .iter()
        .map(|c| NewRun {
            owner: me,
            cell: Some(RunCell {
                experiment_id: id,
                item_id: c.item_id,
                variant: c.variant,
                repeat: c.repeat,
                attempt: c.attempt,
            }),
            request_body: Some(r#"{"model":"m"}"#.into()),
            ..crate::runs::new_run(e.prompt_id, e.variants[0].version_id)
        })
        .collect();
    store.runs().start_many(&runs).await.unwrap();
    store.runs().start_many(&[]).await.unwrap();
    for (run, cell) in runs.iter().zip(&cells) {
        let stored = store.runs().get(run.id).await.unwrap();
        assert_eq!(stored.status, RunStatus::Running);
        assert_eq!(stored.experiment_id, Some(id));
        assert_eq!(stored.item_id, Some(cell.item_id));
        assert_eq!(stored.input, run.input);
        assert_eq!(stored.request_body, Some(serde_json::json!({"model": "m"})));
    }
    let cancelled = RunOutcome {
        status: Some(RunStatus::Cancelled),
        error_code: Some("cancelled".into()),
        ..Default::default()
    };
    assert!(store.runs().finish(runs[1].id, &cancelled).await.unwrap());

    // Every field, and text that JSON must escape: the batch goes through
    // a JSON array on both backends.
    let succeeded = RunOutcome {
        status: Some(RunStatus::Succeeded),
        output: "an \"answer\",\nüber 'quoted' \\ text ✓".into(),
        finish_reason: Some("tool_calls".into()),
        prompt_tokens: Some(4),
        completion_tokens: Some(5),
        total_tokens: Some(9),
        tokens_estimated: true,
        cost_micro_usd: Some(5),
        latency_ms: Some(50),
        ttft_ms: Some(7),
        response_id: Some("chatcmpl-1".into()),
        response_model: Some("m-2026".into()),
        system_fingerprint: Some("fp_1".into()),
        tool_calls: Some(vec![ToolCall {
            id: "call_1".into(),
            name: "lookup".into(),
            arguments: serde_json::json!({"q": "x", "n": [1, 2]}),
        }]),
        ..Default::default()
    };
    let scores = serde_json::json!([{"evaluator": "exact", "value": 1.0}]);
    let ended: Vec<(uuid::Uuid, CellOutcome)> = runs
        .iter()
        .zip(&cells)
        .map(|(run, cell)| {
            (
                cell.id,
                CellOutcome {
                    run_id: Some(run.id),
                    run: Some(succeeded.clone()),
                    scores: Some(scores.clone()),
                    ..ok(5)
                },
            )
        })
        .collect();
    let finished = store.experiments().finish_cells(me, &ended).await.unwrap();
    assert_eq!(finished.written, [true, true]);
    let first = store.runs().get(runs[0].id).await.unwrap();
    let stored = RunOutcome {
        status: Some(first.status),
        output: first.output.clone(),
        finish_reason: first.finish_reason.clone(),
        error_code: first.error_code.clone(),
        error_message: first.error_message.clone(),
        prompt_tokens: first.prompt_tokens,
        completion_tokens: first.completion_tokens,
        total_tokens: first.total_tokens,
        tokens_estimated: first.tokens_estimated,
        cost_micro_usd: first.cost_micro_usd,
        latency_ms: first.latency_ms,
        ttft_ms: first.ttft_ms,
        response_id: first.response_id.clone(),
        response_model: first.response_model.clone(),
        system_fingerprint: first.system_fingerprint.clone(),
        tool_calls: first.tool_calls.clone(),
    };
    assert_eq!(stored, succeeded);
    assert!(first.finished_at.is_some());
    let scored = store.experiments().scored_cells(id, true).await.unwrap();
    let by_run: Vec<_> = scored
        .iter()
        .filter(|c| c.run_id == Some(runs[0].id))
        .collect();
    assert_eq!(by_run.len(), 1);
    assert_eq!(by_run[0].status, CellStatus::Succeeded);
    assert_eq!(by_run[0].scores.as_ref(), Some(&scores));
    assert_eq!(by_run[0].cost_micro_usd, Some(5));
    let second = store.runs().get(runs[1].id).await.unwrap();
    assert_eq!(
        (second.status, second.output.as_str()),
        (RunStatus::Cancelled, ""),
        "the cancel stored first stands"
    );
    let e = store.experiments().get(id).await.unwrap();
    assert_eq!(
        (
            e.progress.succeeded,
            e.progress.cancelled,
            e.progress.running
        ),
        (1, 1, 0)
    );
    assert_eq!(e.status, ExperimentStatus::Succeeded);
}
