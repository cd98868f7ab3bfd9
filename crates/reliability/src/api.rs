//! The JSON API as the scenarios use it: sign in, create what a scenario
//! needs, poll, page. One copy for every scenario, so each of them reads as
//! the story it tests and not as HTTP plumbing.

use std::time::{Duration, Instant};

use anyhow::{Context, ensure};
use serde_json::{Value, json};

use crate::procs::{ADMIN_EMAIL, ADMIN_PASSWORD, Server};

/// One request; the status and the JSON body (`null` when it is not JSON).
pub(crate) async fn call(
    api: &reqwest::Client,
    method: reqwest::Method,
    url: &str,
    body: Option<Value>,
) -> anyhow::Result<(u16, Value)> {
    let mut req = api.request(method, url);
    if let Some(b) = body {
        req = req.json(&b);
    }
    let res = req.send().await?;
    let status = res.status().as_u16();
    Ok((status, res.json().await.unwrap_or(Value::Null)))
}

/// `GET path` on `server`, which must answer 200; its body.
pub(crate) async fn get(
    api: &reqwest::Client,
    server: &Server,
    path: &str,
) -> anyhow::Result<Value> {
    let (s, body) = call(api, reqwest::Method::GET, &server.url(path), None).await?;
    ensure!(s == 200, "GET {path}: {s} {body}");
    Ok(body)
}

/// `POST path` on `server`, which must answer `status`; `data.id` of the answer.
async fn post_for_id(
    api: &reqwest::Client,
    server: &Server,
    path: &str,
    body: Value,
    status: u16,
) -> anyhow::Result<String> {
    let (s, answer) = call(api, reqwest::Method::POST, &server.url(path), Some(body)).await?;
    ensure!(s == status, "POST {path}: {s} {answer}");
    Ok(answer["data"]["id"]
        .as_str()
        .with_context(|| format!("no id in {answer}"))?
        .to_string())
}

/// Signs in and makes an API token named `name`; the token.
pub(crate) async fn token(server: &Server, name: &str) -> anyhow::Result<String> {
    let browser = reqwest::Client::builder().cookie_store(true).build()?;
    let origin = server.url("");
    let res = browser
        .post(server.url("/api/auth/login"))
        .header("origin", &origin)
        .json(&json!({ "email": ADMIN_EMAIL, "password": ADMIN_PASSWORD }))
        .send()
        .await?;
    ensure!(res.status() == 200, "login: {}", res.status());
    let body: Value = browser
        .post(server.url("/api/tokens"))
        .header("origin", &origin)
        .json(&json!({ "name": name }))
        .send()
        .await?
        .json()
        .await?;
    Ok(body["data"]["token"]
        .as_str()
        .with_context(|| format!("no token: {body}"))?
        .to_string())
}

/// Signs in and makes an API token; a client that sends it. Tokens live in
/// the database, so one client works on every replica.
pub(crate) async fn token_client(server: &Server) -> anyhow::Result<reqwest::Client> {
    let token = token(server, "reliability").await?;
    let mut headers = reqwest::header::HeaderMap::new();
    headers.insert("authorization", format!("Bearer {token}").parse()?);
    Ok(reqwest::Client::builder()
        .default_headers(headers)
        .timeout(Duration::from_secs(30))
        .build()?)
}

/// A text prompt whose one version renders `content` for `model`; its id.
pub(crate) async fn create_prompt(
    api: &reqwest::Client,
    server: &Server,
    title: &str,
    content: &str,
    model: &str,
) -> anyhow::Result<String> {
    let body = json!({ "title": title, "type": "text", "content": content,
                       "settings": { "model": model } });
    post_for_id(api, server, "/api/prompts", body, 201).await
}

/// A dataset of `n` items (variable `x`) made through `server`; its id.
pub(crate) async fn dataset(
    api: &reqwest::Client,
    server: &Server,
    name: &str,
    n: i64,
) -> anyhow::Result<String> {
    let id = post_for_id(api, server, "/api/datasets", json!({ "name": name }), 201).await?;
    // At most 1,000 items per call.
    for start in (0..n).step_by(1000) {
        let items: Vec<Value> = (start..n.min(start + 1000))
            .map(|i| json!({ "variables": { "x": format!("v{i}") } }))
            .collect();
        let (s, body) = call(
            api,
            reqwest::Method::POST,
            &server.url(&format!("/api/datasets/{id}/items")),
            Some(json!({ "items": items })),
        )
        .await?;
        ensure!(s == 200 || s == 201, "add items: {s} {body}");
    }
    Ok(id)
}

/// Starts an experiment of the prompt's current version over the dataset; its id.
pub(crate) async fn start_experiment(
    api: &reqwest::Client,
    server: &Server,
    prompt: &str,
    dataset: &str,
    concurrency: i64,
) -> anyhow::Result<String> {
    let body = json!({ "promptId": prompt, "datasetId": dataset, "concurrency": concurrency });
    post_for_id(api, server, "/api/experiments", body, 202).await
}

/// Polls the experiment's progress until `done` holds (60 s at most); the progress.
pub(crate) async fn wait_progress(
    api: &reqwest::Client,
    server: &Server,
    id: &str,
    done: impl Fn(&Value) -> bool,
) -> anyhow::Result<Value> {
    let t = Instant::now();
    loop {
        let body = get(api, server, &format!("/api/experiments/{id}")).await?;
        let progress = body["data"]["progress"].clone();
        if done(&progress) {
            return Ok(progress);
        }
        ensure!(
            t.elapsed() < Duration::from_secs(60),
            "experiment {id} stuck at {progress}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Every item of a keyset-paged list (`path` has a query already), all pages.
pub(crate) async fn all_pages(
    api: &reqwest::Client,
    server: &Server,
    path: &str,
) -> anyhow::Result<Vec<Value>> {
    let mut all = vec![];
    let mut cursor: Option<String> = None;
    loop {
        let url = match &cursor {
            Some(c) => format!("{path}&limit=100&cursor={c}"),
            None => format!("{path}&limit=100"),
        };
        let page = get(api, server, &url).await?;
        all.extend(
            page["data"]["items"]
                .as_array()
                .cloned()
                .unwrap_or_default(),
        );
        match page["data"]["nextCursor"].as_str() {
            Some(c) => cursor = Some(c.to_string()),
            None => return Ok(all),
        }
    }
}

/// Every run of the experiment (the run history filter), all pages.
pub(crate) async fn experiment_runs(
    api: &reqwest::Client,
    server: &Server,
    prompt: &str,
    experiment: &str,
) -> anyhow::Result<Vec<Value>> {
    all_pages(
        api,
        server,
        &format!("/api/test-runs?promptId={prompt}&experimentId={experiment}"),
    )
    .await
}
