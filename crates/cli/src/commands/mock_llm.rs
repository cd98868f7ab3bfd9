//! `mock-llm`: the mock OpenAI-compatible server from the test kit, in the
//! foreground, so demos and benchmarks can run without an API key or cost.
//! Point a provider at the printed base URL; magic model names
//! (`mock-slow`, `mock-error-429`, …) script faults.

use std::process::ExitCode;

use anyhow::Context;
use tokio::net::TcpListener;

use crate::cli::MockLlmArgs;

pub async fn run(args: &MockLlmArgs) -> anyhow::Result<ExitCode> {
    let host = if args.host.contains(':') && !args.host.starts_with('[') {
        format!("[{}]", args.host)
    } else {
        args.host.clone()
    };
    let listener = TcpListener::bind(format!("{host}:{}", args.port))
        .await
        .with_context(|| format!("cannot listen on {host}:{}", args.port))?;
    let addr = listener.local_addr()?;
    println!(
        "mock OpenAI server at http://{addr}/v1 (OPENAI_BASE_URL=http://{addr}/v1); Ctrl-C stops it"
    );
    tracing::info!("mock OpenAI server listening on http://{addr}/v1");
    promptrefine_mock_openai::serve(listener, promptrefine_web::shutdown_signal()).await?;
    Ok(ExitCode::SUCCESS)
}
