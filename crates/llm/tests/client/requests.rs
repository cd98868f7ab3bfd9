use promptrefine_core::{ChatMessage, Role};
use promptrefine_llm::{Provider, ProviderConfig};
use promptrefine_mock_openai::MockOpenAi;
use serde_json::json;

use crate::helpers::{KEY, chat, fast_settings, provider, request};

#[tokio::test]
async fn the_request_carries_model_messages_settings_and_headers() {
    let mock = MockOpenAi::start().await;
    let mut req = request("gpt-4o-mini", true);
    req.messages.push(ChatMessage {
        role: Role::Assistant,
        content: "earlier answer".into(),
        ..Default::default()
    });
    req.settings.max_tokens = Some(50);
    req.settings.temperature = Some(0.25);
    req.settings.top_p = Some(0.9);
    req.settings.stop = Some(vec!["END".into()]);
    req.settings.seed = Some(42);
    req.settings.response_format = Some(json!({"type": "json_object"}));
    req.request_id = Some("0190b6c2-test-request".into());
    chat(&provider(&mock), &req).await.0.unwrap();

    let sent = mock.chat_requests();
    assert_eq!(sent.len(), 1);
    let r = &sent[0];
    assert_eq!(r.method, "POST");
    assert_eq!(r.path, "/v1/chat/completions");
    assert_eq!(r.body["model"], "gpt-4o-mini");
    assert_eq!(
        r.body["messages"],
        json!([
            {"role": "system", "content": "Be brief."},
            {"role": "user", "content": "hello there world"},
            {"role": "assistant", "content": "earlier answer"},
        ])
    );
    assert_eq!(r.body["max_tokens"], 50);
    assert_eq!(r.body["temperature"], 0.25);
    assert_eq!(r.body["top_p"], 0.9);
    assert_eq!(r.body["stop"], json!(["END"]));
    assert_eq!(r.body["seed"], 42);
    assert_eq!(r.body["response_format"], json!({"type": "json_object"}));
    assert_eq!(r.body["stream"], true);
    assert_eq!(r.body["stream_options"], json!({"include_usage": true}));
    assert_eq!(r.header("x-request-id"), Some("0190b6c2-test-request"));
    assert_eq!(
        r.header("authorization"),
        Some(format!("Bearer {KEY}").as_str())
    );
    assert_eq!(r.header("content-type"), Some("application/json"));
}

#[tokio::test]
async fn unset_settings_and_streaming_are_left_out() {
    let mock = MockOpenAi::start().await;
    chat(&provider(&mock), &request("m", false))
        .await
        .0
        .unwrap();
    let body = &mock.chat_requests()[0].body;
    let keys: Vec<&str> = body
        .as_object()
        .unwrap()
        .keys()
        .map(String::as_str)
        .collect();
    assert_eq!(keys, ["messages", "model"]);
    assert_eq!(mock.chat_requests()[0].header("x-request-id"), None);
}

#[tokio::test]
async fn without_a_key_no_authorization_is_sent_and_extra_headers_are() {
    let mock = MockOpenAi::start().await;
    let p = Provider::new(
        ProviderConfig {
            name: "local".into(),
            base_url: format!("{}/", mock.base_url()),
            api_key: Some("   ".into()),
            models: vec![],
            extra_headers: vec![("HTTP-Referer".into(), "https://promptrefine.test".into())],
        },
        fast_settings(),
    )
    .unwrap();
    assert!(!p.has_key());
    assert_eq!(p.name(), "local");
    chat(&p, &request("m", false)).await.0.unwrap();
    let r = &mock.chat_requests()[0];
    assert_eq!(r.header("authorization"), None);
    assert_eq!(r.header("http-referer"), Some("https://promptrefine.test"));
    assert!(provider(&mock).has_key());
}
