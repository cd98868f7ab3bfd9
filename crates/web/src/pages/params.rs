//! Reading what a page request carries: path segments, query and form text.
//! Shared by every page module, so a path segment that does not parse is a
//! 404 everywhere and a tag list is split the same way in every form.

use std::str::FromStr;

use axum::extract::{FromRequestParts, Path};
use axum::http::request::Parts;

use promptrefine_app::AppError;
use promptrefine_core::VersionNumber;

use super::support::PageError;

/// A path whose one segment is an id (`/app/prompts/{id}` …); text that
/// does not parse names nothing, so it is the page's 404.
pub(super) struct PageId<T>(pub(super) T);

impl<S, T> FromRequestParts<S> for PageId<T>
where
    S: Send + Sync,
    T: FromStr,
{
    type Rejection = PageError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, PageError> {
        let Path(text) = Path::<String>::from_request_parts(parts, state)
            .await
            .map_err(|_| PageError::not_found())?;
        parse(&text).map(PageId)
    }
}

/// A path segment as `T`; text that does not parse names nothing (404).
pub(super) fn parse<T: FromStr>(text: &str) -> Result<T, PageError> {
    text.parse().map_err(|_| PageError::not_found())
}

/// A version number from a path or form: one that cannot exist is a
/// missing version (404), as asking the store for it would be.
pub(super) fn version_number(n: i64) -> Result<VersionNumber, PageError> {
    VersionNumber::new(n).ok_or(PageError::App(AppError::NotFound("version")))
}

/// Trimmed text, or `None` when blank.
pub(super) fn nonempty(s: Option<String>) -> Option<String> {
    s.map(|s| s.trim().to_string()).filter(|s| !s.is_empty())
}

/// `s` for a query string.
pub(super) fn url_enc(s: &str) -> String {
    form_urlencoded::byte_serialize(s.as_bytes()).collect()
}

/// `a, b ,c` as `["a", "b", "c"]` (blank entries dropped).
pub(super) fn split_tags(text: &str) -> Vec<String> {
    text.split(',')
        .map(|t| t.trim().to_string())
        .filter(|t| !t.is_empty())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tags_are_split_on_commas_and_trimmed() {
        assert_eq!(split_tags(" a, b ,,c "), ["a", "b", "c"]);
        assert!(split_tags(" , ").is_empty());
    }

    #[test]
    fn version_numbers_below_one_name_no_version() {
        assert!(version_number(1).is_ok());
        assert!(matches!(
            version_number(0),
            Err(PageError::App(AppError::NotFound("version")))
        ));
    }
}
