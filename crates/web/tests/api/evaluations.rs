//! Scores through the HTTP API, on both databases: every cell scored as it
//! ends, the summary with its intervals, comparisons of two variants and of
//! two experiments with verdicts, a rescore without model calls, and the
//! 422s of bad evaluators and bad comparisons.

use std::time::Duration;

use promptrefine_testkit::{TestDb, both_backends};
use serde_json::{Value, json};

use crate::experiments::{dataset_of, prompt_with_two_versions, wait_for_end};
use crate::helpers::{TestApp, spawn_app, spawn_replica};

both_backends!(
    every_cell_is_scored_and_the_ended_experiment_has_a_summary,
    two_variants_and_two_experiments_compare_with_verdicts,
    a_rescore_scores_the_stored_outputs_again,
    bad_evaluators_and_bad_comparisons_are_422s_naming_the_field,
    a_finished_experiment_is_found_for_a_variant_it_already_ran,
    a_rescore_on_one_replica_changes_what_the_other_s_filters_show,
);

/// `n` items; the even ones expect what `mock-echo` answers to `Hello {{name}}`.
async fn dataset_with_expected(app: &TestApp, n: usize) -> String {
    let items = (0..n)
        .map(|i| {
            let expected = if i % 2 == 0 {
                format!("Echo: Hello item{i}")
            } else {
                "nope".into()
            };
            json!({ "variables": { "name": format!("item{i}") }, "expected": expected })
        })
        .collect();
    dataset_of(app, "scored", items).await
}

pub(crate) async fn run_experiment(app: &TestApp, body: Value) -> Value {
    let (s, e) = app.post("/api/experiments", body).await;
    assert_eq!(s, 202, "{e}");
    let id = e["data"]["id"].as_str().unwrap().to_string();
    let done = wait_for_end(app, &id, Duration::from_secs(60)).await;
    assert_eq!(done["status"], "succeeded", "{done}");
    done
}

fn evaluator<'a>(summary: &'a Value, variant: usize, name: &str) -> &'a Value {
    summary["variants"][variant]["evaluators"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["evaluator"] == name)
        .unwrap_or_else(|| panic!("no {name} in {summary}"))
}

async fn every_cell_is_scored_and_the_ended_experiment_has_a_summary(db: TestDb) {
    let app = spawn_app(db).await;
    let (prompt, v1, _) = prompt_with_two_versions(&app, "mock-echo").await;
    let ds = dataset_with_expected(&app, 20).await;
    let done = run_experiment(
        &app,
        json!({ "promptId": prompt, "datasetId": ds, "concurrency": 8,
                "variants": [{ "versionId": v1 }],
                "evaluators": [
                    { "type": "exact_match", "trim": true },
                    { "type": "contains", "values": ["hello"], "ignoreCase": true },
                    { "type": "json_valid" },
                ] }),
    )
    .await;
    // The stored evaluators are the canonical form, names filled in.
    let names: Vec<&str> = done["evaluators"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["exact_match", "contains", "json_valid"]);
    let summary = &done["summary"];
    let exact = evaluator(summary, 0, "exact_match");
    assert_eq!(exact["n"], 20, "{exact}");
    assert!(
        (exact["mean"].as_f64().unwrap() - 0.5).abs() < 1e-9,
        "{exact}"
    );
    let (lo, hi) = (
        exact["ci"][0].as_f64().unwrap(),
        exact["ci"][1].as_f64().unwrap(),
    );
    assert!(
        lo < 0.5 && 0.5 < hi && lo >= 0.0 && hi <= 1.0,
        "an interval around the mean: {exact}"
    );
    assert!(
        (exact["passRate"].as_f64().unwrap() - 0.5).abs() < 1e-9,
        "{exact}"
    );
    assert_eq!(evaluator(summary, 0, "contains")["mean"], 1.0);
    assert_eq!(evaluator(summary, 0, "json_valid")["mean"], 0.0);
    let id = done["id"].as_str().unwrap();
    // The same numbers every time they are read (seeded).
    let (s, again) = app.get(&format!("/api/experiments/{id}/summary")).await;
    assert_eq!(s, 200, "{again}");
    assert_eq!(&again["data"], summary);
    // Each result cell carries its scores, one per evaluator.
    let (s, results) = app
        .get(&format!("/api/experiments/{id}/results?limit=2"))
        .await;
    assert_eq!(s, 200, "{results}");
    let first = &results["data"]["items"][0]["cells"][0];
    let scores = first["scores"].as_array().unwrap();
    assert_eq!(scores.len(), 3, "{first}");
    assert_eq!(scores[0]["evaluator"], "exact_match");
    assert_eq!(scores[0]["pass"], true, "item 0 expects the echo: {first}");
    assert_eq!(
        results["data"]["items"][1]["cells"][0]["scores"][0]["pass"],
        false
    );
}

async fn two_variants_and_two_experiments_compare_with_verdicts(db: TestDb) {
    let app = spawn_app(db).await;
    let (prompt, v1, v2) = prompt_with_two_versions(&app, "mock-echo").await;
    let ds = dataset_with_expected(&app, 20).await;
    let says_hello = json!([{ "name": "hello", "type": "contains", "values": ["Hello"] }]);
    let both = run_experiment(
        &app,
        json!({ "promptId": prompt, "datasetId": ds, "concurrency": 8, "evaluators": says_hello,
                "variants": [{ "versionId": v1 }, { "versionId": v2 }] }),
    )
    .await;
    let id = both["id"].as_str().unwrap();
    // v2 says "Hi": worse than v1 on every item.
    let (s, c) = app
        .get(&format!(
            "/api/experiments/compare?experiment={id}&baseline=0&candidate=1"
        ))
        .await;
    assert_eq!(s, 200, "{c}");
    let c = &c["data"];
    assert_eq!(c["sameDatasetVersion"], true);
    assert_eq!(c["sharedItems"], 20);
    let hello = &c["evaluators"][0];
    assert_eq!(hello["verdict"], "worse", "{hello}");
    assert_eq!(hello["diff"].as_f64().unwrap(), -1.0, "{hello}");
    assert!(hello["mcnemar"]["p"].as_f64().unwrap() < 0.001, "{hello}");
    assert!(
        c["items"]
            .as_array()
            .unwrap()
            .iter()
            .all(|i| i["outcome"] == "regressed"),
        "{c}"
    );

    // Two experiments: v1 alone, v2 alone; v1 as the candidate is better.
    let one = |v: &str| {
        json!({ "promptId": prompt, "datasetId": ds, "concurrency": 8, "evaluators": says_hello,
                "variants": [{ "versionId": v }] })
    };
    let a = run_experiment(&app, one(&v2)).await;
    let b = run_experiment(&app, one(&v1)).await;
    let (a, b) = (a["id"].as_str().unwrap(), b["id"].as_str().unwrap());
    let (s, c) = app
        .get(&format!(
            "/api/experiments/compare?baseline={a}&candidate={b}"
        ))
        .await;
    assert_eq!(s, 200, "{c}");
    assert_eq!(c["data"]["evaluators"][0]["verdict"], "better", "{c}");
    assert_eq!(c["data"]["baseline"]["experimentId"], a);
    // The same version against itself: no difference.
    let (s, c) = app
        .get(&format!(
            "/api/experiments/compare?baseline={id}&candidate={b}"
        ))
        .await;
    assert_eq!(s, 200, "{c}");
    assert_eq!(
        c["data"]["evaluators"][0]["verdict"], "no_difference",
        "{c}"
    );
}

async fn a_rescore_scores_the_stored_outputs_again(db: TestDb) {
    let app = spawn_app(db).await;
    let (prompt, v1, v2) = prompt_with_two_versions(&app, "mock-echo").await;
    let ds = dataset_with_expected(&app, 12).await;
    let done = run_experiment(
        &app,
        json!({ "promptId": prompt, "datasetId": ds, "concurrency": 8,
                "variants": [{ "versionId": v1 }, { "versionId": v2 }] }),
    )
    .await;
    let id = done["id"].as_str().unwrap();
    assert!(
        done["summary"]["variants"][0]["evaluators"]
            .as_array()
            .unwrap()
            .is_empty(),
        "no evaluators, no scores: {done}"
    );
    let calls_before = app.mock.chat_requests().len();
    let (s, summary) = app
        .post(
            &format!("/api/experiments/{id}/rescore"),
            json!({ "evaluators": [{ "name": "hi", "type": "regex", "pattern": "^Echo: Hi item\\d+$" }] }),
        )
        .await;
    assert_eq!(s, 200, "{summary}");
    assert_eq!(
        app.mock.chat_requests().len(),
        calls_before,
        "a rescore calls no model"
    );
    assert_eq!(evaluator(&summary["data"], 0, "hi")["mean"], 0.0);
    assert_eq!(evaluator(&summary["data"], 1, "hi")["mean"], 1.0);
    let (_, e) = app.get(&format!("/api/experiments/{id}")).await;
    assert_eq!(
        e["data"]["evaluators"][0]["name"], "hi",
        "the new evaluators are the experiment's"
    );
    let (_, results) = app
        .get(&format!("/api/experiments/{id}/results?limit=1"))
        .await;
    assert_eq!(
        results["data"]["items"][0]["cells"][1]["scores"][0]["pass"], true,
        "{results}"
    );
}

async fn bad_evaluators_and_bad_comparisons_are_422s_naming_the_field(db: TestDb) {
    let app = spawn_app(db).await;
    let (prompt, _, _) = prompt_with_two_versions(&app, "mock-echo").await;
    let ds = dataset_with_expected(&app, 2).await;
    let cases = [
        (
            json!([{ "type": "regex", "pattern": "(" }]),
            "evaluators[0].pattern",
        ),
        (json!([{ "type": "nope" }]), "evaluators[0].type"),
        (json!([{ "type": "contains" }]), "evaluators[0].values"),
        (
            json!([{ "type": "exact_match", "bogus": 1 }]),
            "evaluators[0].bogus",
        ),
        (
            json!([{ "type": "llm_judge", "promptId": "no-such-judge" }]),
            "evaluators[0].promptId",
        ),
        (
            json!([{ "type": "llm_judge", "promptId": prompt, "label": "nope" }]),
            "evaluators[0].label",
        ),
        (
            json!([{ "type": "http", "url": "http://127.0.0.1:9/score" }]),
            "evaluators[0].url",
        ),
        (json!({ "type": "contains" }), "evaluators"),
    ];
    for (evaluators, field) in cases {
        let (s, body) = app
            .post(
                "/api/experiments",
                json!({ "promptId": prompt, "datasetId": ds, "evaluators": evaluators }),
            )
            .await;
        assert_eq!(s, 422, "{evaluators} → {body}");
        let fields: Vec<&str> = body["error"]["details"]["fields"]
            .as_array()
            .unwrap()
            .iter()
            .map(|f| f["field"].as_str().unwrap())
            .collect();
        assert!(
            fields.contains(&field),
            "{evaluators}: {field} not in {body}"
        );
    }
    let (s, list) = app.get("/api/experiments").await;
    assert_eq!(s, 200);
    assert!(
        list["data"]["items"].as_array().unwrap().is_empty(),
        "nothing was stored"
    );

    let unknown = promptrefine_core::ExperimentId::new();
    for (query, status, field) in [
        ("candidate=x".to_string(), 422, Some("baseline")),
        (
            format!("baseline={unknown}&candidate=nope"),
            422,
            Some("candidate"),
        ),
        (
            format!("experiment={unknown}&baseline=a&candidate=1"),
            422,
            Some("baseline"),
        ),
        (format!("baseline={unknown}&candidate={unknown}"), 404, None),
    ] {
        let (s, body) = app.get(&format!("/api/experiments/compare?{query}")).await;
        assert_eq!(s, status, "{query} → {body}");
        if let Some(field) = field {
            assert_eq!(
                body["error"]["details"]["fields"][0]["field"], field,
                "{query}: {body}"
            );
        }
    }
}

/// `POST /api/experiments/reusable`: the newest finished experiment whose
/// variant ran exactly what was asked (version, model, settings, repeats,
/// evaluators, dataset version); nothing when any of them differs.
async fn a_finished_experiment_is_found_for_a_variant_it_already_ran(db: TestDb) {
    let app = spawn_app(db).await;
    let (prompt, v1, v2) = prompt_with_two_versions(&app, "mock-echo").await;
    let ds = dataset_with_expected(&app, 4).await;
    let evaluators = json!([{ "type": "contains", "values": ["Hello"] }]);
    let body = |variants: Value, evaluators: &Value| json!({ "promptId": prompt, "datasetId": ds, "variants": variants, "evaluators": evaluators });
    let find = |b: Value, variant: usize| {
        let app = &app;
        async move {
            app.post(
                "/api/experiments/reusable",
                json!({ "experiment": b, "variant": variant }),
            )
            .await
        }
    };
    let (s, none) = find(body(json!([{ "versionId": v1 }]), &evaluators), 0).await;
    assert_eq!(
        (s, &none["data"]["experiment"]),
        (200, &Value::Null),
        "{none}"
    );

    let done = run_experiment(
        &app,
        body(
            json!([{ "versionId": v1 }, { "versionId": v2 }]),
            &evaluators,
        ),
    )
    .await;
    // Version 2 asked as the first variant of a new body: found as variant 1.
    let (s, found) = find(
        body(
            json!([{ "versionId": v2 }, { "versionId": v1 }]),
            &evaluators,
        ),
        0,
    )
    .await;
    assert_eq!(s, 200, "{found}");
    assert_eq!(found["data"]["experiment"]["id"], done["id"]);
    assert_eq!(found["data"]["variant"], 1);
    // Each difference means it did not run that.
    let other_evaluators = json!([{ "type": "contains", "values": ["Hi"] }]);
    for (why, b) in [
        (
            "other evaluators",
            body(json!([{ "versionId": v1 }]), &other_evaluators),
        ),
        (
            "another model",
            body(
                json!([{ "versionId": v1, "model": "mock-other" }]),
                &evaluators,
            ),
        ),
        (
            "other settings",
            body(
                json!([{ "versionId": v1, "params": { "temperature": 0.5 } }]),
                &evaluators,
            ),
        ),
        ("more repeats", {
            let mut b = body(json!([{ "versionId": v1 }]), &evaluators);
            b["repeats"] = json!(2);
            b
        }),
    ] {
        let (s, r) = find(b, 0).await;
        assert_eq!(
            (s, &r["data"]["experiment"]),
            (200, &Value::Null),
            "{why}: {r}"
        );
    }
    // A changed dataset is a new version: the old cells ran the old items.
    let (s, _) = app
        .post(
            &format!("/api/datasets/{ds}/items"),
            json!({ "items": [{ "variables": { "name": "new" } }] }),
        )
        .await;
    assert_eq!(s, 201);
    let (_, r) = find(body(json!([{ "versionId": v1 }]), &evaluators), 0).await;
    assert_eq!(r["data"]["experiment"], Value::Null, "{r}");

    let (s, bad) = find(body(json!([{ "versionId": v1 }]), &evaluators), 3).await;
    assert_eq!(s, 422, "{bad}");
    assert_eq!(bad["error"]["details"]["fields"][0]["field"], "variant");
}

/// An ended experiment's results filters read facts derived once and
/// stored; a rescore on replica A must make them stale for replica B at
/// once (they are valid only while the experiment's `updated_at` is
/// unchanged), not after some cache expires.
async fn a_rescore_on_one_replica_changes_what_the_other_s_filters_show(db: TestDb) {
    use promptrefine_app::experiments::browse::{BrowseResults, ResultFilter, ResultSort};
    let a = spawn_app(db).await;
    let b = spawn_replica(&a).await;
    let (prompt, v1, _) = prompt_with_two_versions(&a, "mock-echo").await;
    let ds = crate::experiments::dataset(&a, "replicas", 10).await;
    // `Echo: Hello itemN`: only item1 contains "item1".
    let done = run_experiment(
        &a,
        json!({ "promptId": prompt, "datasetId": ds, "variants": [{ "versionId": v1 }],
                "evaluators": [{ "name": "one", "type": "contains", "values": ["item1"] }] }),
    )
    .await;
    let id: promptrefine_core::ExperimentId = done["id"].as_str().unwrap().parse().unwrap();
    let failed = |app: &TestApp| {
        let app = app.app.clone();
        async move {
            let page = app
                .browse_results(
                    id,
                    BrowseResults {
                        filter: ResultFilter::Failed,
                        sort: ResultSort::Item,
                        cursor: None,
                        limit: Some(100),
                    },
                )
                .await
                .unwrap();
            page.rows.iter().map(|r| r.position).collect::<Vec<i64>>()
        }
    };
    let nine: Vec<i64> = (0..10).filter(|p| *p != 1).collect();
    assert_eq!(failed(&b).await, nine, "B derives (or reads) the facts");
    assert_eq!(failed(&b).await, nine, "and reads them again");

    let (s, summary) = a
        .post(
            &format!("/api/experiments/{id}/rescore"),
            json!({ "evaluators": [{ "name": "any", "type": "contains", "values": ["item"] }] }),
        )
        .await;
    assert_eq!(s, 200, "{summary}");
    assert_eq!(
        failed(&b).await,
        Vec::<i64>::new(),
        "B sees A's rescore at once"
    );
    assert_eq!(failed(&a).await, Vec::<i64>::new());

    let (s, _) = b
        .post(
            &format!("/api/experiments/{id}/rescore"),
            json!({ "evaluators": [{ "name": "none", "type": "contains", "values": ["zzz"] }] }),
        )
        .await;
    assert_eq!(s, 200);
    assert_eq!(
        failed(&a).await,
        (0..10).collect::<Vec<i64>>(),
        "and the other way"
    );
}
