//! The request span names the route that matched, never the raw path: raw
//! paths carry ids, slugs and whatever a scanner sends.

use promptrefine_testkit::TestDb;
use serde_json::Value;

use crate::auth::captured_logs;
use crate::helpers::spawn_app;

/// The `span` object of the log lines of one request, by its request id.
fn request_spans(logs: &str, request_id: &str) -> Vec<Value> {
    logs.lines()
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .filter(|l| l["span"]["request_id"] == request_id)
        .map(|l| l["span"].clone())
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_request_span_records_the_matched_route_and_not_the_raw_path() {
    let buf = captured_logs();
    let app = spawn_app(TestDb::sqlite()).await;
    let p = app.create_prompt("Spanned", Some("x")).await;
    let id = p["id"].as_str().unwrap();
    let marker = format!("no-such-route-{}", uuid::Uuid::now_v7().simple());

    let mut ids = vec![];
    for path in [format!("/api/prompts/{id}"), format!("/api/{marker}")] {
        let res = app.api.get(app.url(&path)).send().await.unwrap();
        ids.push(res.headers()["x-request-id"].to_str().unwrap().to_owned());
    }
    let logs = String::from_utf8_lossy(&buf.lock().unwrap()).to_string();

    let found = request_spans(&logs, &ids[0]);
    assert!(!found.is_empty(), "the request logged in its span");
    for span in &found {
        assert_eq!(span["route"], "/api/prompts/{id}", "{span}");
        assert_eq!(span["method"], "GET", "{span}");
        assert!(span.get("path").is_none(), "{span}");
    }
    let unmatched = request_spans(&logs, &ids[1]);
    assert!(!unmatched.is_empty());
    assert!(
        unmatched.iter().all(|s| s["route"] == "unmatched"),
        "{unmatched:?}"
    );
    assert!(!logs.contains(&marker), "a raw path reached the logs");
}
