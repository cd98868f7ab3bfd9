//! The delivery cache: `by-slug` from memory, invalidated by every write
//! that changes an answer, on this process and (PostgreSQL) on every
//! replica; the watch stream.

use std::time::{Duration, Instant};

use promptrefine_testkit::{QueryCounter, TestDb, both_backends};
use serde_json::{Value, json};

use crate::helpers::{TestApp, spawn_app, spawn_replica};

both_backends!(
    a_cached_answer_and_a_cached_304_make_no_query,
    every_write_that_changes_an_answer_is_seen_by_the_next_fetch,
    a_revoked_token_is_refused_at_once_though_its_lookup_was_cached,
    the_watch_stream_sends_the_etag_then_each_change_and_resumes_with_last_event_id,
);

/// On PostgreSQL the cache serves only once its listener is up.
async fn until_serving(app: &TestApp) {
    let start = Instant::now();
    while !app.app.delivery().is_serving() {
        assert!(
            start.elapsed() < Duration::from_secs(10),
            "the cache never came on"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

async fn fetch(app: &TestApp, path: &str) -> (u16, Value, String) {
    let res = app.api.get(app.url(path)).send().await.unwrap();
    let status = res.status().as_u16();
    let etag = res.headers()["etag"]
        .to_str()
        .unwrap_or_default()
        .to_owned();
    let body = res.json().await.unwrap_or(Value::Null);
    (status, body, etag)
}

async fn version_of(app: &TestApp, path: &str) -> Option<i64> {
    let (status, body, _) = fetch_any(app, path).await;
    (status == 200).then(|| body["data"]["version"]["version"].as_i64().unwrap())
}

/// The `production` label of a prompt's detail (null when it has none).
fn production(detail: &Value) -> &Value {
    detail["data"]["labels"]
        .as_array()
        .and_then(|l| l.iter().find(|l| l["label"] == "production"))
        .unwrap_or(&Value::Null)
}

async fn fetch_any(app: &TestApp, path: &str) -> (u16, Value, ()) {
    let res = app.api.get(app.url(path)).send().await.unwrap();
    let status = res.status().as_u16();
    (status, res.json().await.unwrap_or(Value::Null), ())
}

async fn a_cached_answer_and_a_cached_304_make_no_query(db: TestDb) {
    let app = spawn_app(db).await;
    until_serving(&app).await;
    let p = app.create_prompt("Hot path", Some("v1")).await;
    let id = p["id"].as_str().unwrap();
    hit_and_304_read_nothing(&app, "/api/prompts/by-slug/hot-path?label=current").await;
    // The prompt's own answer too, by id and by slug.
    hit_and_304_read_nothing(&app, &format!("/api/prompts/{id}")).await;
    hit_and_304_read_nothing(&app, "/api/prompts/hot-path").await;
}

/// A fetch of `path`, then a hit (200, the same body) and a 304 that read nothing.
async fn hit_and_304_read_nothing(app: &TestApp, path: &str) {
    let (status, first, etag) = fetch(app, path).await;
    assert_eq!(status, 200, "{first}");
    // On PostgreSQL the NOTIFY of the prompt's own creation may arrive after
    // that fetch and empty the cache once: fetch until a hit, then count.
    for _ in 0..50 {
        if counted_get(app, path, None).await.1.is_empty() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }

    let (res, statements) = counted_get(app, path, None).await;
    assert_eq!(res.status(), 200);
    assert_eq!(res.headers()["etag"].to_str().unwrap(), etag);
    let again: Value = res.json().await.unwrap();
    assert_eq!(again, first, "the cached body is the answer");
    assert_eq!(statements, Vec::<String>::new(), "a hit reads nothing");

    let (res, statements) = counted_get(app, path, Some(&etag)).await;
    assert_eq!(res.status(), 304);
    assert_eq!(
        statements,
        Vec::<String>::new(),
        "a cached 304 reads nothing"
    );
}

/// A GET of `path` (with `If-None-Match` when given) and the statements it ran.
async fn counted_get(
    app: &TestApp,
    path: &str,
    if_none_match: Option<&str>,
) -> (reqwest::Response, Vec<String>) {
    let counter = QueryCounter::new();
    let mut req = app
        .api
        .get(app.url(path))
        .header("x-request-id", counter.tag());
    if let Some(etag) = if_none_match {
        req = req.header("if-none-match", etag);
    }
    let res = req.send().await.unwrap();
    (res, counter.statements())
}

async fn every_write_that_changes_an_answer_is_seen_by_the_next_fetch(db: TestDb) {
    let app = spawn_app(db).await;
    until_serving(&app).await;
    let p = app.create_prompt("Moving", Some("v1")).await;
    let id = p["id"].as_str().unwrap().to_owned();
    let v1 = p["currentVersionId"].as_str().unwrap().to_owned();
    let current = "/api/prompts/by-slug/moving";
    let prod = "/api/prompts/by-slug/moving?label=production";
    let pinned = "/api/prompts/by-slug/moving?version=1";

    assert_eq!(version_of(&app, current).await, Some(1));
    assert_eq!(version_of(&app, prod).await, None, "no label yet");

    // Save: current moves to 2.
    let (s, v2) = app
        .post(
            &format!("/api/prompts/{id}/versions"),
            json!({ "content": "v2" }),
        )
        .await;
    assert_eq!(s, 201, "{v2}");
    let v2 = v2["data"]["id"].as_str().unwrap().to_owned();
    assert_eq!(version_of(&app, current).await, Some(2), "after save");
    let detail = format!("/api/prompts/{id}");
    let by_slug = "/api/prompts/moving";
    for path in [&detail[..], by_slug] {
        let (_, d, _) = fetch_any(&app, path).await;
        assert_eq!(
            d["data"]["currentVersion"]["version"], 2,
            "{path} after save: {d}"
        );
    }

    // Label set, then moved.
    let label = format!("/api/prompts/{id}/labels/production");
    assert_eq!(app.put(&label, json!({ "versionId": v1 })).await.0, 200);
    assert_eq!(version_of(&app, prod).await, Some(1), "after label set");
    assert_eq!(app.put(&label, json!({ "versionId": v2 })).await.0, 200);
    assert_eq!(version_of(&app, prod).await, Some(2), "after label move");
    let (_, d, _) = fetch_any(&app, &detail).await;
    assert_eq!(
        production(&d)["versionId"],
        v2.as_str(),
        "detail after label move: {d}"
    );

    // Restore: current back to 1.
    let (s, body) = app
        .post(
            &format!("/api/prompts/{id}/restore"),
            json!({ "versionId": v1 }),
        )
        .await;
    assert_eq!(s, 200, "{body}");
    assert_eq!(version_of(&app, current).await, Some(1), "after restore");
    let (_, d, _) = fetch_any(&app, by_slug).await;
    assert_eq!(
        d["data"]["currentVersion"]["version"], 1,
        "detail after restore"
    );

    // Rename: the pinned answer carries the title.
    let (_, before, _) = fetch_any(&app, pinned).await;
    assert_eq!(before["data"]["title"], "Moving");
    assert_eq!(
        app.patch(&format!("/api/prompts/{id}"), json!({ "title": "Moved" }))
            .await
            .0,
        200
    );
    let (_, after, _) = fetch_any(&app, pinned).await;
    assert_eq!(after["data"]["title"], "Moved", "after rename");
    let (_, d, _) = fetch_any(&app, &detail).await;
    assert_eq!(d["data"]["title"], "Moved", "detail after rename");

    // Label removal.
    assert_eq!(app.delete(&label).await.0, 200);
    assert_eq!(version_of(&app, prod).await, None, "after label removal");
    let (_, d, _) = fetch_any(&app, &detail).await;
    assert_eq!(
        production(&d),
        &Value::Null,
        "detail after label removal: {d}"
    );

    // Re-slug: the old slug names nothing, the new one the prompt.
    assert_eq!(
        app.patch(&format!("/api/prompts/{id}"), json!({ "slug": "renamed" }))
            .await
            .0,
        200
    );
    assert_eq!(
        version_of(&app, current).await,
        None,
        "the old slug after re-slug"
    );
    assert_eq!(
        version_of(&app, "/api/prompts/by-slug/renamed").await,
        Some(1)
    );
    assert_eq!(
        fetch_any(&app, by_slug).await.0,
        404,
        "the old slug's detail"
    );

    // Delete.
    assert_eq!(app.delete(&format!("/api/prompts/{id}")).await.0, 200);
    assert_eq!(
        version_of(&app, "/api/prompts/by-slug/renamed").await,
        None,
        "after delete"
    );
    assert_eq!(
        fetch_any(&app, &detail).await.0,
        404,
        "the detail after delete"
    );
}

async fn a_revoked_token_is_refused_at_once_though_its_lookup_was_cached(db: TestDb) {
    let app = spawn_app(db).await;
    until_serving(&app).await;
    let user = app
        .store
        .users()
        .find_by_email(crate::helpers::ADMIN_EMAIL)
        .await
        .unwrap()
        .unwrap();
    let (token, secret) = app
        .app
        .create_token(user.id(), "short-lived")
        .await
        .unwrap();
    let secret = secrecy::ExposeSecret::expose_secret(&secret).to_string();
    let client = reqwest::Client::new();
    let call = || {
        client
            .get(app.url("/api/prompts"))
            .bearer_auth(&secret)
            .send()
    };
    assert_eq!(call().await.unwrap().status(), 200);
    let counter = QueryCounter::new();
    let res = client
        .get(app.url("/api/prompts/by-slug/none"))
        .bearer_auth(&secret)
        .header("x-request-id", counter.tag())
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 404);
    assert_eq!(
        counter.statements().len(),
        1,
        "the token came from memory: {:?}",
        counter.statements()
    );
    app.app.revoke_token(user.id(), token.id).await.unwrap();
    assert_eq!(call().await.unwrap().status(), 401, "revoked means refused");

    // A password reset revokes every token of the user: the cached test
    // token (used above by `app.api`) goes too.
    assert_eq!(app.get("/api/prompts").await.0, 200);
    app.app
        .set_password(
            crate::helpers::ADMIN_EMAIL,
            secrecy::SecretString::from("a brand new password 123"),
        )
        .await
        .unwrap();
    assert_eq!(
        app.get("/api/prompts").await.0,
        401,
        "after a password reset"
    );
}

/// Reads SSE events (`event`, `id`, `data`) off a response, with a deadline.
struct Events {
    res: reqwest::Response,
    buf: String,
}

impl Events {
    async fn next(&mut self) -> (String, String, Value) {
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            if let Some(end) = self.buf.find("\n\n") {
                let block: String = self.buf.drain(..end + 2).collect();
                let (mut event, mut id, mut data) = (String::new(), String::new(), String::new());
                for line in block.lines() {
                    if let Some(v) = line.strip_prefix("event:") {
                        event = v.trim().to_owned();
                    } else if let Some(v) = line.strip_prefix("id:") {
                        id = v.trim().to_owned();
                    } else if let Some(v) = line.strip_prefix("data:") {
                        data.push_str(v.trim());
                    }
                }
                if event.is_empty() {
                    continue; // a heartbeat comment
                }
                return (event, id, serde_json::from_str(&data).unwrap());
            }
            let left = deadline.saturating_duration_since(Instant::now());
            let chunk = tokio::time::timeout(left, self.res.chunk())
                .await
                .expect("an event in time")
                .unwrap()
                .expect("the stream is open");
            self.buf.push_str(std::str::from_utf8(&chunk).unwrap());
        }
    }

    /// Nothing arrives for a while.
    async fn quiet(&mut self) -> bool {
        tokio::time::timeout(Duration::from_millis(300), self.res.chunk())
            .await
            .is_err()
    }
}

async fn watch(app: &TestApp, path: &str, last: Option<&str>) -> Events {
    let mut req = app.api.get(app.url(path));
    if let Some(id) = last {
        req = req.header("last-event-id", id);
    }
    let res = req.send().await.unwrap();
    assert_eq!(res.status(), 200);
    assert_eq!(res.headers()["content-type"], "text/event-stream");
    Events {
        res,
        buf: String::new(),
    }
}

async fn the_watch_stream_sends_the_etag_then_each_change_and_resumes_with_last_event_id(
    db: TestDb,
) {
    let app = spawn_app(db).await;
    until_serving(&app).await;
    let p = app.create_prompt("Watched", Some("v1")).await;
    let id = p["id"].as_str().unwrap().to_owned();
    let path = "/api/prompts/by-slug/watched/watch?label=current";
    let (_, _, etag1) = fetch(&app, "/api/prompts/by-slug/watched").await;

    let mut events = watch(&app, path, None).await;
    let (event, event_id, data) = events.next().await;
    assert_eq!(
        (event.as_str(), data["version"].as_i64()),
        ("prompt", Some(1))
    );
    assert_eq!(event_id, etag1, "the id is the ETag by-slug answers with");
    assert!(events.quiet().await, "nothing while nothing changes");

    let (s, _) = app
        .post(
            &format!("/api/prompts/{id}/versions"),
            json!({ "content": "v2" }),
        )
        .await;
    assert_eq!(s, 201);
    let (_, event_id, data) = events.next().await;
    assert_eq!(data["version"].as_i64(), Some(2));
    let (_, _, etag2) = fetch(&app, "/api/prompts/by-slug/watched").await;
    assert_eq!(event_id, etag2);

    // A client that resumes knowing the current ETag gets only news…
    let mut resumed = watch(&app, path, Some(&etag2)).await;
    assert!(resumed.quiet().await, "no event for what the client has");
    // … and one that resumes with an older one gets the current at once.
    let mut behind = watch(&app, path, Some(&etag1)).await;
    assert_eq!(behind.next().await.2["version"].as_i64(), Some(2));

    app.delete(&format!("/api/prompts/{id}")).await;
    let (_, event_id, data) = resumed.next().await;
    assert_eq!(
        (event_id.as_str(), &data["etag"]),
        ("", &Value::Null),
        "gone"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_idle_watch_stream_gets_heartbeats() {
    let web = promptrefine_web::WebConfig {
        watch_heartbeat: Duration::from_millis(100),
        ..promptrefine_web::WebConfig::default()
    };
    let app = crate::helpers::spawn_app_with_web(TestDb::sqlite(), web).await;
    app.create_prompt("Quiet", Some("v1")).await;
    let mut events = watch(&app, "/api/prompts/by-slug/quiet/watch", None).await;
    events.next().await;
    let deadline = Instant::now() + Duration::from_secs(5);
    while !events.buf.contains(": heartbeat\n\n") {
        assert!(Instant::now() < deadline, "no heartbeat: {:?}", events.buf);
        let chunk = tokio::time::timeout(Duration::from_secs(1), events.res.chunk())
            .await
            .expect("a heartbeat in time")
            .unwrap()
            .expect("the stream is open");
        events.buf.push_str(std::str::from_utf8(&chunk).unwrap());
    }
}

// PostgreSQL only: replicas share one database.

async fn postgres_pair() -> Option<(TestApp, TestApp)> {
    let db = TestDb::postgres().await?;
    let a = spawn_app(db).await;
    let b = spawn_replica(&a).await;
    until_serving(&a).await;
    until_serving(&b).await;
    Some((a, b))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_replicas_on_one_postgres_see_each_others_writes_at_once() {
    let Some((a, b)) = postgres_pair().await else {
        return;
    };
    let p = a.create_prompt("Shared", Some("v1")).await;
    let id = p["id"].as_str().unwrap().to_owned();
    let path = "/api/prompts/by-slug/shared";
    assert_eq!(version_of(&b, path).await, Some(1), "b caches v1");
    assert_eq!(version_of(&b, path).await, Some(1));
    let (s, _) = a
        .post(
            &format!("/api/prompts/{id}/versions"),
            json!({ "content": "v2" }),
        )
        .await;
    assert_eq!(s, 201);
    // The note is delivered after the commit, asynchronously: allow it the
    // time a notification takes, and no more than that.
    let start = Instant::now();
    while version_of(&b, path).await != Some(2) {
        assert!(
            start.elapsed() < Duration::from_millis(500),
            "b still serves v1"
        );
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    // A token revoked through a is refused by b, whose lookup was cached.
    let user = a
        .store
        .users()
        .find_by_email(crate::helpers::ADMIN_EMAIL)
        .await
        .unwrap()
        .unwrap();
    let (token, secret) = a.app.create_token(user.id(), "replicated").await.unwrap();
    let secret = secrecy::ExposeSecret::expose_secret(&secret).to_string();
    let on_b = || {
        reqwest::Client::new()
            .get(b.url("/api/prompts"))
            .bearer_auth(&secret)
            .send()
    };
    assert_eq!(on_b().await.unwrap().status(), 200);
    a.app.revoke_token(user.id(), token.id).await.unwrap();
    let start = Instant::now();
    while on_b().await.unwrap().status() != 401 {
        assert!(
            start.elapsed() < Duration::from_millis(500),
            "b still accepts the token"
        );
        tokio::time::sleep(Duration::from_millis(5)).await;
    }

    // And the other way round.
    let (s, _) = b
        .post(
            &format!("/api/prompts/{id}/versions"),
            json!({ "content": "v3" }),
        )
        .await;
    assert_eq!(s, 201);
    let start = Instant::now();
    while version_of(&a, path).await != Some(3) {
        assert!(
            start.elapsed() < Duration::from_millis(500),
            "a still serves v2"
        );
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_killed_listener_serves_no_stale_answer_and_the_cache_recovers() {
    let Some((a, b)) = postgres_pair().await else {
        return;
    };
    let p = a.create_prompt("Deaf", Some("v1")).await;
    let id = p["id"].as_str().unwrap().to_owned();
    let path = "/api/prompts/by-slug/deaf";
    assert_eq!(version_of(&b, path).await, Some(1), "b caches v1");

    // Both replicas' delivery listeners are cut.
    let killed: i64 = sqlx::query_scalar(
        "select count(pg_terminate_backend(pid)) from pg_stat_activity
         where datname = current_database() and query ilike 'listen%promptrefine_delivery%'",
    )
    .fetch_one(match b.store.backend() {
        promptrefine_store::Backend::Postgres(pool) => pool,
        promptrefine_store::Backend::Sqlite { .. } => unreachable!("a PostgreSQL test"),
    })
    .await
    .unwrap();
    assert_eq!(killed, 2, "one listener per replica");
    // The write lands while b may not have heard anything: it must not
    // answer v1 from memory, whether it is deaf or back already.
    let (s, _) = a
        .post(
            &format!("/api/prompts/{id}/versions"),
            json!({ "content": "v2" }),
        )
        .await;
    assert_eq!(s, 201);
    tokio::time::sleep(Duration::from_millis(50)).await;
    assert_eq!(version_of(&b, path).await, Some(2), "no stale answer");

    // Recovered: serving again, and hits make no query.
    until_serving(&b).await;
    let start = Instant::now();
    loop {
        version_of(&b, path).await;
        let (res, statements) = counted_get(&b, path, None).await;
        assert_eq!(res.status(), 200);
        if statements.is_empty() {
            break;
        }
        assert!(
            start.elapsed() < Duration::from_secs(10),
            "the cache did not come back"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}
