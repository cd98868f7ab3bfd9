use std::time::{Duration, Instant};

use promptrefine_llm::{ClientSettings, ErrorCode};
use promptrefine_mock_openai::{Behavior, MockOpenAi};

use crate::helpers::{chat, fast_settings, provider, provider_at, request};

#[tokio::test]
async fn a_429_with_retry_after_is_waited_out_then_retried() {
    let mock = MockOpenAi::start().await;
    mock.enqueue(Behavior::rate_limited(Some(1)));
    mock.enqueue(Behavior::reply("after the wait"));
    let settings = ClientSettings {
        backoff_base: Duration::from_millis(1),
        backoff_max: Duration::from_secs(5),
        ..fast_settings()
    };
    let started = Instant::now();
    let (result, _) = chat(
        &provider_at(&mock.base_url(), settings),
        &request("m", true),
    )
    .await;
    assert_eq!(result.unwrap().output, "after the wait");
    assert!(
        started.elapsed() >= Duration::from_secs(1),
        "Retry-After: 1 was honoured"
    );
    assert_eq!(mock.chat_requests().len(), 2);
}

#[tokio::test]
async fn retry_after_is_capped_at_backoff_max() {
    let mock = MockOpenAi::start().await;
    mock.enqueue(Behavior::rate_limited(Some(60)));
    mock.enqueue(Behavior::reply("soon"));
    let started = Instant::now();
    let (result, _) = chat(&provider(&mock), &request("m", false)).await;
    assert_eq!(result.unwrap().output, "soon");
    assert!(
        started.elapsed() < Duration::from_secs(30),
        "a 60 s Retry-After was capped"
    );
}

#[tokio::test]
async fn a_429_storm_is_rate_limited_after_max_retries() {
    let mock = MockOpenAi::start().await;
    let (result, _) = chat(&provider(&mock), &request("mock-error-429", true)).await;
    let e = result.unwrap_err();
    assert_eq!(e.code, ErrorCode::RateLimited);
    assert_eq!(e.code.as_str(), "rate_limited");
    assert_eq!(e.http_status, Some(429));
    assert_eq!(e.retry_after, Some(Duration::from_secs(1)));
    assert!(e.message.contains("gave up after 3 attempts"), "{e}");
    assert_eq!(
        mock.chat_requests().len(),
        3,
        "one attempt and max_retries = 2 retries"
    );
}

#[tokio::test]
async fn a_500_is_retried_then_succeeds() {
    let mock = MockOpenAi::start().await;
    mock.enqueue(Behavior::error(500));
    mock.enqueue(Behavior::error(503));
    let (result, _) = chat(&provider(&mock), &request("mock-echo", true)).await;
    assert_eq!(result.unwrap().output, "Echo: hello there world");
    assert_eq!(mock.chat_requests().len(), 3);
}

#[tokio::test]
async fn persistent_500s_are_upstream_error() {
    let mock = MockOpenAi::start().await;
    let settings = ClientSettings {
        max_retries: 1,
        ..fast_settings()
    };
    let p = provider_at(&mock.base_url(), settings);
    let (result, _) = chat(&p, &request("mock-error-500", false)).await;
    let e = result.unwrap_err();
    assert_eq!(e.code, ErrorCode::UpstreamError);
    assert_eq!(e.http_status, Some(500));
    assert_eq!(mock.chat_requests().len(), 2);
}

#[tokio::test]
async fn a_connection_dropped_before_any_output_is_retried() {
    let mock = MockOpenAi::start().await;
    mock.enqueue(Behavior::DropAfter { tokens: 2 });
    mock.enqueue(Behavior::reply("second try"));
    let (result, _) = chat(&provider(&mock), &request("m", false)).await;
    assert_eq!(result.unwrap().output, "second try");
    assert_eq!(mock.chat_requests().len(), 2);
}

#[tokio::test]
async fn no_retries_when_max_retries_is_zero() {
    let mock = MockOpenAi::start().await;
    let settings = ClientSettings {
        max_retries: 0,
        ..fast_settings()
    };
    let p = provider_at(&mock.base_url(), settings);
    let (result, _) = chat(&p, &request("mock-error-503", false)).await;
    let e = result.unwrap_err();
    assert_eq!(e.code, ErrorCode::UpstreamError);
    assert!(!e.message.contains("gave up"), "{e}");
    assert_eq!(mock.chat_requests().len(), 1);
}

#[tokio::test]
async fn waiting_to_retry_never_passes_the_request_timeout() {
    let mock = MockOpenAi::start().await;
    mock.set_default(Behavior::rate_limited(Some(60)));
    let settings = ClientSettings {
        request_timeout: Duration::from_secs(2),
        backoff_max: Duration::from_secs(60),
        ..fast_settings()
    };
    let p = provider_at(&mock.base_url(), settings);
    let started = Instant::now();
    // A 60 s wait would pass the 2 s budget: give up at once.
    let (result, _) = chat(&p, &request("m", false)).await;
    assert_eq!(result.unwrap_err().code, ErrorCode::RateLimited);
    assert!(started.elapsed() < Duration::from_secs(10));
    assert_eq!(mock.chat_requests().len(), 1);
}
