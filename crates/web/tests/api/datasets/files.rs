//! Import and export: CSV and JSON Lines round trips, errors that name the
//! line and the column, and the import body limit.

use promptrefine_testkit::{TestDb, both_backends};
use promptrefine_web::WebConfig;
use serde_json::{Value, json};

use super::{all_items, dataset};
use crate::helpers::{Options, TestApp, assert_envelope, fields, read, spawn_app, spawn_app_with};
use crate::hostile::RawConn;

both_backends!(
    a_hundred_row_csv_and_ndjson_round_trip_through_export,
    bad_import_files_are_422_naming_the_line_and_the_column,
    an_import_over_the_limit_is_413_without_reading_the_body,
    an_import_may_be_larger_than_the_ordinary_body_limit,
);

async fn import(
    app: &TestApp,
    id: &str,
    content_type: &str,
    body: impl Into<reqwest::Body>,
) -> (u16, Value) {
    let res = app
        .api
        .post(app.url(&format!("/api/datasets/{id}/import")))
        .header("content-type", content_type)
        .body(body)
        .send()
        .await
        .unwrap();
    read(res).await
}

async fn export(app: &TestApp, id: &str, query: &str) -> (u16, String, String) {
    let res = app
        .api
        .get(app.url(&format!("/api/datasets/{id}/export?{query}")))
        .send()
        .await
        .unwrap();
    let status = res.status().as_u16();
    let ct = res
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_string();
    (status, ct, res.text().await.unwrap())
}

async fn a_hundred_row_csv_and_ndjson_round_trip_through_export(db: TestDb) {
    let app = spawn_app(db).await;
    let id = dataset(&app, "Imported").await["id"]
        .as_str()
        .unwrap()
        .to_string();
    let mut csv = String::from("city,country,expected,metadata.source\n");
    for i in 0..100 {
        csv.push_str(&format!(
            "City {i},\"Land, {i}\",\"Answer \"\"{i}\"\"\",atlas\n"
        ));
    }
    let (status, body) = import(&app, &id, "text/csv; charset=utf-8", csv.clone()).await;
    assert_eq!(status, 201, "{body}");
    assert_eq!(
        (
            body["data"]["imported"].as_i64(),
            body["data"]["dataset"]["version"].as_i64()
        ),
        (Some(100), Some(1))
    );
    let items = all_items(&app, &id, "").await;
    assert_eq!(items.len(), 100);
    assert_eq!(
        items[7]["variables"],
        json!({ "city": "City 7", "country": "Land, 7" })
    );
    assert_eq!(items[7]["expected"], "Answer \"7\"");
    assert_eq!(items[7]["metadata"], json!({ "source": "atlas" }));
    let (status, ct, exported) = export(&app, &id, "format=csv").await;
    assert_eq!((status, ct.as_str()), (200, "text/csv; charset=utf-8"));
    assert_eq!(exported, csv, "the same columns, rows and quoting");

    let mut jsonl = String::new();
    for i in 0..100 {
        jsonl.push_str(&json!({ "variables": { "n": i.to_string() }, "expected": { "sum": i }, "metadata": { "k": [i] } }).to_string());
        jsonl.push('\n');
    }
    let (status, body) = import(&app, &id, "application/x-ndjson", jsonl.clone()).await;
    assert_eq!(status, 201, "{body}");
    assert_eq!(
        (
            body["data"]["dataset"]["version"].as_i64(),
            body["data"]["dataset"]["itemCount"].as_i64()
        ),
        (Some(2), Some(200))
    );
    let (status, ct, all) = export(&app, &id, "format=jsonl").await;
    assert_eq!((status, ct.as_str()), (200, "application/x-ndjson"));
    assert!(
        all.ends_with(&jsonl),
        "the JSON Lines items come back byte for byte"
    );
    assert_eq!(all.lines().count(), 200);
    // The version before the second import still exports as it was.
    let (_, _, v1) = export(&app, &id, "format=csv&version=1").await;
    assert_eq!(v1, csv);
    for query in ["format=xml", "", "format=csv&version=9"] {
        let (status, _, body) = export(&app, &id, query).await;
        assert!(status == 422 || status == 404, "{query}: {status} {body}");
    }
}

async fn bad_import_files_are_422_naming_the_line_and_the_column(db: TestDb) {
    let app = spawn_app(db).await;
    let id = dataset(&app, "Picky").await["id"]
        .as_str()
        .unwrap()
        .to_string();
    let cases: [(&str, &[u8], u64, &str); 7] = [
        ("text/csv", b"q,a\n1,2\n3,\xff\xfe\n", 3, "a"),
        ("text/csv", b"q,a\n1,2\n3\n", 3, "row"),
        ("text/csv", b"q,a,q\n1,2,3\n", 1, "q"),
        ("text/csv", b"q,two words\n1,2\n", 1, "two words"),
        (
            "application/x-ndjson",
            b"{\"variables\":{}}\n{\"variables\":{\"q\":\"\xc3\"}}\n",
            2,
            "line",
        ),
        (
            "application/x-ndjson",
            b"{\"variables\":{}}\n\n{\"variables\":{\"q\":7}}\n",
            3,
            "variables[\"q\"]",
        ),
        (
            "application/x-ndjson",
            b"{\"variables\":{}}\n{\"variables\":{},\"expected\":\"x\"\n",
            2,
            "line",
        ),
    ];
    for (ct, body, line, field) in cases {
        let (status, answer) = import(&app, &id, ct, body.to_vec()).await;
        let shown = String::from_utf8_lossy(body);
        assert_eq!(status, 422, "{shown}: {answer}");
        assert_eq!(
            answer["error"]["details"]["line"].as_u64(),
            Some(line),
            "{shown}: {answer}"
        );
        assert_eq!(fields(&answer), [field.to_string()], "{shown}: {answer}");
        let message = answer["error"]["message"].as_str().unwrap();
        assert!(message.starts_with(&format!("line {line}: ")), "{message}");
    }
    let (status, answer) = import(&app, &id, "application/json", "{}").await;
    assert_eq!(status, 415, "{answer}");
    let (status, answer) = import(&app, &id, "text/csv", "q\n").await;
    assert_eq!(
        (status, fields(&answer)),
        (422, vec!["body".to_string()]),
        "no rows: {answer}"
    );
    let (_, d) = app.get(&format!("/api/datasets/{id}")).await;
    assert_eq!(
        (
            d["data"]["version"].as_i64(),
            d["data"]["itemCount"].as_i64()
        ),
        (Some(0), Some(0)),
        "nothing was imported"
    );
    assert_eq!(import(&app, "nope", "text/csv", "q\n1\n").await.0, 404);
}

async fn an_import_over_the_limit_is_413_without_reading_the_body(db: TestDb) {
    let web = WebConfig {
        import_limit_bytes: 1024 * 1024,
        ..WebConfig::default()
    };
    let app = spawn_app_with(
        db,
        Options {
            web,
            ..Options::default()
        },
    )
    .await;
    let id = dataset(&app, "Huge").await["id"]
        .as_str()
        .unwrap()
        .to_string();
    // Here the import limit is smaller than the ordinary 2 MiB, and it alone applies.
    let mut big = String::from("q\n");
    while big.len() < 1100 * 1024 {
        big.push_str("some text that fills the file\n");
    }
    let (status, body) = import(&app, &id, "text/csv", big).await;
    assert_eq!(status, 413, "{body}");

    // A declared gigabyte is refused from its headers: nothing near that is
    // sent, and the answer still arrives.
    let mut conn = RawConn::open(&app.addr).await;
    let head = format!(
        "POST /api/datasets/{id}/import HTTP/1.1\r\nhost: test\r\nauthorization: Bearer {}\r\ncontent-type: text/csv\r\ncontent-length: {}\r\n\r\nq\n1\n",
        app.token,
        1024u64 * 1024 * 1024
    );
    conn.send(head.as_bytes()).await.unwrap();
    let res = conn.read_response().await.expect("a 413 answer");
    assert_eq!(res.status, 413, "{}", res.head);
    let body: Value = serde_json::from_slice(&res.body).unwrap();
    assert_envelope(413, &body);
    assert_eq!(body["error"]["code"], "payload_too_large");

    let (_, d) = app.get(&format!("/api/datasets/{id}")).await;
    assert_eq!(d["data"]["version"], 0, "nothing was imported");
}

/// Imports above the ordinary body limit go through: only imports get the
/// larger limit.
async fn an_import_may_be_larger_than_the_ordinary_body_limit(db: TestDb) {
    let web = WebConfig {
        body_limit_bytes: 64 * 1024,
        ..WebConfig::default()
    };
    let app = spawn_app_with(
        db,
        Options {
            web,
            ..Options::default()
        },
    )
    .await;
    let id = dataset(&app, "Large").await["id"]
        .as_str()
        .unwrap()
        .to_string();
    let mut csv = String::from("q\n");
    for i in 0..10_000 {
        csv.push_str(&format!("row number {i}\n"));
    }
    assert!(csv.len() > 64 * 1024);
    let (status, body) = import(&app, &id, "text/csv", csv).await;
    assert_eq!(status, 201, "{body}");
    assert_eq!(body["data"]["imported"], 10_000);
    let (status, _) = app
        .post("/api/datasets", json!({ "name": "x".repeat(70 * 1024) }))
        .await;
    assert_eq!(status, 413, "the ordinary limit still holds elsewhere");
}
