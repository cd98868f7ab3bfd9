//! Items and versions: one version per call, old versions read as they
//! were, all-or-nothing adds, item pages, and runs kept as items.

use promptrefine_testkit::{TestDb, both_backends};
use serde_json::{Value, json};

use super::{add, all_items, dataset, qs};
use crate::helpers::{fields, spawn_app};

both_backends!(
    every_change_is_one_version_and_old_versions_read_as_they_were,
    adding_items_is_all_or_nothing_and_bad_items_name_their_field,
    item_pages_follow_the_cursor_in_the_order_items_were_added,
    a_run_becomes_an_item_with_its_variables_and_optionally_its_output,
);

async fn every_change_is_one_version_and_old_versions_read_as_they_were(db: TestDb) {
    let app = spawn_app(db).await;
    let id = dataset(&app, "Versioned").await["id"]
        .as_str()
        .unwrap()
        .to_string();
    let added = add(&app, &id, "q", 3).await;
    assert_eq!(
        (
            added["dataset"]["version"].as_i64(),
            added["dataset"]["itemCount"].as_i64()
        ),
        (Some(1), Some(3))
    );
    let first = added["items"][0]["id"].as_str().unwrap().to_string();
    let second = added["items"][1]["id"].as_str().unwrap().to_string();
    let old_revision = added["items"][0]["revisionId"].clone();

    let (status, edited) = app
        .patch(
            &format!("/api/datasets/{id}/items/{first}"),
            json!({ "variables": { "q": "edited" }, "expected": { "answer": 42 } }),
        )
        .await;
    assert_eq!(status, 200, "{edited}");
    let item = &edited["data"]["item"];
    assert_eq!(item["id"], first.as_str(), "an edit keeps the item id");
    assert_ne!(
        item["revisionId"], old_revision,
        "and writes a new revision"
    );
    assert_eq!(
        (
            item["fromVersion"].as_i64(),
            edited["data"]["dataset"]["version"].as_i64()
        ),
        (Some(2), Some(2))
    );
    let (status, deleted) = app
        .delete(&format!("/api/datasets/{id}/items/{second}"))
        .await;
    assert_eq!(status, 200, "{deleted}");
    assert_eq!(
        (
            deleted["data"]["dataset"]["version"].as_i64(),
            deleted["data"]["dataset"]["itemCount"].as_i64()
        ),
        (Some(3), Some(2))
    );

    assert_eq!(
        qs(&all_items(&app, &id, "version=0").await),
        Vec::<String>::new()
    );
    assert_eq!(
        qs(&all_items(&app, &id, "version=1").await),
        ["q0", "q1", "q2"]
    );
    assert_eq!(
        qs(&all_items(&app, &id, "version=2").await),
        ["edited", "q1", "q2"]
    );
    assert_eq!(
        qs(&all_items(&app, &id, "version=3").await),
        ["edited", "q2"]
    );
    assert_eq!(qs(&all_items(&app, &id, "").await), ["edited", "q2"]);
    let v1 = all_items(&app, &id, "version=1").await;
    assert_eq!(v1[0]["revisionId"], old_revision);
    assert_eq!(
        (v1[0]["toVersion"].as_i64(), v1[1]["toVersion"].as_i64()),
        (Some(2), Some(3))
    );

    for (version, count) in [(0, 0), (1, 3), (2, 3), (3, 2)] {
        let (status, d) = app
            .get(&format!("/api/datasets/{id}?version={version}"))
            .await;
        assert_eq!(status, 200, "{d}");
        assert_eq!(
            (
                d["data"]["version"].as_i64(),
                d["data"]["itemCount"].as_i64()
            ),
            (Some(version), Some(count))
        );
    }
    let (_, old) = app
        .get(&format!("/api/datasets/{id}/items/{first}?version=1"))
        .await;
    assert_eq!(old["data"]["variables"]["q"], "q0");
    assert_eq!(
        app.get(&format!("/api/datasets/{id}/items/{second}"))
            .await
            .0,
        404,
        "deleted now"
    );
    assert_eq!(
        app.get(&format!("/api/datasets/{id}/items/{second}?version=2"))
            .await
            .0,
        200,
        "there then"
    );
    assert_eq!(
        app.get(&format!("/api/datasets/{id}?version=4")).await.0,
        404
    );
    let (status, body) = app
        .get(&format!("/api/datasets/{id}/items?version=-1"))
        .await;
    assert_eq!((status, fields(&body)), (422, vec!["version".to_string()]));
    let (status, body) = app.get(&format!("/api/datasets/{id}?version=two")).await;
    assert_eq!((status, fields(&body)), (422, vec!["version".to_string()]));
    // Editing or deleting what is not current changes nothing.
    assert_eq!(
        app.delete(&format!("/api/datasets/{id}/items/{second}"))
            .await
            .0,
        404
    );
    assert_eq!(
        app.patch(
            &format!("/api/datasets/{id}/items/{second}"),
            json!({ "expected": "x" })
        )
        .await
        .0,
        404
    );
    assert_eq!(
        app.delete(&format!("/api/datasets/{id}/items/not-an-id"))
            .await
            .0,
        404
    );
    assert_eq!(
        app.get(&format!("/api/datasets/{id}")).await.1["data"]["version"],
        3
    );
}

async fn adding_items_is_all_or_nothing_and_bad_items_name_their_field(db: TestDb) {
    let app = spawn_app(db).await;
    let id = dataset(&app, "Strict").await["id"]
        .as_str()
        .unwrap()
        .to_string();
    let path = format!("/api/datasets/{id}/items");
    let too_many: Vec<Value> = (0..1001).map(|_| json!({ "variables": {} })).collect();
    let cases = [
        (json!({ "items": [] }), "items"),
        (json!({ "items": too_many }), "items"),
        (
            json!({ "items": [{ "variables": { "ok": "1" } }, { "variables": { "bad name": "x" } }] }),
            "items[1].variables[\"bad name\"]",
        ),
        (
            json!({ "items": [{ "variables": { "q": "a\u{0}b" } }] }),
            "items[0].variables[\"q\"]",
        ),
        (
            json!({ "items": [{ "variables": {}, "metadata": { "big": "m".repeat(70_000) } }] }),
            "items[0].metadata",
        ),
        (
            json!({ "items": [{ "variables": { "q": 1 } }] }),
            "items[0].variables.q",
        ),
        (
            json!({ "items": [{ "variables": {}, "extra": 1 }] }),
            "items[0].extra",
        ),
    ];
    for (input, field) in cases {
        let (status, body) = app.post(&path, input).await;
        assert_eq!(status, 422, "{field}: {body}");
        assert!(
            fields(&body).contains(&field.to_string()),
            "{field}: {body}"
        );
    }
    let (_, d) = app.get(&format!("/api/datasets/{id}")).await;
    assert_eq!(
        (
            d["data"]["version"].as_i64(),
            d["data"]["itemCount"].as_i64()
        ),
        (Some(0), Some(0)),
        "nothing was added"
    );
    let (status, body) = app
        .post(&path, json!({ "items": [{ "variables": { "q": "a" }, "expected": "plain", "metadata": { "tag": "x" } }, { "variables": {}, "expected": [1, 2] }] }))
        .await;
    assert_eq!(status, 201, "{body}");
    assert_eq!(body["data"]["items"][0]["expected"], "plain");
    assert_eq!(body["data"]["items"][1]["expected"], json!([1, 2]));
    assert_eq!(body["data"]["items"][1]["metadata"], json!({}));
    assert_eq!(
        app.post(
            "/api/datasets/nope/items",
            json!({ "items": [{ "variables": {} }] })
        )
        .await
        .0,
        404
    );
}

async fn item_pages_follow_the_cursor_in_the_order_items_were_added(db: TestDb) {
    let app = spawn_app(db).await;
    let id = dataset(&app, "Paged").await["id"]
        .as_str()
        .unwrap()
        .to_string();
    add(&app, &id, "a", 15).await;
    add(&app, &id, "b", 10).await;
    let mut seen = Vec::new();
    let mut cursor: Option<String> = None;
    let mut pages = 0;
    loop {
        let mut path = format!("/api/datasets/{id}/items?limit=10");
        if let Some(c) = &cursor {
            path.push_str(&format!("&cursor={c}"));
        }
        let (status, page) = app.get(&path).await;
        assert_eq!(status, 200, "{page}");
        pages += 1;
        seen.extend(qs(page["data"]["items"].as_array().unwrap()));
        match page["data"]["nextCursor"].as_str() {
            Some(c) => cursor = Some(c.to_string()),
            None => break,
        }
    }
    let want: Vec<String> = (0..15)
        .map(|i| format!("a{i}"))
        .chain((0..10).map(|i| format!("b{i}")))
        .collect();
    assert_eq!((pages, seen), (3, want));
    let (status, body) = app
        .get(&format!("/api/datasets/{id}/items?cursor=bad"))
        .await;
    assert_eq!((status, fields(&body)), (422, vec!["cursor".to_string()]));
}

async fn a_run_becomes_an_item_with_its_variables_and_optionally_its_output(db: TestDb) {
    let app = spawn_app(db).await;
    let prompt = app.create_prompt("Greeter", Some("Hello {{name}}")).await;
    let (status, run) = app
        .post("/api/test-runs", json!({ "promptId": prompt["id"], "model": "mock-echo", "variables": { "name": "Ada" } }))
        .await;
    assert_eq!(status, 201, "{run}");
    let run = &run["data"];
    assert_eq!(run["status"], "succeeded", "{run}");
    let (status, failed) = app
        .post("/api/test-runs", json!({ "promptId": prompt["id"], "model": "mock-error-400", "variables": { "name": "Bob" } }))
        .await;
    assert_eq!(status, 201, "{failed}");
    let d = dataset(&app, "From runs").await;
    let dataset_id = d["id"].as_str().unwrap();
    let path = format!("/api/test-runs/{}/to-dataset", run["id"].as_str().unwrap());

    let (status, body) = app
        .post(
            &path,
            json!({ "datasetId": dataset_id, "useOutputAsExpected": true }),
        )
        .await;
    assert_eq!(status, 201, "{body}");
    let item = &body["data"]["items"][0];
    assert_eq!(item["variables"], json!({ "name": "Ada" }));
    assert_eq!(item["expected"], run["output"]);
    assert_eq!(item["metadata"]["sourceRunId"], run["id"]);
    assert_eq!(body["data"]["dataset"]["version"], 1);
    let (status, body) = app.post(&path, json!({ "datasetId": dataset_id })).await;
    assert_eq!(status, 201, "{body}");
    assert!(body["data"]["items"][0]["expected"].is_null());

    let failed_path = format!(
        "/api/test-runs/{}/to-dataset",
        failed["data"]["id"].as_str().unwrap()
    );
    let (status, body) = app
        .post(
            &failed_path,
            json!({ "datasetId": dataset_id, "useOutputAsExpected": true }),
        )
        .await;
    assert_eq!(
        (status, fields(&body)),
        (422, vec!["useOutputAsExpected".to_string()]),
        "{body}"
    );
    let (status, _) = app
        .post(
            &path,
            json!({ "datasetId": "0190f0f0-0000-7000-8000-000000000000" }),
        )
        .await;
    assert_eq!(status, 404);
    let (status, body) = app.post(&path, json!({ "datasetId": "nope" })).await;
    assert_eq!(
        (status, fields(&body)),
        (422, vec!["datasetId".to_string()]),
        "{body}"
    );
    let (status, _) = app
        .post(
            "/api/test-runs/0190f0f0-0000-7000-8000-000000000000/to-dataset",
            json!({ "datasetId": dataset_id }),
        )
        .await;
    assert_eq!(status, 404);
    assert_eq!(
        app.get(&format!("/api/datasets/{dataset_id}")).await.1["data"]["itemCount"],
        2
    );
}
