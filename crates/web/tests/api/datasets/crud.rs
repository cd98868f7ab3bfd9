//! Datasets themselves: create, read by id or slug, list, rename, delete.

use promptrefine_testkit::{TestDb, both_backends};
use serde_json::json;

use super::{add, dataset};
use crate::helpers::{fields, spawn_app};

both_backends!(
    a_dataset_answers_with_the_contract_fields_by_id_and_by_slug,
    duplicate_names_are_409_naming_the_field_and_bad_input_is_422,
    the_list_is_newest_change_first_with_cursor_pages_and_a_search,
    patch_renames_and_clears_the_description_without_a_new_version,
    deleting_a_dataset_removes_its_items,
);

async fn a_dataset_answers_with_the_contract_fields_by_id_and_by_slug(db: TestDb) {
    let app = spawn_app(db).await;
    let (status, body) = app
        .post(
            "/api/datasets",
            json!({ "name": "  Golden Set  ", "description": "capitals" }),
        )
        .await;
    assert_eq!(status, 201, "{body}");
    let d = &body["data"];
    let mut keys: Vec<&str> = d.as_object().unwrap().keys().map(String::as_str).collect();
    keys.sort();
    assert_eq!(
        keys,
        [
            "createdAt",
            "description",
            "id",
            "itemCount",
            "name",
            "slug",
            "updatedAt",
            "version"
        ]
    );
    assert_eq!(
        (d["name"].as_str(), d["slug"].as_str()),
        (Some("Golden Set"), Some("golden-set"))
    );
    assert_eq!(
        (d["itemCount"].as_i64(), d["version"].as_i64()),
        (Some(0), Some(0))
    );
    let id = d["id"].as_str().unwrap();
    for path in [
        format!("/api/datasets/{id}"),
        "/api/datasets/golden-set".to_string(),
    ] {
        let (status, got) = app.get(&path).await;
        assert_eq!(status, 200, "{path}: {got}");
        assert_eq!(got["data"], *d, "{path}");
    }
    for missing in [
        "/api/datasets/nope",
        "/api/datasets/%00",
        "/api/datasets/0190f0f0-0000-7000-8000-000000000000",
    ] {
        assert_eq!(app.get(missing).await.0, 404, "{missing}");
    }
}

async fn duplicate_names_are_409_naming_the_field_and_bad_input_is_422(db: TestDb) {
    let app = spawn_app(db).await;
    let first = dataset(&app, "Same").await;
    let (status, body) = app.post("/api/datasets", json!({ "name": "Same" })).await;
    assert_eq!(status, 409, "{body}");
    assert_eq!(fields(&body), ["name"]);
    // Another name with the same slug gets the next free slug.
    let (status, other) = app.post("/api/datasets", json!({ "name": "same!" })).await;
    assert_eq!(status, 201, "{other}");
    assert_eq!(other["data"]["slug"], "same-2");
    let (status, body) = app
        .patch(
            &format!("/api/datasets/{}", other["data"]["id"].as_str().unwrap()),
            json!({ "name": "Same" }),
        )
        .await;
    assert_eq!(
        (status, fields(&body)),
        (409, vec!["name".to_string()]),
        "{body}"
    );
    assert_eq!(first["slug"], "same");

    let bad = [
        (json!({ "name": "" }), "name"),
        (json!({ "name": "a\nb" }), "name"),
        (
            json!({ "name": "x", "description": "d".repeat(2001) }),
            "description",
        ),
        (json!({ "name": "x", "slug": "x" }), "slug"),
        (json!({ "name": 5 }), "name"),
    ];
    for (input, field) in bad {
        let (status, body) = app.post("/api/datasets", input.clone()).await;
        assert_eq!(
            (status, fields(&body)),
            (422, vec![field.to_string()]),
            "{input}: {body}"
        );
    }
}

async fn the_list_is_newest_change_first_with_cursor_pages_and_a_search(db: TestDb) {
    let app = spawn_app(db).await;
    let mut ids = Vec::new();
    for name in ["Alpha", "Beta", "Gamma", "Alphabet"] {
        ids.push(
            dataset(&app, name).await["id"]
                .as_str()
                .unwrap()
                .to_string(),
        );
    }
    // A change of the items moves a dataset to the front.
    add(&app, &ids[0], "x", 1).await;
    let want = [&ids[0], &ids[3], &ids[2], &ids[1]];
    let (mut seen, mut cursor) = (Vec::new(), None::<String>);
    loop {
        let path = match &cursor {
            Some(c) => format!("/api/datasets?limit=3&cursor={c}"),
            None => "/api/datasets?limit=3".to_string(),
        };
        let (status, page) = app.get(&path).await;
        assert_eq!(status, 200, "{page}");
        seen.extend(
            page["data"]["items"]
                .as_array()
                .unwrap()
                .iter()
                .map(|d| d["id"].as_str().unwrap().to_string()),
        );
        match page["data"]["nextCursor"].as_str() {
            Some(c) => cursor = Some(c.to_string()),
            None => break,
        }
    }
    assert_eq!(seen.iter().collect::<Vec<_>>(), want);
    let (_, found) = app.get("/api/datasets?q=ALPHA").await;
    let names: Vec<&str> = found["data"]["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["Alpha", "Alphabet"]);
    for (query, field) in [
        ("limit=0", "limit"),
        ("cursor=forged", "cursor"),
        ("q=a%00", "q"),
        ("other=1", "other"),
    ] {
        let (status, body) = app.get(&format!("/api/datasets?{query}")).await;
        assert_eq!(
            (status, fields(&body)),
            (422, vec![field.to_string()]),
            "{query}: {body}"
        );
    }
}

async fn patch_renames_and_clears_the_description_without_a_new_version(db: TestDb) {
    let app = spawn_app(db).await;
    let d = dataset(&app, "Before").await;
    let id = d["id"].as_str().unwrap();
    let (status, body) = app
        .patch(
            &format!("/api/datasets/{id}"),
            json!({ "name": "After", "description": "new" }),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        (
            body["data"]["name"].as_str(),
            body["data"]["description"].as_str()
        ),
        (Some("After"), Some("new"))
    );
    assert_eq!(
        body["data"]["slug"], "before",
        "the slug keeps URLs working"
    );
    assert_eq!(body["data"]["version"], 0);
    let (_, body) = app
        .patch("/api/datasets/before", json!({ "description": null }))
        .await;
    assert!(body["data"]["description"].is_null(), "{body}");
    assert_eq!(body["data"]["name"], "After");
    let (status, body) = app
        .patch(&format!("/api/datasets/{id}"), json!({ "itemCount": 3 }))
        .await;
    assert_eq!(
        (status, fields(&body)),
        (422, vec!["itemCount".to_string()]),
        "{body}"
    );
}

async fn deleting_a_dataset_removes_its_items(db: TestDb) {
    let app = spawn_app(db).await;
    let d = dataset(&app, "Doomed").await;
    let id = d["id"].as_str().unwrap();
    let added = add(&app, id, "q", 3).await;
    let revision = added["items"][0]["revisionId"]
        .as_str()
        .unwrap()
        .to_string();
    let (status, body) = app.delete(&format!("/api/datasets/{id}")).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["data"]["deleted"], true);
    assert_eq!(app.get(&format!("/api/datasets/{id}")).await.0, 404);
    assert_eq!(app.get(&format!("/api/datasets/{id}/items")).await.0, 404);
    assert_eq!(app.delete(&format!("/api/datasets/{id}")).await.0, 404);
    let gone = app
        .store
        .datasets()
        .get_revision(revision.parse().unwrap())
        .await;
    assert!(
        matches!(gone, Err(promptrefine_store::StoreError::NotFound)),
        "{gone:?}"
    );
}
