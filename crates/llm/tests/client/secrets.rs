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
