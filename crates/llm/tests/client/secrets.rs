use promptrefine_llm::{ConfigError, Provider, ProviderConfig};
use promptrefine_mock_openai::{Behavior, MockOpenAi};

use crate::helpers::{KEY, chat, fast_settings, provider, request};

fn assert_no_secret(text: &str) {
    assert!(!text.contains(KEY), "the key leaked: {text}");
    assert!(
        !text.contains("azure-secret-value"),
        "a header value leaked: {text}"
    );
}

#[tokio::test]
async fn the_key_never_appears_in_an_error_even_when_the_upstream_echoes_it() {
    let mock = MockOpenAi::start().await;
    let echoed = format!(
        r#"{{"error":{{"message":"Incorrect API key provided: {KEY}","type":"invalid_request_error","param":null,"code":"invalid_api_key"}}}}"#
    );
    let behaviours = [
        Behavior::Status {
            status: 401,
            body: echoed.clone(),
            retry_after: None,
        },
        Behavior::Status {
            status: 400,
            body: echoed,
            retry_after: None,
        },
        Behavior::Status {
            status: 500,
            body: format!("key {KEY} is broken"),
            retry_after: None,
        },
        Behavior::Status {
            status: 200,
            body: format!(r#"{{"error":"bad key {KEY}"}}"#),
            retry_after: None,
        },
    ];
    for b in behaviours {
        mock.set_default(b);
        for stream in [false, true] {
            let e = chat(&provider(&mock), &request("m", stream))
                .await
                .0
                .unwrap_err();
            assert!(e.message.contains("[redacted]"), "{e}");
            assert_no_secret(&e.to_string());
            assert_no_secret(&format!("{e:?}"));
            assert_no_secret(&format!("{e:#?}"));
        }
    }
}

#[tokio::test]
async fn configs_and_providers_do_not_print_secrets() {
    let config = ProviderConfig {
        name: "azure".into(),
        base_url: "https://example.invalid/openai/v1".into(),
        api_key: Some(KEY.into()),
        models: vec![],
        extra_headers: vec![("api-key".into(), "azure-secret-value".into())],
    };
    assert_no_secret(&format!("{config:?}"));
    let p = Provider::new(config.clone(), fast_settings()).unwrap();
    assert_no_secret(&format!("{p:?}"));

    let bad_key = ProviderConfig {
        api_key: Some(format!("{KEY}\n").repeat(2).into()),
        ..config
    };
    let err = Provider::new(bad_key, fast_settings()).unwrap_err();
    assert_eq!(err, ConfigError::InvalidApiKey);
    assert_no_secret(&format!("{err} {err:?}"));
}

fn status(status: u16, body: String) -> Behavior {
    Behavior::Status {
        status,
        body,
        retry_after: None,
    }
}

#[tokio::test]
async fn a_key_at_the_cut_of_a_long_message_is_still_redacted() {
    let mock = MockOpenAi::start().await;
    // The message is cut at 500 characters; the key straddles the cut.
    for lead in [480, 490, 495, 499] {
        let text = format!("{} {KEY} trailing words", "w".repeat(lead));
        mock.set_default(status(400, text));
        let e = chat(&provider(&mock), &request("m", false))
            .await
            .0
            .unwrap_err();
        assert!(!e.message.contains("sk-test"), "lead {lead}: {}", e.message);
        assert!(e.message.chars().count() <= 501, "{}", e.message.len());
    }
}

#[tokio::test]
async fn a_redirect_names_its_target_without_query_or_credentials() {
    let mock = MockOpenAi::start().await;
    mock.set_default(Behavior::Redirect {
        status: 302,
        location: format!("https://user:hunter2-pass@elsewhere.example/v1/chat?token={KEY}&x=1"),
    });
    let e = chat(&provider(&mock), &request("m", true))
        .await
        .0
        .unwrap_err();
    assert_eq!(e.code, promptrefine_llm::ErrorCode::UpstreamProtocol);
    assert!(
        e.message.contains("https://elsewhere.example/v1/chat"),
        "{}",
        e.message
    );
    assert_no_secret(&e.message);
    assert!(!e.message.contains("token="), "{}", e.message);
    assert!(!e.message.contains("hunter2"), "{}", e.message);
}

#[tokio::test]
async fn secrets_in_the_base_url_and_extra_headers_are_redacted_when_echoed() {
    let mock = MockOpenAi::start().await;
    let query_secret = "qs-0123456789abcdefXYZ";
    let password = "pw-secret-4321";
    let port = mock.base_url();
    let port = port
        .trim_start_matches("http://127.0.0.1:")
        .trim_end_matches("/v1");
    let base = format!(
        "http://someone:{password}@127.0.0.1:{port}/v1?api-version=2024-06-01&sig={query_secret}"
    );
    let p = Provider::new(
        ProviderConfig {
            name: "azure".into(),
            base_url: base,
            api_key: Some(KEY.into()),
            models: vec![],
            extra_headers: vec![("api-key".into(), "azure-secret-value".into())],
        },
        fast_settings(),
    )
    .unwrap();
    assert!(!format!("{p:?}").contains(query_secret), "{p:?}");
    assert!(!format!("{p:?}").contains(password), "{p:?}");
    mock.set_default(status(
        400,
        format!("bad: sig={query_secret} pass={password} header=azure-secret-value v=2024-06-01"),
    ));
    let e = chat(&p, &request("m", false)).await.0.unwrap_err();
    assert_no_secret(&e.message);
    assert!(!e.message.contains(query_secret), "{}", e.message);
    assert!(!e.message.contains(password), "{}", e.message);
    // Not a secret: kept, so the message stays useful.
    assert!(e.message.contains("2024-06-01"), "{}", e.message);
}
