use std::time::Duration;

use promptrefine_llm::{ClientSettings, ErrorCode};
use promptrefine_mock_openai::{Behavior, MockOpenAi};

use crate::helpers::{chat, fast_settings, provider, provider_at, request};

#[tokio::test]
async fn a_401_is_auth_failed_and_not_retried() {
    let mock = MockOpenAi::start().await;
    let (result, _) = chat(&provider(&mock), &request("mock-error-401", false)).await;
    let e = result.unwrap_err();
    assert_eq!(e.code, ErrorCode::AuthFailed);
    assert_eq!(e.code.as_str(), "auth_failed");
    assert_eq!(e.http_status, Some(401));
    assert!(e.message.contains("Incorrect API key"), "{e}");
    assert_eq!(mock.chat_requests().len(), 1);
}

#[tokio::test]
async fn a_400_is_invalid_request_with_the_upstream_message() {
    let mock = MockOpenAi::start().await;
    mock.enqueue(Behavior::Status {
        status: 400,
        body: r#"{"error":{"message":"Invalid value for 'temperature': 3 is above 2.","type":"invalid_request_error","param":"temperature","code":null}}"#.into(),
        retry_after: None,
    });
    let (result, _) = chat(&provider(&mock), &request("m", true)).await;
    let e = result.unwrap_err();
    assert_eq!(e.code, ErrorCode::InvalidRequest);
    assert_eq!(e.message, "Invalid value for 'temperature': 3 is above 2.");
    assert_eq!(
        e.to_string(),
        "invalid_request: Invalid value for 'temperature': 3 is above 2."
    );
    assert_eq!(mock.chat_requests().len(), 1);
}

#[tokio::test]
async fn a_404_from_a_wrong_base_url_is_invalid_request() {
    let mock = MockOpenAi::start().await;
    let base = format!("http://{}/v2", mock.addr());
    let (result, _) = chat(&provider_at(&base, fast_settings()), &request("m", false)).await;
    let e = result.unwrap_err();
    assert_eq!(e.code, ErrorCode::InvalidRequest);
    assert_eq!(e.http_status, Some(404));
    assert!(e.message.contains("/v2/chat/completions"), "{e}");
}

#[tokio::test]
async fn an_error_in_plain_text_still_gives_a_message() {
    let mock = MockOpenAi::start().await;
    mock.set_default(Behavior::Status {
        status: 502,
        body: "bad gateway: upstream pool exhausted".into(),
        retry_after: None,
    });
    let (result, _) = chat(&provider(&mock), &request("m", false)).await;
    let e = result.unwrap_err();
    assert_eq!(e.code, ErrorCode::UpstreamError);
    assert!(
        e.message.contains("bad gateway: upstream pool exhausted"),
        "{e}"
    );
}

#[tokio::test]
async fn a_body_that_is_not_json_is_upstream_protocol_and_not_retried() {
    let mock = MockOpenAi::start().await;
    let (result, _) = chat(&provider(&mock), &request("mock-garbage", false)).await;
    let e = result.unwrap_err();
    assert_eq!(e.code, ErrorCode::UpstreamProtocol);
    assert_eq!(e.http_status, None);
    assert_eq!(mock.chat_requests().len(), 1);
}

#[tokio::test]
async fn a_malformed_stream_event_is_upstream_protocol_with_the_partial_output() {
    let mock = MockOpenAi::start().await;
    let (result, deltas) = chat(&provider(&mock), &request("mock-garbage", true)).await;
    let e = result.unwrap_err();
    assert_eq!(e.code, ErrorCode::UpstreamProtocol);
    assert_eq!(e.partial_output, "Hello ");
    assert_eq!(deltas, ["Hello "]);
    assert_eq!(mock.chat_requests().len(), 1);
}

#[tokio::test]
async fn a_connection_dropped_mid_stream_keeps_the_partial_output_and_is_not_retried() {
    let mock = MockOpenAi::start().await;
    let (result, deltas) = chat(&provider(&mock), &request("mock-drop", true)).await;
    let e = result.unwrap_err();
    assert_eq!(e.code, ErrorCode::ConnectionFailed);
    assert_eq!(e.partial_output, "lorem ipsum dolor");
    assert_eq!(deltas.concat(), "lorem ipsum dolor");
    assert_eq!(
        mock.chat_requests().len(),
        1,
        "output had started: no retry"
    );
}

#[tokio::test]
async fn a_server_that_never_answers_is_a_timeout() {
    let mock = MockOpenAi::start().await;
    let settings = ClientSettings {
        first_byte_timeout: Duration::from_millis(300),
        ..fast_settings()
    };
    let p = provider_at(&mock.base_url(), settings);
    let (result, _) = chat(&p, &request("mock-hang", true)).await;
    let e = result.unwrap_err();
    assert_eq!(e.code, ErrorCode::Timeout);
    assert!(e.message.contains("300ms"), "{e}");
    assert_eq!(mock.chat_requests().len(), 1, "timeouts are not retried");
}

#[tokio::test]
async fn a_gap_in_the_stream_longer_than_the_idle_timeout_is_a_timeout() {
    let mock = MockOpenAi::start().await;
    mock.enqueue(Behavior::Stream {
        tokens: 3,
        interval: Duration::from_secs(5),
    });
    let settings = ClientSettings {
        idle_stream_timeout: Duration::from_millis(300),
        ..fast_settings()
    };
    let p = provider_at(&mock.base_url(), settings);
    let (result, deltas) = chat(&p, &request("m", true)).await;
    let e = result.unwrap_err();
    assert_eq!(e.code, ErrorCode::Timeout);
    assert!(e.message.contains("stalled"), "{e}");
    assert_eq!(e.partial_output, "lorem ");
    assert_eq!(deltas, ["lorem "]);
}

#[tokio::test]
async fn a_run_longer_than_the_request_timeout_is_a_timeout() {
    let mock = MockOpenAi::start().await;
    let settings = ClientSettings {
        request_timeout: Duration::from_millis(500),
        ..fast_settings()
    };
    let p = provider_at(&mock.base_url(), settings);
    let (result, _) = chat(&p, &request("mock-stream-100x50ms", true)).await;
    let e = result.unwrap_err();
    assert_eq!(e.code, ErrorCode::Timeout);
    assert!(e.message.contains("did not finish within 500ms"), "{e}");
    assert!(!e.partial_output.is_empty());
}

#[tokio::test]
async fn a_refused_connection_is_connection_failed() {
    // Bind, then free a port: nothing listens there any more.
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let p = provider_at(&format!("http://127.0.0.1:{port}/v1"), fast_settings());
    let (result, _) = chat(&p, &request("m", true)).await;
    let e = result.unwrap_err();
    assert_eq!(e.code, ErrorCode::ConnectionFailed);
    assert!(e.message.contains("gave up after 3 attempts"), "{e}");
    assert!(e.message.contains(&format!("127.0.0.1:{port}")), "{e}");
}

#[tokio::test]
async fn an_upstream_that_streams_forever_is_cut_at_the_output_cap() {
    let mock = MockOpenAi::start().await;
    mock.set_default(Behavior::Forever {
        piece: "é runaway ".into(),
    });
    let settings = ClientSettings {
        max_output_bytes: 10_000,
        ..fast_settings()
    };
    let p = provider_at(&mock.base_url(), settings);
    let (result, deltas) = chat(&p, &request("m", true)).await;
    let e = result.unwrap_err();
    assert_eq!(e.code, ErrorCode::OutputTooLarge, "{e}");
    assert!(e.message.contains("10000 bytes"), "{e}");
    // Kept up to the cap, cut at a character boundary.
    assert!(e.partial_output.len() <= 10_000);
    assert!(e.partial_output.len() > 10_000 - 12);
    assert!(e.partial_output.starts_with("é runaway é"));
    assert_eq!(
        deltas.concat(),
        e.partial_output,
        "the deltas are the partial output"
    );
    assert_eq!(mock.chat_requests().len(), 1, "never retried");
}

#[tokio::test]
async fn an_upstream_that_streams_empty_events_forever_is_cut_at_the_event_cap() {
    let mock = MockOpenAi::start().await;
    mock.set_default(Behavior::Forever { piece: "".into() });
    let settings = ClientSettings {
        max_stream_events: 500,
        ..fast_settings()
    };
    let p = provider_at(&mock.base_url(), settings);
    let e = chat(&p, &request("m", true)).await.0.unwrap_err();
    assert_eq!(e.code, ErrorCode::OutputTooLarge, "{e}");
    assert!(e.message.contains("500 stream events"), "{e}");
}

#[tokio::test]
async fn a_non_streamed_answer_over_the_output_cap_is_cut_too() {
    let mock = MockOpenAi::start().await;
    mock.set_default(Behavior::reply("word ".repeat(1000)));
    let settings = ClientSettings {
        max_output_bytes: 100,
        ..fast_settings()
    };
    let p = provider_at(&mock.base_url(), settings);
    let e = chat(&p, &request("m", false)).await.0.unwrap_err();
    assert_eq!(e.code, ErrorCode::OutputTooLarge, "{e}");
    assert_eq!(e.partial_output, "word ".repeat(20));
}
