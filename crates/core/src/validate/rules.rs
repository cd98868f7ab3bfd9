//! The building blocks every check composes: field paths, character counts,
//! line-safety and number ranges, each producing the same words for the same
//! rule wherever it is used.

use super::{FieldError, Rule, Violations};

/// `parent.name`, or just `name` when there is no parent.
pub(crate) fn child(parent: &str, name: &str) -> String {
    if parent.is_empty() {
        name.to_owned()
    } else {
        format!("{parent}.{name}")
    }
}

/// `parent[index]`.
pub(crate) fn item(parent: &str, index: usize) -> String {
    format!("{parent}[{index}]")
}

pub(crate) fn chars(s: &str) -> usize {
    s.chars().count()
}

/// `length` unless `s` has `min..=max` characters.
pub(crate) fn length(field: &str, s: &str, min: usize, max: usize) -> Option<FieldError> {
    let n = chars(s);
    (n < min || n > max).then(|| {
        FieldError::new(
            field,
            Rule::Length,
            format!("{field} must be {min}–{max} characters"),
        )
    })
}

/// `characters` if `s` contains a control character other than those in
/// `allowed`. PostgreSQL refuses NUL in text, so this also keeps such input
/// from reaching a query.
pub(crate) fn no_control(field: &str, s: &str, allowed: &[char]) -> Option<FieldError> {
    s.chars()
        .any(|c| c.is_control() && !allowed.contains(&c))
        .then(|| {
            let what = if allowed.is_empty() {
                "control characters or line breaks"
            } else {
                "control characters"
            };
            FieldError::new(
                field,
                Rule::Characters,
                format!("{field} must not contain {what}"),
            )
        })
}

/// `range` unless `x` is a number from 0 to `max`.
pub(crate) fn range(field: &str, x: f64, max: f64) -> Option<FieldError> {
    // `contains` is false for NaN, and the infinities are outside any range.
    (!(0.0..=max).contains(&x)).then(|| {
        FieldError::new(
            field,
            Rule::Range,
            format!("{field} must be a number from 0 to {max}"),
        )
    })
}

/// One line of text (a title, a tag, a model name): `min..=max` characters
/// after trimming, and no control characters or line breaks.
pub(crate) fn one_line(field: &str, s: &str, min: usize, max: usize) -> Violations {
    let mut v = Violations::new();
    v.extend(length(field, s.trim(), min, max));
    v.extend(no_control(field, s, &[]));
    v
}

/// Helpers for the checks' unit tests.
#[cfg(test)]
pub(crate) mod testing {
    use crate::domain::{ChatMessage, Role};
    use crate::validate::Violations;

    /// The (field, rule) pairs a check reports.
    pub(crate) fn run(check: impl FnOnce(&mut Violations)) -> Vec<(String, String)> {
        let mut v = Violations::new();
        check(&mut v);
        v.0.into_iter().map(|e| (e.field, e.rule)).collect()
    }

    fn pairs(expected: &[(&str, &str)]) -> Vec<(String, String)> {
        expected
            .iter()
            .map(|(f, r)| (f.to_string(), r.to_string()))
            .collect()
    }

    pub(crate) fn ok(check: impl FnOnce(&mut Violations)) {
        assert_eq!(run(check), pairs(&[]));
    }

    pub(crate) fn fails(check: impl FnOnce(&mut Violations), expected: &[(&str, &str)]) {
        assert_eq!(run(check), pairs(expected));
    }

    pub(crate) fn msg(role: Role, content: &str) -> ChatMessage {
        ChatMessage {
            role,
            content: content.into(),
            ..Default::default()
        }
    }

    pub(crate) fn strings(items: &[&str]) -> Vec<String> {
        items.iter().map(|s| s.to_string()).collect()
    }
}
