//! `/api/datasets`: CRUD and pages ([`crud`]), items and versions
//! ([`versions`]), CSV and JSON Lines files ([`files`]), and runs kept as
//! items. Every body runs on SQLite and PostgreSQL.

mod crud;
mod files;
mod versions;

use serde_json::{Value, json};

use crate::helpers::TestApp;

/// Creates a dataset; returns its JSON.
pub(crate) async fn dataset(app: &TestApp, name: &str) -> Value {
    let (status, body) = app.post("/api/datasets", json!({ "name": name })).await;
    assert_eq!(status, 201, "{body}");
    body["data"].clone()
}

/// Adds items `{"q": "<prefix><i>"}` for i in 0..n; returns the answer's data.
pub(crate) async fn add(app: &TestApp, id: &str, prefix: &str, n: usize) -> Value {
    let items: Vec<Value> = (0..n)
        .map(|i| json!({ "variables": { "q": format!("{prefix}{i}") } }))
        .collect();
    let (status, body) = app
        .post(
            &format!("/api/datasets/{id}/items"),
            json!({ "items": items }),
        )
        .await;
    assert_eq!(status, 201, "{body}");
    body["data"].clone()
}

/// Every item of a dataset (at `query`, e.g. `version=2`), following cursors.
pub(crate) async fn all_items(app: &TestApp, id: &str, query: &str) -> Vec<Value> {
    let mut out = Vec::new();
    let mut cursor: Option<String> = None;
    loop {
        let mut path = format!("/api/datasets/{id}/items?limit=100&{query}");
        if let Some(c) = &cursor {
            path.push_str(&format!("&cursor={c}"));
        }
        let (status, page) = app.get(&path).await;
        assert_eq!(status, 200, "{page}");
        out.extend(page["data"]["items"].as_array().unwrap().iter().cloned());
        match page["data"]["nextCursor"].as_str() {
            Some(c) => cursor = Some(c.to_string()),
            None => return out,
        }
    }
}

/// The `q` variable of each item.
pub(crate) fn qs(items: &[Value]) -> Vec<String> {
    items
        .iter()
        .map(|i| i["variables"]["q"].as_str().unwrap_or("").to_string())
        .collect()
}
