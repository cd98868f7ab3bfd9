//! Token counts for an answer whose upstream sent no usage (several
//! compatible servers never do, even when asked with
//! `stream_options.include_usage`). A run then stores these counts marked
//! as estimated, never as the upstream's own.
//!
//! * **OpenAI model families tiktoken knows** (`gpt-4o`, `gpt-4.1`, `gpt-5`,
//!   the `o`-series → `o200k_base`; `gpt-4`, `gpt-3.5-turbo` →
//!   `cl100k_base`): the model's own encoding, through `tiktoken-rs`. Its
//!   tables are megabytes of ranks, so each is parsed once, on the first run
//!   that needs it (the crate's `LazyLock` singletons), never at start-up.
//! * **Every other model**: the stated approximation "one token per four
//!   characters" (OpenAI's own rule of thumb for English text, rounded up per
//!   message). Another vendor's tokenizer can differ from it by tens of
//!   percent on code or non-English text.
//!
//! Messages are counted the way OpenAI documents for chat models (the
//! cookbook's `num_tokens_from_messages`): three tokens per message, plus
//! its role and its content, plus three to prime the reply. Estimates are
//! for cost and length at a glance, not for billing.

use promptrefine_core::ChatMessage;
use tiktoken_rs::CoreBPE;
use tiktoken_rs::tokenizer::{Tokenizer, get_tokenizer};

use crate::Usage;

/// Tokens the chat format adds per message (role and separators).
const PER_MESSAGE: i64 = 3;
/// Tokens that prime the assistant's reply.
const REPLY_PRIMING: i64 = 3;

/// How a model's text is counted.
#[derive(Clone, Copy)]
enum Counter {
    Bpe(&'static CoreBPE),
    /// One token per four characters.
    Approximate,
}

impl Counter {
    fn for_model(model: &str) -> Counter {
        // Only the two encodings of the chat models named in the docs; the
        // older completion encodings (p50k, r50k) are not chat models.
        match get_tokenizer(model) {
            Some(Tokenizer::O200kBase) => Counter::Bpe(tiktoken_rs::o200k_base_singleton()),
            Some(Tokenizer::Cl100kBase) => Counter::Bpe(tiktoken_rs::cl100k_base_singleton()),
            _ => Counter::Approximate,
        }
    }

    fn count(self, text: &str) -> i64 {
        match self {
            // Ordinary text: special-token markers a user typed are plain
            // text to the model's API, so they count as such.
            Counter::Bpe(bpe) => i64::try_from(bpe.count_ordinary(text)).unwrap_or(i64::MAX),
            Counter::Approximate => approximate_tokens(text),
        }
    }
}

/// Whether `model`'s text is counted by its own tokenizer (else approximated).
pub fn has_tokenizer(model: &str) -> bool {
    matches!(Counter::for_model(model), Counter::Bpe(_))
}

/// Estimated usage of `model` for `messages` sent and `output` received.
/// CPU work (and, the first time, parsing a table): call it off the async
/// threads for long texts.
pub fn estimate_usage(model: &str, messages: &[ChatMessage], output: &str) -> Usage {
    let counter = Counter::for_model(model);
    let role_tokens = |m: &ChatMessage| match counter {
        Counter::Bpe(_) => counter.count(m.role.as_str()),
        // The approximation has always folded the role into the overhead.
        Counter::Approximate => 0,
    };
    let prompt_tokens = messages
        .iter()
        .map(|m| PER_MESSAGE + role_tokens(m) + counter.count(&m.content))
        .sum::<i64>()
        + REPLY_PRIMING;
    let completion_tokens = counter.count(output);
    Usage {
        prompt_tokens,
        completion_tokens,
        total_tokens: prompt_tokens + completion_tokens,
    }
}

/// Tokens of `text` for `model`.
pub fn text_tokens(model: &str, text: &str) -> i64 {
    Counter::for_model(model).count(text)
}

/// About one token per four characters, rounded up.
pub fn approximate_tokens(text: &str) -> i64 {
    let chars = i64::try_from(text.chars().count()).unwrap_or(i64::MAX);
    chars.saturating_add(3) / 4
}

#[cfg(test)]
mod tests {
    use promptrefine_core::Role;
    use tiktoken_rs::ChatCompletionRequestMessage;

    use super::*;

    const SAMPLE: &str = "PromptRefine counts tokens: naïve café, 東京, `fn main() {}` and 12345.";

    fn m(role: Role, content: &str) -> ChatMessage {
        ChatMessage {
            role,
            content: content.into(),
            ..Default::default()
        }
    }

    #[test]
    fn four_characters_make_about_one_token() {
        assert_eq!(approximate_tokens(""), 0);
        assert_eq!(approximate_tokens("abc"), 1);
        assert_eq!(approximate_tokens("abcd"), 1);
        assert_eq!(approximate_tokens("abcde"), 2);
        // Characters, not bytes.
        assert_eq!(approximate_tokens("éééé"), 1);
    }

    #[test]
    fn a_gpt_4o_text_counts_as_tiktoken_counts_it() {
        let expected = tiktoken_rs::o200k_base()
            .unwrap()
            .encode_ordinary(SAMPLE)
            .len();
        assert_eq!(text_tokens("gpt-4o-mini", SAMPLE), expected as i64);
        assert_eq!(text_tokens("gpt-4o", "hello world"), 2);
        // And not the approximation, which would say otherwise here.
        assert_ne!(text_tokens("gpt-4o", SAMPLE), approximate_tokens(SAMPLE));
    }

    #[test]
    fn gpt_4_and_3_5_use_cl100k_and_o_series_o200k() {
        let cl100k = tiktoken_rs::cl100k_base()
            .unwrap()
            .encode_ordinary(SAMPLE)
            .len() as i64;
        let o200k = tiktoken_rs::o200k_base()
            .unwrap()
            .encode_ordinary(SAMPLE)
            .len() as i64;
        assert_ne!(cl100k, o200k, "the sample tells the encodings apart");
        assert_eq!(text_tokens("gpt-4", SAMPLE), cl100k);
        assert_eq!(text_tokens("gpt-3.5-turbo", SAMPLE), cl100k);
        assert_eq!(text_tokens("o3-mini", SAMPLE), o200k);
    }

    #[test]
    fn chat_messages_count_as_openai_documents() {
        let messages = [
            m(Role::System, "You are a terse assistant."),
            m(Role::User, SAMPLE),
        ];
        let theirs: Vec<ChatCompletionRequestMessage> = messages
            .iter()
            .map(|m| ChatCompletionRequestMessage {
                role: m.role.as_str().into(),
                content: Some(m.content.clone()),
                ..Default::default()
            })
            .collect();
        let expected = tiktoken_rs::num_tokens_from_messages("gpt-4o", &theirs).unwrap();
        let u = estimate_usage("gpt-4o", &messages, "Sure.");
        assert_eq!(u.prompt_tokens, expected as i64);
        assert_eq!(u.completion_tokens, text_tokens("gpt-4o", "Sure."));
        assert_eq!(u.total_tokens, u.prompt_tokens + u.completion_tokens);
    }

    #[test]
    fn an_unknown_model_falls_back_to_the_approximation() {
        assert!(!has_tokenizer("llama3.1:8b"));
        assert!(has_tokenizer("gpt-4o-mini"));
        assert_eq!(
            text_tokens("llama3.1:8b", SAMPLE),
            approximate_tokens(SAMPLE)
        );
        let u = estimate_usage(
            "mock-echo",
            &[m(Role::User, "12345678"), m(Role::User, "")],
            "abcdefgh",
        );
        assert_eq!(u.prompt_tokens, (3 + 2) + 3 + 3);
        assert_eq!(u.completion_tokens, 2);
        assert_eq!(u.total_tokens, u.prompt_tokens + u.completion_tokens);
    }
}
