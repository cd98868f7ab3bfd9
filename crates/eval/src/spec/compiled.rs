//! A pattern or a schema together with its compiled form, so a spec is
//! compiled once when parsed and not once per cell. Equality is on the
//! source text, which is what a stored spec is.

use std::fmt;

use serde_json::Value;

/// A `regex` evaluator's pattern, compiled by [`regex::RegexBuilder`] with
/// [`super::REGEX_SIZE_LIMIT`]. The `regex` crate matches in linear time,
/// so a pattern cannot make scoring hang.
#[derive(Clone)]
pub struct CompiledRegex {
    pub(crate) regex: regex::Regex,
}

impl CompiledRegex {
    /// The pattern as the user wrote it.
    pub fn as_str(&self) -> &str {
        self.regex.as_str()
    }

    pub fn regex(&self) -> &regex::Regex {
        &self.regex
    }
}

impl PartialEq for CompiledRegex {
    fn eq(&self, other: &Self) -> bool {
        self.as_str() == other.as_str()
    }
}

impl fmt::Debug for CompiledRegex {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("CompiledRegex")
            .field(&self.as_str())
            .finish()
    }
}

/// A `json_schema` evaluator's schema, checked against its meta-schema and
/// compiled when parsed. The validator was built without any way to fetch a
/// remote or file `$ref` (the crate is built without those features), and
/// with the linear-time `regex` engine for `pattern` keywords.
#[derive(Clone)]
pub struct CompiledSchema {
    pub(crate) source: Value,
    pub(crate) validator: jsonschema::Validator,
}

impl CompiledSchema {
    /// The schema as the user wrote it.
    pub fn source(&self) -> &Value {
        &self.source
    }

    pub fn validator(&self) -> &jsonschema::Validator {
        &self.validator
    }
}

impl PartialEq for CompiledSchema {
    fn eq(&self, other: &Self) -> bool {
        self.source == other.source
    }
}

impl fmt::Debug for CompiledSchema {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("CompiledSchema").field(&self.source).finish()
    }
}
