//! [`FieldError`], the one set of [`Rule`] codes, and [`Violations`], the list
//! a check pushes into so a form shows every problem at once.

use std::fmt;

use serde::{Deserialize, Serialize};

/// The stable words a client can branch on. One list for the whole product:
/// the API, the pages and the CLI name a broken rule with these and no others.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Rule {
    Required,
    Length,
    Characters,
    Whitespace,
    Format,
    Reserved,
    Count,
    Duplicate,
    Size,
    Range,
    Type,
    OneOf,
}

impl Rule {
    pub const ALL: [Rule; 12] = [
        Rule::Required,
        Rule::Length,
        Rule::Characters,
        Rule::Whitespace,
        Rule::Format,
        Rule::Reserved,
        Rule::Count,
        Rule::Duplicate,
        Rule::Size,
        Rule::Range,
        Rule::Type,
        Rule::OneOf,
    ];

    /// The code on the wire (`details[].rule`).
    pub fn as_str(self) -> &'static str {
        match self {
            Rule::Required => "required",
            Rule::Length => "length",
            Rule::Characters => "characters",
            Rule::Whitespace => "whitespace",
            Rule::Format => "format",
            Rule::Reserved => "reserved",
            Rule::Count => "count",
            Rule::Duplicate => "duplicate",
            Rule::Size => "size",
            Rule::Range => "range",
            Rule::Type => "type",
            Rule::OneOf => "oneOf",
        }
    }
}

impl fmt::Display for Rule {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl From<Rule> for String {
    fn from(rule: Rule) -> String {
        rule.as_str().to_owned()
    }
}

/// One broken rule on one field.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct FieldError {
    /// Path of the field as the client sent it, e.g. `settings.temperature`.
    pub field: String,
    /// Stable name of the rule, e.g. `length`.
    pub rule: String,
    /// A sentence for people, e.g. `title must be 1–200 characters`.
    pub message: String,
}

impl FieldError {
    pub fn new(field: impl Into<String>, rule: Rule, message: impl Into<String>) -> FieldError {
        FieldError {
            field: field.into(),
            rule: rule.into(),
            message: message.into(),
        }
    }
}

/// Every rule an input broke; empty means valid.
#[derive(Default, Debug, Clone, PartialEq)]
pub struct Violations(pub Vec<FieldError>);

impl Violations {
    pub fn new() -> Self {
        Self::default()
    }

    /// Records that `field` broke `rule` (a [`Rule`], or its code).
    pub fn push(
        &mut self,
        field: impl Into<String>,
        rule: impl Into<String>,
        message: impl Into<String>,
    ) {
        self.0.push(FieldError {
            field: field.into(),
            rule: rule.into(),
            message: message.into(),
        });
    }

    /// The parsed value, or `None` after recording why it did not parse:
    /// how the checks compose the newtypes' `parse` and keep going.
    pub fn check<T>(&mut self, parsed: Result<T, Violations>) -> Option<T> {
        match parsed {
            Ok(value) => Some(value),
            Err(errors) => {
                self.extend(errors);
                None
            }
        }
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    pub fn len(&self) -> usize {
        self.0.len()
    }

    pub fn iter(&self) -> std::slice::Iter<'_, FieldError> {
        self.0.iter()
    }

    /// `Ok(())` if nothing was violated, so checks can end with `?`.
    pub fn into_result(self) -> Result<(), Violations> {
        if self.is_empty() { Ok(()) } else { Err(self) }
    }

    /// `Ok(value)` if nothing was violated.
    pub fn or<T>(self, value: T) -> Result<T, Violations> {
        self.into_result().map(|()| value)
    }
}

impl Extend<FieldError> for Violations {
    fn extend<I: IntoIterator<Item = FieldError>>(&mut self, iter: I) {
        self.0.extend(iter);
    }
}

impl IntoIterator for Violations {
    type Item = FieldError;
    type IntoIter = std::vec::IntoIter<FieldError>;

    fn into_iter(self) -> Self::IntoIter {
        self.0.into_iter()
    }
}

impl<'a> IntoIterator for &'a Violations {
    type Item = &'a FieldError;
    type IntoIter = std::slice::Iter<'a, FieldError>;

    fn into_iter(self) -> Self::IntoIter {
        self.0.iter()
    }
}

impl From<Vec<FieldError>> for Violations {
    fn from(errors: Vec<FieldError>) -> Self {
        Self(errors)
    }
}

impl From<FieldError> for Violations {
    fn from(error: FieldError) -> Self {
        Self(vec![error])
    }
}

impl fmt::Display for Violations {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Named by field unless the message already starts with it: a CLI
        // user sees which part of the input is meant (`variants[1].preset`).
        f.write_str("invalid input")?;
        for (i, e) in self.0.iter().enumerate() {
            f.write_str(if i == 0 { ": " } else { "; " })?;
            if !e.field.is_empty() && !e.message.starts_with(e.field.as_str()) {
                write!(f, "{}: ", e.field)?;
            }
            f.write_str(&e.message)?;
        }
        Ok(())
    }
}

impl std::error::Error for Violations {}

/// Several parse results as one: every value, or every violation of all of
/// them in order. How a use case parses each field of an input and still
/// reports all problems at once: `(Title::parse(..), Tags::parse(..)).all()?`.
pub trait AllValid {
    type Output;
    fn all(self) -> Result<Self::Output, Violations>;
}

macro_rules! all_valid {
    ($($name:ident: $ty:ident),+) => {
        impl<$($ty),+> AllValid for ($(Result<$ty, Violations>,)+) {
            type Output = ($($ty,)+);
            fn all(self) -> Result<Self::Output, Violations> {
                let ($($name,)+) = self;
                match ($($name,)+) {
                    ($(Ok($name),)+) => Ok(($($name,)+)),
                    ($($name,)+) => {
                        let mut v = Violations::new();
                        $( if let Err(e) = $name { v.extend(e); } )+
                        Err(v)
                    }
                }
            }
        }
    };
}

all_valid!(a: A, b: B);
all_valid!(a: A, b: B, c: C);
all_valid!(a: A, b: B, c: C, d: D);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rule_codes_are_distinct_and_camel_case() {
        let codes: std::collections::HashSet<_> = Rule::ALL.iter().map(|r| r.as_str()).collect();
        assert_eq!(codes.len(), Rule::ALL.len());
        assert!(
            codes
                .iter()
                .all(|c| c.chars().all(|ch| ch.is_ascii_alphabetic()))
        );
        assert_eq!(Rule::OneOf.as_str(), "oneOf");
    }

    #[test]
    fn all_gives_every_value_or_every_violation_in_order() {
        let bad = |f: &str| -> Result<i32, Violations> {
            Err(FieldError::new(f, Rule::Required, "missing").into())
        };
        assert_eq!(
            (Ok::<_, Violations>(1), Ok::<_, Violations>("x")).all(),
            Ok((1, "x"))
        );
        let err = (bad("a"), Ok::<_, Violations>(2), bad("c"))
            .all()
            .unwrap_err();
        let fields: Vec<_> = err.iter().map(|e| e.field.as_str()).collect();
        assert_eq!(fields, ["a", "c"]);
    }

    #[test]
    fn check_keeps_a_valid_value_and_records_an_invalid_one() {
        let mut v = Violations::new();
        assert_eq!(v.check::<i32>(Ok(1)), Some(1));
        let bad: Result<i32, Violations> = Err(FieldError::new("a", Rule::Range, "no").into());
        assert_eq!(v.check(bad), None);
        assert_eq!(v.len(), 1);
        assert_eq!(v.0[0].rule, "range");
    }
    #[test]
    fn empty_violations_are_ok_and_any_violation_is_an_error() {
        assert_eq!(Violations::new().into_result(), Ok(()));
        let mut v = Violations::new();
        v.push("title", "length", "title must be 1–200 characters");
        assert!(!v.is_empty());
        let err = v.clone().into_result().unwrap_err();
        assert_eq!(err, v);
        assert_eq!(err.len(), 1);
    }

    #[test]
    fn violations_extend_with_another_set_in_order() {
        let mut a = Violations::new();
        a.push("a", "r", "first");
        let mut b = Violations::new();
        b.push("b", "r", "second");
        a.extend(b);
        let fields: Vec<_> = a.iter().map(|e| e.field.as_str()).collect();
        assert_eq!(fields, ["a", "b"]);
    }

    #[test]
    fn violations_display_every_message() {
        let mut v = Violations::new();
        v.push("title", "length", "title must be 1–200 characters");
        v.push("slug", "format", "slug is bad");
        v.push("variants[1].preset", "oneOf", "no such preset");
        assert_eq!(
            v.to_string(),
            "invalid input: title must be 1–200 characters; slug is bad; variants[1].preset: no such preset"
        );
        let as_error: &dyn std::error::Error = &v;
        assert!(as_error.to_string().starts_with("invalid input"));
    }

    #[test]
    fn field_errors_serialize_as_field_rule_and_message() {
        let e = FieldError {
            field: "settings.topP".into(),
            rule: "range".into(),
            message: "m".into(),
        };
        assert_eq!(
            serde_json::to_value(&e).unwrap(),
            serde_json::json!({"field": "settings.topP", "rule": "range", "message": "m"})
        );
    }
}
