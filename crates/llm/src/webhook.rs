//! The transport of `http` evaluators: POST a JSON body to a URL the server
//! allows, read a JSON answer — bounded in time and size, no redirects (a
//! redirect could leave the allowed host), nothing secret sent.

use std::time::Duration;

use futures::StreamExt;

/// Answers larger than this are an error: an evaluator answers a score.
const ANSWER_MAX_BYTES: usize = 64 * 1024;

/// A client for evaluator endpoints (one per process; it pools connections).
#[derive(Clone, Debug)]
pub struct WebhookClient {
    client: reqwest::Client,
}

impl WebhookClient {
    pub fn new() -> Result<WebhookClient, String> {
        let client = reqwest::Client::builder()
            .connect_timeout(Duration::from_secs(5))
            .redirect(reqwest::redirect::Policy::none())
            .user_agent(concat!("promptrefine/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| e.to_string())?;
        Ok(WebhookClient { client })
    }

    /// POSTs `body` and answers the response text, or why there is none
    /// (a sentence for the score's `error`: timeout, status, size).
    pub async fn post_json(
        &self,
        url: &str,
        body: &serde_json::Value,
        timeout: Duration,
    ) -> Result<String, String> {
        let call = async {
            let response = self
                .client
                .post(url)
                .json(body)
                .send()
                .await
                .map_err(|e| describe(&e))?;
            let status = response.status();
            if !status.is_success() {
                return Err(format!("the evaluator answered HTTP {}", status.as_u16()));
            }
            let mut text = Vec::new();
            let mut stream = response.bytes_stream();
            while let Some(chunk) = stream.next().await {
                let chunk = chunk.map_err(|e| describe(&e))?;
                if text.len() + chunk.len() > ANSWER_MAX_BYTES {
                    return Err(format!(
                        "the evaluator's answer is larger than {ANSWER_MAX_BYTES} bytes"
                    ));
                }
                text.extend_from_slice(&chunk);
            }
            String::from_utf8(text).map_err(|_| "the evaluator's answer is not UTF-8".to_string())
        };
        match tokio::time::timeout(timeout, call).await {
            Ok(answer) => answer,
            Err(_) => Err(format!(
                "the evaluator did not answer within {} ms",
                timeout.as_millis()
            )),
        }
    }
}

/// A transport error without the URL's query (it may carry a token).
fn describe(e: &reqwest::Error) -> String {
    let what = if e.is_connect() {
        "cannot connect to the evaluator"
    } else if e.is_timeout() {
        "the evaluator timed out"
    } else {
        "the call to the evaluator failed"
    };
    match e.url().map(|u| u.host_str().unwrap_or("").to_owned()) {
        Some(host) if !host.is_empty() => format!("{what} ({host})"),
        _ => what.to_owned(),
    }
}
