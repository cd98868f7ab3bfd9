//! Validation rules for everything a user can submit.
//!
//! The rules live here, not in the HTTP layer, so the JSON API, the HTML forms
//! and the CLI reject exactly the same input with the same words. Each value a
//! user names things with has a newtype whose `parse` is its rule ([`Title`],
//! [`Slug`], [`Tags`], [`LabelName`], [`ModelName`], [`VersionNumber`]); the
//! checks below compose them and push into a [`Violations`] instead of
//! returning early: a form should show every problem at once, not one per
//! round trip. The web layer turns a non-empty `Violations` into a 422 whose
//! `details` are the [`FieldError`]s.
//!
//! A [`FieldError`] names the field as the client sent it — camelCase, with
//! dotted paths and indexes for nested values (`settings.topP`,
//! `content[3].content`, `tags[2]`, `variables["user.name"]`) — and the rule
//! it broke, one of the [`Rule`] codes a client can branch on: `required`,
//! `length`, `characters`, `whitespace`, `format`, `reserved`, `count`,
//! `duplicate`, `size`, `range`, `type` or `oneOf`. The message is for people
//! and may change.
//!
//! Lengths are counted in Unicode scalar values (`char`s) where a person sees
//! the limit, and in UTF-8 bytes where the limit protects storage and
//! providers (bodies and variable values).
//!
//! The check functions do not normalise: where a rule says "after trimming",
//! the caller is expected to store the trimmed value (the newtypes do).
//!
//! The topic modules mirror the store: [`prompts`], [`versions`], [`labels`],
//! plus [`variables`] (renders and runs) and [`accounts`].

pub mod accounts;
pub mod datasets;
pub mod labels;
pub mod prompts;
mod rules;
pub mod settings;
pub mod variables;
pub mod versions;
mod violations;

pub use crate::slug::Slug;
pub use accounts::{email, password, token_name};
pub use datasets::{DatasetName, dataset_description, dataset_filter, item_content};
pub use labels::{LabelName, label_name};
pub use prompts::{Tag, Tags, Title, prompt_filter, slug, tags, title};
pub use settings::settings;
pub use variables::variables;
pub use versions::{ModelName, VersionNumber, content, note};
pub use violations::{AllValid, FieldError, Rule, Violations};

/// The limits the rules enforce, shared with the UI (`maxlength`) and docs.
pub mod limits {
    pub const TITLE_MAX_CHARS: usize = 200;
    pub const SLUG_MAX_CHARS: usize = 100;
    pub const TAGS_MAX: usize = 20;
    pub const TAG_MAX_CHARS: usize = 40;
    /// Total UTF-8 bytes of a body: the template, or all message contents.
    pub const BODY_MAX_BYTES: usize = 256 * 1024;
    pub const CHAT_MESSAGES_MAX: usize = 200;
    pub const NOTE_MAX_CHARS: usize = 2000;
    pub const MODEL_MAX_CHARS: usize = 200;
    pub const STOP_MAX: usize = 4;
    pub const STOP_MAX_CHARS: usize = 200;
    pub const LABEL_MAX_CHARS: usize = 50;
    pub const VARIABLES_MAX: usize = 1000;
    pub const VARIABLE_VALUE_MAX_BYTES: usize = 256 * 1024;
    pub const TOKEN_NAME_MAX_CHARS: usize = 100;
    pub const PASSWORD_MIN_CHARS: usize = 12;
    pub const PASSWORD_MAX_CHARS: usize = 1024;
    pub const EMAIL_MIN_CHARS: usize = 3;
    pub const EMAIL_MAX_CHARS: usize = 254;
    pub const TEMPERATURE_MAX: f64 = 2.0;
    pub const TOP_P_MAX: f64 = 1.0;
    pub const MAX_TOKENS_MAX: u32 = 1_000_000;
    /// Values of `responseFormat.type` that providers understand.
    pub const RESPONSE_FORMAT_TYPES: [&str; 3] = ["text", "json_object", "json_schema"];
    pub const TOOLS_MAX: usize = 128;
    /// A tool's or a response schema's name: `[A-Za-z0-9_-]`, 1–64.
    pub const FUNCTION_NAME_MAX_CHARS: usize = 64;
    pub const TOOL_DESCRIPTION_MAX_CHARS: usize = 4096;
    /// A tool's `parameters` or a response schema, as JSON text.
    pub const SCHEMA_MAX_BYTES: usize = 64 * 1024;
    pub const PENALTY_MAX: f64 = 2.0;
    pub const LOGIT_BIAS_MAX_ENTRIES: usize = 300;
    pub const LOGIT_BIAS_MAX: i64 = 100;
    pub const TOOL_CHOICES: [&str; 3] = ["none", "auto", "required"];
    pub const REASONING_EFFORTS: [&str; 6] = ["none", "minimal", "low", "medium", "high", "xhigh"];
    /// `settings.extra` as JSON text.
    pub const EXTRA_MAX_BYTES: usize = 64 * 1024;
    /// Request keys `settings.extra` may not set: the ones the server owns,
    /// and the ones a named setting sends.
    pub const EXTRA_RESERVED: [&str; 18] = [
        "model",
        "messages",
        "stream",
        "stream_options",
        "temperature",
        "max_tokens",
        "top_p",
        "stop",
        "seed",
        "response_format",
        "tools",
        "tool_choice",
        "parallel_tool_calls",
        "frequency_penalty",
        "presence_penalty",
        "logit_bias",
        "max_completion_tokens",
        "reasoning_effort",
    ];
    pub const DATASET_NAME_MAX_CHARS: usize = 200;
    pub const DATASET_DESCRIPTION_MAX_CHARS: usize = 2000;
    /// Items one `POST /api/datasets/{id}/items` call may add.
    pub const ITEMS_PER_CALL_MAX: usize = 1000;
    /// An item's expected answer and metadata, as JSON text.
    pub const ITEM_EXPECTED_MAX_BYTES: usize = 256 * 1024;
    pub const ITEM_METADATA_MAX_BYTES: usize = 64 * 1024;
    /// A label name that cannot be set because it means "the current version".
    pub const RESERVED_LABEL: &str = "current";
}

#[cfg(test)]
mod tests {
    use super::rules::testing::strings;
    use super::*;
    use crate::domain::{Content, ModelSettings, PromptType};

    #[test]
    fn every_violation_of_a_request_is_reported_at_once() {
        let mut v = Violations::new();
        title(&mut v, "title", "");
        slug(&mut v, "slug", "Bad Slug");
        tags(&mut v, "tags", &strings(&["x", "x"]));
        content(
            &mut v,
            "content",
            &Content::Text(String::new()),
            PromptType::Text,
        );
        settings(
            &mut v,
            "settings",
            &ModelSettings {
                temperature: Some(f64::NAN),
                top_p: Some(2.0),
                ..Default::default()
            },
        );
        let fields: Vec<_> = v
            .iter()
            .map(|e| (e.field.as_str(), e.rule.as_str()))
            .collect();
        assert_eq!(
            fields,
            [
                ("title", "length"),
                ("slug", "format"),
                ("tags[1]", "duplicate"),
                ("content", "required"),
                ("settings.temperature", "range"),
                ("settings.topP", "range"),
            ]
        );
        assert_eq!(v.into_result().unwrap_err().len(), 6);
    }
}
