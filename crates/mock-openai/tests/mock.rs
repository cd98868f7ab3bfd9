//! The mock over real HTTP: routes, framing, magic model names, scripting,
//! recording.

use std::time::Duration;

use promptrefine_mock_openai::{Behavior, MockOpenAi};
use serde_json::{Value, json};

fn chat_body(model: &str, stream: bool) -> Value {
    json!({
        "model": model,
        "messages": [
            {"role": "system", "content": "Be brief."},
            {"role": "user", "content": "hello there world"}
        ],
        "stream": stream,
        "stream_options": {"include_usage": stream},
    })
}

async fn post(mock: &MockOpenAi, body: &Value) -> reqwest::Response {
    reqwest::Client::new()
        .post(format!("{}/chat/completions", mock.base_url()))
        .json(body)
        .send()
        .await
        .unwrap()
}

/// The `data:` payloads of an event stream, checking its framing on the way.
fn events(text: &str) -> Vec<String> {
    assert!(
        text.ends_with("data: [DONE]\n\n"),
        "stream must end with [DONE]: {text:?}"
    );
    text.split("\n\n")
        .filter(|e| !e.is_empty() && !e.starts_with(':'))
        .map(|e| {
            e.strip_prefix("data: ")
                .unwrap_or_else(|| panic!("not a data event: {e:?}"))
                .to_owned()
        })
        .collect()
}

fn chunks(text: &str) -> Vec<Value> {
    events(text)
        .iter()
        .filter(|e| *e != "[DONE]")
        .map(|e| serde_json::from_str(e).unwrap())
        .collect()
}

fn content(chunks: &[Value]) -> String {
    chunks
        .iter()
        .filter_map(|c| c["choices"][0]["delta"]["content"].as_str())
        .collect()
}

#[tokio::test]
async fn echo_answers_the_last_user_message_with_word_counted_usage() {
    let mock = MockOpenAi::start().await;
    assert!(mock.base_url().starts_with("http://127.0.0.1:") && mock.base_url().ends_with("/v1"));
    let resp = post(&mock, &chat_body("mock-echo", false)).await;
    assert_eq!(resp.status(), 200);
    let v: Value = resp.json().await.unwrap();
    assert_eq!(v["object"], "chat.completion");
    assert_eq!(v["model"], "mock-echo");
    assert_eq!(
        v["choices"][0]["message"]["content"],
        "Echo: hello there world"
    );
    assert_eq!(v["choices"][0]["finish_reason"], "stop");
    assert_eq!(
        v["usage"],
        json!({"prompt_tokens": 5, "completion_tokens": 4, "total_tokens": 9})
    );
}

#[tokio::test]
async fn a_stream_is_framed_as_sse_and_ends_with_a_usage_chunk_and_done() {
    let mock = MockOpenAi::start().await;
    let resp = post(&mock, &chat_body("gpt-4o-mini", true)).await;
    assert_eq!(resp.headers()["content-type"], "text/event-stream");
    let text = resp.text().await.unwrap();
    assert!(text.starts_with(": "), "a comment line comes first");
    let chunks = chunks(&text);
    assert!(
        chunks[..chunks.len() - 1]
            .iter()
            .all(|c| c["object"] == "chat.completion.chunk")
    );
    assert_eq!(content(&chunks), "Echo: hello there world");
    let last = chunks.last().unwrap();
    assert_eq!(last["choices"], json!([]));
    assert_eq!(last["usage"]["completion_tokens"], 4);
    assert_eq!(
        chunks[chunks.len() - 2]["choices"][0]["finish_reason"],
        "stop"
    );
}

#[tokio::test]
async fn usage_is_sent_only_when_asked_and_where_the_behaviour_says() {
    let mock = MockOpenAi::start().await;
    let mut body = chat_body("mock-echo", true);
    body["stream_options"]["include_usage"] = json!(false);
    let text = post(&mock, &body).await.text().await.unwrap();
    assert!(chunks(&text).iter().all(|c| c.get("usage").is_none()));

    let text = post(&mock, &chat_body("mock-no-usage", true))
        .await
        .text()
        .await
        .unwrap();
    assert!(chunks(&text).iter().all(|c| c.get("usage").is_none()));

    let text = post(&mock, &chat_body("mock-usage-in-choice", true))
        .await
        .text()
        .await
        .unwrap();
    let chunks = chunks(&text);
    let last = chunks.last().unwrap();
    assert_eq!(last["choices"][0]["delta"], json!({}));
    assert_eq!(last["usage"]["total_tokens"], 9);

    let v: Value = post(&mock, &chat_body("mock-no-usage", false))
        .await
        .json()
        .await
        .unwrap();
    assert!(v.get("usage").is_none());
}

#[tokio::test]
async fn stream_models_send_n_tokens_and_max_tokens_truncates() {
    let mock = MockOpenAi::start().await;
    let text = post(&mock, &chat_body("mock-stream-4x10ms", true))
        .await
        .text()
        .await
        .unwrap();
    let chunks = chunks(&text);
    assert_eq!(content(&chunks), "lorem ipsum dolor sit");
    assert_eq!(chunks.last().unwrap()["usage"]["completion_tokens"], 4);

    let mut body = chat_body("mock-stream-4x1ms", false);
    body["max_tokens"] = json!(2);
    let v: Value = post(&mock, &body).await.json().await.unwrap();
    assert_eq!(v["choices"][0]["message"]["content"], "lorem ipsum ");
    assert_eq!(v["choices"][0]["finish_reason"], "length");
    assert_eq!(v["usage"]["completion_tokens"], 2);
}

#[tokio::test]
async fn error_models_answer_openai_shaped_errors() {
    let mock = MockOpenAi::start().await;
    for status in [400u16, 401, 429, 500, 503] {
        let resp = post(&mock, &chat_body(&format!("mock-error-{status}"), false)).await;
        assert_eq!(resp.status().as_u16(), status);
        let retry_after = resp
            .headers()
            .get("retry-after")
            .map(|v| v.to_str().unwrap().to_owned());
        assert_eq!(retry_after.as_deref(), (status == 429).then_some("1"));
        let v: Value = resp.json().await.unwrap();
        let e = &v["error"];
        assert!(e["message"].is_string() && e["type"].is_string(), "{v}");
        assert!(e.get("param").is_some() && e.get("code").is_some(), "{v}");
    }
}

#[tokio::test]
async fn garbage_is_not_json_and_not_valid_sse() {
    let mock = MockOpenAi::start().await;
    let text = post(&mock, &chat_body("mock-garbage", false))
        .await
        .text()
        .await
        .unwrap();
    assert!(serde_json::from_str::<Value>(&text).is_err());
    let text = post(&mock, &chat_body("mock-garbage", true))
        .await
        .text()
        .await
        .unwrap();
    let bad = events(&text)
        .into_iter()
        .filter(|e| e != "[DONE]")
        .filter(|e| serde_json::from_str::<Value>(e).is_err())
        .count();
    assert_eq!(bad, 1);
}

#[tokio::test]
async fn drop_cuts_the_stream_without_done() {
    let mock = MockOpenAi::start().await;
    let resp = post(&mock, &chat_body("mock-drop", true)).await;
    assert_eq!(resp.status(), 200);
    let err = resp.text().await.expect_err("the body must break");
    assert!(err.is_body() || err.is_decode(), "{err:?}");
    let resp = post(&mock, &chat_body("mock-drop", false)).await;
    assert!(resp.bytes().await.is_err());
}

#[tokio::test]
async fn hang_never_answers_but_is_recorded_and_ends_at_shutdown() {
    let mock = MockOpenAi::start().await;
    let base = mock.base_url();
    let pending = tokio::spawn(async move {
        reqwest::Client::new()
            .post(format!("{base}/chat/completions"))
            .json(&chat_body("mock-hang", false))
            .send()
            .await
    });
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(!pending.is_finished());
    assert_eq!(mock.chat_requests().len(), 1);
    mock.shutdown().await;
    let outcome = tokio::time::timeout(Duration::from_secs(10), pending).await;
    assert!(outcome.is_ok(), "shutting down must end a hanging request");
}

#[tokio::test]
async fn the_queue_comes_first_then_magic_names_then_the_default() {
    let mock = MockOpenAi::start().await;
    mock.enqueue(Behavior::reply("queued"));
    mock.set_default(Behavior::Reply {
        text: "default".into(),
        prompt_tokens: Some(7),
        completion_tokens: Some(3),
    });
    let answer = |v: Value| {
        v["choices"][0]["message"]["content"]
            .as_str()
            .unwrap()
            .to_owned()
    };
    let v: Value = post(&mock, &chat_body("mock-error-500", false))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(answer(v), "queued");
    let resp = post(&mock, &chat_body("mock-error-500", false)).await;
    assert_eq!(resp.status(), 500);
    let v: Value = post(&mock, &chat_body("mock-echo", false))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(
        v["usage"],
        json!({"prompt_tokens": 7, "completion_tokens": 3, "total_tokens": 10})
    );
    assert_eq!(answer(v), "default");
    mock.reset();
    let v: Value = post(&mock, &chat_body("anything", false))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(answer(v), "Echo: hello there world");
}

#[tokio::test]
async fn delay_and_status_behaviours_compose() {
    let mock = MockOpenAi::start().await;
    mock.enqueue(Behavior::Delay(
        Duration::from_millis(50),
        Box::new(Behavior::Status {
            status: 503,
            body: "upstream overloaded".into(),
            retry_after: None,
        }),
    ));
    let resp = post(&mock, &chat_body("mock-echo", false)).await;
    assert_eq!(resp.status(), 503);
    assert!(
        resp.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/plain")
    );
    assert_eq!(resp.text().await.unwrap(), "upstream overloaded");
}

#[tokio::test]
async fn every_request_is_recorded_with_lowercased_headers() {
    let mock = MockOpenAi::start().await;
    reqwest::Client::new()
        .post(format!("{}/chat/completions", mock.base_url()))
        .header("Authorization", "Bearer sk-x")
        .header("X-Request-Id", "req-1")
        .json(&chat_body("mock-echo", false))
        .send()
        .await
        .unwrap();
    reqwest::get(format!("{}/models", mock.base_url()))
        .await
        .unwrap();
    let all = mock.requests();
    assert_eq!(all.len(), 2);
    let chat = &mock.chat_requests()[0];
    assert_eq!(chat.method, "POST");
    assert_eq!(chat.path, "/v1/chat/completions");
    assert_eq!(chat.header("authorization"), Some("Bearer sk-x"));
    assert!(
        chat.headers
            .iter()
            .any(|(n, v)| n == "x-request-id" && v == "req-1")
    );
    assert_eq!(chat.body["model"], "mock-echo");
    assert_eq!(all[1].path, "/v1/models");
    mock.reset();
    assert!(mock.requests().is_empty());
}

#[tokio::test]
async fn models_are_listed_replaced_and_can_fail() {
    let mock = MockOpenAi::start().await;
    let url = format!("{}/models", mock.base_url());
    let v: Value = reqwest::get(&url).await.unwrap().json().await.unwrap();
    assert_eq!(v["object"], "list");
    let ids: Vec<&str> = v["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, ["mock-echo", "mock-slow", "gpt-4o-mini"]);
    assert_eq!(v["data"][0]["object"], "model");
    mock.set_models(vec!["only".into()]);
    let v: Value = reqwest::get(&url).await.unwrap().json().await.unwrap();
    assert_eq!(v["data"][0]["id"], "only");
    mock.fail_models(true);
    assert_eq!(reqwest::get(&url).await.unwrap().status(), 500);
}

#[tokio::test]
async fn unknown_routes_and_bad_bodies_get_openai_errors() {
    let mock = MockOpenAi::start().await;
    let resp = reqwest::get(format!("{}/nope", mock.base_url()))
        .await
        .unwrap();
    assert_eq!(resp.status(), 404);
    assert!(resp.json::<Value>().await.unwrap()["error"]["message"].is_string());
    let resp = post(&mock, &json!({"messages": []})).await;
    assert_eq!(resp.status(), 400);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_thousand_concurrent_streams_all_finish() {
    let mock = MockOpenAi::start().await;
    let client = reqwest::Client::new();
    let url = format!("{}/chat/completions", mock.base_url());
    let tasks: Vec<_> = (0..1000)
        .map(|_| {
            let (client, url) = (client.clone(), url.clone());
            tokio::spawn(async move {
                let resp = client
                    .post(url)
                    .json(&chat_body("mock-stream-5x50ms", true))
                    .send()
                    .await?;
                resp.text().await
            })
        })
        .collect();
    for t in tasks {
        let text = t.await.unwrap().unwrap();
        assert_eq!(content(&chunks(&text)), "lorem ipsum dolor sit amet");
    }
    assert_eq!(mock.chat_requests().len(), 1000);
}
