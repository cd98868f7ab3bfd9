//! Property tests against a reference: [`reference`] is a second, independent
//! implementation of the rules in the module docs (a character-by-character
//! reading, sharing no code with `scan`), so a disagreement is a bug in one
//! of them, not two calls of the same scanner agreeing with themselves.

use std::collections::{BTreeMap, HashSet};

use proptest::prelude::*;

use super::*;

/// The rules, read literally, one character at a time: returns the output
/// (values inserted, or nothing where one is missing) and the variables in
/// order of appearance, repeats included.
fn reference(template: &str, vars: &BTreeMap<String, String>) -> (String, Vec<String>) {
    let chars: Vec<char> = template.chars().collect();
    let at = |i: usize, s: &str| {
        s.chars()
            .enumerate()
            .all(|(k, c)| chars.get(i + k) == Some(&c))
    };
    let mut out = String::new();
    let mut names = Vec::new();
    let mut i = 0;
    while i < chars.len() {
        if chars[i] == '\\' {
            let run = chars[i..].iter().take_while(|&&c| c == '\\').count();
            if at(i + run, "{{") {
                // Directly before `{{`: pairs make one backslash each, an
                // odd one escapes the braces, which are then taken whole.
                out.extend(std::iter::repeat_n('\\', run / 2));
                i += run;
                if run % 2 == 1 {
                    out.push_str("{{");
                    i += 2;
                }
            } else {
                out.extend(std::iter::repeat_n('\\', run));
                i += run;
            }
            continue;
        }
        let tag = if at(i, "{{") {
            reference_tag(&chars[i + 2..])
        } else {
            None
        };
        if let Some((name, len)) = tag {
            if let Some(v) = vars.get(&name) {
                out.push_str(v);
            }
            names.push(name);
            i += 2 + len;
            continue;
        }
        // Not a tag: this brace (or character) is text, and the next one
        // may start a tag.
        out.push(chars[i]);
        i += 1;
    }
    (out, names)
}

/// `ws* name ws* }}` after an opening `{{`: the name and characters used.
fn reference_tag(rest: &[char]) -> Option<(String, usize)> {
    let ws = |c: &char| matches!(c, ' ' | '\t' | '\n' | '\r' | '\x0c');
    let mut i = rest.iter().take_while(|c| ws(c)).count();
    let name: String = rest[i..]
        .iter()
        .take_while(|c| c.is_ascii_alphanumeric() || **c == '_' || **c == '.')
        .collect();
    let first = name.chars().next()?;
    if !(first.is_ascii_alphabetic() || first == '_') {
        return None;
    }
    i += name.chars().count();
    i += rest[i..].iter().take_while(|c| ws(c)).count();
    (rest.get(i) == Some(&'}') && rest.get(i + 1) == Some(&'}')).then(|| (name, i + 2))
}

fn unique(names: Vec<String>) -> Vec<String> {
    let mut seen = HashSet::new();
    names
        .into_iter()
        .filter(|n| seen.insert(n.clone()))
        .collect()
}

/// Templates built from the fragments that matter to the parser, so tags,
/// escapes and near-misses are common.
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

/// Values for some of the short names the templates use; values may hold
/// braces and backslashes, which must be inserted verbatim.
fn some_values() -> impl Strategy<Value = BTreeMap<String, String>> {
    prop::collection::btree_map("[a-c_][a-c0-9_.]{0,2}", "[a-z{}\\\\ ]{0,6}", 0..6)
}

/// `t` with a space between every two adjacent `{`, so it contains no `{{`
/// but keeps everything else (backslashes, `}}`, names).
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
    fn variables_match_the_reference(t in any_template()) {
        let (_, names) = reference(&t, &BTreeMap::new());
        prop_assert_eq!(variables(&t), unique(names));
    }

    #[test]
    fn rendering_matches_the_reference(t in any_template(), values in some_values()) {
        let (expected, names) = reference(&t, &values);
        let missing: Vec<String> = unique(names).into_iter().filter(|n| !values.contains_key(n)).collect();
        match render(&t, &values) {
            Ok(out) => {
                prop_assert!(missing.is_empty(), "rendered although {:?} are missing", missing);
                prop_assert_eq!(out, expected);
            }
            Err(RenderError::MissingVariables(m)) => prop_assert_eq!(m, missing),
            Err(e) => prop_assert!(false, "unexpected {e}"),
        }
    }

    #[test]
    fn the_cap_refuses_exactly_the_outputs_longer_than_it(
        t in template(),
        values in some_values(),
        limit in 0usize..64,
    ) {
        let mut values = values;
        for n in reference(&t, &BTreeMap::new()).1 {
            values.entry(n).or_insert_with(|| "vv".into());
        }
        let (expected, _) = reference(&t, &values);
        let text_only = reference(&t, &BTreeMap::new()).0.len();
        match render_limited(&t, &values, limit) {
            Ok(out) => {
                prop_assert!(out.len() <= limit);
                prop_assert_eq!(out, expected);
            }
            Err(RenderError::TooLarge { limit: l, by_values }) => {
                prop_assert_eq!(l, limit);
                prop_assert!(expected.len() > limit);
                prop_assert_eq!(by_values, text_only <= limit);
            }
            Err(e) => prop_assert!(false, "unexpected {e}"),
        }
    }

    #[test]
    fn a_template_without_double_braces_renders_unchanged(t in any_template().prop_map(split_double_braces)) {
        prop_assert!(variables(&t).is_empty());
        prop_assert_eq!(render(&t, &BTreeMap::new()).unwrap(), t);
    }

    #[test]
    fn reported_names_are_valid_and_unique(t in any_template()) {
        let names = variables(&t);
        let unique: HashSet<_> = names.iter().collect();
        prop_assert_eq!(unique.len(), names.len());
        prop_assert!(names.iter().all(|n| is_variable_name(n)));
    }

    #[test]
    fn chat_content_shares_one_cap_across_messages(a in template(), b in template(), limit in 0usize..64) {
        let chat = Content::Chat(vec![
            ChatMessage { role: crate::domain::Role::System, content: a.clone(), ..Default::default() },
            ChatMessage { role: crate::domain::Role::User, content: b.clone(), ..Default::default() },
        ]);
        let fill = |t: &str| -> BTreeMap<String, String> {
            variables(t).into_iter().map(|n| (n, "xyz".into())).collect()
        };
        let mut values = fill(&a);
        values.extend(fill(&b));
        let total = reference(&a, &values).0.len() + reference(&b, &values).0.len();
        let result = render_content_limited(&chat, &values, limit);
        prop_assert_eq!(result.is_ok(), total <= limit, "total {} limit {}", total, limit);
    }
}
