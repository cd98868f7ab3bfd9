//! `seed` makes demo data of every kind, and running it twice adds nothing.

use promptrefine_app::App;
use promptrefine_app::auth::AuthPolicy;
use promptrefine_core::{PromptType, RunStatus};
use promptrefine_store::{PromptFilter, RunFilter, Store, StoreOptions, migrate};
use promptrefine_testkit::{TestDb, both_backends};

both_backends!(seeding_twice_adds_nothing_and_covers_every_kind);

async fn seeding_twice_adds_nothing_and_covers_every_kind(db: TestDb) {
    let store = Store::connect(&StoreOptions::new(db.url())).await.unwrap();
    migrate::up(&store).await.unwrap();
    let app = App::new(store.clone(), AuthPolicy::default());

    let first = app.seed_demo().await.unwrap();
    assert!(
        first.prompts_created >= 3 && first.versions > first.prompts_created && first.runs > 0,
        "{first:?}"
    );
    let again = app.seed_demo().await.unwrap();
    assert_eq!(
        (again.prompts_created, again.versions, again.runs),
        (0, 0, 0)
    );
    assert_eq!(again.prompts_skipped, first.prompts_created);

    let prompts = store
        .prompts()
        .list(&PromptFilter::default(), None, 100)
        .await
        .unwrap()
        .items;
    assert_eq!(prompts.len(), first.prompts_created);
    let types: Vec<PromptType> = prompts.iter().map(|p| p.prompt_type).collect();
    assert!(types.contains(&PromptType::Text) && types.contains(&PromptType::Chat));
    let mut statuses = vec![];
    for p in &prompts {
        assert!(
            !store.labels().list(p.id).await.unwrap().is_empty(),
            "labels"
        );
        let runs = store
            .runs()
            .list_for_prompt(p.id, &RunFilter::default(), None, 100)
            .await
            .unwrap()
            .items;
        statuses.extend(runs.iter().map(|r| r.run.status));
        let current = store.versions().get_current(p.id).await.unwrap();
        assert!(!current.variables.is_empty(), "variables");
    }
    for s in [
        RunStatus::Succeeded,
        RunStatus::Failed,
        RunStatus::Cancelled,
        RunStatus::Interrupted,
    ] {
        assert!(statuses.contains(&s), "{s:?} missing");
    }
}
