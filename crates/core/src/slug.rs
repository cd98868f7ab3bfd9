//! URL slugs for prompts.
//!
//! A slug appears in URLs and in API calls that fetch a prompt by name, so it
//! is deliberately boring: lowercase ASCII letters, digits and single dashes.
//! Non-ASCII letters are replaced rather than transliterated, because a
//! transliteration table would be large, language-dependent and still wrong
//! for some titles; users who care can edit the suggested slug.

use crate::validate::limits::SLUG_MAX_CHARS;
use crate::validate::{Rule, Violations};

/// Slugs no prompt may take, because a path uses them as a fixed segment
/// where a prompt's id or slug may also go (`/api/prompts/by-slug/{slug}`
/// next to `/api/prompts/{id}`, which accepts a slug for reads). A web test
/// derives the fixed segments from the router and fails if one is missing.
pub const RESERVED_SLUGS: &[&str] = &["by-slug"];

/// A valid, unreserved slug (see [`is_valid_slug`] and [`RESERVED_SLUGS`]).
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Slug(String);

impl Slug {
    /// `length` or `format` when `s` is not a slug, `reserved` when a route
    /// owns it.
    pub fn parse(field: &str, s: &str) -> Result<Slug, Violations> {
        let mut v = Violations::new();
        if s.is_empty() || s.chars().count() > SLUG_MAX_CHARS {
            v.push(
                field,
                Rule::Length,
                format!("{field} must be 1–{SLUG_MAX_CHARS} characters"),
            );
        } else if !is_valid_slug(s) {
            v.push(
                field,
                Rule::Format,
                format!(
                    "{field} may only contain a–z, 0–9 and '-', and must not start or end with '-'"
                ),
            );
        } else if RESERVED_SLUGS.contains(&s) {
            v.push(
                field,
                Rule::Reserved,
                format!("{s:?} is reserved; choose another slug"),
            );
        }
        v.or(Slug(s.to_owned()))
    }

    /// A slug for a lookup: `None` for text that cannot be one (so a lookup
    /// of, say, a NUL byte is "not found" without a query).
    pub fn lookup(s: &str) -> Option<Slug> {
        is_valid_slug(s).then(|| Slug(s.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    pub fn into_string(self) -> String {
        self.0
    }
}

impl std::fmt::Display for Slug {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

/// The slug suggested for a prompt title.
///
/// ASCII letters (lowercased) and digits are kept; every other character,
/// including any non-ASCII one, becomes a `-`. Runs of `-` collapse into one,
/// and `-` is trimmed from both ends. The result is cut to 100 characters (and
/// trimmed of a trailing `-` again). A title with nothing to keep gives
/// `"prompt"`. The result always passes [`is_valid_slug`].
pub fn slugify(title: &str) -> String {
    let mut slug = String::with_capacity(title.len().min(SLUG_MAX_CHARS));
    // Push a dash only when a letter or digit follows, so dashes never lead,
    // trail or repeat.
    let mut dash_pending = false;
    for c in title.chars() {
        if c.is_ascii_alphanumeric() {
            if dash_pending && !slug.is_empty() {
                slug.push('-');
            }
            dash_pending = false;
            slug.push(c.to_ascii_lowercase());
        } else {
            dash_pending = true;
        }
        // The slug is ASCII, so its length in bytes is its length in chars.
        if slug.len() >= SLUG_MAX_CHARS {
            break;
        }
    }
    slug.truncate(SLUG_MAX_CHARS);
    let trimmed_len = slug.trim_end_matches('-').len();
    slug.truncate(trimmed_len);
    if slug.is_empty() {
        "prompt".to_owned()
    } else {
        slug
    }
}

/// The slugs to offer, in order, when `base` may be taken: `base`, then
/// `base-2` … `base-999` (cut so each stays a valid slug). Prompts and
/// datasets take the first their table does not hold, else
/// [`with_random_suffix`].
pub fn candidates(base: &str) -> impl Iterator<Item = String> + '_ {
    std::iter::once(base.to_string()).chain((2..1000).map(move |n| {
        let suffix = format!("-{n}");
        let keep = base.len().min(SLUG_MAX_CHARS - suffix.len());
        format!("{}{suffix}", base[..keep].trim_end_matches('-'))
    }))
}

/// `base` (cut to 60) with a random suffix: when every [`candidates`] slug is taken.
pub fn with_random_suffix(base: &str) -> String {
    format!(
        "{}-{}",
        &base[..base.len().min(60)],
        uuid::Uuid::now_v7().simple()
    )
}

/// Whether `s` is a valid slug: 1–100 characters of `a`–`z`, `0`–`9` and `-`,
/// not starting or ending with `-`.
pub fn is_valid_slug(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= SLUG_MAX_CHARS
        && s.bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        && !s.starts_with('-')
        && !s.ends_with('-')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn candidates_count_up_and_stay_valid_slugs() {
        let first: Vec<String> = candidates("report").take(3).collect();
        assert_eq!(first, ["report", "report-2", "report-3"]);
        assert_eq!(candidates("report").count(), 999);
        let long = "a".repeat(SLUG_MAX_CHARS);
        for c in candidates(&long) {
            assert!(is_valid_slug(&c), "{c}");
        }
        assert!(is_valid_slug(&with_random_suffix(&long)));
    }

    #[test]
    fn punctuation_and_spaces_become_single_dashes() {
        assert_eq!(slugify("Hello, World!"), "hello-world");
        assert_eq!(slugify("  a  --  b__c  "), "a-b-c");
        assert_eq!(slugify("Summarize v2.1 (draft)"), "summarize-v2-1-draft");
    }

    #[test]
    fn non_ascii_characters_become_dashes() {
        assert_eq!(slugify("Ünïcode ✓"), "n-code");
        assert_eq!(slugify("café au lait"), "caf-au-lait");
    }

    #[test]
    fn a_title_with_nothing_to_keep_gives_prompt() {
        assert_eq!(slugify(""), "prompt");
        assert_eq!(slugify("!!! ---"), "prompt");
        assert_eq!(slugify("日本語"), "prompt");
    }

    #[test]
    fn uppercase_letters_are_lowercased_and_digits_kept() {
        assert_eq!(slugify("GPT4o Mini 2024"), "gpt4o-mini-2024");
    }

    #[test]
    fn long_titles_are_cut_to_one_hundred_characters() {
        assert_eq!(slugify(&"a".repeat(150)), "a".repeat(100));
        // A cut that lands right after a dash leaves no trailing dash.
        let title = format!("{} {}", "a".repeat(99), "b".repeat(10));
        assert_eq!(slugify(&title), "a".repeat(99));
        let title = format!("{} {}", "a".repeat(98), "b".repeat(10));
        assert_eq!(slugify(&title), format!("{}-b", "a".repeat(98)));
    }

    #[test]
    fn slugify_always_gives_a_valid_slug() {
        for title in [
            "",
            "-",
            "Hello, World!",
            "Ünïcode ✓",
            &"x y ".repeat(80),
            &"é".repeat(300),
        ] {
            assert!(is_valid_slug(&slugify(title)), "{title:?}");
        }
    }

    #[test]
    fn valid_slugs_are_lowercase_letters_digits_and_inner_dashes() {
        assert!(is_valid_slug("a"));
        assert!(is_valid_slug("hello-world-2"));
        assert!(is_valid_slug("a--b"));
        assert!(is_valid_slug(&"a".repeat(100)));
    }

    #[test]
    fn invalid_slugs_are_rejected() {
        for s in [
            "",
            "-a",
            "a-",
            "-",
            "Hello",
            "a b",
            "a_b",
            "a.b",
            "café",
            &"a".repeat(101),
        ] {
            assert!(!is_valid_slug(s), "{s:?}");
        }
    }

    #[test]
    fn parse_names_the_broken_rule() {
        let rules = |s: &str| -> Vec<String> {
            Slug::parse("slug", s)
                .err()
                .map(|v| v.into_iter().map(|e| e.rule).collect())
                .unwrap_or_default()
        };
        assert_eq!(rules("hello-world"), Vec::<String>::new());
        assert_eq!(rules(""), ["length"]);
        assert_eq!(rules(&"a".repeat(101)), ["length"]);
        assert_eq!(rules("Hello"), ["format"]);
        assert_eq!(rules("by-slug"), ["reserved"]);
        assert!(Slug::lookup("by-slug").is_some());
        assert!(Slug::lookup("a\0").is_none());
    }

    mod properties {
        use super::*;
        use proptest::prelude::*;

        proptest! {
            #[test]
            fn any_title_gives_a_valid_slug(title in any::<String>()) {
                prop_assert!(is_valid_slug(&slugify(&title)));
            }

            #[test]
            fn a_valid_slug_is_its_own_slug(title in "[a-z0-9-]{1,120}") {
                let slug = slugify(&title);
                prop_assert_eq!(slugify(&slug), slug);
            }
        }
    }
}
