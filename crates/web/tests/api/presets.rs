//! `/api/model-presets` on both databases: the contract of every route and
//! each 4xx, a run and experiment variants made from a preset (what the
//! mock received), what the request gives winning over the preset, and
//! budgets costed with a stored provider's own prices.

use std::time::Duration;

use promptrefine_testkit::{TestDb, both_backends};
use serde_json::{Value, json};

use crate::experiments::{dataset, prompt_with_two_versions, wait_for_end};
use crate::helpers::{TestApp, fields, spawn_app};

both_backends!(
    a_preset_is_created_listed_read_changed_and_deleted,
    invalid_presets_are_refused_with_a_422_naming_the_field,
    a_run_from_a_preset_sends_its_model_and_params_and_the_request_wins,
    experiment_variants_from_presets_keep_what_the_preset_was,
    budgets_are_costed_with_a_stored_provider_s_own_prices,
);

fn cold() -> Value {
    json!({ "name": "cold", "model": "mock-echo",
            "params": { "temperature": 0, "maxTokens": 40, "seed": 7 } })
}

async fn a_preset_is_created_listed_read_changed_and_deleted(db: TestDb) {
    let app = spawn_app(db).await;
    let (status, created) = app.post("/api/model-presets", cold()).await;
    assert_eq!(status, 201, "{created}");
    let p = &created["data"];
    let id = p["id"].as_str().unwrap().to_owned();
    assert_eq!(p["name"], "cold");
    assert_eq!(p["provider"], Value::Null, "no provider: the default");
    assert_eq!(p["model"], "mock-echo");
    assert_eq!(
        p["params"],
        json!({ "temperature": 0.0, "maxTokens": 40, "seed": 7 })
    );
    assert!(p["createdAt"].is_string() && p["updatedAt"].is_string());

    let (status, again) = app.post("/api/model-presets", cold()).await;
    assert_eq!(status, 409, "{again}");
    assert_eq!(fields(&again), ["name"]);
    let (status, _) = app
        .post(
            "/api/model-presets",
            json!({ "name": "a-warm", "provider": "openai", "model": "gpt-4o-mini" }),
        )
        .await;
    assert_eq!(status, 201);
    let (status, list) = app.get("/api/model-presets").await;
    assert_eq!(status, 200);
    let names: Vec<&str> = list["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["a-warm", "cold"], "by name");

    for path in [
        format!("/api/model-presets/{id}"),
        "/api/model-presets/cold".into(),
    ] {
        let (status, got) = app.get(&path).await;
        assert_eq!(status, 200, "{path}: {got}");
        assert_eq!(got["data"], *p, "{path}");
    }
    let (status, _) = app.get("/api/model-presets/no-such").await;
    assert_eq!(status, 404);

    let (status, patched) = app
        .patch(
            &format!("/api/model-presets/{id}"),
            json!({ "provider": "openai", "params": { "topP": 0.5 } }),
        )
        .await;
    assert_eq!(status, 200, "{patched}");
    let q = &patched["data"];
    assert_eq!(q["provider"], "openai");
    assert_eq!(
        q["params"],
        json!({ "topP": 0.5 }),
        "params are replaced whole"
    );
    assert_eq!(q["model"], "mock-echo", "fields not sent are kept");
    assert_eq!(q["createdAt"], p["createdAt"]);
    let (status, cleared) = app
        .patch("/api/model-presets/cold", json!({ "provider": null }))
        .await;
    assert_eq!(status, 200, "{cleared}");
    assert_eq!(cleared["data"]["provider"], Value::Null);

    let (status, deleted) = app.delete(&format!("/api/model-presets/{id}")).await;
    assert_eq!(status, 200, "{deleted}");
    assert_eq!(deleted["data"], json!({ "id": id, "deleted": true }));
    let (status, _) = app.get(&format!("/api/model-presets/{id}")).await;
    assert_eq!(status, 404);
    let (status, _) = app.delete(&format!("/api/model-presets/{id}")).await;
    assert_eq!(status, 404);
    let (status, anon) = crate::helpers::read(
        app.anon
            .get(app.url("/api/model-presets"))
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(status, 401, "{anon}");
}

async fn invalid_presets_are_refused_with_a_422_naming_the_field(db: TestDb) {
    let app = spawn_app(db).await;
    let cases = [
        (json!({ "name": "Has Spaces", "model": "m" }), vec!["name"]),
        (json!({ "name": "", "model": "m" }), vec!["name"]),
        (json!({ "name": "ok", "model": "" }), vec!["model"]),
        (
            json!({ "name": "ok", "model": "m", "provider": "nowhere" }),
            vec!["provider"],
        ),
        (
            json!({ "name": "ok", "model": "m", "params": { "model": "other" } }),
            vec!["params.model"],
        ),
        (
            json!({ "name": "ok", "model": "m", "params": { "temperature": 9 } }),
            vec!["params.temperature"],
        ),
        (
            json!({ "name": "ok", "model": "m", "colour": "blue" }),
            vec!["colour"],
        ),
    ];
    for (body, want) in cases {
        let (status, answer) = app.post("/api/model-presets", body.clone()).await;
        assert_eq!(status, 422, "{body}: {answer}");
        assert_eq!(fields(&answer), want, "{body}: {answer}");
    }
    let (status, _) = app.post("/api/model-presets", cold()).await;
    assert_eq!(status, 201);
    let (status, answer) = app
        .patch("/api/model-presets/cold", json!({ "model": " " }))
        .await;
    assert_eq!(status, 422, "{answer}");
    assert_eq!(fields(&answer), ["model"]);
    let (_, kept) = app.get("/api/model-presets/cold").await;
    assert_eq!(
        kept["data"]["model"], "mock-echo",
        "a refused patch changes nothing"
    );
    let (_, list) = app.get("/api/model-presets").await;
    assert_eq!(list["data"].as_array().unwrap().len(), 1, "{list}");
}

async fn a_run_from_a_preset_sends_its_model_and_params_and_the_request_wins(db: TestDb) {
    let app = spawn_app(db).await;
    let (status, _) = app.post("/api/model-presets", cold()).await;
    assert_eq!(status, 201);
    let prompt = app.create_prompt("Preset run", Some("Say {{x}}")).await;

    let (status, run) = app
        .post(
            "/api/test-runs",
            json!({ "promptId": prompt["id"], "preset": "cold", "variables": { "x": "hi" } }),
        )
        .await;
    assert_eq!(status, 201, "{run}");
    let r = &run["data"];
    assert_eq!(r["status"], "succeeded", "{r}");
    assert_eq!(
        (r["provider"].as_str(), r["model"].as_str()),
        (Some("openai"), Some("mock-echo"))
    );
    let sent = app.mock.chat_requests().last().unwrap().body.clone();
    assert_eq!(sent["model"], "mock-echo");
    assert_eq!(sent["temperature"], 0.0);
    assert_eq!(sent["max_tokens"], 40);
    assert_eq!(sent["seed"], 7);

    // What the request gives itself wins, field by field.
    let (status, run) = app
        .post(
            "/api/test-runs",
            json!({ "promptId": prompt["id"], "preset": "cold", "model": "gpt-4o-mini",
                    "params": { "temperature": 0.7 }, "variables": { "x": "hi" } }),
        )
        .await;
    assert_eq!(status, 201, "{run}");
    assert_eq!(run["data"]["model"], "gpt-4o-mini");
    let sent = app.mock.chat_requests().last().unwrap().body.clone();
    assert_eq!(sent["model"], "gpt-4o-mini");
    assert_eq!(sent["temperature"], 0.7);
    assert_eq!(sent["max_tokens"], 40, "the preset's other params stay");

    let before = app.mock.chat_requests().len();
    let (status, refused) = app
        .post(
            "/api/test-runs",
            json!({ "promptId": prompt["id"], "preset": "gone", "variables": { "x": "hi" } }),
        )
        .await;
    assert_eq!(status, 422, "{refused}");
    assert_eq!(fields(&refused), ["preset"]);
    assert!(
        refused["error"]["message"]
            .as_str()
            .unwrap()
            .contains("cold"),
        "names the presets there are: {refused}"
    );
    assert_eq!(app.mock.chat_requests().len(), before, "nothing was sent");
}

async fn experiment_variants_from_presets_keep_what_the_preset_was(db: TestDb) {
    let app = spawn_app(db).await;
    let (prompt, v1, _) = prompt_with_two_versions(&app, "gpt-4o-mini").await;
    let ds = dataset(&app, "presets", 3).await;
    let (status, _) = app.post("/api/model-presets", cold()).await;
    assert_eq!(status, 201);

    let (status, refused) = app
        .post(
            "/api/experiments",
            json!({ "promptId": prompt, "datasetId": ds,
                    "variants": [{ "preset": "cold" }, { "preset": "warm" }] }),
        )
        .await;
    assert_eq!(status, 422, "{refused}");
    assert_eq!(fields(&refused), ["variants[1].preset"]);

    let (status, created) = app
        .post(
            "/api/experiments",
            json!({ "promptId": prompt, "datasetId": ds,
                    "variants": [{ "preset": "cold" },
                                 { "versionId": v1, "preset": "cold", "params": { "maxTokens": 9 } }] }),
        )
        .await;
    assert_eq!(status, 202, "{created}");
    let e = &created["data"];
    let id = e["id"].as_str().unwrap().to_owned();
    let variants = e["variants"].as_array().unwrap();
    for v in variants {
        assert_eq!(v["preset"], "cold", "{v}");
        assert_eq!(v["model"], "mock-echo", "{v}");
        assert_eq!(v["params"]["temperature"], 0.0, "{v}");
    }
    assert_eq!(variants[0]["params"]["maxTokens"], 40);
    assert_eq!(
        variants[1]["params"]["maxTokens"], 9,
        "the variant's own wins"
    );

    // Changing the preset later changes nothing planned.
    let (status, _) = app
        .patch("/api/model-presets/cold", json!({ "model": "gpt-4o-mini" }))
        .await;
    assert_eq!(status, 200);
    let done = wait_for_end(&app, &id, Duration::from_secs(30)).await;
    assert_eq!(done["status"], "succeeded", "{done}");
    assert_eq!(done["variants"], e["variants"]);
    let models: Vec<String> = app
        .mock
        .chat_requests()
        .iter()
        .map(|r| r.body["model"].as_str().unwrap_or_default().to_owned())
        .collect();
    assert_eq!(models.len(), 6, "{models:?}");
    assert!(models.iter().all(|m| m == "mock-echo"), "{models:?}");
}

async fn budgets_are_costed_with_a_stored_provider_s_own_prices(db: TestDb) {
    let app = spawn_app(db).await;
    let (prompt, _, _) = prompt_with_two_versions(&app, "mock-echo").await;
    let ds = dataset(&app, "budget", 2).await;
    let body = |provider: &str| {
        json!({ "promptId": prompt, "datasetId": ds, "maxCostUsd": 5,
                "variants": [{ "provider": provider }] })
    };
    // The server has no price for mock-echo: a budget cannot be kept.
    let (status, refused) = app.post("/api/experiments/estimate", body("openai")).await;
    assert_eq!(status, 422, "{refused}");
    assert_eq!(fields(&refused), ["maxCostUsd"]);

    priced_provider(&app).await;
    let (status, est) = app.post("/api/experiments/estimate", body("priced")).await;
    assert_eq!(status, 200, "{est}");
    let tokens = est["data"]["promptTokens"].as_i64().unwrap();
    assert!(tokens > 0, "{est}");
    // 1 USD per million prompt tokens, no completion price: exact.
    assert_eq!(
        est["data"]["maxCostMicroUsd"].as_i64(),
        Some(tokens),
        "{est}"
    );

    // Through a preset naming the provider, too, and it runs.
    let (status, _) = app
        .post(
            "/api/model-presets",
            json!({ "name": "priced-echo", "provider": "priced", "model": "mock-echo" }),
        )
        .await;
    assert_eq!(status, 201);
    let (status, created) = app
        .post(
            "/api/experiments",
            json!({ "promptId": prompt, "datasetId": ds, "maxCostUsd": 5,
                    "variants": [{ "preset": "priced-echo" }] }),
        )
        .await;
    assert_eq!(status, 202, "{created}");
    let id = created["data"]["id"].as_str().unwrap().to_owned();
    let done = wait_for_end(&app, &id, Duration::from_secs(30)).await;
    assert_eq!(done["status"], "succeeded", "{done}");
    assert!(done["costMicroUsd"].as_i64().unwrap() > 0, "{done}");
}

async fn priced_provider(app: &TestApp) {
    let (status, created) = app
        .post(
            "/api/providers",
            json!({ "name": "priced", "baseUrl": app.mock.base_url(),
                    "models": ["mock-echo"],
                    "prices": { "mock-echo": { "input": 1, "output": 0 } } }),
        )
        .await;
    assert_eq!(status, 201, "{created}");
}
