//! Template variables: how a prompt body names the values a run fills in.
//!
//! A variable is written `{{name}}`. Spaces or other ASCII whitespace are
//! allowed inside the braces, so `{{ name }}` is the same variable. A name
//! starts with a letter or `_` and continues with letters, digits, `_` and `.`
//! (`{{customer.first_name}}`). Names are case-sensitive.
//!
//! Anything between double braces that is not a valid name — `{{}}`,
//! `{{ not valid! }}`, `{{1st}}` — is plain text and is left exactly as
//! written, so prompts that contain JSON or other brace-heavy text keep
//! working. An extra brace around a variable stays as text too: `{{{name}}}`
//! renders as `{` + the value + `}`.
//!
//! To write a literal `{{` before something that would otherwise be a
//! variable, put a backslash in front of it: `\{{name}}` renders as
//! `{{name}}`, and the backslash is dropped. Backslashes only matter directly
//! before `{{`: there, each pair `\\` renders as one `\`, and an odd backslash
//! left over makes the `{{` literal (`\\{{name}}` renders as `\` followed by
//! the value). Backslashes anywhere else are plain text.
//!
//! Values are inserted verbatim: a value that itself contains `{{x}}` is not
//! expanded again. Rendering fails if any variable has no value, and the error
//! names every missing variable at once so a form can highlight all of them.
//!
//! Parsing is a single left-to-right pass that never backtracks over more than
//! the characters it just looked at, so it runs in linear time on any input,
//! including unbalanced braces and very large bodies.

use std::collections::{BTreeMap, HashSet};

use crate::domain::{ChatMessage, Content};

/// Why a template could not be rendered.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum RenderError {
    /// These variables occur in the template but have no value; unique, in
    /// order of first appearance.
    #[error("missing values for variables: {}", .0.join(", "))]
    MissingVariables(Vec<String>),
}

/// Whether `name` is a valid variable name: a letter or `_`, then letters,
/// digits, `_` or `.`.
pub fn is_variable_name(name: &str) -> bool {
    let mut bytes = name.bytes();
    match bytes.next() {
        Some(first) if first.is_ascii_alphabetic() || first == b'_' => bytes.all(is_name_byte),
        _ => false,
    }
}

/// The variables in `template`, unique, in order of first appearance.
pub fn variables(template: &str) -> Vec<String> {
    let mut names = UniqueNames::default();
    scan(template, |piece| {
        if let Piece::Var(name) = piece {
            names.add(name);
        }
    });
    names.into_vec()
}

/// The variables across all of a body's messages, unique, in order of first
/// appearance.
pub fn content_variables(content: &Content) -> Vec<String> {
    let mut names = UniqueNames::default();
    for text in texts(content) {
        scan(text, |piece| {
            if let Piece::Var(name) = piece {
                names.add(name);
            }
        });
    }
    names.into_vec()
}

/// `template` with every variable replaced by its value from `vars`.
///
/// Values not used by the template are ignored.
pub fn render(template: &str, vars: &BTreeMap<String, String>) -> Result<String, RenderError> {
    let mut missing = UniqueNames::default();
    let out = render_into(template, vars, &mut missing);
    missing.into_result().map(|()| out)
}

/// `content` with every variable in every message replaced by its value.
///
/// The error lists the missing variables of all messages together.
pub fn render_content(
    content: &Content,
    vars: &BTreeMap<String, String>,
) -> Result<Content, RenderError> {
    let mut missing = UniqueNames::default();
    let rendered = match content {
        Content::Text(t) => Content::Text(render_into(t, vars, &mut missing)),
        Content::Chat(messages) => Content::Chat(
            messages
                .iter()
                .map(|m| ChatMessage {
                    role: m.role,
                    content: render_into(&m.content, vars, &mut missing),
                })
                .collect(),
        ),
    };
    missing.into_result().map(|()| rendered)
}

fn texts(content: &Content) -> Box<dyn Iterator<Item = &str> + '_> {
    match content {
        Content::Text(t) => Box::new(std::iter::once(t.as_str())),
        Content::Chat(messages) => Box::new(messages.iter().map(|m| m.content.as_str())),
    }
}

/// Renders what it can and records the names it had no value for; the output
/// is only meaningful when nothing was missing.
fn render_into(
    template: &str,
    vars: &BTreeMap<String, String>,
    missing: &mut UniqueNames,
) -> String {
    let mut out = String::with_capacity(template.len());
    scan(template, |piece| match piece {
        Piece::Text(text) => out.push_str(text),
        Piece::Var(name) => match vars.get(name) {
            Some(value) => out.push_str(value),
            None => missing.add(name),
        },
    });
    out
}

/// Names in order of first appearance, without repeats, in linear time.
#[derive(Default)]
struct UniqueNames {
    seen: HashSet<String>,
    order: Vec<String>,
}

impl UniqueNames {
    fn add(&mut self, name: &str) {
        if !self.seen.contains(name) {
            self.seen.insert(name.to_owned());
            self.order.push(name.to_owned());
        }
    }

    fn into_vec(self) -> Vec<String> {
        self.order
    }

    fn into_result(self) -> Result<(), RenderError> {
        if self.order.is_empty() {
            Ok(())
        } else {
            Err(RenderError::MissingVariables(self.order))
        }
    }
}

/// One piece of a parsed template.
#[derive(Debug, PartialEq)]
enum Piece<'a> {
    /// Text to output as is (escapes already resolved).
    Text(&'a str),
    /// A variable, by name.
    Var(&'a str),
}

/// Splits `template` into pieces, calling `emit` for each in order.
///
/// Why this is linear: `find` only moves forward; a failed tag parse looks at
/// whitespace and name bytes only, none of which can start the next `{{`, so
/// no byte is examined by more than one tag attempt; and the backslash run
/// before a `{{` is counted back only as far as the start of the pending text,
/// which then moves past it.
fn scan<'a>(template: &'a str, mut emit: impl FnMut(Piece<'a>)) {
    let bytes = template.as_bytes();
    // Start of text not yet emitted, and where to look for the next `{{`.
    let mut pending = 0;
    let mut search = 0;
    while let Some(offset) = template[search..].find("{{") {
        let open = search + offset;
        let backslashes = bytes[pending..open]
            .iter()
            .rev()
            .take_while(|&&b| b == b'\\')
            .count();
        // Keep half of the backslashes; the odd one (if any) is the escape.
        let kept_end = open - backslashes + backslashes / 2;
        let escaped = backslashes % 2 == 1;
        let tag = if escaped {
            None
        } else {
            parse_tag(&template[open + 2..])
        };
        if backslashes > 0 || tag.is_some() {
            emit_text(&template[pending..kept_end], &mut emit);
            pending = open;
        }
        match tag {
            Some((name, len)) => {
                emit(Piece::Var(name));
                pending = open + 2 + len;
                search = pending;
            }
            // An escaped `{{` is taken whole, so `\{{{` does not start a tag
            // at the third brace.
            None if escaped => search = open + 2,
            // `{{{name}}}`: the first brace is text, the next may start a tag.
            None => search = open + 1,
        }
    }
    emit_text(&template[pending..], &mut emit);
}

fn emit_text<'a>(text: &'a str, emit: &mut impl FnMut(Piece<'a>)) {
    if !text.is_empty() {
        emit(Piece::Text(text));
    }
}

/// Parses what follows `{{`: optional whitespace, a name, optional whitespace
/// and `}}`. Returns the name and the number of bytes consumed, or `None` if
/// this is not a variable.
fn parse_tag(rest: &str) -> Option<(&str, usize)> {
    let bytes = rest.as_bytes();
    let start = skip_whitespace(bytes, 0);
    let end = start
        + bytes[start..]
            .iter()
            .take_while(|&&b| is_name_byte(b))
            .count();
    let name = &rest[start..end];
    if !is_variable_name(name) {
        return None;
    }
    let close = skip_whitespace(bytes, end);
    bytes[close..]
        .starts_with(b"}}")
        .then_some((name, close + 2))
}

fn skip_whitespace(bytes: &[u8], from: usize) -> usize {
    from + bytes[from..]
        .iter()
        .take_while(|b| b.is_ascii_whitespace())
        .count()
}

fn is_name_byte(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b == b'_' || b == b'.'
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::Role;

    fn vars(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    fn missing(names: &[&str]) -> RenderError {
        RenderError::MissingVariables(names.iter().map(|n| n.to_string()).collect())
    }

    #[test]
    fn variables_are_found_in_order_of_first_appearance_without_repeats() {
        assert_eq!(
            variables("{{b}} and {{a}} then {{b}} and {{ c }}"),
            ["b", "a", "c"]
        );
    }

    #[test]
    fn whitespace_inside_the_braces_is_allowed() {
        assert_eq!(
            variables("{{ name }}{{\tother\n}}{{x   }}"),
            ["name", "other", "x"]
        );
        assert_eq!(
            render("Hi {{  name  }}!", &vars(&[("name", "Ada")])).unwrap(),
            "Hi Ada!"
        );
    }

    #[test]
    fn names_may_contain_digits_underscores_and_dots_but_not_start_with_a_digit() {
        assert_eq!(
            variables("{{user.first_name}} {{_x1}} {{a.}} {{1st}} {{.a}}"),
            ["user.first_name", "_x1", "a."]
        );
        assert!(is_variable_name("a"));
        assert!(is_variable_name("_"));
        assert!(!is_variable_name(""));
        assert!(!is_variable_name("9a"));
        assert!(!is_variable_name("a-b"));
        assert!(!is_variable_name("é"));
    }

    #[test]
    fn braces_around_something_that_is_not_a_name_are_literal_text() {
        let t = "{{}} {{ not valid! }} {{a b}} {{ }} {{a-b}} {{é}} {\"json\": {\"k\": 1}}";
        assert!(variables(t).is_empty());
        assert_eq!(render(t, &BTreeMap::new()).unwrap(), t);
    }

    #[test]
    fn unbalanced_braces_are_literal_text() {
        for t in [
            "{{",
            "{{name",
            "{{name}",
            "name}}",
            "}}{{",
            "{{ name } }",
            "{{{{",
        ] {
            assert!(variables(t).is_empty(), "{t}");
            assert_eq!(render(t, &BTreeMap::new()).unwrap(), t);
        }
    }

    #[test]
    fn extra_braces_around_a_variable_stay_as_text() {
        assert_eq!(
            render("{{{x}}}", &vars(&[("x", "1")])).unwrap(),
            "{1}",
            "the first brace is text, the last brace too"
        );
        assert_eq!(render("{{{{x}}}}", &vars(&[("x", "1")])).unwrap(), "{{1}}");
    }

    #[test]
    fn escaped_braces_render_literally() {
        let t = r"Write \{{name}} to use a variable, e.g. {{example}}.";
        assert_eq!(variables(t), ["example"]);
        assert_eq!(
            render(t, &vars(&[("example", "{{city}}")])).unwrap(),
            "Write {{name}} to use a variable, e.g. {{city}}."
        );
    }

    #[test]
    fn an_escaped_pair_of_braces_does_not_start_a_tag_at_the_next_brace() {
        assert_eq!(variables(r"\{{{x}}"), Vec::<String>::new());
        assert_eq!(render(r"\{{{x}}", &BTreeMap::new()).unwrap(), "{{{x}}");
    }

    #[test]
    fn a_doubled_backslash_before_a_variable_renders_as_one_backslash() {
        let v = vars(&[("dir", "tmp")]);
        assert_eq!(render(r"C:\\{{dir}}", &v).unwrap(), r"C:\tmp");
        assert_eq!(render(r"\\\{{dir}}", &v).unwrap(), r"\{{dir}}");
        assert_eq!(render(r"\\\\{{dir}}", &v).unwrap(), r"\\tmp");
    }

    #[test]
    fn backslashes_not_directly_before_double_braces_are_plain_text() {
        let t = r"a\b \\ \{ \} \n {\{ \{x}} end\";
        assert!(variables(t).is_empty());
        assert_eq!(render(t, &BTreeMap::new()).unwrap(), t);
        assert_eq!(render(r"\ {{x}}", &vars(&[("x", "1")])).unwrap(), r"\ 1");
    }

    #[test]
    fn values_are_inserted_verbatim_without_expanding_again() {
        let v = vars(&[("a", "{{b}}"), ("b", "never"), ("c", r"\{{b}}")]);
        assert_eq!(render("{{a}} {{c}}", &v).unwrap(), r"{{b}} \{{b}}");
    }

    #[test]
    fn every_missing_variable_is_reported_once_in_order() {
        let err = render(
            "{{b}} {{a}} {{present}} {{b}} {{c}}",
            &vars(&[("present", "x")]),
        )
        .unwrap_err();
        assert_eq!(err, missing(&["b", "a", "c"]));
        assert_eq!(err.to_string(), "missing values for variables: b, a, c");
    }

    #[test]
    fn unused_values_are_ignored() {
        assert_eq!(
            render("Hello {{name}}", &vars(&[("name", "Ada"), ("extra", "x")])).unwrap(),
            "Hello Ada"
        );
    }

    #[test]
    fn multibyte_text_around_variables_is_kept() {
        assert_eq!(
            render("✓ {{ naïve }} {{x}}ü", &vars(&[("x", "é")])).unwrap(),
            "✓ {{ naïve }} éü"
        );
    }

    #[test]
    fn chat_variables_are_collected_across_messages() {
        let content = Content::Chat(vec![
            ChatMessage {
                role: Role::System,
                content: "You help {{company}}.".into(),
            },
            ChatMessage {
                role: Role::User,
                content: "{{question}} ({{company}})".into(),
            },
        ]);
        assert_eq!(content_variables(&content), ["company", "question"]);
        assert_eq!(
            content_variables(&Content::Text("{{x}}{{x}}".into())),
            ["x"]
        );
    }

    #[test]
    fn rendering_chat_content_renders_every_message_and_keeps_roles() {
        let content = Content::Chat(vec![
            ChatMessage {
                role: Role::System,
                content: "You help {{company}}.".into(),
            },
            ChatMessage {
                role: Role::User,
                content: "{{question}}".into(),
            },
        ]);
        let rendered = render_content(
            &content,
            &vars(&[("company", "Acme"), ("question", "Why?")]),
        )
        .unwrap();
        assert_eq!(
            rendered,
            Content::Chat(vec![
                ChatMessage {
                    role: Role::System,
                    content: "You help Acme.".into(),
                },
                ChatMessage {
                    role: Role::User,
                    content: "Why?".into(),
                },
            ])
        );
        assert_eq!(
            render_content(&Content::Text("{{a}}".into()), &vars(&[("a", "1")])).unwrap(),
            Content::Text("1".into())
        );
    }

    #[test]
    fn missing_chat_variables_are_reported_across_all_messages() {
        let content = Content::Chat(vec![
            ChatMessage {
                role: Role::System,
                content: "{{a}} {{b}}".into(),
            },
            ChatMessage {
                role: Role::User,
                content: "{{c}} {{a}}".into(),
            },
        ]);
        assert_eq!(
            render_content(&content, &vars(&[("b", "x")])).unwrap_err(),
            missing(&["a", "c"])
        );
    }

    #[test]
    fn ten_thousand_variables_render_quickly() {
        let template: String = (0..10_000).map(|i| format!("{{{{v{i}}}}} ")).collect();
        let names = variables(&template);
        assert_eq!(names.len(), 10_000);
        let values: BTreeMap<_, _> = names.iter().map(|n| (n.clone(), "x".to_string())).collect();
        assert_eq!(render(&template, &values).unwrap(), "x ".repeat(10_000));
        match render(&template, &BTreeMap::new()) {
            Err(RenderError::MissingVariables(m)) => assert_eq!(m, names),
            other => panic!("expected missing variables, got {other:?}"),
        }
    }

    #[test]
    fn pathological_inputs_are_handled_in_linear_time() {
        // Each of these would take minutes if parsing were quadratic.
        let n = 200_000;
        for t in [
            "{".repeat(n),
            "{{ ".repeat(n),
            "{{a".repeat(n),
            "\\".repeat(n) + "{{",
            "\\{{".repeat(n),
            format!("{{{{{}", "a".repeat(n)),
        ] {
            assert!(variables(&t).is_empty());
            assert_eq!(
                render(&t, &BTreeMap::new()).unwrap().len(),
                t.len() - count_dropped(&t)
            );
        }
    }

    /// Backslashes dropped by escapes in the pathological inputs above.
    fn count_dropped(t: &str) -> usize {
        if t.starts_with("\\{{") {
            t.len() / 3
        } else if t.starts_with('\\') {
            (t.len() - 2) / 2
        } else {
            0
        }
    }

    mod properties {
        use super::*;
        use proptest::prelude::*;

        /// Templates built from the fragments that matter to the parser, so
        /// tags, escapes and near-misses are common.
        fn template() -> impl Strategy<Value = String> {
            let fragment = prop_oneof![
                Just("{{".to_string()),
                Just("}}".to_string()),
                Just("{".to_string()),
                Just("}".to_string()),
                Just("\\".to_string()),
                Just(" ".to_string()),
                Just("\n".to_string()),
                Just(".".to_string()),
                Just("_".to_string()),
                Just("!".to_string()),
                "[a-c0-9]{1,3}",
                "[{} a-b_]{1,6}",
                "\\PC{0,4}",
            ];
            prop::collection::vec(fragment, 0..40).prop_map(|parts| parts.concat())
        }

        fn any_template() -> impl Strategy<Value = String> {
            prop_oneof![template(), any::<String>()]
        }

        /// `t` with a space between every two adjacent `{`, so it contains
        /// no `{{` but keeps everything else (backslashes, `}}`, names).
        fn split_double_braces(t: String) -> String {
            let mut out = String::with_capacity(t.len());
            for c in t.chars() {
                if c == '{' && out.ends_with('{') {
                    out.push(' ');
                }
                out.push(c);
            }
            out
        }

        proptest! {
            #[test]
            fn render_never_panics(t in any_template(), names in prop::collection::vec("[a-c]{1,2}", 0..4)) {
                let values: BTreeMap<_, _> = names.into_iter().map(|n| (n, "{{v}}".to_string())).collect();
                let _ = render(&t, &values);
                let _ = variables(&t);
            }

            #[test]
            fn a_template_without_double_braces_renders_unchanged(t in any_template().prop_map(split_double_braces)) {
                prop_assert!(variables(&t).is_empty());
                prop_assert_eq!(render(&t, &BTreeMap::new()).unwrap(), t);
            }

            #[test]
            fn every_variable_is_missing_when_no_values_are_given(t in any_template()) {
                let names = variables(&t);
                match render(&t, &BTreeMap::new()) {
                    Ok(_) => prop_assert!(names.is_empty()),
                    Err(RenderError::MissingVariables(m)) => prop_assert_eq!(m, names),
                }
            }

            #[test]
            fn rendering_with_every_variable_supplied_succeeds(t in any_template()) {
                let values: BTreeMap<_, _> = variables(&t)
                    .into_iter()
                    .map(|n| (n, "{{value}}".to_string()))
                    .collect();
                prop_assert!(render(&t, &values).is_ok());
            }

            #[test]
            fn reported_names_are_valid_and_unique(t in any_template()) {
                let names = variables(&t);
                let unique: HashSet<_> = names.iter().collect();
                prop_assert_eq!(unique.len(), names.len());
                prop_assert!(names.iter().all(|n| is_variable_name(n)));
            }
        }
    }
}
