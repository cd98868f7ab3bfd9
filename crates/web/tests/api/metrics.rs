//! `GET /metrics`: the scrape parses as Prometheus text, counts what this
//! server did (and only this server: many run in one test process), and is
//! closed to strangers, or absent when metrics are off.

use std::collections::{BTreeMap, HashSet};

use promptrefine_testkit::{TestDb, both_backends};
use promptrefine_web::WebConfig;
use serde_json::json;

use crate::helpers::{Options, TestApp, spawn_app, spawn_app_with};

both_backends!(
    metrics_count_requests_per_matched_route_and_parse_as_prometheus_text,
    metrics_count_runs_by_status_and_provider_with_tokens_cost_and_latency,
    without_a_metrics_token_only_signed_in_users_may_scrape,
    with_a_metrics_token_only_that_token_may_scrape,
    metrics_off_means_there_is_no_metrics_route,
);

async fn metrics_count_requests_per_matched_route_and_parse_as_prometheus_text(db: TestDb) {
    let app = spawn_app(db).await;
    // spawn_app waits for one /healthz answer before it returns: that one counts too.
    const READINESS_PROBE: f64 = 1.0;
    for _ in 0..3 {
        let res = app.anon.get(app.url("/healthz")).send().await.unwrap();
        assert_eq!(res.status(), 200);
    }
    let a = app.create_prompt("First", Some("a")).await;
    let b = app.create_prompt("Second", Some("b")).await;
    for p in [&a, &b] {
        let (status, _) = app
            .get(&format!("/api/prompts/{}", p["id"].as_str().unwrap()))
            .await;
        assert_eq!(status, 200);
    }
    let res = app
        .anon
        .get(app.url("/no/such/path/4711"))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 404);

    // Another server in the same process counts on its own.
    let other = spawn_app(TestDb::sqlite()).await;
    other.anon.get(other.url("/healthz")).send().await.unwrap();

    let text = scrape(&app).await;
    let m = parse(&text);
    let get = |route: &str, status: &str| {
        m.value(
            "http_requests_total",
            &[("route", route), ("method", "GET"), ("status", status)],
        )
    };
    assert_eq!(
        get("/healthz", "200"),
        Some(3.0 + READINESS_PROBE),
        "{text}"
    );
    assert_eq!(get("/api/prompts/{id}", "200"), Some(2.0), "{text}");
    assert_eq!(get("unmatched", "404"), Some(1.0), "{text}");
    assert_eq!(
        m.value(
            "http_requests_total",
            &[
                ("route", "/api/prompts"),
                ("method", "POST"),
                ("status", "201")
            ]
        ),
        Some(2.0),
        "{text}"
    );
    assert_eq!(
        m.value(
            "http_request_duration_seconds_count",
            &[("route", "/healthz"), ("method", "GET"), ("status", "200")]
        ),
        Some(3.0 + READINESS_PROBE),
        "{text}"
    );
    assert_eq!(
        m.value(
            "http_request_duration_seconds_count",
            &[("route", "unmatched"), ("method", "GET"), ("status", "404")]
        ),
        Some(1.0),
        "latency is labelled by status too: {text}"
    );
    assert_eq!(
        m.value(
            "http_request_duration_seconds_bucket",
            &[
                ("route", "/healthz"),
                ("method", "GET"),
                ("status", "200"),
                ("le", "+Inf")
            ]
        ),
        Some(3.0 + READINESS_PROBE),
        "a real histogram, not a summary: {text}"
    );
    let raw_ids: Vec<&str> = [&a, &b].iter().map(|p| p["id"].as_str().unwrap()).collect();
    assert!(
        raw_ids.iter().all(|id| !text.contains(id)) && !text.contains("4711"),
        "labels carry matched routes, never raw paths: {text}"
    );
    assert!(
        m.value("db_pool_connections", &[])
            .is_some_and(|n| n >= 1.0),
        "{text}"
    );
    assert!(m.value("db_pool_idle_connections", &[]).is_some(), "{text}");
    assert_eq!(m.value("runs_in_flight", &[]), Some(0.0), "{text}");

    let theirs = parse(&scrape(&other).await);
    assert_eq!(
        theirs.value(
            "http_requests_total",
            &[("route", "/healthz"), ("method", "GET"), ("status", "200")]
        ),
        Some(1.0 + READINESS_PROBE)
    );
}

async fn metrics_count_runs_by_status_and_provider_with_tokens_cost_and_latency(db: TestDb) {
    let app = spawn_app(db).await;
    let p = app.create_prompt("Greeter", Some("Hello {{name}}")).await;
    let id = p["id"].as_str().unwrap();
    let run = |model: &'static str| {
        let body = json!({ "promptId": id, "model": model, "variables": { "name": "Ada" } });
        let app = &app;
        async move {
            let (status, json) = app.post("/api/test-runs", body).await;
            assert_eq!(status, 201, "{json}");
            json["data"]["status"].as_str().unwrap().to_string()
        }
    };
    assert_eq!(run("gpt-4o-mini").await, "succeeded");
    assert_eq!(run("gpt-4o-mini").await, "succeeded");
    assert_eq!(run("mock-error-400").await, "failed");

    let text = scrape(&app).await;
    let m = parse(&text);
    let runs = |status: &str| m.value("runs_total", &[("status", status), ("provider", "openai")]);
    assert_eq!(runs("succeeded"), Some(2.0), "{text}");
    assert_eq!(runs("failed"), Some(1.0), "{text}");
    // The mock counts words: 2 in and 3 out per run; 3 micro-USD each.
    assert_eq!(
        m.value("tokens_total", &[("kind", "prompt")]),
        Some(4.0),
        "{text}"
    );
    assert_eq!(
        m.value("tokens_total", &[("kind", "completion")]),
        Some(6.0),
        "{text}"
    );
    assert_eq!(m.value("cost_micro_usd_total", &[]), Some(6.0), "{text}");
    assert_eq!(
        m.value("upstream_latency_seconds_count", &[("provider", "openai")]),
        Some(3.0),
        "{text}"
    );
    assert_eq!(m.value("runs_in_flight", &[]), Some(0.0), "{text}");
}

async fn without_a_metrics_token_only_signed_in_users_may_scrape(db: TestDb) {
    let app = spawn_app(db).await;
    let res = app.anon.get(app.url("/metrics")).send().await.unwrap();
    assert_eq!(res.status(), 401);
    let res = app
        .anon
        .get(app.url("/metrics"))
        .bearer_auth("pr_not-a-real-token")
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 401);
    // An API token (what a Prometheus `authorization` block sends) …
    let res = app.api.get(app.url("/metrics")).send().await.unwrap();
    assert_eq!(res.status(), 200);
    assert!(
        res.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/plain; version=0.0.4")
    );
    // … or a browser session.
    let browser = app.browser();
    assert_eq!(app.login(&browser).await.status(), 200);
    let res = browser.get(app.url("/metrics")).send().await.unwrap();
    assert_eq!(res.status(), 200);
}

async fn with_a_metrics_token_only_that_token_may_scrape(db: TestDb) {
    let token = "metrics-scrape-token-0123456789";
    let app = spawn_app_with(
        db,
        Options {
            web: WebConfig {
                metrics_token: Some(token.into()),
                ..WebConfig::default()
            },
            ..Options::default()
        },
    )
    .await;
    let status = |res: reqwest::Response| res.status().as_u16();
    let url = app.url("/metrics");
    assert_eq!(status(app.anon.get(&url).send().await.unwrap()), 401);
    let wrong = app
        .anon
        .get(&url)
        .bearer_auth("metrics-scrape-token-0123456780");
    assert_eq!(status(wrong.send().await.unwrap()), 401);
    let short = app.anon.get(&url).bearer_auth("metrics");
    assert_eq!(status(short.send().await.unwrap()), 401);
    let basic = app.anon.get(&url).basic_auth("x", Some(token));
    assert_eq!(status(basic.send().await.unwrap()), 401);
    // A user's API token is not the metrics token.
    assert_eq!(status(app.api.get(&url).send().await.unwrap()), 401);
    let res = app.anon.get(&url).bearer_auth(token).send().await.unwrap();
    assert_eq!(res.status(), 200);
    parse(&res.text().await.unwrap());
}

async fn metrics_off_means_there_is_no_metrics_route(db: TestDb) {
    let app = spawn_app_with(
        db,
        Options {
            web: WebConfig {
                metrics_enabled: false,
                ..WebConfig::default()
            },
            ..Options::default()
        },
    )
    .await;
    assert_eq!(
        app.anon
            .get(app.url("/healthz"))
            .send()
            .await
            .unwrap()
            .status(),
        200
    );
    let res = app.api.get(app.url("/metrics")).send().await.unwrap();
    assert_eq!(res.status(), 404);
}

async fn scrape(app: &TestApp) -> String {
    let res = app.api.get(app.url("/metrics")).send().await.unwrap();
    assert_eq!(res.status(), 200);
    res.text().await.unwrap()
}

// --- a small Prometheus text-format parser ------------------------------------

/// The samples of a scrape: (name, labels, value).
struct Scrape(Vec<(String, BTreeMap<String, String>, f64)>);

impl Scrape {
    /// The value of the one sample named `name` whose labels include `labels`.
    fn value(&self, name: &str, labels: &[(&str, &str)]) -> Option<f64> {
        let hits: Vec<f64> = self
            .0
            .iter()
            .filter(|(n, l, _)| {
                n == name
                    && labels
                        .iter()
                        .all(|(k, v)| l.get(*k).map(String::as_str) == Some(*v))
            })
            .map(|(_, _, v)| *v)
            .collect();
        assert!(hits.len() <= 1, "{name} {labels:?} matches {hits:?}");
        hits.first().copied()
    }
}

/// Parses the text exposition format strictly: every line is a `# HELP`, a
/// `# TYPE`, blank, or `name{labels} value`; every sample belongs to a
/// declared family (histograms through `_bucket`, `_sum`, `_count`).
fn parse(text: &str) -> Scrape {
    let mut families = HashSet::new();
    let mut samples = Vec::new();
    for line in text.lines() {
        if line.trim().is_empty() {
            continue;
        }
        if let Some(rest) = line.strip_prefix("# ") {
            let mut parts = rest.splitn(3, ' ');
            let (kind, name) = (parts.next().unwrap(), parts.next().unwrap_or(""));
            assert!(is_metric_name(name), "bad comment line: {line}");
            match kind {
                "HELP" => {}
                "TYPE" => {
                    let t = parts.next().unwrap_or("");
                    assert!(
                        ["counter", "gauge", "histogram", "summary", "untyped"].contains(&t),
                        "bad type: {line}"
                    );
                    families.insert(name.to_string());
                }
                _ => panic!("unknown comment: {line}"),
            }
            continue;
        }
        let (series, value) = line
            .rsplit_once(' ')
            .unwrap_or_else(|| panic!("no value: {line}"));
        let value: f64 = match value {
            "+Inf" => f64::INFINITY,
            "-Inf" => f64::NEG_INFINITY,
            v => v.parse().unwrap_or_else(|_| panic!("bad value: {line}")),
        };
        let (name, labels) = match series.split_once('{') {
            None => (series, BTreeMap::new()),
            Some((name, rest)) => {
                let body = rest
                    .strip_suffix('}')
                    .unwrap_or_else(|| panic!("unclosed labels: {line}"));
                (name, parse_labels(body, line))
            }
        };
        assert!(is_metric_name(name), "bad metric name: {line}");
        let family = ["_bucket", "_sum", "_count"]
            .iter()
            .find_map(|s| name.strip_suffix(s).filter(|f| families.contains(*f)))
            .unwrap_or(name);
        assert!(families.contains(family), "sample without a # TYPE: {line}");
        samples.push((name.to_string(), labels, value));
    }
    assert!(!samples.is_empty(), "an empty scrape");
    Scrape(samples)
}

fn parse_labels(mut body: &str, line: &str) -> BTreeMap<String, String> {
    let mut labels = BTreeMap::new();
    while !body.is_empty() {
        let (key, rest) = body
            .split_once("=\"")
            .unwrap_or_else(|| panic!("bad label: {line}"));
        assert!(
            is_metric_name(key) && !key.contains(':'),
            "bad label name: {line}"
        );
        let mut value = String::new();
        let mut chars = rest.char_indices();
        let end = loop {
            match chars.next() {
                Some((_, '\\')) => match chars.next() {
                    Some((_, 'n')) => value.push('\n'),
                    Some((_, c @ ('\\' | '"'))) => value.push(c),
                    _ => panic!("bad escape: {line}"),
                },
                Some((i, '"')) => break i,
                Some((_, c)) => value.push(c),
                None => panic!("unterminated label value: {line}"),
            }
        };
        labels.insert(key.to_string(), value);
        body = &rest[end + 1..];
        body = body.strip_prefix(',').unwrap_or(body);
    }
    labels
}

fn is_metric_name(s: &str) -> bool {
    let mut chars = s.chars();
    chars
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_' || c == ':')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_' || c == ':')
}
