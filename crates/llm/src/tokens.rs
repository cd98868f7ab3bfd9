//! Token counts for an answer whose upstream sent no usage (several
//! compatible servers never do, even when asked with
//! `stream_options.include_usage`). A run then stores these counts marked
//! as estimated, never as the upstream's own.
//!
//! The estimate is the stated approximation "one token per four characters"
//! (OpenAI's own rule of thumb for English text, rounded up per message),
//! plus the chat format's overhead of OpenAI's documented counting recipe:
//! three tokens per message and three to prime the reply. It is meant for
//! cost and length at a glance, not for billing; a model's own tokenizer can
//! differ by tens of percent on code or non-English text.

use promptrefine_core::ChatMessage;

use crate::Usage;

/// Tokens the chat format adds per message (role and separators).
const PER_MESSAGE: i64 = 3;
/// Tokens that prime the assistant's reply.
const REPLY_PRIMING: i64 = 3;

/// Estimated usage for `messages` sent and `output` received.
pub fn estimate_usage(messages: &[ChatMessage], output: &str) -> Usage {
    let prompt_tokens = messages
        .iter()
        .map(|m| PER_MESSAGE + text_tokens(&m.content))
        .sum::<i64>()
        + REPLY_PRIMING;
    let completion_tokens = text_tokens(output);
    Usage {
        prompt_tokens,
        completion_tokens,
        total_tokens: prompt_tokens + completion_tokens,
    }
}

/// About one token per four characters, rounded up.
pub fn text_tokens(text: &str) -> i64 {
    let chars = i64::try_from(text.chars().count()).unwrap_or(i64::MAX);
    chars.saturating_add(3) / 4
}

#[cfg(test)]
mod tests {
    use promptrefine_core::Role;

    use super::*;

    #[test]
    fn four_characters_make_about_one_token() {
        assert_eq!(text_tokens(""), 0);
        assert_eq!(text_tokens("abc"), 1);
        assert_eq!(text_tokens("abcd"), 1);
        assert_eq!(text_tokens("abcde"), 2);
        // Characters, not bytes.
        assert_eq!(text_tokens("éééé"), 1);
    }

    #[test]
    fn messages_add_the_chat_format_overhead() {
        let m = |content: &str| ChatMessage {
            role: Role::User,
            content: content.into(),
        };
        let u = estimate_usage(&[m("12345678"), m("")], "abcdefgh");
        assert_eq!(u.prompt_tokens, (3 + 2) + 3 + 3);
        assert_eq!(u.completion_tokens, 2);
        assert_eq!(u.total_tokens, u.prompt_tokens + u.completion_tokens);
    }
}
