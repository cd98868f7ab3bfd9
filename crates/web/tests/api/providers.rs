//! `/api/providers`: the contract of every route and each 422, the
//! environment's providers read-only, a stored provider serving a run, its
//! key found nowhere but upstream (answers, logs, the SQLite file, a
//! PostgreSQL dump), the link-local guard, and the connection test.

use promptrefine_store::Backend;
use promptrefine_testkit::{TestDb, both_backends};
use serde_json::{Value, json};

use crate::helpers::{Options, TestApp, fields, spawn_app, spawn_replica, spawn_replica_with};

both_backends!(
    a_provider_is_created_listed_read_changed_and_deleted,
    invalid_providers_are_refused_with_a_422_naming_the_field,
    the_environment_s_providers_are_listed_but_read_only,
    a_stored_provider_serves_a_run_and_its_key_is_found_nowhere_else,
    the_connection_test_lists_models_or_reports_the_run_error_code,
    a_replica_uses_a_provider_as_last_changed_and_another_key_cannot_open_it,
    the_model_selector_offers_stored_providers_after_the_environment_s,
    a_run_with_a_stored_provider_is_costed_with_its_own_prices,
    rotating_the_server_key_reseals_every_provider_or_changes_nothing,
);

/// Distinctive, so a find anywhere is this key and nothing else.
const STORED_KEY: &str = "sk-stored-9f2c7e1ab4d3-provider-key";
const HEADER_SECRET: &str = "tenant-secret-5b8e0c2d";

fn provider(app: &TestApp, name: &str) -> Value {
    json!({
        "name": name,
        "baseUrl": app.mock.base_url(),
        "apiKey": STORED_KEY,
        "extraHeaders": { "x-tenant": HEADER_SECRET },
        "models": ["gpt-4o-mini", "mock-echo"],
        "prices": { "gpt-4o-mini": { "input": 0.15, "output": 0.6 } },
    })
}

async fn a_provider_is_created_listed_read_changed_and_deleted(db: TestDb) {
    let app = spawn_app(db).await;
    let (status, created) = app.post("/api/providers", provider(&app, "local")).await;
    assert_eq!(status, 201, "{created}");
    let p = &created["data"];
    let id = p["id"].as_str().unwrap().to_owned();
    assert_eq!(p["name"], "local");
    assert_eq!(p["baseUrl"], app.mock.base_url());
    assert_eq!(p["hasKey"], true);
    assert_eq!(p["headerNames"], json!(["x-tenant"]));
    assert_eq!(p["models"], json!(["gpt-4o-mini", "mock-echo"]));
    assert_eq!(
        p["prices"]["gpt-4o-mini"],
        json!({ "input": 0.15, "output": 0.6 })
    );
    assert_eq!(p["source"], "stored");
    assert!(
        p["createdAt"].is_string() && p["updatedAt"].is_string(),
        "{p}"
    );
    assert!(
        p.get("apiKey").is_none() && p.get("extraHeaders").is_none(),
        "{p}"
    );

    let (status, list) = app.get("/api/providers").await;
    assert_eq!(status, 200);
    let names: Vec<(&str, &str)> = list["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| (p["name"].as_str().unwrap(), p["source"].as_str().unwrap()))
        .collect();
    assert_eq!(names, [("openai", "env"), ("local", "stored")]);

    for path in [
        format!("/api/providers/{id}"),
        "/api/providers/local".into(),
    ] {
        let (status, got) = app.get(&path).await;
        assert_eq!(status, 200, "{path}: {got}");
        assert_eq!(got["data"], *p, "{path}");
    }
    let (status, _) = app.get("/api/providers/no-such").await;
    assert_eq!(status, 404);

    let (status, patched) = app
        .patch(
            &format!("/api/providers/{id}"),
            json!({ "name": "renamed", "apiKey": null, "extraHeaders": {}, "models": ["m-1"] }),
        )
        .await;
    assert_eq!(status, 200, "{patched}");
    let q = &patched["data"];
    assert_eq!(
        (q["name"].as_str(), q["hasKey"].as_bool()),
        (Some("renamed"), Some(false))
    );
    assert_eq!(q["headerNames"], json!([]));
    assert_eq!(q["models"], json!(["m-1"]));
    assert_eq!(q["prices"], p["prices"], "fields not sent are kept");
    assert_eq!(q["createdAt"], p["createdAt"]);

    let (status, deleted) = app.delete(&format!("/api/providers/{id}")).await;
    assert_eq!(status, 200, "{deleted}");
    assert_eq!(deleted["data"], json!({ "id": id, "deleted": true }));
    let (status, gone) = app.get(&format!("/api/providers/{id}")).await;
    assert_eq!(status, 404, "{gone}");
    let (status, _) = app.delete(&format!("/api/providers/{id}")).await;
    assert_eq!(status, 404);
    let (status, anon) = crate::helpers::read(
        app.anon
            .get(app.url("/api/providers"))
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(status, 401, "{anon}");
}

async fn invalid_providers_are_refused_with_a_422_naming_the_field(db: TestDb) {
    let app = spawn_app(db).await;
    let base = provider(&app, "ok");
    let cases: Vec<(Value, &str)> = vec![
        (json!({ "name": "Has Space" }), "name"),
        (json!({ "name": "" }), "name"),
        (json!({ "baseUrl": "ftp://example.com/v1" }), "baseUrl"),
        (
            json!({ "baseUrl": "http://user:pw@example.com/v1" }),
            "baseUrl",
        ),
        // The link-local / metadata guard.
        (
            json!({ "baseUrl": "http://169.254.169.254/latest/meta-data" }),
            "baseUrl",
        ),
        (
            json!({ "baseUrl": "http://metadata.google.internal/v1" }),
            "baseUrl",
        ),
        (json!({ "baseUrl": "http://[fd00:ec2::254]/v1" }), "baseUrl"),
        (json!({ "baseUrl": "http://[fe80::1]/v1" }), "baseUrl"),
        (json!({ "apiKey": "" }), "apiKey"),
        (json!({ "apiKey": "has space inside" }), "apiKey"),
        (
            json!({ "extraHeaders": { "Authorization": "Bearer x" } }),
            "extraHeaders[\"Authorization\"]",
        ),
        (
            json!({ "extraHeaders": { "bad name": "x" } }),
            "extraHeaders[\"bad name\"]",
        ),
        (json!({ "models": ["a", "a"] }), "models[1]"),
        (json!({ "models": [""] }), "models[0]"),
        (
            json!({ "prices": { "m": { "input": -1.0, "output": 1.0 } } }),
            "prices[\"m\"].input",
        ),
    ];
    for (change, field) in cases {
        let mut body = base.clone();
        for (k, v) in change.as_object().unwrap() {
            body[k] = v.clone();
        }
        let (status, json) = app.post("/api/providers", body.clone()).await;
        assert_eq!(status, 422, "{body}: {json}");
        assert_eq!(json["error"]["code"], "validation_failed", "{json}");
        assert_eq!(fields(&json), [field], "{body}: {json}");
    }
    let guard = app
        .post(
            "/api/providers",
            json!({ "name": "imds", "baseUrl": "http://169.254.169.254/v1" }),
        )
        .await;
    assert_eq!(
        guard.1["error"]["details"]["fields"][0]["rule"], "reserved",
        "{}",
        guard.1
    );
    let (status, _) = app.get("/api/providers/imds").await;
    assert_eq!(status, 404, "a refused provider is not stored");

    let (status, json) = app
        .post(
            "/api/providers",
            json!({ "name": "x", "baseUrl": app.mock.base_url(), "secret": 1 }),
        )
        .await;
    assert_eq!(status, 422, "unknown fields are refused: {json}");

    // PATCH follows the same rules, and a new origin needs the key again.
    let (status, created) = app.post("/api/providers", base.clone()).await;
    assert_eq!(status, 201, "{created}");
    let path = format!("/api/providers/{}", created["data"]["id"].as_str().unwrap());
    let (status, json) = app
        .patch(
            &path,
            json!({ "baseUrl": "http://169.254.169.254/v1", "apiKey": "k" , "extraHeaders": {} }),
        )
        .await;
    assert_eq!(
        (status, fields(&json)),
        (422, vec!["baseUrl".to_string()]),
        "{json}"
    );
    let (status, json) = app
        .patch(&path, json!({ "baseUrl": "http://127.0.0.1:9/v1" }))
        .await;
    assert_eq!(status, 422, "{json}");
    assert_eq!(fields(&json), ["apiKey", "extraHeaders"], "{json}");
    let (status, json) = app
        .patch(
            &path,
            json!({ "baseUrl": "http://127.0.0.1:9/v1", "apiKey": "sk-new", "extraHeaders": {} }),
        )
        .await;
    assert_eq!(status, 200, "{json}");
    let (status, json) = app
        .patch(
            &path,
            json!({ "prices": { "m": { "input": 1, "output": -0.5 } } }),
        )
        .await;
    assert_eq!(
        (status, fields(&json)),
        (422, vec!["prices[\"m\"].output".to_string()]),
        "{json}"
    );

    // Names are unique.
    let (status, json) = app.post("/api/providers", provider(&app, "twice")).await;
    assert_eq!(status, 201, "{json}");
    let (status, json) = app.post("/api/providers", provider(&app, "twice")).await;
    assert_eq!(status, 409, "{json}");
}

async fn the_environment_s_providers_are_listed_but_read_only(db: TestDb) {
    let app = spawn_app(db).await;
    let (status, got) = app.get("/api/providers/openai").await;
    assert_eq!(status, 200, "{got}");
    let p = &got["data"];
    assert_eq!(
        (p["source"].as_str(), p["hasKey"].as_bool()),
        (Some("env"), Some(true))
    );
    assert!(p["id"].is_null(), "{p}");
    assert_eq!(p["baseUrl"], app.mock.base_url());

    let (status, json) = app
        .patch("/api/providers/openai", json!({ "models": ["x"] }))
        .await;
    assert_eq!(status, 422, "{json}");
    assert_eq!(fields(&json), ["source"]);
    assert!(
        json["error"]["message"]
            .as_str()
            .unwrap()
            .contains("read-only"),
        "{json}"
    );
    let (status, json) = app.delete("/api/providers/openai").await;
    assert_eq!(
        (status, fields(&json)),
        (422, vec!["source".to_string()]),
        "{json}"
    );
    let (status, json) = app.post("/api/providers", provider(&app, "openai")).await;
    assert_eq!(
        status, 409,
        "a stored provider cannot take an env name: {json}"
    );
    let (_, list) = app.get("/api/providers").await;
    assert_eq!(list["data"].as_array().unwrap().len(), 1, "{list}");
}

async fn a_stored_provider_serves_a_run_and_its_key_is_found_nowhere_else(db: TestDb) {
    let logs = crate::auth::captured_logs();
    let app = spawn_app(db).await;
    let mut answers: Vec<String> = Vec::new();
    let mut keep = |json: &Value| answers.push(json.to_string());

    let (status, created) = app.post("/api/providers", provider(&app, "stored")).await;
    assert_eq!(status, 201, "{created}");
    keep(&created);
    let id = created["data"]["id"].as_str().unwrap().to_owned();
    let prompt = app
        .create_prompt("Stored provider", Some("Say {{x}}"))
        .await;
    let (status, run) = app
        .post(
            "/api/test-runs",
            json!({ "promptId": prompt["id"], "provider": "stored", "model": "gpt-4o-mini", "variables": { "x": "hi" } }),
        )
        .await;
    assert_eq!(status, 201, "{run}");
    keep(&run);
    assert_eq!(run["data"]["status"], "succeeded", "{run}");
    assert_eq!(run["data"]["provider"], "stored");
    assert_eq!(run["data"]["output"], "Echo: Say hi");

    // What went upstream: the key and the header, to the configured origin.
    let sent = app.mock.chat_requests();
    let last = sent.last().expect("the run reached the mock");
    assert_eq!(
        last.header("authorization"),
        Some(format!("Bearer {STORED_KEY}").as_str())
    );
    assert_eq!(last.header("x-tenant"), Some(HEADER_SECRET));

    // An upstream error that echoes the key is redacted like any run's.
    app.mock
        .enqueue(promptrefine_testkit::mock_openai::Behavior::Status {
            status: 401,
            body: format!(
                r#"{{"error":{{"message":"Incorrect API key provided: {STORED_KEY}"}}}}"#
            ),
            retry_after: None,
        });
    let (_, failed) = app
        .post(
            "/api/test-runs",
            json!({ "promptId": prompt["id"], "provider": "stored", "model": "gpt-4o-mini", "variables": { "x": "2" } }),
        )
        .await;
    assert_eq!(failed["data"]["errorCode"], "auth_failed", "{failed}");
    keep(&failed);
    for path in [
        "/api/providers".to_string(),
        format!("/api/providers/{id}"),
        format!("/api/test-runs?promptId={}", prompt["id"].as_str().unwrap()),
        "/api/models".to_string(),
    ] {
        keep(&app.get(&path).await.1);
    }
    keep(
        &app.patch(&format!("/api/providers/{id}"), json!({ "models": ["a"] }))
            .await
            .1,
    );
    keep(
        &app.post(&format!("/api/providers/{id}/test"), json!({}))
            .await
            .1,
    );

    for secret in [STORED_KEY, HEADER_SECRET] {
        for a in &answers {
            assert!(!a.contains(secret), "an answer holds a secret: {a}");
        }
        let logged = String::from_utf8_lossy(&logs.lock().unwrap()).to_string();
        assert!(!logged.is_empty(), "logs are captured");
        assert!(!logged.contains(secret), "a log line holds a secret");
    }

    // At rest: the database's own bytes.
    match app.store.backend() {
        Backend::Sqlite { .. } => {
            let file = app._db.url().trim_start_matches("sqlite://").to_owned();
            let mut bytes = Vec::new();
            for suffix in ["", "-wal", "-shm"] {
                if let Ok(b) = std::fs::read(format!("{file}{suffix}")) {
                    bytes.extend(b);
                }
            }
            assert!(bytes.len() > 4096, "the database file was read");
            assert!(
                bytes
                    .windows(b"gpt-4o-mini".len())
                    .any(|w| w == b"gpt-4o-mini"),
                "the file holds the provider's clear fields"
            );
            for secret in [STORED_KEY, HEADER_SECRET] {
                assert!(
                    !bytes.windows(secret.len()).any(|w| w == secret.as_bytes()),
                    "the SQLite file holds {secret}"
                );
            }
        }
        Backend::Postgres(_) => {
            let out = std::process::Command::new("pg_dump")
                .args(["--data-only", "--table=providers", app._db.url()])
                .output()
                .expect("pg_dump runs");
            assert!(
                out.status.success(),
                "{}",
                String::from_utf8_lossy(&out.stderr)
            );
            let dump = String::from_utf8_lossy(&out.stdout);
            assert!(dump.contains("stored"), "the dump holds the row: {dump}");
            for secret in [STORED_KEY, HEADER_SECRET] {
                assert!(!dump.contains(secret), "the dump holds {secret}");
                // bytea is dumped as hex: look for the secret's hex too.
                let hex: String = secret.bytes().map(|b| format!("{b:02x}")).collect();
                assert!(!dump.contains(&hex), "the dump holds {secret} as hex");
            }
        }
    }
}

async fn the_connection_test_lists_models_or_reports_the_run_error_code(db: TestDb) {
    let app = spawn_app(db).await;
    app.mock.require_models_key(Some("sk-right-key"));
    let mut body = provider(&app, "tested");
    body["apiKey"] = json!("sk-wrong-key");
    let (status, created) = app.post("/api/providers", body).await;
    assert_eq!(status, 201, "{created}");
    let id = created["data"]["id"].as_str().unwrap().to_owned();

    let (status, tested) = app
        .post(&format!("/api/providers/{id}/test"), json!({}))
        .await;
    assert_eq!(status, 200, "{tested}");
    let t = &tested["data"];
    assert_eq!(t["ok"], false, "{t}");
    assert_eq!(t["error"]["code"], "auth_failed", "{t}");
    assert_eq!(t["error"]["upstreamStatus"], 401, "{t}");
    assert!(!tested.to_string().contains("sk-wrong-key"), "{tested}");
    let asked = app.mock.requests();
    let models_call = asked
        .iter()
        .rev()
        .find(|r| r.path == "/v1/models")
        .expect("GET /models");
    assert_eq!(
        models_call.header("authorization"),
        Some("Bearer sk-wrong-key")
    );

    let (status, _) = app
        .patch(
            &format!("/api/providers/{id}"),
            json!({ "apiKey": "sk-right-key" }),
        )
        .await;
    assert_eq!(status, 200);
    let (_, tested) = app.post("/api/providers/tested/test", json!({})).await;
    assert_eq!(tested["data"]["ok"], true, "{tested}");
    assert!(
        tested["data"]["models"].as_array().unwrap().len() > 1,
        "{tested}"
    );
    assert!(tested["data"]["error"].is_null());

    // Nothing listens here: the code a run gets when it cannot connect.
    let (_, created) = app
        .post(
            "/api/providers",
            json!({ "name": "down", "baseUrl": "http://127.0.0.1:9/v1" }),
        )
        .await;
    assert_eq!(created["data"]["hasKey"], false, "{created}");
    let (_, tested) = app.post("/api/providers/down/test", json!({})).await;
    assert_eq!(
        tested["data"]["error"]["code"], "connection_failed",
        "{tested}"
    );
    let (status, _) = app.post("/api/providers/nope/test", json!({})).await;
    assert_eq!(status, 404);
}

/// Replicas share the database and the server key: a provider added or
/// changed on one serves runs on the other with its current key (the other
/// replica's cached client is rebuilt when the row changed). A server with
/// another key refuses clearly instead of sending garbage upstream.
async fn a_replica_uses_a_provider_as_last_changed_and_another_key_cannot_open_it(db: TestDb) {
    let a = spawn_app(db).await;
    let b = spawn_replica(&a).await;
    let mut body = provider(&a, "shared");
    body["baseUrl"] = json!(b.mock.base_url());
    let (status, created) = a.post("/api/providers", body).await;
    assert_eq!(status, 201, "{created}");
    let prompt = b.create_prompt("On the replica", Some("Say {{x}}")).await;
    let run = json!({ "promptId": prompt["id"], "provider": "shared", "model": "gpt-4o-mini", "variables": { "x": "1" } });
    let (status, first) = b.post("/api/test-runs", run.clone()).await;
    assert_eq!(
        (status, first["data"]["status"].as_str()),
        (201, Some("succeeded")),
        "{first}"
    );
    let auth = |app: &TestApp| {
        app.mock
            .chat_requests()
            .last()
            .and_then(|r| r.header("authorization").map(str::to_owned))
    };
    assert_eq!(auth(&b), Some(format!("Bearer {STORED_KEY}")));

    let id = created["data"]["id"].as_str().unwrap();
    let (status, _) = a
        .patch(
            &format!("/api/providers/{id}"),
            json!({ "apiKey": "sk-rotated-on-a" }),
        )
        .await;
    assert_eq!(status, 200);
    let (status, second) = b.post("/api/test-runs", run.clone()).await;
    assert_eq!(status, 201, "{second}");
    assert_eq!(auth(&b).as_deref(), Some("Bearer sk-rotated-on-a"));

    let stranger = spawn_replica_with(&a, Options::default()).await;
    let sent_before = b.mock.chat_requests().len();
    let (status, json) = stranger.post("/api/test-runs", run).await;
    assert_eq!(status, 422, "{json}");
    assert_eq!(fields(&json), ["provider"], "{json}");
    assert!(
        json["error"]["message"]
            .as_str()
            .unwrap()
            .contains("cannot be opened"),
        "{json}"
    );
    assert_eq!(
        b.mock.chat_requests().len(),
        sent_before,
        "nothing was sent"
    );
}

async fn the_model_selector_offers_stored_providers_after_the_environment_s(db: TestDb) {
    let app = spawn_app(db).await;
    let (status, _) = app.post("/api/providers", provider(&app, "stored")).await;
    assert_eq!(status, 201);
    let (_, down) = app
        .post(
            "/api/providers",
            json!({ "name": "down", "baseUrl": "http://127.0.0.1:9/v1", "models": ["only-listed"] }),
        )
        .await;
    assert_eq!(down["data"]["hasKey"], false, "{down}");
    let (status, body) = app.get("/api/models").await;
    assert_eq!(status, 200, "{body}");
    let lists: Vec<(&str, &str, bool)> = body["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| {
            (
                l["provider"].as_str().unwrap(),
                l["source"].as_str().unwrap(),
                l["hasKey"].as_bool().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        lists,
        [
            ("openai", "live", true),
            ("down", "fallback", false),
            ("stored", "live", true)
        ]
    );
    assert_eq!(body["data"][1]["models"], json!(["only-listed"]));
    assert!(!body.to_string().contains(STORED_KEY));
    // The stored provider's own key asked for its list.
    let asked = app.mock.requests();
    assert!(
        asked.iter().any(|r| r.path == "/v1/models"
            && r.header("authorization") == Some(format!("Bearer {STORED_KEY}").as_str())),
        "the stored key was sent to GET /models"
    );
}

async fn a_run_with_a_stored_provider_is_costed_with_its_own_prices(db: TestDb) {
    let app = spawn_app(db).await;
    let mut body = provider(&app, "priced");
    // USD per million tokens: 0.1 and 0.05 USD a token, so the cost is exact.
    body["prices"] = json!({ "mock-echo": { "input": 100000, "output": 50000 } });
    let (status, created) = app.post("/api/providers", body).await;
    assert_eq!(status, 201, "{created}");
    let prompt = app.create_prompt("Priced", Some("Say {{x}}")).await;
    let run = |provider: &str| json!({ "promptId": prompt["id"], "provider": provider, "model": "mock-echo", "variables": { "x": "1" } });
    let (status, priced) = app.post("/api/test-runs", run("priced")).await;
    assert_eq!(status, 201, "{priced}");
    let r = &priced["data"];
    assert_eq!(r["status"], "succeeded", "{r}");
    let want = r["promptTokens"].as_i64().unwrap() * 100_000
        + r["completionTokens"].as_i64().unwrap() * 50_000;
    assert!(want > 0, "{r}");
    assert_eq!(r["costMicroUsd"].as_i64(), Some(want), "{r}");
    // The same model through the environment's provider has no price.
    let (_, unpriced) = app.post("/api/test-runs", run("openai")).await;
    assert!(unpriced["data"]["costMicroUsd"].is_null(), "{unpriced}");
}

async fn rotating_the_server_key_reseals_every_provider_or_changes_nothing(db: TestDb) {
    use promptrefine_app::providers::rotate_key;
    use promptrefine_app::secrets::SecretKey;
    let a = spawn_app(db).await;
    let (status, created) = a.post("/api/providers", provider(&a, "rotated")).await;
    assert_eq!(status, 201, "{created}");
    let (status, _) = a
        .post(
            "/api/providers",
            json!({ "name": "keyless", "baseUrl": a.mock.base_url() }),
        )
        .await;
    assert_eq!(status, 201);
    let prompt = a.create_prompt("Rotation", Some("Say {{x}}")).await;
    let run = json!({ "promptId": prompt["id"], "provider": "rotated", "model": "gpt-4o-mini", "variables": { "x": "1" } });

    // A wrong "current" key opens nothing, and nothing changes.
    let stranger_key = SecretKey::generate().unwrap();
    let new_key = SecretKey::generate().unwrap();
    let err = rotate_key(&a.store, &stranger_key, &new_key)
        .await
        .unwrap_err();
    assert!(err.to_string().contains("do not open"), "{err}");
    let (status, body) = a.post("/api/test-runs", run.clone()).await;
    assert_eq!(
        (status, body["data"]["status"].as_str()),
        (201, Some("succeeded")),
        "{body}"
    );

    assert_eq!(
        rotate_key(&a.store, &a.secret_key, &new_key).await.unwrap(),
        2
    );
    // A server with the new key sends the same key and headers as before.
    let b = spawn_replica_with(
        &a,
        Options {
            secret_key: Some(new_key.clone()),
            ..Options::default()
        },
    )
    .await;
    let (status, body) = b.post("/api/test-runs", run.clone()).await;
    assert_eq!(
        (status, body["data"]["status"].as_str()),
        (201, Some("succeeded")),
        "{body}"
    );
    let sent = a.mock.chat_requests().last().cloned().unwrap();
    assert_eq!(
        sent.header("authorization"),
        Some(format!("Bearer {STORED_KEY}").as_str())
    );
    assert_eq!(sent.header("x-tenant"), Some(HEADER_SECRET));
    // The old key opens it no more, even where a client was built with it.
    let (status, body) = a.post("/api/test-runs", run).await;
    assert_eq!(status, 422, "{body}");
    assert_eq!(fields(&body), ["provider"], "{body}");
}
