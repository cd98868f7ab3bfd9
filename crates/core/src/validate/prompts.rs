//! A prompt's own fields: [`Title`], [`Slug`](crate::slug::Slug), [`Tags`],
//! and the list filters that search them.

use std::collections::HashSet;

use super::limits::{TAG_MAX_CHARS, TAGS_MAX, TITLE_MAX_CHARS};
use super::rules::{item, length, no_control, one_line};
use super::{FieldError, Rule, Violations};
use crate::slug::Slug;

/// A prompt title: 1–200 characters on one line, after trimming (so a
/// trailing line break is trimmed, not refused). Stored trimmed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Title(String);

impl Title {
    pub fn parse(field: &str, s: &str) -> Result<Title, Violations> {
        let s = s.trim();
        one_line(field, s, 1, TITLE_MAX_CHARS).or(Title(s.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    pub fn into_string(self) -> String {
        self.0
    }
}

/// One tag: 1–40 characters on one line, with no surrounding whitespace.
///
/// Tags are kept exactly as given and compared case-sensitively (`AI` and `ai`
/// are two tags); surrounding whitespace is rejected rather than trimmed so
/// that `ai` and `ai ` cannot both exist.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Tag(String);

impl Tag {
    pub fn parse(field: &str, tag: &str) -> Result<Tag, Violations> {
        let mut v = Violations::new();
        v.extend(length(field, tag.trim(), 1, TAG_MAX_CHARS));
        if !tag.trim().is_empty() && tag.trim() != tag {
            v.push(
                field,
                Rule::Whitespace,
                format!("{field} must not start or end with whitespace"),
            );
        }
        v.extend(no_control(field, tag, &[]));
        v.or(Tag(tag.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// A prompt's tags: at most 20 [`Tag`]s, no duplicates, in the given order.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Tags(Vec<Tag>);

impl Tags {
    pub fn parse(field: &str, tags: &[String]) -> Result<Tags, Violations> {
        let mut v = Violations::new();
        if tags.len() > TAGS_MAX {
            v.push(
                field,
                Rule::Count,
                format!("{field} must have at most {TAGS_MAX} tags"),
            );
        }
        let mut seen = HashSet::with_capacity(tags.len());
        let mut parsed = Vec::with_capacity(tags.len());
        for (i, tag) in tags.iter().enumerate() {
            let f = item(field, i);
            parsed.extend(v.check(Tag::parse(&f, tag)));
            if !seen.insert(tag.as_str()) {
                v.push(&f, Rule::Duplicate, format!("{f} repeats the tag {tag:?}"));
            }
        }
        v.or(Tags(parsed))
    }

    pub fn into_strings(self) -> Vec<String> {
        self.0.into_iter().map(|t| t.0).collect()
    }
}

/// A prompt title: see [`Title`].
pub fn title(v: &mut Violations, field: &str, s: &str) {
    v.check(Title::parse(field, s));
}

/// A slug: see [`Slug`].
pub fn slug(v: &mut Violations, field: &str, s: &str) {
    v.check(Slug::parse(field, s));
}

/// Tags: see [`Tags`].
pub fn tags(v: &mut Violations, field: &str, tags: &[String]) {
    v.check(Tags::parse(field, tags));
}

/// The longest search text the prompt list accepts.
pub const SEARCH_MAX_CHARS: usize = 200;

/// The prompt list's `tag` and `q` filters. No stored title, slug or tag
/// holds a control character, and PostgreSQL refuses NUL in text: refuse
/// them here, not as a 5xx. Reports the first problem only.
pub fn prompt_filter(tag: Option<&str>, q: Option<&str>) -> Result<(), FieldError> {
    for (field, text) in [("tag", tag), ("q", q)] {
        if text.is_some_and(|s| s.chars().any(char::is_control)) {
            return Err(FieldError::new(
                field,
                Rule::Characters,
                format!("{field} must not contain control characters"),
            ));
        }
    }
    if q.is_some_and(|s| s.chars().count() > SEARCH_MAX_CHARS) {
        return Err(FieldError::new(
            "q",
            Rule::Length,
            format!("q must be at most {SEARCH_MAX_CHARS} characters"),
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::super::rules::testing::{fails, ok, strings};
    use super::*;

    // title

    #[test]
    fn titles_of_one_to_two_hundred_characters_are_valid() {
        ok(|v| title(v, "title", "a"));
        ok(|v| title(v, "title", &"é".repeat(200)));
        ok(|v| title(v, "title", &format!("  {}  ", "a".repeat(200))));
    }

    #[test]
    fn empty_blank_and_overlong_titles_are_rejected() {
        for t in ["", "   ", &"a".repeat(201)] {
            fails(|v| title(v, "title", t), &[("title", "length")]);
        }
    }

    #[test]
    fn the_title_message_names_the_limit() {
        let mut v = Violations::new();
        title(&mut v, "title", "");
        assert_eq!(v.0[0].message, "title must be 1–200 characters");
    }

    #[test]
    fn titles_with_control_characters_are_rejected() {
        for t in ["a\nb", "tab\there", "bell\u{7}", "del\u{7f}"] {
            fails(|v| title(v, "title", t), &[("title", "characters")]);
        }
    }

    // slug

    #[test]
    fn slugs_follow_the_slug_rule() {
        ok(|v| slug(v, "slug", "hello-world"));
        ok(|v| slug(v, "slug", &"a".repeat(100)));
        fails(|v| slug(v, "slug", ""), &[("slug", "length")]);
        fails(|v| slug(v, "slug", &"a".repeat(101)), &[("slug", "length")]);
        for s in ["-a", "a-", "Hello", "a b", "café"] {
            fails(|v| slug(v, "slug", s), &[("slug", "format")]);
        }
    }
    // tags

    #[test]
    fn up_to_twenty_distinct_tags_are_valid() {
        ok(|v| tags(v, "tags", &[]));
        let twenty: Vec<String> = (0..20).map(|i| format!("tag{i}")).collect();
        ok(|v| tags(v, "tags", &twenty));
        ok(|v| tags(v, "tags", &strings(&["AI", "ai", "two words"])));
    }

    #[test]
    fn more_than_twenty_tags_are_rejected() {
        let many: Vec<String> = (0..21).map(|i| format!("tag{i}")).collect();
        fails(|v| tags(v, "tags", &many), &[("tags", "count")]);
    }

    #[test]
    fn each_tag_must_be_one_to_forty_characters() {
        ok(|v| tags(v, "tags", &["é".repeat(40)]));
        fails(
            |v| tags(v, "tags", &strings(&["ok", "", &"a".repeat(41), "  "])),
            &[
                ("tags[1]", "length"),
                ("tags[2]", "length"),
                ("tags[3]", "length"),
            ],
        );
    }

    #[test]
    fn duplicate_tags_are_rejected_at_the_repeat() {
        fails(
            |v| tags(v, "tags", &strings(&["a", "b", "a", "a"])),
            &[("tags[2]", "duplicate"), ("tags[3]", "duplicate")],
        );
    }

    #[test]
    fn tags_with_surrounding_whitespace_or_control_characters_are_rejected() {
        fails(
            |v| tags(v, "tags", &strings(&[" a", "b ", "c\nd"])),
            &[
                ("tags[0]", "whitespace"),
                ("tags[1]", "whitespace"),
                ("tags[2]", "characters"),
            ],
        );
    }

    #[test]
    fn a_title_is_stored_trimmed_and_tags_as_given() {
        assert_eq!(Title::parse("title", "  Hi  ").unwrap().as_str(), "Hi");
        let tags = Tags::parse("tags", &strings(&["AI", "ai"])).unwrap();
        assert_eq!(tags.into_strings(), ["AI", "ai"]);
    }

    #[test]
    fn list_filters_refuse_control_characters_and_long_searches() {
        assert_eq!(prompt_filter(Some("ai"), Some("hello")), Ok(()));
        assert_eq!(prompt_filter(None, Some(&"é".repeat(200))), Ok(()));
        let rule = |r: Result<(), FieldError>| r.map_err(|e| (e.field, e.rule)).unwrap_err();
        assert_eq!(
            rule(prompt_filter(Some("a\0"), None)),
            ("tag".into(), "characters".into())
        );
        assert_eq!(
            rule(prompt_filter(None, Some("a\nb"))),
            ("q".into(), "characters".into())
        );
        assert_eq!(
            rule(prompt_filter(None, Some(&"a".repeat(201)))),
            ("q".into(), "length".into())
        );
    }
}
