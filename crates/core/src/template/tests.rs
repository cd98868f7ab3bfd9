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
            ..Default::default()
        },
        ChatMessage {
            role: Role::User,
            content: "{{question}} ({{company}})".into(),
            ..Default::default()
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
            ..Default::default()
        },
        ChatMessage {
            role: Role::User,
            content: "{{question}}".into(),
            ..Default::default()
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
                ..Default::default()
            },
            ChatMessage {
                role: Role::User,
                content: "Why?".into(),
                ..Default::default()
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
            ..Default::default()
        },
        ChatMessage {
            role: Role::User,
            content: "{{c}} {{a}}".into(),
            ..Default::default()
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

#[test]
fn output_past_the_cap_is_refused_without_being_built() {
    // 52,000 `{{a}}` with a 256 KiB value would be 13 GB: refused at once.
    let template = "{{a}}".repeat(52_000);
    let v = vars(&[("a", &"x".repeat(256 * 1024))]);
    let started = std::time::Instant::now();
    assert_eq!(
        render(&template, &v).unwrap_err(),
        RenderError::TooLarge {
            limit: DEFAULT_MAX_RENDERED_BYTES,
            by_values: true
        }
    );
    assert!(started.elapsed() < std::time::Duration::from_secs(5));
    // The template's own text over the cap is the content's fault.
    assert_eq!(
        render_limited("0123456789", &BTreeMap::new(), 4).unwrap_err(),
        RenderError::TooLarge {
            limit: 4,
            by_values: false
        }
    );
    assert_eq!(
        render_limited("ab{{a}}", &vars(&[("a", "cd")]), 4).unwrap(),
        "abcd"
    );
    // Missing variables are reported before the size.
    assert!(matches!(
        render_limited("0123456789{{zz}}", &BTreeMap::new(), 4),
        Err(RenderError::MissingVariables(_))
    ));
}
