use promptrefine_llm::ErrorCode;
use promptrefine_mock_openai::MockOpenAi;

use crate::helpers::{KEY, provider};

#[tokio::test]
async fn list_models_returns_the_upstream_ids() {
    let mock = MockOpenAi::start().await;
    let p = provider(&mock);
    assert_eq!(
        p.list_models().await.unwrap(),
        ["mock-echo", "mock-slow", "gpt-4o-mini"]
    );
    mock.set_models(vec!["llama3.2".into(), "qwen2.5".into()]);
    assert_eq!(p.list_models().await.unwrap(), ["llama3.2", "qwen2.5"]);
    let r = &mock.requests()[0];
    assert_eq!((r.method.as_str(), r.path.as_str()), ("GET", "/v1/models"));
    assert_eq!(
        r.header("authorization"),
        Some(format!("Bearer {KEY}").as_str())
    );
    assert_eq!(p.fallback_models(), ["fallback-model"]);
}

#[tokio::test]
async fn a_failing_model_list_is_an_upstream_error() {
    let mock = MockOpenAi::start().await;
    mock.fail_models(true);
    let e = provider(&mock).list_models().await.unwrap_err();
    assert_eq!(e.code, ErrorCode::UpstreamError);
    assert_eq!(e.http_status, Some(500));
}
