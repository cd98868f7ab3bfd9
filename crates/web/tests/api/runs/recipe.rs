//! The version is the whole recipe (issue 17): every setting reaches the
//! upstream exactly as the version stores it (and nothing when unset), chat
//! bodies with tool calls, tool messages and image parts are rendered and
//! sent, a run keeps the exact body it sent and the answer's metadata, tool
//! calls streamed in pieces are assembled, a replay sends the identical body,
//! bad settings are 422s naming the field, and diffs compare settings value
//! by value. On both backends.

use promptrefine_core::{ChatMessage, Role, RunId, RunStatus};
use promptrefine_store::{NewRun, RunOutcome};
use promptrefine_testkit::mock_openai::{Behavior, MockToolCall};
use promptrefine_testkit::{TestDb, both_backends};
use serde_json::{Value, json};

use super::run;
use crate::helpers::{TEST_API_KEY, TestApp, fields, spawn_app};

both_backends!(
    recipe_every_setting_reaches_the_upstream_exactly_as_the_version_stores_it,
    recipe_unset_settings_send_nothing,
    recipe_chat_bodies_with_tool_calls_tool_messages_and_image_parts_are_rendered_and_sent,
    recipe_streamed_tool_calls_are_assembled_and_stored_with_the_answer_metadata,
    recipe_a_replay_sends_the_identical_stored_body_as_a_new_run,
    recipe_bad_settings_and_messages_are_422s_naming_the_field,
    recipe_every_field_round_trips_through_the_api_and_diffs_name_changed_values,
    recipe_the_run_pages_show_tool_calls_and_the_request_difference,
    recipe_saving_from_the_page_editor_keeps_tool_calls_parts_and_every_setting,
);

/// Settings with every field of the recipe set.
fn full_settings() -> Value {
    json!({
        "model": "gpt-4o-mini",
        "temperature": 0.3,
        "maxTokens": 64,
        "topP": 0.9,
        "stop": ["END"],
        "seed": 11,
        "responseFormat": {"type": "json_schema", "json_schema": {
            "name": "answer", "strict": true,
            "schema": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"], "additionalProperties": false}
        }},
        "tools": [{"type": "function", "function": {
            "name": "get_weather", "description": "Weather for a city",
            "parameters": {"type": "object", "properties": {"city": {"type": "string"}, "unit": {"enum": ["c", "f"]}}, "required": ["city"]},
            "strict": false
        }}],
        "toolChoice": {"type": "function", "function": {"name": "get_weather"}},
        "parallelToolCalls": false,
        "frequencyPenalty": 0.5,
        "presencePenalty": -0.25,
        "logitBias": {"50256": -100, "13": 7},
        "maxCompletionTokens": 128,
        "reasoningEffort": "medium",
        "extra": {"top_k": 40, "provider": {"order": ["a", "b"]}}
    })
}

/// The wire name of each setting, and the stored value it must carry.
fn wire_pairs(settings: &Value) -> Vec<(&'static str, Value)> {
    [
        ("temperature", "temperature"),
        ("max_tokens", "maxTokens"),
        ("top_p", "topP"),
        ("stop", "stop"),
        ("seed", "seed"),
        ("response_format", "responseFormat"),
        ("tools", "tools"),
        ("tool_choice", "toolChoice"),
        ("parallel_tool_calls", "parallelToolCalls"),
        ("frequency_penalty", "frequencyPenalty"),
        ("presence_penalty", "presencePenalty"),
        ("logit_bias", "logitBias"),
        ("max_completion_tokens", "maxCompletionTokens"),
        ("reasoning_effort", "reasoningEffort"),
    ]
    .into_iter()
    .map(|(wire, api)| (wire, settings[api].clone()))
    .collect()
}

async fn prompt_with(app: &TestApp, kind: &str, content: Value, settings: Value) -> String {
    let (status, p) = app
        .post(
            "/api/prompts",
            json!({ "title": "Recipe", "type": kind, "tags": [] }),
        )
        .await;
    assert_eq!(status, 201, "{p}");
    let id = p["data"]["id"].as_str().unwrap().to_string();
    let (status, v) = app
        .post(
            &format!("/api/prompts/{id}/versions"),
            json!({ "content": content, "settings": settings }),
        )
        .await;
    assert_eq!(status, 201, "{v}");
    id
}

fn last_body(app: &TestApp) -> Value {
    app.mock
        .chat_requests()
        .last()
        .expect("a chat request reached the mock")
        .body
        .clone()
}

async fn recipe_every_setting_reaches_the_upstream_exactly_as_the_version_stores_it(db: TestDb) {
    let app = spawn_app(db).await;
    let id = prompt_with(&app, "text", json!("Weather in {{city}}?"), full_settings()).await;
    let r = run(
        &app,
        json!({ "promptId": id, "variables": { "city": "Oslo" } }),
    )
    .await;
    assert_eq!(r["status"], "succeeded", "{r}");

    // What the version stores, read back through the API.
    let (_, v) = app.get(&format!("/api/prompts/{id}/versions/1")).await;
    let stored = &v["data"]["settings"];
    assert_eq!(
        stored,
        &full_settings(),
        "the version stores every field as sent"
    );

    let sent = last_body(&app);
    for (wire, value) in wire_pairs(stored) {
        assert_eq!(sent[wire], value, "{wire} reaches the upstream as stored");
    }
    // `extra` is merged in verbatim.
    assert_eq!(sent["top_k"], 40);
    assert_eq!(sent["provider"], json!({"order": ["a", "b"]}));
    assert_eq!(sent["model"], "gpt-4o-mini");
    assert_eq!(
        sent["messages"],
        json!([{ "role": "user", "content": "Weather in Oslo?" }])
    );
    let mut keys: Vec<&str> = sent
        .as_object()
        .unwrap()
        .keys()
        .map(|k| k.as_str())
        .collect();
    keys.sort_unstable();
    let mut expected: Vec<&str> = wire_pairs(stored).iter().map(|(w, _)| *w).collect();
    expected.extend([
        "model",
        "messages",
        "stream",
        "stream_options",
        "top_k",
        "provider",
    ]);
    expected.sort_unstable();
    assert_eq!(keys, expected, "nothing else is sent");

    // The run stores the exact body it sent, and the key is not in it
    // (it went as a header, which the mock saw).
    assert_eq!(r["requestBody"], sent);
    let request = app.mock.chat_requests().pop().unwrap();
    assert_eq!(
        request.header("authorization"),
        Some(format!("Bearer {TEST_API_KEY}").as_str())
    );
    let rid = r["id"].as_str().unwrap().parse().unwrap();
    let text = app
        .store
        .runs()
        .request_body(rid)
        .await
        .unwrap()
        .expect("the body is stored");
    assert_eq!(serde_json::from_str::<Value>(&text).unwrap(), sent);
    assert!(
        !text.contains(TEST_API_KEY),
        "the API key is never in the stored body"
    );
    let (_, got) = app.get(&format!("/api/test-runs/{rid}")).await;
    assert!(!got.to_string().contains(TEST_API_KEY));

    // A run's params override the version's, field by field, and are sent.
    let r = run(
        &app,
        json!({ "promptId": id, "variables": { "city": "Oslo" },
                "params": { "reasoningEffort": "low", "logitBias": {"1": 2} } }),
    )
    .await;
    assert_eq!(r["status"], "succeeded", "{r}");
    let sent = last_body(&app);
    assert_eq!(sent["reasoning_effort"], "low");
    assert_eq!(sent["logit_bias"], json!({"1": 2}));
    assert_eq!(sent["tools"], stored["tools"]);
}

async fn recipe_unset_settings_send_nothing(db: TestDb) {
    let app = spawn_app(db).await;
    let id = prompt_with(&app, "text", json!("Hi"), json!({ "model": "mock-echo" })).await;
    let r = run(&app, json!({ "promptId": id })).await;
    assert_eq!(r["status"], "succeeded", "{r}");
    let sent = last_body(&app);
    let mut keys: Vec<&str> = sent
        .as_object()
        .unwrap()
        .keys()
        .map(|k| k.as_str())
        .collect();
    keys.sort_unstable();
    assert_eq!(keys, ["messages", "model", "stream", "stream_options"]);
    assert_eq!(r["requestBody"], sent);
}

async fn recipe_chat_bodies_with_tool_calls_tool_messages_and_image_parts_are_rendered_and_sent(
    db: TestDb,
) {
    let app = spawn_app(db).await;
    let few_shot = json!([
        {"role": "system", "content": "You answer with tools."},
        {"role": "user", "content": "Weather in Rome?"},
        {"role": "assistant", "content": null, "tool_calls": [
            {"id": "call_1", "type": "function", "function": {"name": "get_weather", "arguments": "{\"city\":\"Rome\"}"}}
        ]},
        {"role": "tool", "tool_call_id": "call_1", "content": "{\"temp\": 21}"},
        {"role": "user", "content": [
            {"type": "text", "text": "And what is in this picture of {{place}}?"},
            {"type": "image_url", "image_url": {"url": "{{image}}", "detail": "low"}}
        ]}
    ]);
    let id = prompt_with(
        &app,
        "chat",
        few_shot.clone(),
        json!({ "model": "gpt-4o-mini" }),
    )
    .await;
    let (_, p) = app.get(&format!("/api/prompts/{id}")).await;
    assert_eq!(
        p["data"]["currentVersion"]["content"], few_shot,
        "stored as sent"
    );
    assert_eq!(
        p["data"]["currentVersion"]["variables"],
        json!(["place", "image"]),
        "variables in text parts and image URLs are found"
    );
    let image = "data:image/png;base64,iVBORw0KGgo=";
    let r = run(
        &app,
        json!({ "promptId": id, "variables": { "place": "Paris", "image": image } }),
    )
    .await;
    assert_eq!(r["status"], "succeeded", "{r}");
    let mut expected = few_shot.clone();
    expected[4]["content"][0]["text"] = json!("And what is in this picture of Paris?");
    expected[4]["content"][1]["image_url"]["url"] = json!(image);
    assert_eq!(last_body(&app)["messages"], expected);
    assert_eq!(r["input"], expected, "the run keeps the rendered messages");
    // A missing image variable is named like any other.
    let (status, body) = app
        .post(
            "/api/test-runs",
            json!({ "promptId": id, "variables": { "place": "Paris" } }),
        )
        .await;
    assert_eq!(status, 422, "{body}");
    assert_eq!(fields(&body), ["variables.image"]);
}

async fn recipe_streamed_tool_calls_are_assembled_and_stored_with_the_answer_metadata(db: TestDb) {
    let app = spawn_app(db).await;
    let id = prompt_with(&app, "text", json!("Weather?"), full_settings()).await;
    let args_a = r#"{"city": "Paris", "unit": "c", "note": "naïve – ünïcödé"}"#;
    let args_b = r#"{"city":"Oslo"}"#;
    app.mock.enqueue(Behavior::ToolCalls {
        calls: vec![
            MockToolCall::new("call_a", "get_weather", args_a),
            MockToolCall::new("call_b", "get_weather", args_b),
        ],
        // Arguments split into 3-byte pieces, across many chunks.
        piece_len: 3,
    });
    let r = run(&app, json!({ "promptId": id })).await;
    assert_eq!(r["status"], "succeeded", "{r}");
    assert_eq!(r["finishReason"], "tool_calls");
    assert_eq!(
        r["toolCalls"],
        json!([
            {"id": "call_a", "name": "get_weather", "arguments": serde_json::from_str::<Value>(args_a).unwrap()},
            {"id": "call_b", "name": "get_weather", "arguments": {"city": "Oslo"}}
        ])
    );
    assert!(
        r["responseId"]
            .as_str()
            .is_some_and(|id| id.starts_with("chatcmpl-mock-")),
        "{r}"
    );
    assert_eq!(r["responseModel"], "gpt-4o-mini");
    assert_eq!(r["systemFingerprint"], "fp_mock");
    let (_, stored) = app
        .get(&format!("/api/test-runs/{}", r["id"].as_str().unwrap()))
        .await;
    assert_eq!(stored["data"], r, "stored as answered");

    // Non-streamed shapes (a server that ignores `stream`) give the same.
    app.mock.enqueue(Behavior::ToolCalls {
        calls: vec![MockToolCall::new("call_c", "get_weather", "not json")],
        piece_len: 1,
    });
    let r = run(&app, json!({ "promptId": id })).await;
    assert_eq!(
        r["toolCalls"],
        json!([{"id": "call_c", "name": "get_weather", "arguments": "not json"}]),
        "arguments that are not JSON are kept as their text"
    );
    // A plain answer has no tool calls at all.
    let r = run(&app, json!({ "promptId": id, "model": "mock-echo" })).await;
    assert!(r.get("toolCalls").is_none(), "{r}");
}

async fn recipe_a_replay_sends_the_identical_stored_body_as_a_new_run(db: TestDb) {
    let app = spawn_app(db).await;
    let id = prompt_with(&app, "text", json!("Weather in {{city}}?"), full_settings()).await;
    let first = run(
        &app,
        json!({ "promptId": id, "variables": { "city": "Oslo" } }),
    )
    .await;
    let first_id = first["id"].as_str().unwrap();
    let first_sent = app.mock.chat_requests().pop().unwrap().body;

    // The version changes meanwhile: the replay still sends what was sent.
    let (status, _) = app
        .post(
            &format!("/api/prompts/{id}/versions"),
            json!({ "content": "Something else {{city}}", "settings": { "model": "mock-echo", "temperature": 1.5 } }),
        )
        .await;
    assert_eq!(status, 201);

    let (status, replay) = app
        .post(&format!("/api/test-runs/{first_id}/replay"), json!({}))
        .await;
    assert_eq!(status, 201, "{replay}");
    let replay = &replay["data"];
    assert_ne!(replay["id"], first["id"]);
    assert_eq!(replay["replayOf"], first["id"]);
    assert_eq!(replay["status"], "succeeded", "{replay}");
    let requests = app.mock.chat_requests();
    assert_eq!(requests.len(), 2);
    assert_eq!(
        requests[1].body, first_sent,
        "the identical body went out again"
    );
    assert_eq!(replay["requestBody"], first["requestBody"]);
    assert_eq!(replay["versionId"], first["versionId"]);
    let (a, b) = (
        first_id.parse().unwrap(),
        replay["id"].as_str().unwrap().parse().unwrap(),
    );
    let runs = app.store.runs();
    assert_eq!(
        runs.request_body(a).await.unwrap(),
        runs.request_body(b).await.unwrap(),
        "byte for byte"
    );

    // A stored body that no rebuild would produce goes out as it is.
    let custom = r#"{"model":"gpt-4o-mini", "messages":[{"role":"user","content":"stored"}],"stream":true,"stream_options":{"include_usage":true},"x_custom":[1,2]}"#;
    let stored = NewRun {
        id: RunId::new(),
        prompt_id: first["promptId"].as_str().unwrap().parse().unwrap(),
        version_id: first["versionId"].as_str().unwrap().parse().unwrap(),
        provider: "openai".into(),
        model: "gpt-4o-mini".into(),
        params: Default::default(),
        variables: Default::default(),
        input: vec![ChatMessage::new(Role::User, "stored")],
        request_id: None,
        // This server's own instance: its live lease keeps the sweep off.
        owner: app.app.instance_id(),
        cell: None,
        judge_of: None,
        request_body: Some(custom.into()),
        replay_of: None,
    };
    runs.start(&stored).await.unwrap();
    let done = RunOutcome {
        status: Some(RunStatus::Succeeded),
        ..Default::default()
    };
    assert!(runs.finish(stored.id, &done).await.unwrap());
    let (status, again) = app
        .post(&format!("/api/test-runs/{}/replay", stored.id), json!({}))
        .await;
    assert_eq!(status, 201, "{again}");
    assert_eq!(
        app.mock.chat_requests().pop().unwrap().body,
        serde_json::from_str::<Value>(custom).unwrap()
    );
    let again_id = again["data"]["id"].as_str().unwrap().parse().unwrap();
    assert_eq!(
        runs.request_body(again_id).await.unwrap().as_deref(),
        Some(custom)
    );
    assert_eq!(app.mock.chat_requests().len(), 3);

    // Unknown runs are 404s; nothing is sent.
    let (status, _) = app
        .post(
            "/api/test-runs/0190f0f0-0000-7000-8000-000000000000/replay",
            json!({}),
        )
        .await;
    assert_eq!(status, 404);
    assert_eq!(app.mock.chat_requests().len(), 3);
}

async fn recipe_bad_settings_and_messages_are_422s_naming_the_field(db: TestDb) {
    let app = spawn_app(db).await;
    let p = app.create_prompt("Bad", Some("hi")).await;
    let id = p["id"].as_str().unwrap();
    let cases = [
        (
            json!({ "tools": [{"type": "function", "function": {"name": "f", "parameters": {"type": "objekt"}}}] }),
            "settings.tools[0].function.parameters",
        ),
        (
            json!({ "tools": [{"type": "function", "function": {"name": "bad name"}}] }),
            "settings.tools[0].function.name",
        ),
        (json!({ "toolChoice": "always" }), "settings.toolChoice"),
        (
            json!({ "responseFormat": {"type": "json_schema", "json_schema": {"name": "x", "schema": {"required": "city"}}} }),
            "settings.responseFormat.json_schema.schema",
        ),
        (
            json!({ "frequencyPenalty": 3 }),
            "settings.frequencyPenalty",
        ),
        (
            json!({ "presencePenalty": -2.5 }),
            "settings.presencePenalty",
        ),
        (
            json!({ "logitBias": {"x": 1} }),
            "settings.logitBias[\"x\"]",
        ),
        (
            json!({ "maxCompletionTokens": 0 }),
            "settings.maxCompletionTokens",
        ),
        (
            json!({ "reasoningEffort": "extreme" }),
            "settings.reasoningEffort",
        ),
        (
            json!({ "extra": {"model": "other"} }),
            "settings.extra.model",
        ),
        (
            json!({ "extra": {"messages": []} }),
            "settings.extra.messages",
        ),
        (
            json!({ "extra": {"stream": false} }),
            "settings.extra.stream",
        ),
    ];
    for (settings, field) in cases {
        let (status, body) = app
            .post(
                &format!("/api/prompts/{id}/versions"),
                json!({ "content": "hi", "settings": settings }),
            )
            .await;
        assert_eq!(status, 422, "{settings}: {body}");
        assert_eq!(fields(&body), [field], "{settings}: {body}");
    }
    // A type mismatch is the contract's 422 naming the field, never a 500.
    let (status, body) = app
        .post(
            &format!("/api/prompts/{id}/versions"),
            json!({ "content": "hi", "settings": { "parallelToolCalls": "yes" } }),
        )
        .await;
    assert_eq!(status, 422, "{body}");
    assert!(body.to_string().contains("parallelToolCalls"), "{body}");
    // A run's params are checked the same way, before anything is sent.
    let (status, body) = app
        .post(
            "/api/test-runs",
            json!({ "promptId": id, "model": "gpt-4o-mini", "params": { "extra": { "stream": true } } }),
        )
        .await;
    assert_eq!(status, 422, "{body}");
    assert_eq!(fields(&body), ["params.extra.stream"]);
    // A run's toolChoice must name a tool in effect (the version's here).
    let (_, v) = app
        .post(
            &format!("/api/prompts/{id}/versions"),
            json!({ "content": "hi", "settings": { "tools": [{"type": "function", "function": {"name": "a"}}] } }),
        )
        .await;
    assert_eq!(v["data"]["version"], 2, "{v}");
    let (status, body) = app
        .post(
            "/api/test-runs",
            json!({ "promptId": id, "model": "gpt-4o-mini",
                    "params": { "toolChoice": {"type": "function", "function": {"name": "b"}} } }),
        )
        .await;
    assert_eq!(status, 422, "{body}");
    assert_eq!(fields(&body), ["params.toolChoice.function.name"]);
    // Chat messages: a tool message must answer a call.
    let (status, chat) = app
        .post(
            "/api/prompts",
            json!({ "title": "C", "type": "chat", "tags": [] }),
        )
        .await;
    assert_eq!(status, 201);
    let cid = chat["data"]["id"].as_str().unwrap();
    let (status, body) = app
        .post(
            &format!("/api/prompts/{cid}/versions"),
            json!({ "content": [{"role": "user", "content": "x"}, {"role": "tool", "content": "42"}] }),
        )
        .await;
    assert_eq!(status, 422, "{body}");
    assert_eq!(fields(&body), ["content[1].tool_call_id"]);
    assert!(app.mock.chat_requests().is_empty(), "nothing was sent");
}

async fn recipe_every_field_round_trips_through_the_api_and_diffs_name_changed_values(db: TestDb) {
    let app = spawn_app(db).await;
    let id = prompt_with(&app, "text", json!("Weather?"), full_settings()).await;
    let mut changed = full_settings();
    changed["tools"][0]["function"]["parameters"]["properties"]["city"]["type"] = json!("integer");
    changed["extra"]["top_k"] = json!(41);
    changed.as_object_mut().unwrap().remove("seed");
    let (status, v2) = app
        .post(
            &format!("/api/prompts/{id}/versions"),
            json!({ "content": "Weather?", "settings": changed }),
        )
        .await;
    assert_eq!(status, 201, "{v2}");
    assert_eq!(v2["data"]["settings"], changed);
    let (status, diff) = app
        .get(&format!("/api/prompts/{id}/diff?from=1&to=2"))
        .await;
    assert_eq!(status, 200, "{diff}");
    let d = &diff["data"];
    assert_eq!(d["changed"], true);
    assert_eq!(
        d["settingChanges"],
        json!([
            {"path": "extra.top_k", "kind": "changed", "old": 40, "new": 41},
            {"path": "seed", "kind": "removed", "old": 11},
            {"path": "tools[get_weather].function.parameters.properties.city.type", "kind": "changed", "old": "string", "new": "integer"}
        ])
    );
    // The text diff still carries the same settings as lines.
    assert!(d["settings"].as_array().is_some_and(|l| !l.is_empty()));
    // Unchanged settings: no changes by value.
    let (_, same) = app
        .get(&format!("/api/prompts/{id}/diff?from=2&to=2"))
        .await;
    assert_eq!(same["data"]["settingChanges"], json!([]));
}

async fn recipe_the_run_pages_show_tool_calls_and_the_request_difference(db: TestDb) {
    let app = spawn_app(db).await;
    let id = prompt_with(&app, "text", json!("Weather in {{city}}?"), full_settings()).await;
    app.mock.enqueue(Behavior::ToolCalls {
        calls: vec![MockToolCall::new(
            "call_zz9",
            "get_weather",
            r#"{"city":"Lima"}"#,
        )],
        piece_len: 4,
    });
    let a = run(
        &app,
        json!({ "promptId": id, "variables": { "city": "Lima" } }),
    )
    .await;
    let b = run(
        &app,
        json!({ "promptId": id, "variables": { "city": "Quito" }, "params": { "seed": 12 } }),
    )
    .await;
    let browser = app.browser();
    assert_eq!(app.login(&browser).await.status(), 200);
    let get = |path: String| {
        let browser = browser.clone();
        let url = app.url(&path);
        async move {
            let res = browser.get(url).send().await.unwrap();
            assert_eq!(res.status(), 200, "{path}");
            res.text().await.unwrap()
        }
    };
    let html = get(format!("/app/runs/{}", a["id"].as_str().unwrap())).await;
    assert!(html.contains("Tool calls"), "{html:.2000}");
    assert!(html.contains("call_zz9") && html.contains("get_weather"));
    assert!(html.contains("fp_mock"), "the answer's metadata is shown");
    assert!(html.contains("Request sent"));
    let html = get(format!(
        "/app/runs/compare?a={}&b={}",
        a["id"].as_str().unwrap(),
        b["id"].as_str().unwrap()
    ))
    .await;
    assert!(html.contains("<code>seed</code>"), "{html:.3000}");
    assert!(html.contains("<code>messages[0].content</code>"));
}

/// HTML text as the browser reads it (what askama escapes).
fn unescape(s: &str) -> String {
    s.replace("&quot;", "\"")
        .replace("&#34;", "\"")
        .replace("&#39;", "'")
        .replace("&#x27;", "'")
        .replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&amp;", "&")
}

/// Every value that follows `marker` up to the next `end`, unescaped.
fn after_each(html: &str, marker: &str, end: &str) -> Vec<String> {
    html.split(marker)
        .skip(1)
        .map(|rest| unescape(&rest[..rest.find(end).unwrap()]))
        .collect()
}

async fn recipe_saving_from_the_page_editor_keeps_tool_calls_parts_and_every_setting(db: TestDb) {
    let app = spawn_app(db).await;
    let few_shot = json!([
        {"role": "system", "content": "You answer with tools."},
        {"role": "user", "content": "Weather in Rome?"},
        {"role": "assistant", "content": null, "tool_calls": [
            {"id": "call_1", "type": "function", "function": {"name": "get_weather", "arguments": "{\"city\":\"Rome\"}"}}
        ]},
        {"role": "tool", "tool_call_id": "call_1", "content": "{\"temp\": 21}"},
        {"role": "user", "content": [
            {"type": "text", "text": "What is in {{place}}?"},
            {"type": "image_url", "image_url": {"url": "{{image}}"}}
        ]}
    ]);
    let id = prompt_with(&app, "chat", few_shot.clone(), full_settings()).await;
    let browser = app.browser();
    assert_eq!(app.login(&browser).await.status(), 200);
    let html = browser
        .get(app.url(&format!("/app/prompts/{id}")))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    // The form as the page renders it (the last message is the blank one
    // to type into), with one edit: the first user message.
    let csrf = after_each(&html, r#"name="csrf" value=""#, "\"")[0].clone();
    let roles: Vec<String> = html
        .split(r#"name="role">"#)
        .skip(1)
        .map(|sel| {
            let sel = &sel[..sel.find("</select>").unwrap()];
            after_each(sel, "<option value=\"", "\"")
                .into_iter()
                .find(|r| sel.contains(&format!("value=\"{r}\" selected")))
                .unwrap()
        })
        .collect();
    let mut contents: Vec<String> = html
        .split(r#"name="content""#)
        .skip(1)
        .map(|t| {
            let t = &t[t.find('>').unwrap() + 1..];
            unescape(&t[..t.find("</textarea>").unwrap()])
        })
        .collect();
    let extras = after_each(&html, r#"name="message_extra" value=""#, "\"");
    assert_eq!(
        (roles.len(), contents.len(), extras.len()),
        (6, 6, 6),
        "{html:.3000}"
    );
    assert_eq!(roles[3], "tool");
    assert_eq!(contents[4], "What is in {{place}}?");
    contents[1] = "Weather in Bern?".into();
    let mut form: Vec<(String, String)> = vec![("csrf".into(), csrf)];
    for i in 0..6 {
        form.push(("role".into(), roles[i].clone()));
        form.push(("content".into(), contents[i].clone()));
        form.push(("message_extra".into(), extras[i].clone()));
    }
    for (name, value) in [
        ("model", "gpt-4o-mini"),
        ("temperature", "0.3"),
        ("max_tokens", "64"),
        ("top_p", "0.9"),
        ("stop", "END"),
        ("note", "edited on the page"),
    ] {
        form.push((name.into(), value.into()));
    }
    let res = browser
        .post(app.url(&format!("/app/prompts/{id}/versions")))
        .header("origin", &app.addr)
        .form(&form)
        .send()
        .await
        .unwrap();
    assert!(
        res.status().is_success() || res.status().is_redirection(),
        "{}",
        res.status()
    );
    let (_, v) = app.get(&format!("/api/prompts/{id}/versions/2")).await;
    let v = &v["data"];
    let mut expected = few_shot;
    expected[1]["content"] = json!("Weather in Bern?");
    assert_eq!(
        v["content"], expected,
        "tool calls, tool messages and parts are kept"
    );
    assert_eq!(v["settings"], full_settings(), "every setting is kept");
}
