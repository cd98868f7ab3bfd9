//! What the mock does with one chat request, and the magic model names that
//! select a behaviour without code.

use std::time::Duration;

/// What the mock does with one `POST /v1/chat/completions`.
///
/// The same behaviour answers a streamed (`"stream": true`) and a non-streamed
/// request, each in its own framing.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Behavior {
    /// Answer `text`. A `None` token count is counted: the words of all
    /// request messages for the prompt, the words of `text` for the completion.
    Reply {
        text: String,
        prompt_tokens: Option<u32>,
        completion_tokens: Option<u32>,
    },
    /// Answer `Echo: ` followed by the content of the last user message.
    Echo,
    /// Stream `tokens` words, `interval` apart (the first one at once). A
    /// non-streamed request waits `tokens × interval`, then answers all of them.
    Stream { tokens: usize, interval: Duration },
    /// Wait, then behave as the inner behaviour.
    Delay(Duration, Box<Behavior>),
    /// Answer this HTTP status with this body (sent as JSON when it parses as
    /// JSON, as plain text otherwise) and an optional `retry-after` header.
    Status {
        status: u16,
        body: String,
        retry_after: Option<u64>,
    },
    /// 200 with a body that is not JSON.
    MalformedJson,
    /// 200 `text/event-stream` with one good chunk, then a data line that is
    /// not JSON, then `[DONE]`.
    MalformedSse,
    /// Stream `tokens` content chunks, then drop the connection without
    /// `[DONE]` (non-streamed: drop in the middle of the JSON body).
    DropAfter { tokens: usize },
    /// Accept the request and never answer (until the mock shuts down).
    Hang,
    /// The inner behaviour, but never send `usage`, even when asked to.
    NoUsage(Box<Behavior>),
    /// Echo, but a streamed answer carries `usage` on its last chunk that has
    /// one choice with an empty `delta` (instead of a chunk with `choices: []`).
    UsageInLastChoiceChunk,
    /// Stream content chunks of `piece` as fast as the client reads, and never
    /// finish (a runaway upstream; the client must stop it). Non-streamed: a
    /// JSON body that never ends.
    Forever { piece: String },
    /// Answer a redirect status (3xx) with this `Location`.
    Redirect { status: u16, location: String },
    /// Answer with these tool calls and `finish_reason: "tool_calls"`, in
    /// OpenAI's chunk shapes when streamed: each call opens with a delta
    /// carrying its `index`, `id`, `type` and `name` and empty `arguments`,
    /// then its arguments follow in pieces of `piece_len` bytes (at most),
    /// one call after the other. Non-streamed: one message with
    /// `content: null` and the whole calls.
    ToolCalls {
        calls: Vec<MockToolCall>,
        piece_len: usize,
    },
}

/// A tool call for [`Behavior::ToolCalls`]; `arguments` is the JSON text.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MockToolCall {
    pub id: String,
    pub name: String,
    pub arguments: String,
}

impl MockToolCall {
    pub fn new(id: &str, name: &str, arguments: &str) -> MockToolCall {
        MockToolCall {
            id: id.into(),
            name: name.into(),
            arguments: arguments.into(),
        }
    }
}

impl Behavior {
    /// Answer `text`, with counted token usage.
    pub fn reply(text: impl Into<String>) -> Behavior {
        Behavior::Reply {
            text: text.into(),
            prompt_tokens: None,
            completion_tokens: None,
        }
    }

    /// An error status with an OpenAI-shaped error body
    /// (`{"error":{"message","type","param","code"}}`); 429 carries
    /// `retry-after: 1`.
    pub fn error(status: u16) -> Behavior {
        let (message, kind, code) = match status {
            400 => (
                "Invalid value for 'messages': the mock was asked to reject this request.",
                "invalid_request_error",
                None,
            ),
            401 => (
                "Incorrect API key provided. You can find your API key at https://platform.openai.com/account/api-keys.",
                "invalid_request_error",
                Some("invalid_api_key"),
            ),
            403 => (
                "You are not allowed to use this model.",
                "invalid_request_error",
                None,
            ),
            404 => (
                "The model does not exist or you do not have access to it.",
                "invalid_request_error",
                Some("model_not_found"),
            ),
            429 => (
                "Rate limit reached for requests. Please try again in 1s.",
                "requests",
                Some("rate_limit_exceeded"),
            ),
            s if s >= 500 => (
                "The server had an error while processing your request. Sorry about that!",
                "server_error",
                None,
            ),
            _ => ("The mock was asked to fail.", "invalid_request_error", None),
        };
        Behavior::Status {
            status,
            body: error_body(message, kind, None, code),
            retry_after: (status == 429).then_some(1),
        }
    }

    /// 429 with an OpenAI-shaped body and `retry-after: secs`.
    pub fn rate_limited(retry_after_secs: Option<u64>) -> Behavior {
        match Behavior::error(429) {
            Behavior::Status { status, body, .. } => Behavior::Status {
                status,
                body,
                retry_after: retry_after_secs,
            },
            other => other,
        }
    }

    /// The behaviour a magic model name selects, if it is one (see the crate
    /// docs). `mock-echo` and every other name select none: the mock then
    /// uses its default behaviour.
    pub fn for_model(model: &str, streaming: bool) -> Option<Behavior> {
        let rest = model.strip_prefix("mock-")?;
        match rest {
            "slow" => Some(Behavior::Stream {
                tokens: 20,
                interval: Duration::from_millis(150),
            }),
            "garbage" if streaming => Some(Behavior::MalformedSse),
            "garbage" => Some(Behavior::MalformedJson),
            "drop" => Some(Behavior::DropAfter { tokens: 3 }),
            "hang" => Some(Behavior::Hang),
            "no-usage" => Some(Behavior::NoUsage(Box::new(Behavior::Echo))),
            "usage-in-choice" => Some(Behavior::UsageInLastChoiceChunk),
            "tool-calls" => Some(Behavior::ToolCalls {
                calls: vec![
                    MockToolCall::new(
                        "call_mock_1",
                        "get_weather",
                        r#"{"city": "Paris", "unit": "celsius"}"#,
                    ),
                    MockToolCall::new("call_mock_2", "get_time", r#"{"zone": "Europe/Paris"}"#),
                ],
                piece_len: 5,
            }),
            "forever" => Some(Behavior::Forever {
                piece: "lorem ipsum ".into(),
            }),
            _ => {
                if let Some(code) = rest.strip_prefix("error-") {
                    let status: u16 = code.parse().ok()?;
                    return (400..=599)
                        .contains(&status)
                        .then(|| Behavior::error(status));
                }
                // mock-stream-{N}x{MS}ms
                let spec = rest.strip_prefix("stream-")?.strip_suffix("ms")?;
                let (n, ms) = spec.split_once('x')?;
                Some(Behavior::Stream {
                    tokens: n.parse().ok()?,
                    interval: Duration::from_millis(ms.parse().ok()?),
                })
            }
        }
    }
}

/// An OpenAI-shaped error body.
pub(crate) fn error_body(
    message: &str,
    kind: &str,
    param: Option<&str>,
    code: Option<&str>,
) -> String {
    serde_json::json!({
        "error": { "message": message, "type": kind, "param": param, "code": code }
    })
    .to_string()
}

/// Splits `text` into the pieces a stream sends: each is a word with the
/// whitespace that follows it (leading whitespace joins the first piece), so
/// the pieces concatenate back to `text` and their number is the word count.
pub(crate) fn tokenize(text: &str) -> Vec<String> {
    let mut pieces = Vec::new();
    let mut current = String::new();
    let mut seen_word = false;
    let mut in_space = false;
    for c in text.chars() {
        if c.is_whitespace() {
            in_space = seen_word;
        } else {
            if in_space {
                pieces.push(std::mem::take(&mut current));
                in_space = false;
            }
            seen_word = true;
        }
        current.push(c);
    }
    if !current.is_empty() {
        match (seen_word, pieces.last_mut()) {
            // Whitespace only: nothing a client would count as a token.
            (false, Some(last)) => last.push_str(&current),
            _ => pieces.push(current),
        }
    }
    pieces
}

/// The deterministic token count the mock reports: whitespace-separated words.
pub fn count_tokens(text: &str) -> u32 {
    u32::try_from(text.split_whitespace().count()).unwrap_or(u32::MAX)
}

const LOREM: [&str; 19] = [
    "lorem",
    "ipsum",
    "dolor",
    "sit",
    "amet",
    "consectetur",
    "adipiscing",
    "elit",
    "sed",
    "do",
    "eiusmod",
    "tempor",
    "incididunt",
    "ut",
    "labore",
    "et",
    "dolore",
    "magna",
    "aliqua",
];

/// The text `Behavior::Stream { tokens: n, .. }` sends: `n` words.
pub fn stream_text(n: usize) -> String {
    (0..n)
        .map(|i| LOREM[i % LOREM.len()])
        .collect::<Vec<_>>()
        .join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pieces_concatenate_back_and_count_words() {
        for text in ["Echo: hello  world\n", "  lead", "one", "", "   ", "a b c"] {
            let pieces = tokenize(text);
            assert_eq!(pieces.concat(), text);
            if count_tokens(text) > 0 {
                assert_eq!(pieces.len() as u32, count_tokens(text));
            }
        }
        assert_eq!(tokenize("a b  c"), vec!["a ", "b  ", "c"]);
        assert_eq!(tokenize("  a b"), vec!["  a ", "b"]);
    }

    #[test]
    fn magic_names_select_behaviours() {
        assert_eq!(Behavior::for_model("mock-echo", false), None);
        assert_eq!(Behavior::for_model("gpt-4o-mini", true), None);
        assert_eq!(
            Behavior::for_model("mock-stream-200x50ms", true),
            Some(Behavior::Stream {
                tokens: 200,
                interval: Duration::from_millis(50)
            })
        );
        assert_eq!(Behavior::for_model("mock-stream-2x", true), None);
        assert_eq!(Behavior::for_model("mock-error-200", true), None);
        assert!(matches!(
            Behavior::for_model("mock-error-429", false),
            Some(Behavior::Status {
                status: 429,
                retry_after: Some(1),
                ..
            })
        ));
        assert_eq!(
            Behavior::for_model("mock-garbage", true),
            Some(Behavior::MalformedSse)
        );
        assert_eq!(
            Behavior::for_model("mock-garbage", false),
            Some(Behavior::MalformedJson)
        );
    }
}
