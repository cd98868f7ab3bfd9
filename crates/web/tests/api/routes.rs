//! The API's route list read from the built router itself, not from source
//! text (rustfmt splits `.route(` calls over lines, so a grep misses them):
//! every `/api` route the router holds is in the OpenAPI document with
//! exactly the methods it answers, and every documented operation is routed.

use std::collections::BTreeSet;

use axum::routing::get;
use promptrefine_testkit::TestDb;
use promptrefine_web::{AppState, WebConfig};
use serde_json::Value;

use crate::helpers::spawn_app;

/// The only `/api` route that is not an operation of the document: the
/// document itself (public by design).
const UNDOCUMENTED: &[&str] = &["/api/openapi.json"];

const METHODS: [&str; 5] = ["GET", "POST", "PUT", "PATCH", "DELETE"];

/// The paths a built router holds, from its `Debug` form (axum has no
/// public route list; its debug output prints `RouteId(n): "/path"` for each).
fn registered_paths<S>(router: &axum::Router<S>) -> BTreeSet<String> {
    let debug = format!("{router:?}");
    debug
        .split("RouteId(")
        .skip(1)
        .filter_map(|part| {
            let (_, rest) = part.split_once("): \"")?;
            rest.split_once('"').map(|(path, _)| path.to_owned())
        })
        .filter(|p| !p.contains("__private__"))
        .collect()
}

#[test]
fn the_route_walk_sees_a_route_however_it_was_registered() {
    let router: axum::Router = axum::Router::new()
        .route(
            "/api/sneaky",
            get(|| async { "registered outside the OpenAPI router" }),
        )
        .merge(axum::Router::new().route("/other", get(|| async { "" })));
    // (axum's own fallback router adds `/` too.)
    let paths = registered_paths(&router);
    assert!(
        paths.contains("/api/sneaky") && paths.contains("/other"),
        "{paths:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_api_route_the_router_answers_is_documented_with_its_methods() {
    let app = spawn_app(TestDb::sqlite()).await;
    let router = promptrefine_web::router(AppState::new(app.app.clone(), WebConfig::default()));
    let routed = registered_paths(&router);
    assert!(
        routed.contains("/healthz") && routed.contains("/api/prompts"),
        "the walk found the router's routes: {routed:?}"
    );
    let api: BTreeSet<&String> = routed
        .iter()
        .filter(|p| p.starts_with("/api/") && !UNDOCUMENTED.contains(&p.as_str()))
        .collect();

    let doc = promptrefine_web::api::openapi_document();
    let documented = doc["paths"].as_object().unwrap();
    let doc_paths: BTreeSet<&String> = documented.keys().collect();
    assert_eq!(api, doc_paths, "routed /api paths vs. documented paths");

    // Method by method: whatever the router does not answer 405 must be an
    // operation of the document, and every operation must be answered. The
    // method router decides before any extractor runs, so any value fills
    // the path parameters.
    let mut mismatches = vec![];
    for path in api {
        let concrete = fill_parameters(path);
        let ops: &Value = &documented[path.as_str()];
        for method in METHODS {
            let res = app
                .anon
                .request(method.parse().unwrap(), app.url(&concrete))
                .header("origin", &app.addr)
                .send()
                .await
                .unwrap();
            let answered = res.status() != 405;
            let listed = ops.get(method.to_ascii_lowercase()).is_some();
            if answered != listed {
                mismatches.push(format!(
                    "{method} {path}: router {}, document {}",
                    res.status(),
                    if listed { "lists it" } else { "does not" }
                ));
            }
        }
    }
    assert!(mismatches.is_empty(), "{mismatches:#?}");
}

/// `/api/prompts/{id}/versions/{number}` → `/api/prompts/1/versions/1`.
fn fill_parameters(path: &str) -> String {
    let mut out = String::new();
    let mut in_param = false;
    for c in path.chars() {
        match c {
            '{' => {
                in_param = true;
                out.push('1');
            }
            '}' => in_param = false,
            _ if in_param => {}
            _ => out.push(c),
        }
    }
    out
}
