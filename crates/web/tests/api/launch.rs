//! The server lifecycle every test gets from `promptrefine_web::launch`, the
//! same as `promptrefine serve`: runs of dead processes are marked
//! interrupted before the first request (a live replica's are not: see the
//! reliability suite's `replicas`), and runs still in flight at shutdown are
//! cancelled after the grace period, never left `running`.

use std::str::FromStr;
use std::time::{Duration, Instant};

use promptrefine_core::{
    ChatMessage, InstanceId, ModelSettings, PromptId, Role, RunId, RunStatus, VersionId,
};
use promptrefine_store::NewRun;
use promptrefine_testkit::{TestDb, both_backends};
use promptrefine_web::WebConfig;
use serde_json::json;

use crate::helpers::{spawn_app, spawn_app_with_web};
use crate::runs::{stream, text_prompt};

both_backends!(
    a_restarted_server_marks_runs_left_running_as_interrupted_before_it_serves,
    stopping_the_server_cancels_runs_still_in_flight_after_the_grace,
);

async fn a_restarted_server_marks_runs_left_running_as_interrupted_before_it_serves(db: TestDb) {
    let mut app = spawn_app(db).await;
    let (prompt_id, version_id) = text_prompt(&app, "Hi").await;
    // A run row with no task behind it, owned by a process that holds no
    // lease: what a crash leaves once the dead process's lease is gone.
    let id = RunId::new();
    app.store
        .runs()
        .start(&NewRun {
            id,
            prompt_id: PromptId::from_str(&prompt_id).unwrap(),
            version_id: VersionId::from_str(&version_id).unwrap(),
            provider: "openai".into(),
            model: "gpt-4o-mini".into(),
            params: ModelSettings::default(),
            variables: Default::default(),
            input: vec![ChatMessage {
                role: Role::User,
                content: "Hi".into(),
                ..Default::default()
            }],
            request_id: None,
            owner: InstanceId::new(),
            cell: None,
            judge_of: None,
            request_body: None,
            replay_of: None,
        })
        .await
        .unwrap();
    let (_, before) = app.get(&format!("/api/test-runs/{id}")).await;
    assert_eq!(before["data"]["status"], "running");

    let mut app = {
        // Not through `restart`: this stop's report is checked too.
        let stopped = app.stop().await.unwrap();
        assert_eq!(
            (stopped.interrupted_at_start, stopped.cancelled_at_shutdown),
            (0, 0),
            "the row has no task, so there is nothing to cancel"
        );
        app.restart().await
    };
    // The first answer of the new server already sees it interrupted.
    let (_, after) = app.get(&format!("/api/test-runs/{id}")).await;
    assert_eq!(after["data"]["status"], "interrupted", "{after}");
    let (status, _) = app
        .post(
            &format!("/api/test-runs/{id}/cancel"),
            serde_json::json!({}),
        )
        .await;
    assert_eq!(status, 409, "an interrupted run has ended");
    let stopped = app.stop().await.unwrap();
    assert_eq!(stopped.interrupted_at_start, 1);
}

async fn stopping_the_server_cancels_runs_still_in_flight_after_the_grace(db: TestDb) {
    let web = WebConfig {
        shutdown_grace: Duration::from_millis(300),
        ..WebConfig::default()
    };
    let mut app = spawn_app_with_web(db, web).await;
    let (prompt_id, _) = text_prompt(&app, "Hi").await;
    let mut sse = stream(
        &app,
        json!({ "promptId": prompt_id, "model": "mock-slow", "stream": true }),
    )
    .await;
    let id = sse.run_id().await;
    let t = Instant::now();
    let stopped = app.stop().await.unwrap();
    assert_eq!(stopped.cancelled_at_shutdown, 1);
    assert!(t.elapsed() < Duration::from_secs(5), "{:?}", t.elapsed());
    let run = app
        .store
        .runs()
        .get(RunId::from_str(&id).unwrap())
        .await
        .unwrap();
    assert_eq!(run.status, RunStatus::Cancelled);
}
