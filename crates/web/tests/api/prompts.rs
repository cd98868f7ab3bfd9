//! Contract tests of /api/prompts, versions, labels, diff, render and the
//! runtime lookup.

use std::collections::HashSet;

use promptrefine_testkit::{TestDb, both_backends};
use serde_json::{Value, json};

use crate::helpers::{fields, read, spawn_app};

both_backends!(
    creating_a_prompt_answers_201_with_the_contract_fields,
    a_first_body_creates_version_one_with_its_variables,
    bad_prompt_input_is_a_422_naming_each_field,
    duplicate_slugs_are_409_and_derived_slugs_stay_unique,
    patch_changes_title_and_tags_and_rejects_anything_else,
    the_list_is_newest_change_first_with_cursor_pages_and_filters,
    saving_versions_numbers_them_and_restore_moves_current_back,
    versions_cannot_be_edited_through_any_route,
    diff_shows_changed_lines_of_body_and_settings,
    labels_resolve_by_slug_with_etag_and_304,
    render_fills_variables_and_lists_every_missing_one,
    delete_removes_the_prompt_and_everything_under_it,
    text_that_looks_like_code_is_stored_byte_for_byte,
    eight_clients_saving_fifty_versions_get_numbers_one_to_four_hundred,
    bad_pagination_values_and_forged_cursors_are_4xx,
    reads_accept_a_slug_wherever_an_id_goes,
    list_filters_and_label_names_break_rules_with_the_documented_codes,
);

/// One set of rule codes (`validate::Rule`): a control character in a list
/// filter is `characters`, as it is in a title, not a code of its own; a
/// label name no label can have is unknown without reaching the database
/// (PostgreSQL refuses NUL in text).
async fn list_filters_and_label_names_break_rules_with_the_documented_codes(db: TestDb) {
    let app = spawn_app(db).await;
    let p = app.create_prompt("Filtered", Some("x")).await;
    let id = p["id"].as_str().unwrap();
    for query in ["q=a%01b", "tag=%00"] {
        let (status, body) = app.get(&format!("/api/prompts?{query}")).await;
        assert_eq!(status, 422, "{query}: {body}");
        let rules: Vec<&str> = body["error"]["details"]["fields"]
            .as_array()
            .unwrap()
            .iter()
            .map(|f| f["rule"].as_str().unwrap())
            .collect();
        assert_eq!(rules, ["characters"], "{query}: {body}");
    }
    let (status, body) = app
        .get(&format!("/api/prompts?q={}", "a".repeat(201)))
        .await;
    assert_eq!(
        (
            status,
            body["error"]["details"]["fields"][0]["rule"].as_str()
        ),
        (422, Some("length")),
        "{body}"
    );
    for label in ["%00", "Bad%20Label", "current"] {
        let (status, body) = app
            .delete(&format!("/api/prompts/{id}/labels/{label}"))
            .await;
        assert_eq!(status, 404, "{label}: {body}");
    }
}

async fn reads_accept_a_slug_wherever_an_id_goes(db: TestDb) {
    let app = spawn_app(db).await;
    let p = app.create_prompt("Slugged", Some("one")).await;
    let id = p["id"].as_str().unwrap();
    app.post(
        &format!("/api/prompts/{id}/versions"),
        json!({ "content": "two" }),
    )
    .await;
    for path in [
        "/api/prompts/slugged",
        "/api/prompts/slugged/versions",
        "/api/prompts/slugged/versions/1",
        "/api/prompts/slugged/diff?from=1",
        "/api/prompts/slugged/labels",
    ] {
        let (status, body) = app.get(path).await;
        assert_eq!(status, 200, "{path}: {body}");
    }
    let (_, got) = app.get("/api/prompts/slugged").await;
    assert_eq!(got["data"]["id"], id);
    assert_eq!(app.get("/api/prompts/no-such-slug/versions").await.0, 404);
    // Writes take ids only.
    assert_eq!(
        app.post("/api/prompts/slugged/versions", json!({ "content": "x" }))
            .await
            .0,
        404
    );
    // `by-slug` is a route segment, so no prompt may take it as its slug.
    assert_eq!(
        app.create_prompt("By slug", None).await["slug"],
        "by-slug-2"
    );
    let (status, body) = app
        .post(
            "/api/prompts",
            json!({ "title": "x", "type": "text", "slug": "by-slug" }),
        )
        .await;
    assert_eq!((status, fields(&body)), (422, vec!["slug".to_string()]));
}

async fn creating_a_prompt_answers_201_with_the_contract_fields(db: TestDb) {
    let app = spawn_app(db).await;
    let (status, body) = app
        .post(
            "/api/prompts",
            json!({ "title": "Support reply", "type": "chat", "tags": ["support"] }),
        )
        .await;
    assert_eq!(status, 201, "{body}");
    let p = &body["data"];
    for key in [
        "id",
        "title",
        "slug",
        "type",
        "tags",
        "currentVersionId",
        "createdAt",
        "updatedAt",
        "currentVersion",
        "labels",
    ] {
        assert!(p.get(key).is_some(), "missing {key}: {p}");
    }
    assert_eq!(p["slug"], "support-reply");
    assert_eq!(p["type"], "chat");
    assert!(p["currentVersion"].is_null());
    let (status, got) = app
        .get(&format!("/api/prompts/{}", p["id"].as_str().unwrap()))
        .await;
    assert_eq!(status, 200);
    assert_eq!(got["data"]["title"], "Support reply");
}

async fn a_first_body_creates_version_one_with_its_variables(db: TestDb) {
    let app = spawn_app(db).await;
    let p = app
        .create_prompt(
            "Greeting",
            Some("Hello {{ name }}, welcome to {{place}}. \\{{literal}}"),
        )
        .await;
    let v = &p["currentVersion"];
    assert_eq!(v["version"], 1);
    assert_eq!(v["variables"], json!(["name", "place"]));
    for key in [
        "id",
        "promptId",
        "version",
        "content",
        "settings",
        "variables",
        "note",
        "createdAt",
    ] {
        assert!(v.get(key).is_some(), "missing {key}: {v}");
    }
    assert_eq!(p["currentVersionId"], v["id"]);
}

async fn bad_prompt_input_is_a_422_naming_each_field(db: TestDb) {
    let app = spawn_app(db).await;
    let (status, body) = app
        .post(
            "/api/prompts",
            json!({ "title": "", "type": "text", "tags": ["x".repeat(41)], "content": "" }),
        )
        .await;
    assert_eq!(status, 422, "{body}");
    let f = fields(&body);
    assert!(
        f.contains(&"title".to_string())
            && f.iter().any(|x| x.starts_with("tags"))
            && f.contains(&"content".to_string()),
        "{f:?}"
    );
    let (status, body) = app
        .post("/api/prompts", json!({ "title": "x", "type": "poem" }))
        .await;
    assert_eq!((status, fields(&body)), (422, vec!["type".to_string()]));
    let (status, body) = app.post("/api/prompts", json!({ "type": "text" })).await;
    assert_eq!((status, fields(&body)), (422, vec!["title".to_string()]));
    let (status, body) = app
        .post(
            "/api/prompts",
            json!({ "title": "t", "type": "chat", "content": "not messages" }),
        )
        .await;
    assert_eq!(status, 422, "{body}");
    let (status, body) = app
        .post("/api/prompts", json!({ "title": "t", "type": "text", "content": "x", "settings": { "temperature": 5 } }))
        .await;
    assert_eq!(
        (status, fields(&body)),
        (422, vec!["settings.temperature".to_string()])
    );
    assert_eq!(
        app.store.prompts().count().await.unwrap(),
        0,
        "nothing stored"
    );
}

async fn duplicate_slugs_are_409_and_derived_slugs_stay_unique(db: TestDb) {
    let app = spawn_app(db).await;
    let a = app.create_prompt("Same Title", None).await;
    let b = app.create_prompt("Same Title", None).await;
    assert_eq!(a["slug"], "same-title");
    assert_eq!(b["slug"], "same-title-2");
    let (status, body) = app
        .post(
            "/api/prompts",
            json!({ "title": "x", "type": "text", "slug": "same-title" }),
        )
        .await;
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (409, Some("conflict"))
    );
    let (status, _) = app
        .patch(
            &format!("/api/prompts/{}", b["id"].as_str().unwrap()),
            json!({ "slug": "same-title" }),
        )
        .await;
    assert_eq!(status, 409);
}

async fn patch_changes_title_and_tags_and_rejects_anything_else(db: TestDb) {
    let app = spawn_app(db).await;
    let p = app.create_prompt("Old", Some("body")).await;
    let path = format!("/api/prompts/{}", p["id"].as_str().unwrap());
    let (status, body) = app
        .patch(&path, json!({ "title": "New", "tags": ["a", "b"] }))
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        (body["data"]["title"].as_str(), body["data"]["tags"].clone()),
        (Some("New"), json!(["a", "b"]))
    );
    assert!(body["data"]["updatedAt"].as_str() > p["updatedAt"].as_str());
    for (field, value) in [
        ("type", json!("chat")),
        ("currentVersionId", json!(null)),
        ("content", json!("x")),
    ] {
        let (status, body) = app.patch(&path, json!({ field: value })).await;
        assert_eq!(
            (status, fields(&body)),
            (422, vec![field.to_string()]),
            "{body}"
        );
    }
    let (status, _) = app
        .patch(
            "/api/prompts/0190f1e2-aaaa-7bbb-8ccc-123456789abc",
            json!({ "title": "x" }),
        )
        .await;
    assert_eq!(status, 404);
}

async fn the_list_is_newest_change_first_with_cursor_pages_and_filters(db: TestDb) {
    let app = spawn_app(db).await;
    let mut ids = vec![];
    for i in 0..7 {
        ids.push(
            app.create_prompt(&format!("Prompt {i}"), Some("x")).await["id"]
                .as_str()
                .unwrap()
                .to_string(),
        );
    }
    // Saving a version moves the oldest to the top.
    app.post(
        &format!("/api/prompts/{}/versions", ids[0]),
        json!({ "content": "y" }),
    )
    .await;
    let mut seen = vec![];
    let mut cursor = String::new();
    loop {
        let (status, body) = app
            .get(&format!("/api/prompts?limit=3&cursor={cursor}"))
            .await;
        assert_eq!(status, 200, "{body}");
        seen.extend(
            body["data"]["items"]
                .as_array()
                .unwrap()
                .iter()
                .map(|p| p["id"].as_str().unwrap().to_string()),
        );
        match body["data"]["nextCursor"].as_str() {
            Some(c) => cursor = c.to_string(),
            None => break,
        }
    }
    assert_eq!(seen.len(), 7);
    assert_eq!(seen[0], ids[0]);
    assert_eq!(
        seen[1..],
        ids[1..].iter().rev().cloned().collect::<Vec<_>>()[..]
    );

    app.post(
        "/api/prompts",
        json!({ "title": "Chatty", "type": "chat", "tags": ["special"] }),
    )
    .await;
    let (_, body) = app.get("/api/prompts?type=chat").await;
    assert_eq!(body["data"]["items"].as_array().unwrap().len(), 1);
    let (_, body) = app.get("/api/prompts?tag=special").await;
    assert_eq!(body["data"]["items"][0]["title"], "Chatty");
    let (_, body) = app.get("/api/prompts?q=chat").await;
    assert_eq!(body["data"]["items"].as_array().unwrap().len(), 1);
}

async fn saving_versions_numbers_them_and_restore_moves_current_back(db: TestDb) {
    let app = spawn_app(db).await;
    let p = app.create_prompt("V", Some("one")).await;
    let id = p["id"].as_str().unwrap();
    let (status, v2) = app
        .post(&format!("/api/prompts/{id}/versions"), json!({ "content": "two {{x}}", "settings": { "model": "gpt-4o-mini", "temperature": 0.3, "maxTokens": 100 }, "note": "second" }))
        .await;
    assert_eq!(status, 201, "{v2}");
    assert_eq!(
        (v2["data"]["version"].as_i64(), v2["data"]["note"].as_str()),
        (Some(2), Some("second"))
    );
    assert_eq!(v2["data"]["settings"]["maxTokens"], 100);
    let (_, list) = app.get(&format!("/api/prompts/{id}/versions")).await;
    let numbers: Vec<i64> = list["data"]["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v["version"].as_i64().unwrap())
        .collect();
    assert_eq!(numbers, [2, 1]);
    let (_, one) = app.get(&format!("/api/prompts/{id}/versions/1")).await;
    assert_eq!(one["data"]["content"], "one");
    assert_eq!(
        app.get(&format!("/api/prompts/{id}/versions/9")).await.0,
        404
    );

    let v1_id = one["data"]["id"].clone();
    let (status, restored) = app
        .post(
            &format!("/api/prompts/{id}/restore"),
            json!({ "versionId": v1_id }),
        )
        .await;
    assert_eq!(status, 200, "{restored}");
    assert_eq!(restored["data"]["currentVersion"]["version"], 1);
    assert!(restored["data"]["updatedAt"].as_str() > v2["data"]["createdAt"].as_str());
    let (_, list) = app.get(&format!("/api/prompts/{id}/versions")).await;
    assert_eq!(
        list["data"]["items"].as_array().unwrap().len(),
        2,
        "restore writes no version"
    );
    let (status, _) = app
        .post(
            &format!("/api/prompts/{id}/restore"),
            json!({ "versionId": "0190f1e2-aaaa-7bbb-8ccc-123456789abc" }),
        )
        .await;
    assert_eq!(status, 404);
}

async fn versions_cannot_be_edited_through_any_route(db: TestDb) {
    let app = spawn_app(db).await;
    let p = app.create_prompt("Imm", Some("one")).await;
    let id = p["id"].as_str().unwrap();
    let vid = p["currentVersion"]["id"].as_str().unwrap();
    for path in [
        format!("/api/prompts/{id}/versions/1"),
        format!("/api/prompts/{id}/versions/{vid}"),
    ] {
        for method in [
            reqwest::Method::PUT,
            reqwest::Method::PATCH,
            reqwest::Method::DELETE,
        ] {
            let res = app
                .api
                .request(method.clone(), app.url(&path))
                .json(&json!({ "content": "changed" }))
                .send()
                .await
                .unwrap();
            let (status, _) = read(res).await;
            assert!(
                status == 405 || status == 404,
                "{method} {path} -> {status}"
            );
        }
    }
    let (_, v) = app.get(&format!("/api/prompts/{id}/versions/1")).await;
    assert_eq!(v["data"]["content"], "one");
}

async fn diff_shows_changed_lines_of_body_and_settings(db: TestDb) {
    let app = spawn_app(db).await;
    let p = app.create_prompt("D", Some("line a\nline b\nline c")).await;
    let id = p["id"].as_str().unwrap();
    app.post(
        &format!("/api/prompts/{id}/versions"),
        json!({ "content": "line a\nline B\nline c", "settings": { "temperature": 1 } }),
    )
    .await;
    let (status, body) = app
        .get(&format!("/api/prompts/{id}/diff?from=1&to=2"))
        .await;
    assert_eq!(status, 200, "{body}");
    let d = &body["data"];
    assert_eq!(
        (d["from"].as_i64(), d["to"].as_i64(), d["changed"].as_bool()),
        (Some(1), Some(2), Some(true))
    );
    let kinds: Vec<(String, String)> = d["content"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| {
            (
                l["kind"].as_str().unwrap().into(),
                l["text"].as_str().unwrap().into(),
            )
        })
        .collect();
    assert!(
        kinds.contains(&("delete".into(), "line b".into()))
            && kinds.contains(&("insert".into(), "line B".into())),
        "{kinds:?}"
    );
    assert!(
        d["settings"]
            .as_array()
            .unwrap()
            .iter()
            .any(|l| l["kind"] == "insert")
    );
    let (status, body) = app.get(&format!("/api/prompts/{id}/diff?from=1")).await;
    assert_eq!(
        (status, body["data"]["to"].as_i64()),
        (200, Some(2)),
        "to defaults to current"
    );
    assert_eq!(
        app.get(&format!("/api/prompts/{id}/diff?from=7")).await.0,
        404
    );
    assert_eq!(app.get(&format!("/api/prompts/{id}/diff")).await.0, 422);
}

async fn labels_resolve_by_slug_with_etag_and_304(db: TestDb) {
    let app = spawn_app(db).await;
    let p = app.create_prompt("Runtime", Some("v1 body")).await;
    let id = p["id"].as_str().unwrap();
    let v1 = p["currentVersion"]["id"].clone();
    app.post(
        &format!("/api/prompts/{id}/versions"),
        json!({ "content": "v2 body" }),
    )
    .await;
    let (status, labels) = app
        .put(
            &format!("/api/prompts/{id}/labels/production"),
            json!({ "versionId": v1 }),
        )
        .await;
    assert_eq!(status, 200, "{labels}");
    assert_eq!(labels["data"][0]["version"], 1);
    assert_eq!(
        app.put(
            &format!("/api/prompts/{id}/labels/current"),
            json!({ "versionId": v1 })
        )
        .await
        .0,
        422,
        "reserved"
    );
    assert_eq!(
        app.put(
            &format!("/api/prompts/{id}/labels/Bad Name"),
            json!({ "versionId": v1 })
        )
        .await
        .0,
        422
    );

    let url = app.url("/api/prompts/by-slug/runtime?label=production");
    let res = app.api.get(&url).send().await.unwrap();
    let etag = res.headers()["etag"].to_str().unwrap().to_string();
    let (_, body) = read(res).await;
    assert_eq!(body["data"]["version"]["content"], "v1 body");
    let res = app
        .api
        .get(&url)
        .header("if-none-match", &etag)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 304);
    let (_, current) = app.get("/api/prompts/by-slug/runtime").await;
    assert_eq!(current["data"]["version"]["content"], "v2 body");

    // Moving the label changes the answer and its ETag.
    let v2 = current["data"]["version"]["id"].clone();
    app.put(
        &format!("/api/prompts/{id}/labels/production"),
        json!({ "versionId": v2 }),
    )
    .await;
    let res = app
        .api
        .get(&url)
        .header("if-none-match", &etag)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    assert_eq!(
        app.get("/api/prompts/by-slug/runtime?label=staging")
            .await
            .0,
        404
    );
    assert_eq!(
        app.delete(&format!("/api/prompts/{id}/labels/production"))
            .await
            .0,
        200
    );
    assert_eq!(
        app.get("/api/prompts/by-slug/runtime?label=production")
            .await
            .0,
        404
    );
}

async fn render_fills_variables_and_lists_every_missing_one(db: TestDb) {
    let app = spawn_app(db).await;
    let (_, p) = app
        .post(
            "/api/prompts",
            json!({ "title": "Chat", "type": "chat", "content": [
            { "role": "system", "content": "You help {{ company }}." },
            { "role": "user", "content": "{{question}} from {{user.name}}" }
        ] }),
        )
        .await;
    let id = p["data"]["id"].as_str().unwrap();
    let (status, body) = app
        .post(
            &format!("/api/prompts/{id}/render"),
            json!({ "variables": { "company": "ACME" } }),
        )
        .await;
    assert_eq!(status, 422);
    let mut missing = fields(&body);
    missing.sort();
    assert_eq!(missing, ["variables.question", "variables.user.name"]);
    let (status, body) = app
        .post(
            &format!("/api/prompts/{id}/render"),
            json!({ "variables": { "company": "ACME", "question": "Why?", "user.name": "Ada" } }),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["data"]["messages"][0]["content"], "You help ACME.");
    assert_eq!(body["data"]["messages"][1]["content"], "Why? from Ada");
}

async fn delete_removes_the_prompt_and_everything_under_it(db: TestDb) {
    let app = spawn_app(db).await;
    let p = app.create_prompt("Gone", Some("x")).await;
    let id = p["id"].as_str().unwrap();
    app.put(
        &format!("/api/prompts/{id}/labels/production"),
        json!({ "versionId": p["currentVersionId"] }),
    )
    .await;
    let (status, body) = app.delete(&format!("/api/prompts/{id}")).await;
    assert_eq!(
        (status, body["data"]["deleted"].as_bool()),
        (200, Some(true))
    );
    assert_eq!(app.get(&format!("/api/prompts/{id}")).await.0, 404);
    assert_eq!(app.delete(&format!("/api/prompts/{id}")).await.0, 404);
    assert_eq!(app.get(&format!("/api/prompts/{id}/versions")).await.0, 404);
}

async fn text_that_looks_like_code_is_stored_byte_for_byte(db: TestDb) {
    let app = spawn_app(db).await;
    let nasty =
        "Robert'); DROP TABLE prompts;-- <script>alert('x')</script> {{ }} {% if %} ${x} \\n 🎉";
    let (status, body) = app.post("/api/prompts", json!({ "title": nasty, "type": "text", "tags": ["<b>"], "content": nasty, "note": nasty })).await;
    assert_eq!(status, 201, "{body}");
    let id = body["data"]["id"].as_str().unwrap();
    let (_, got) = app.get(&format!("/api/prompts/{id}")).await;
    assert_eq!(got["data"]["title"], nasty);
    assert_eq!(got["data"]["currentVersion"]["content"], nasty);
    assert_eq!(got["data"]["currentVersion"]["note"], nasty);
    assert_eq!(got["data"]["tags"], json!(["<b>"]));
}

async fn eight_clients_saving_fifty_versions_get_numbers_one_to_four_hundred(db: TestDb) {
    let app = spawn_app(db).await;
    let p = app.create_prompt("Busy", None).await;
    let url = app.url(&format!(
        "/api/prompts/{}/versions",
        p["id"].as_str().unwrap()
    ));
    let mut tasks = vec![];
    for c in 0..8 {
        let (client, url) = (app.api.clone(), url.clone());
        tasks.push(tokio::spawn(async move {
            let mut got = vec![];
            for i in 0..50 {
                let res = client
                    .post(&url)
                    .json(&json!({ "content": format!("client {c} save {i}") }))
                    .send()
                    .await
                    .unwrap();
                let (status, body) = read(res).await;
                assert_eq!(status, 201, "{body}");
                got.push(body["data"]["version"].as_i64().unwrap());
            }
            got
        }));
    }
    let mut all = vec![];
    for t in tasks {
        all.extend(t.await.unwrap());
    }
    all.sort();
    assert_eq!(all, (1..=400).collect::<Vec<_>>());
    let distinct: HashSet<_> = all.iter().collect();
    assert_eq!(distinct.len(), 400);
}

async fn bad_pagination_values_and_forged_cursors_are_4xx(db: TestDb) {
    let app = spawn_app(db).await;
    for (q, field) in [
        ("limit=0", "limit"),
        ("limit=101", "limit"),
        ("limit=-5", "limit"),
        ("limit=99999999999999999999", "limit"),
        ("limit=abc", "limit"),
        ("cursor=forged", "cursor"),
        ("cursor=AAAA", "cursor"),
        ("type=poem", "type"),
        ("unknown=1", "unknown"),
    ] {
        let (status, body): (u16, Value) = app.get(&format!("/api/prompts?{q}")).await;
        assert_eq!(
            (status, body["error"]["code"].as_str(), fields(&body)),
            (422, Some("validation_failed"), vec![field.to_string()]),
            "{q}: {body}"
        );
    }
    let p = app.create_prompt("P", Some("x")).await;
    let (status, _) = app
        .get(&format!(
            "/api/prompts/{}/versions?cursor=nope",
            p["id"].as_str().unwrap()
        ))
        .await;
    assert_eq!(status, 422);
}
