use std::time::Duration;

use promptrefine_llm::{ErrorCode, Usage};
use promptrefine_mock_openai::{Behavior, MockOpenAi};

use crate::helpers::{chat, provider, request};

#[tokio::test]
async fn a_non_streamed_answer_carries_text_usage_and_id() {
    let mock = MockOpenAi::start().await;
    let (result, deltas) = chat(&provider(&mock), &request("mock-echo", false)).await;
    let c = result.unwrap();
    assert_eq!(c.output, "Echo: hello there world");
    assert_eq!(c.finish_reason.as_deref(), Some("stop"));
    assert_eq!(
        c.usage,
        Some(Usage {
            prompt_tokens: 5,
            completion_tokens: 4,
            total_tokens: 9
        })
    );
    assert!(c.upstream_id.unwrap().starts_with("chatcmpl-"));
    assert_eq!(c.ttft_ms, None);
    assert!(c.latency_ms >= 0);
    assert_eq!(
        deltas,
        ["Echo: hello there world"],
        "the whole output is one delta"
    );
}

#[tokio::test]
async fn a_streamed_answer_sends_deltas_in_order_as_they_arrive() {
    let mock = MockOpenAi::start().await;
    mock.enqueue(Behavior::Stream {
        tokens: 5,
        interval: Duration::from_millis(100),
    });
    let p = provider(&mock);
    let (tx, mut rx) = tokio::sync::mpsc::channel(16);
    let run = tokio::spawn(async move { p.chat(&request("m", true), Some(tx)).await });
    let first = rx.recv().await.unwrap();
    assert_eq!(first, "lorem ");
    // The other four tokens are still 400 ms away: the first was not buffered.
    assert!(
        !run.is_finished(),
        "a delta must arrive before the stream ends"
    );
    let c = run.await.unwrap().unwrap();
    let mut deltas = vec![first];
    while let Ok(d) = rx.try_recv() {
        deltas.push(d);
    }
    assert_eq!(deltas, ["lorem ", "ipsum ", "dolor ", "sit ", "amet"]);
    assert_eq!(c.output, "lorem ipsum dolor sit amet");
    assert_eq!(c.usage.unwrap().completion_tokens, 5);
    let ttft = c.ttft_ms.expect("ttft is measured when streaming");
    assert!(ttft <= c.latency_ms, "{ttft} > {}", c.latency_ms);
    assert!(
        c.latency_ms >= 400,
        "five tokens 100 ms apart take 400 ms at least"
    );
    assert_eq!(c.finish_reason.as_deref(), Some("stop"));
}

#[tokio::test]
async fn usage_on_a_final_chunk_with_no_choices_is_recorded() {
    let mock = MockOpenAi::start().await;
    let (result, _) = chat(&provider(&mock), &request("mock-echo", true)).await;
    let c = result.unwrap();
    assert_eq!(c.output, "Echo: hello there world");
    assert_eq!(c.usage.unwrap().total_tokens, 9);
}

#[tokio::test]
async fn usage_on_a_chunk_with_one_empty_choice_is_recorded() {
    let mock = MockOpenAi::start().await;
    mock.enqueue(Behavior::UsageInLastChoiceChunk);
    let (result, _) = chat(&provider(&mock), &request("m", true)).await;
    let c = result.unwrap();
    assert_eq!(c.output, "Echo: hello there world");
    assert_eq!(c.usage.unwrap().prompt_tokens, 5);
    assert_eq!(c.finish_reason.as_deref(), Some("stop"));
}

#[tokio::test]
async fn a_stream_without_usage_succeeds_without_usage() {
    let mock = MockOpenAi::start().await;
    let (result, _) = chat(&provider(&mock), &request("mock-no-usage", true)).await;
    let c = result.unwrap();
    assert_eq!(c.output, "Echo: hello there world");
    assert_eq!(c.usage, None);
    let (result, _) = chat(&provider(&mock), &request("mock-no-usage", false)).await;
    assert_eq!(result.unwrap().usage, None);
}

#[tokio::test]
async fn a_server_that_ignores_stream_true_still_answers() {
    let mock = MockOpenAi::start().await;
    let body = r#"{"id":"x1","object":"chat.completion","choices":[{"index":0,"message":{"role":"assistant","content":"all at once"},"finish_reason":"stop"}]}"#;
    mock.enqueue(Behavior::Status {
        status: 200,
        body: body.into(),
        retry_after: None,
    });
    let (result, deltas) = chat(&provider(&mock), &request("m", true)).await;
    let c = result.unwrap();
    assert_eq!(c.output, "all at once");
    assert_eq!(deltas, ["all at once"]);
    assert_eq!(c.upstream_id.as_deref(), Some("x1"));
}

#[tokio::test]
async fn max_tokens_cuts_the_answer_with_finish_reason_length() {
    let mock = MockOpenAi::start().await;
    let mut req = request("mock-stream-10x1ms", true);
    req.settings.max_tokens = Some(3);
    let (result, _) = chat(&provider(&mock), &req).await;
    let c = result.unwrap();
    assert_eq!(c.output, "lorem ipsum dolor ");
    assert_eq!(c.finish_reason.as_deref(), Some("length"));
}

#[tokio::test]
async fn a_200_whose_body_is_an_error_object_is_an_upstream_error() {
    let mock = MockOpenAi::start().await;
    mock.set_default(Behavior::Status {
        status: 200,
        body: r#"{"error":{"message":"model overloaded"}}"#.into(),
        retry_after: None,
    });
    let (result, _) = chat(&provider(&mock), &request("m", false)).await;
    let e = result.unwrap_err();
    assert_eq!(e.code, ErrorCode::UpstreamError);
    assert!(e.message.contains("model overloaded"), "{e}");
}
