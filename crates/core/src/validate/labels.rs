//! Label names: the named pointers from a prompt to one of its versions.

use super::limits::{LABEL_MAX_CHARS, RESERVED_LABEL};
use super::rules::{chars, length};
use super::{Rule, Violations};

/// A label name: `^[a-z0-9][a-z0-9._-]{0,49}$`, and not `current`, which
/// always means the prompt's current version.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct LabelName(String);

impl LabelName {
    pub fn parse(field: &str, name: &str) -> Result<LabelName, Violations> {
        let mut v = Violations::new();
        if name.is_empty() || chars(name) > LABEL_MAX_CHARS {
            v.extend(length(field, name, 1, LABEL_MAX_CHARS));
        } else if !is_label_text(name) {
            v.push(
                field,
                Rule::Format,
                format!(
                    "{field} may only contain a–z, 0–9, '.', '_' and '-', and must start with a letter or digit"
                ),
            );
        } else if name == RESERVED_LABEL {
            v.push(
                field,
                Rule::Reserved,
                format!(
                    "{field} cannot be {RESERVED_LABEL:?}, which always means the current version"
                ),
            );
        }
        v.or(LabelName(name.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

fn is_label_text(name: &str) -> bool {
    let bytes = name.as_bytes();
    let first_ok = bytes[0].is_ascii_lowercase() || bytes[0].is_ascii_digit();
    let rest_ok = bytes[1..]
        .iter()
        .all(|&b| b.is_ascii_lowercase() || b.is_ascii_digit() || b"._-".contains(&b));
    first_ok && rest_ok
}

/// A label name: see [`LabelName`].
pub fn label_name(v: &mut Violations, field: &str, name: &str) {
    v.check(LabelName::parse(field, name));
}

#[cfg(test)]
mod tests {
    use super::super::rules::testing::{fails, ok};
    use super::*;

    // label_name

    #[test]
    fn label_names_are_lowercase_words_up_to_fifty_characters() {
        for name in [
            "production",
            "v1.2",
            "a",
            "0",
            "staging_eu-west",
            &"a".repeat(50),
        ] {
            ok(|v| label_name(v, "label", name));
        }
        fails(|v| label_name(v, "label", ""), &[("label", "length")]);
        fails(
            |v| label_name(v, "label", &"a".repeat(51)),
            &[("label", "length")],
        );
        for name in ["Production", "-a", ".a", "_a", "a b", "prod!", "é"] {
            fails(|v| label_name(v, "label", name), &[("label", "format")]);
        }
    }

    #[test]
    fn the_label_current_is_reserved() {
        fails(
            |v| label_name(v, "label", "current"),
            &[("label", "reserved")],
        );
        ok(|v| label_name(v, "label", "current2"));
    }
}
