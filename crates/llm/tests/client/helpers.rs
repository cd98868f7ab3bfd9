use std::time::Duration;

use promptrefine_core::{ChatMessage, ModelSettings, Role};
use promptrefine_llm::{
    ChatRequest, ClientSettings, Completion, LlmError, Provider, ProviderConfig,
};
use promptrefine_mock_openai::MockOpenAi;

pub(crate) const KEY: &str = "sk-test-0123456789abcdef";

/// Short timeouts and tiny backoffs, so failure tests are quick.
pub(crate) fn fast_settings() -> ClientSettings {
    ClientSettings {
        connect_timeout: Duration::from_secs(2),
        request_timeout: Duration::from_secs(20),
        first_byte_timeout: Duration::from_secs(5),
        idle_stream_timeout: Duration::from_secs(5),
        max_retries: 2,
        backoff_base: Duration::from_millis(5),
        backoff_max: Duration::from_millis(20),
        ..ClientSettings::default()
    }
}

pub(crate) fn provider_at(base_url: &str, settings: ClientSettings) -> Provider {
    Provider::new(
        ProviderConfig {
            name: "mock".into(),
            base_url: base_url.into(),
            api_key: Some(KEY.into()),
            models: vec!["fallback-model".into()],
            extra_headers: vec![],
        },
        settings,
    )
    .unwrap()
}

pub(crate) fn provider(mock: &MockOpenAi) -> Provider {
    provider_at(&mock.base_url(), fast_settings())
}

pub(crate) fn request(model: &str, stream: bool) -> ChatRequest {
    ChatRequest {
        model: model.into(),
        messages: vec![
            ChatMessage {
                role: Role::System,
                content: "Be brief.".into(),
                ..Default::default()
            },
            ChatMessage {
                role: Role::User,
                content: "hello there world".into(),
                ..Default::default()
            },
        ],
        settings: ModelSettings::default(),
        request_id: None,
        stream,
        raw_body: None,
    }
}

/// Runs a chat and collects the deltas it sent.
pub(crate) async fn chat(
    p: &Provider,
    req: &ChatRequest,
) -> (Result<Completion, LlmError>, Vec<String>) {
    let (tx, mut rx) = tokio::sync::mpsc::channel(16);
    // The channel is bounded: read it while the chat runs.
    let reader = tokio::spawn(async move {
        let mut deltas = Vec::new();
        while let Some(d) = rx.recv().await {
            deltas.push(d);
        }
        deltas
    });
    let result = p.chat(req, Some(tx)).await;
    (result, reader.await.unwrap())
}
