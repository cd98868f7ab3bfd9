//! Evaluators that call out, through the HTTP API on both databases: an
//! `llm_judge` (a prompt of the registry, called as a `kind: "judge"` run of
//! each judged cell, within the experiment's budget) against the mock with
//! echoed prose-wrapped JSON, scripted JSON, a fenced answer, garbage and a
//! provider that refuses `response_format`; an `http` evaluator against a
//! real server on loopback (its answers, a timeout, a 500, garbage); and a
//! rescore by a judge that calls only the judge.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Json;
use axum::routing::post;
use promptrefine_app::runs::RunSettings;
use promptrefine_llm::PriceTable;
use promptrefine_testkit::mock_openai::Behavior;
use promptrefine_testkit::{TestDb, both_backends};
use serde_json::{Value, json};

use crate::evaluations::run_experiment;
use crate::experiments::dataset_of;
use crate::helpers::{Options, TestApp, spawn_app, spawn_app_with, test_run_settings};

both_backends!(
    a_judge_scores_each_cell_with_a_judge_run_inside_the_budget,
    scripted_judge_answers_become_scores_or_errors_never_zeros,
    an_http_evaluator_scores_by_post_and_its_failures_are_score_errors,
    a_rescore_by_a_judge_calls_only_the_judge,
    a_judge_chosen_by_label_is_pinned_to_its_version,
);

/// A text prompt `{{q}}` on `model`: its output is `Echo: ` + the item's `q`.
async fn echo_prompt(app: &TestApp, title: &str, content: &str, model: &str) -> (String, String) {
    let (s, p) = app
        .post(
            "/api/prompts",
            json!({ "title": title, "type": "text", "content": content,
                    "settings": { "model": model } }),
        )
        .await;
    assert_eq!(s, 201, "{p}");
    (
        p["data"]["id"].as_str().unwrap().to_string(),
        p["data"]["slug"].as_str().unwrap().to_string(),
    )
}

/// Every result cell of an experiment (one variant, one repeat), item order.
async fn cells(app: &TestApp, id: &str) -> Vec<Value> {
    let (s, r) = app
        .get(&format!("/api/experiments/{id}/results?limit=100"))
        .await;
    assert_eq!(s, 200, "{r}");
    r["data"]["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|row| row["cells"][0].clone())
        .collect()
}

async fn runs_of(app: &TestApp, prompt: &str) -> Vec<Value> {
    let (s, r) = app
        .get(&format!("/api/test-runs?promptId={prompt}&limit=100"))
        .await;
    assert_eq!(s, 200, "{r}");
    r["data"]["items"].as_array().unwrap().clone()
}

fn priced(base: &str) -> RunSettings {
    let mut settings = test_run_settings(base);
    settings.prices = PriceTable::default().with_overrides([(
        "mock-echo".to_string(),
        promptrefine_llm::Price::usd(1.0, 2.0),
    )]);
    settings
}

async fn a_judge_scores_each_cell_with_a_judge_run_inside_the_budget(db: TestDb) {
    let app = spawn_app_with(
        db,
        Options {
            runs: Some(Box::new(priced)),
            ..Options::default()
        },
    )
    .await;
    let (prompt, _) = echo_prompt(&app, "Answerer", "{{q}}", "mock-echo").await;
    // The judge reads the judged output; the mock echoes it back, so the
    // judge's answer is prose ("Echo: Echo: …") around the item's JSON.
    let (judge, judge_slug) =
        echo_prompt(&app, "Judge", "Judge this: {{output}}", "mock-echo").await;
    let items = (0..4)
        .map(|i| {
            let q = if i < 3 {
                format!(r#"{{"score": 0.{i}5, "reason": "item {i}"}}"#)
            } else {
                "no json at all".to_string()
            };
            json!({ "variables": { "q": q } })
        })
        .collect();
    let ds = dataset_of(&app, "judged", items).await;
    let body = |evaluators: Value| {
        json!({ "promptId": prompt, "datasetId": ds, "concurrency": 2,
                "maxCostUsd": 1.0, "evaluators": evaluators })
    };
    let judge_spec = json!([{ "name": "quality", "type": "llm_judge", "promptId": judge_slug, "threshold": 0.2 }]);
    // The estimate reserves the judges' calls too.
    let (s, plain) = app.post("/api/experiments/estimate", body(json!([]))).await;
    assert_eq!(s, 200, "{plain}");
    let (s, judged) = app
        .post("/api/experiments/estimate", body(judge_spec.clone()))
        .await;
    assert_eq!(s, 200, "{judged}");
    assert!(
        judged["data"]["maxCostMicroUsd"].as_i64().unwrap()
            > plain["data"]["maxCostMicroUsd"].as_i64().unwrap(),
        "a judged cell's worst case holds its judge's: {plain} vs {judged}"
    );

    let done = run_experiment(&app, body(judge_spec)).await;
    let id = done["id"].as_str().unwrap();
    let cells = cells(&app, id).await;
    assert_eq!(cells.len(), 4);
    for (i, cell) in cells.iter().enumerate().take(3) {
        let score = &cell["scores"][0];
        let want = format!("0.{i}5").parse::<f64>().unwrap();
        assert!(
            (score["value"].as_f64().unwrap() - want).abs() < 1e-9,
            "{cell}"
        );
        assert_eq!(score["pass"], want >= 0.2, "{cell}");
        assert_eq!(score["reason"], format!("item {i}"), "{cell}");
        assert_eq!(score["type"], "llm_judge");
    }
    let garbage = &cells[3]["scores"][0];
    assert!(
        garbage["value"].is_null(),
        "an unreadable answer is not a 0: {garbage}"
    );
    assert!(
        garbage["error"]
            .as_str()
            .unwrap()
            .contains("no JSON object"),
        "{garbage}"
    );

    // One judge run per cell, naming the cell's run; the cells' runs are
    // the experiment's, the judges' are the judge prompt's.
    let judge_runs = runs_of(&app, &judge).await;
    assert_eq!(judge_runs.len(), 4, "{judge_runs:?}");
    let cell_runs: Vec<&str> = cells.iter().map(|c| c["runId"].as_str().unwrap()).collect();
    for run in &judge_runs {
        assert_eq!(run["kind"], "judge", "{run}");
        assert!(run.get("experimentId").is_none(), "{run}");
        assert!(
            cell_runs.contains(&run["judgeOf"].as_str().unwrap()),
            "{run}"
        );
    }
    for run in runs_of(&app, &prompt).await {
        assert_eq!(run["kind"], "test", "{run}");
        assert!(run.get("judgeOf").is_none(), "{run}");
    }
    // Judges asked for a json_schema answer.
    let judge_requests: Vec<Value> = app
        .mock
        .chat_requests()
        .into_iter()
        .map(|r| r.body)
        .filter(|b| {
            b["messages"][0]["content"]
                .as_str()
                .unwrap_or("")
                .starts_with("Judge this")
        })
        .collect();
    assert_eq!(judge_requests.len(), 4);
    for b in &judge_requests {
        assert_eq!(b["response_format"]["type"], "json_schema", "{b}");
    }
    // The experiment's spend is its cells' runs and its judges' runs.
    let all: i64 = runs_of(&app, &prompt)
        .await
        .iter()
        .chain(judge_runs.iter())
        .map(|r| r["costMicroUsd"].as_i64().unwrap_or(0))
        .sum();
    assert!(all > 0);
    assert_eq!(done["costMicroUsd"].as_i64().unwrap(), all, "{done}");
    assert!(all <= 1_000_000);
    // A judge on a model without a price cannot run under a budget.
    let (_, unpriced) = echo_prompt(&app, "Unpriced judge", "{{output}}", "gpt-unpriced").await;
    let (s, e) = app
        .post(
            "/api/experiments",
            body(json!([{ "type": "llm_judge", "promptId": unpriced }])),
        )
        .await;
    assert_eq!(s, 422, "{e}");
    assert_eq!(
        e["error"]["details"]["fields"][0]["field"], "evaluators[0].promptId",
        "{e}"
    );
}

async fn scripted_judge_answers_become_scores_or_errors_never_zeros(db: TestDb) {
    let app = spawn_app(db).await;
    let (prompt, _) = echo_prompt(&app, "Answerer", "{{q}}", "mock-echo").await;
    let (judge, _) = echo_prompt(&app, "Judge", "Pass or not: {{output}}", "mock-echo").await;
    let items = (0..4)
        .map(|i| json!({ "variables": { "q": format!("q{i}") } }))
        .collect();
    let ds = dataset_of(&app, "scripted", items).await;
    // One cell at a time: the mock's queue answers cell, judge, cell, judge…
    let cell = || Behavior::reply("an answer");
    app.mock.enqueue(cell());
    app.mock
        .enqueue(Behavior::reply(r#"{"pass": true, "reason": "exact JSON"}"#));
    app.mock.enqueue(cell());
    app.mock.enqueue(Behavior::reply(
        "Sure!\n```json\n{\"pass\": false, \"reason\": \"fenced\"}\n```",
    ));
    app.mock.enqueue(cell());
    app.mock.enqueue(Behavior::reply("I think it is fine."));
    // A provider that refuses response_format: asked again without it.
    app.mock.enqueue(cell());
    app.mock.enqueue(Behavior::error(400));
    app.mock.enqueue(Behavior::reply(
        r#"{"pass": "true", "reason": "second try"}"#,
    ));
    let done = run_experiment(
        &app,
        json!({ "promptId": prompt, "datasetId": ds, "concurrency": 1,
                "evaluators": [{ "type": "llm_judge", "promptId": judge, "mode": "pass" }] }),
    )
    .await;
    let cells = cells(&app, done["id"].as_str().unwrap()).await;
    let scores: Vec<&Value> = cells.iter().map(|c| &c["scores"][0]).collect();
    assert_eq!(
        (scores[0]["value"].as_f64(), &scores[0]["pass"]),
        (Some(1.0), &json!(true)),
        "{}",
        scores[0]
    );
    assert_eq!(scores[0]["reason"], "exact JSON");
    assert_eq!(
        (scores[1]["value"].as_f64(), &scores[1]["pass"]),
        (Some(0.0), &json!(false)),
        "{}",
        scores[1]
    );
    assert!(
        scores[2]["error"].is_string() && scores[2]["value"].is_null(),
        "{}",
        scores[2]
    );
    assert_eq!(scores[3]["reason"], "second try", "{}", scores[3]);
    assert_eq!(scores[3]["pass"], true);
    let bodies: Vec<Value> = app
        .mock
        .chat_requests()
        .into_iter()
        .map(|r| r.body)
        .collect();
    assert_eq!(bodies.len(), 9, "4 cells, 5 judge calls");
    assert!(bodies[7].get("response_format").is_some(), "{}", bodies[7]);
    assert!(
        bodies[8].get("response_format").is_none(),
        "asked again without response_format: {}",
        bodies[8]
    );
    // Both calls of the last judge are runs of the judge prompt.
    assert_eq!(runs_of(&app, &judge).await.len(), 5);
}

/// What the evaluator endpoint received.
type Received = Arc<Mutex<Vec<Value>>>;

/// A scoring service on loopback: `/score` scores 1 when the output holds
/// `good`, `/slow` never answers in time, `/broken` answers 500, `/garbage`
/// answers HTML.
async fn evaluator_server() -> (String, Received) {
    let received: Received = Arc::default();
    let r = received.clone();
    let router = axum::Router::new()
        .route(
            "/score",
            post(move |Json(body): Json<Value>| {
                let r = r.clone();
                async move {
                    let good = body["output"].as_str().unwrap_or("").contains("good");
                    r.lock().unwrap().push(body);
                    Json(json!({ "score": if good { 1.0 } else { 0.25 }, "pass": good, "reason": "by http" }))
                }
            }),
        )
        .route(
            "/slow",
            post(|| async {
                tokio::time::sleep(Duration::from_secs(5)).await;
                Json(json!({ "score": 1 }))
            }),
        )
        .route(
            "/broken",
            post(|| async { (axum::http::StatusCode::INTERNAL_SERVER_ERROR, "oops") }),
        )
        .route("/garbage", post(|| async { "<html>not json</html>" }));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, router).await.unwrap() });
    (format!("http://127.0.0.1:{}", addr.port()), received)
}

async fn an_http_evaluator_scores_by_post_and_its_failures_are_score_errors(db: TestDb) {
    let app = spawn_app_with(
        db,
        Options {
            evaluator_hosts: vec!["127.0.0.1".into()],
            ..Options::default()
        },
    )
    .await;
    let (base, received) = evaluator_server().await;
    let (prompt, _) = echo_prompt(&app, "Answerer", "Say {{q}}", "mock-echo").await;
    let items = vec![
        json!({ "variables": { "q": "good" }, "expected": "good", "metadata": { "source": "golden" } }),
        json!({ "variables": { "q": "bad" } }),
    ];
    let ds = dataset_of(&app, "http", items).await;
    let done = run_experiment(
        &app,
        json!({ "promptId": prompt, "datasetId": ds,
                "evaluators": [
                    { "name": "svc", "type": "http", "url": format!("{base}/score") },
                    { "name": "slow", "type": "http", "url": format!("{base}/slow"), "timeoutMs": 200 },
                    { "name": "broken", "type": "http", "url": format!("{base}/broken") },
                    { "name": "garbage", "type": "http", "url": format!("{base}/garbage") },
                ] }),
    )
    .await;
    let cells = cells(&app, done["id"].as_str().unwrap()).await;
    let good = &cells[0]["scores"];
    assert_eq!(
        (good[0]["value"].as_f64(), &good[0]["pass"]),
        (Some(1.0), &json!(true)),
        "{good}"
    );
    assert_eq!(good[0]["reason"], "by http");
    assert_eq!(cells[1]["scores"][0]["value"].as_f64(), Some(0.25));
    for (i, needle) in [(1, "within 200 ms"), (2, "HTTP 500"), (3, "not JSON")] {
        let s = &good[i];
        assert!(s["value"].is_null(), "{s}");
        assert!(
            s["error"].as_str().unwrap().contains(needle),
            "{needle}: {s}"
        );
    }
    let mut bodies = received.lock().unwrap().clone();
    bodies.sort_by_key(|b| b["output"].as_str().unwrap().to_string());
    assert_eq!(
        bodies[0],
        json!({ "input": "Say bad", "output": "Echo: Say bad", "expected": null,
                "variables": { "q": "bad" }, "metadata": {} })
    );
    assert_eq!(
        bodies[1],
        json!({ "input": "Say good", "output": "Echo: Say good", "expected": "good",
                "variables": { "q": "good" }, "metadata": { "source": "golden" } })
    );
    // A host outside the allow-list is refused when the experiment is made.
    let (s, e) = app
        .post(
            "/api/experiments",
            json!({ "promptId": prompt, "datasetId": ds,
                    "evaluators": [{ "type": "http", "url": "http://evil.example/score" }] }),
        )
        .await;
    assert_eq!(s, 422, "{e}");
    assert_eq!(
        e["error"]["details"]["fields"][0]["field"],
        "evaluators[0].url"
    );
}

async fn a_rescore_by_a_judge_calls_only_the_judge(db: TestDb) {
    let app = spawn_app(db).await;
    let (prompt, _) = echo_prompt(&app, "Answerer", "{{q}}", "mock-echo").await;
    let (judge, _) =
        echo_prompt(&app, "Judge", "Rate: {{output}} for {{input}}", "mock-echo").await;
    let items = (0..3)
        .map(|i| json!({ "variables": { "q": format!(r#"{{"score": 1, "reason": "r{i}"}}"#) } }))
        .collect();
    let ds = dataset_of(&app, "rescored", items).await;
    let done = run_experiment(&app, json!({ "promptId": prompt, "datasetId": ds })).await;
    let id = done["id"].as_str().unwrap();
    let before = app.mock.chat_requests().len();
    let (s, summary) = app
        .post(
            &format!("/api/experiments/{id}/rescore"),
            json!({ "evaluators": [{ "name": "j", "type": "llm_judge", "promptId": judge }] }),
        )
        .await;
    assert_eq!(s, 200, "{summary}");
    let calls: Vec<Value> = app.mock.chat_requests()[before..]
        .iter()
        .map(|r| r.body.clone())
        .collect();
    assert_eq!(calls.len(), 3, "one judge call per cell, no model call");
    for c in &calls {
        assert!(
            c["messages"][0]["content"]
                .as_str()
                .unwrap()
                .starts_with("Rate: Echo: "),
            "only the judge was called: {c}"
        );
    }
    let j = summary["data"]["variants"][0]["evaluators"][0].clone();
    assert_eq!(j["evaluator"], "j");
    assert_eq!(j["mean"], 1.0, "{j}");
    let judge_runs = runs_of(&app, &judge).await;
    assert_eq!(judge_runs.len(), 3);
    assert!(
        judge_runs
            .iter()
            .all(|r| r["kind"] == "judge" && r["judgeOf"].is_string())
    );
}

/// A judge asked for by label is stored as the version the label pointed
/// at: moving the label afterwards does not change who judges that
/// experiment's cells (a rescore with its stored evaluators still calls the
/// old version), while a new request by label takes the new one.
async fn a_judge_chosen_by_label_is_pinned_to_its_version(db: TestDb) {
    let app = spawn_app(db).await;
    let (prompt, _) = echo_prompt(&app, "Answerer", "{{q}}", "mock-echo").await;
    let (judge, judge_slug) =
        echo_prompt(&app, "Judge", "First judge: {{output}}", "mock-echo").await;
    let (_, v1) = app.get(&format!("/api/prompts/{judge}/versions/1")).await;
    let v1 = v1["data"]["id"].as_str().unwrap().to_string();
    let (s, _) = app
        .put(
            &format!("/api/prompts/{judge}/labels/production"),
            json!({ "versionId": v1 }),
        )
        .await;
    assert_eq!(s, 200);
    let items = (0..2)
        .map(|_| json!({ "variables": { "q": r#"{"score": 1, "reason": "ok"}"# } }))
        .collect();
    let ds = dataset_of(&app, "pinned", items).await;
    let by_label = json!([{ "name": "j", "type": "llm_judge", "promptId": judge_slug, "label": "production" }]);
    let done = run_experiment(
        &app,
        json!({ "promptId": prompt, "datasetId": ds, "evaluators": by_label }),
    )
    .await;
    let stored = done["evaluators"][0].clone();
    assert_eq!(stored["versionId"], v1.as_str(), "{stored}");
    assert_eq!(stored["promptId"], judge.as_str(), "{stored}");
    assert!(stored.get("label").is_none(), "{stored}");

    let (s, v2) = app
        .post(
            &format!("/api/prompts/{judge}/versions"),
            json!({ "content": "Second judge: {{output}}", "settings": { "model": "mock-echo" } }),
        )
        .await;
    assert_eq!(s, 201, "{v2}");
    let v2 = v2["data"]["id"].as_str().unwrap().to_string();
    let (s, _) = app
        .put(
            &format!("/api/prompts/{judge}/labels/production"),
            json!({ "versionId": v2 }),
        )
        .await;
    assert_eq!(s, 200);

    let id = done["id"].as_str().unwrap();
    let judged_by = |from: usize| -> Vec<String> {
        app.mock.chat_requests()[from..]
            .iter()
            .map(|r| {
                r.body["messages"][0]["content"]
                    .as_str()
                    .unwrap()
                    .to_string()
            })
            .collect()
    };
    let before = app.mock.chat_requests().len();
    let (s, r) = app
        .post(
            &format!("/api/experiments/{id}/rescore"),
            json!({ "evaluators": done["evaluators"] }),
        )
        .await;
    assert_eq!(s, 200, "{r}");
    let calls = judged_by(before);
    assert_eq!(calls.len(), 2);
    assert!(
        calls.iter().all(|c| c.starts_with("First judge: ")),
        "{calls:?}"
    );

    let before = app.mock.chat_requests().len();
    let (s, r) = app
        .post(
            &format!("/api/experiments/{id}/rescore"),
            json!({ "evaluators": by_label }),
        )
        .await;
    assert_eq!(s, 200, "{r}");
    let calls = judged_by(before);
    assert!(
        calls.iter().all(|c| c.starts_with("Second judge: ")),
        "{calls:?}"
    );
    let (_, now) = app.get(&format!("/api/experiments/{id}")).await;
    assert_eq!(now["data"]["evaluators"][0]["versionId"], v2.as_str());
}
