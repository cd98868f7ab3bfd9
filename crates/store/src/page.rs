//! Keyset pagination. A cursor is the (time, id) of the last row of a page,
//! base64url-encoded so clients treat it as opaque; a forged or damaged one is
//! a 4xx, never a 500, and never an OFFSET scan.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use uuid::Uuid;

use crate::codec::{DbTime, DbUuid};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Cursor {
    pub time: DbTime,
    pub id: Uuid,
}

/// One page of results and the cursor for the next (None on the last page).
#[derive(Clone, Debug, PartialEq)]
pub struct Page<T> {
    pub items: Vec<T>,
    pub next_cursor: Option<String>,
}

impl Cursor {
    pub fn encode(&self) -> String {
        let raw = format!("{}|{}", self.time.to_text(), self.id);
        URL_SAFE_NO_PAD.encode(raw)
    }

    /// None when the text is not a cursor this server made.
    pub fn decode(text: &str) -> Option<Cursor> {
        if text.len() > 200 {
            return None;
        }
        let raw = String::from_utf8(URL_SAFE_NO_PAD.decode(text).ok()?).ok()?;
        let (time, id) = raw.split_once('|')?;
        Some(Cursor {
            time: DbTime::parse_text(time).ok()?,
            id: Uuid::parse_str(id).ok()?,
        })
    }

    pub(crate) fn id(&self) -> DbUuid {
        DbUuid(self.id)
    }
}

/// Appends the keyset condition and the order of a newest-first page on
/// (`time`, `id`) columns, fetching `limit + 1` rows (the extra one only
/// says whether there is a next page; see [`page_from`]).
pub(crate) fn push_newest_first<'args, DB: sqlx::Database>(
    qb: &mut sqlx::QueryBuilder<'args, DB>,
    cursor: Option<Cursor>,
    time: &str,
    id: &str,
    limit: usize,
) where
    DbTime: 'args + sqlx::Encode<'args, DB> + sqlx::Type<DB>,
    DbUuid: 'args + sqlx::Encode<'args, DB> + sqlx::Type<DB>,
    i64: 'args + sqlx::Encode<'args, DB> + sqlx::Type<DB>,
{
    if let Some(c) = cursor {
        qb.push(format!(" and ({time}, {id}) < ("))
            .push_bind(c.time)
            .push(", ")
            .push_bind(c.id())
            .push(")");
    }
    qb.push(format!(" order by {time} desc, {id} desc limit "))
        .push_bind(limit as i64 + 1);
}

/// Appends "any of `columns` contains `q`" (case-insensitive, `%` and `_`
/// taken literally): `ilike` on PostgreSQL, `like` on SQLite (whose LIKE is
/// case-insensitive for ASCII).
pub(crate) fn push_contains<'args, DB: sqlx::Database>(
    qb: &mut sqlx::QueryBuilder<'args, DB>,
    pg: bool,
    columns: &[&str],
    q: &str,
) where
    String: 'args + sqlx::Encode<'args, DB> + sqlx::Type<DB>,
{
    let pattern = format!("%{}%", crate::prompts::escape_like(&q.to_lowercase()));
    let like = if pg { "ilike" } else { "like" };
    qb.push(" and (");
    for (i, col) in columns.iter().enumerate() {
        if i > 0 {
            qb.push(" or ");
        }
        qb.push(format!("{col} {like} "))
            .push_bind(pattern.clone())
            .push(" escape '\\'");
    }
    qb.push(")");
}

/// Builds a page from `limit + 1` fetched rows: the extra row only says whether
/// there is a next page.
pub(crate) fn page_from<T>(mut rows: Vec<T>, limit: usize, key: impl Fn(&T) -> Cursor) -> Page<T> {
    let next_cursor = if rows.len() > limit {
        rows.truncate(limit);
        rows.last().map(|r| key(r).encode())
    } else {
        None
    };
    Page {
        items: rows,
        next_cursor,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cursors_round_trip() {
        let c = Cursor {
            time: DbTime::now(),
            id: Uuid::now_v7(),
        };
        assert_eq!(Cursor::decode(&c.encode()), Some(c));
    }

    #[test]
    fn forged_cursors_are_refused_not_trusted() {
        for bad in ["", "x", "!!!!", "aGVsbG8", &"A".repeat(500)] {
            assert_eq!(Cursor::decode(bad), None, "{bad}");
        }
    }
}

/// Cursor of lists ordered by a per-parent number (versions, newest first).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct NumberCursor(pub i64);

impl NumberCursor {
    pub fn encode(&self) -> String {
        URL_SAFE_NO_PAD.encode(format!("n|{}", self.0))
    }

    pub fn decode(text: &str) -> Option<NumberCursor> {
        if text.len() > 40 {
            return None;
        }
        let raw = String::from_utf8(URL_SAFE_NO_PAD.decode(text).ok()?).ok()?;
        let n: i64 = raw.strip_prefix("n|")?.parse().ok()?;
        (n > 0).then_some(NumberCursor(n))
    }
}

#[cfg(test)]
mod number_cursor_tests {
    use super::*;

    #[test]
    fn number_cursors_round_trip_and_reject_forgeries() {
        assert_eq!(
            NumberCursor::decode(&NumberCursor(42).encode()),
            Some(NumberCursor(42))
        );
        assert_eq!(NumberCursor::decode(&URL_SAFE_NO_PAD.encode("n|-1")), None);
        assert_eq!(NumberCursor::decode("bad"), None);
    }
}

/// Cursor of lists ordered by a time-ordered id alone (a dataset's items, in
/// the order they were added).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct IdCursor(pub Uuid);

impl IdCursor {
    pub fn encode(&self) -> String {
        URL_SAFE_NO_PAD.encode(format!("i|{}", self.0))
    }

    pub fn decode(text: &str) -> Option<IdCursor> {
        if text.len() > 80 {
            return None;
        }
        let raw = String::from_utf8(URL_SAFE_NO_PAD.decode(text).ok()?).ok()?;
        Uuid::parse_str(raw.strip_prefix("i|")?).ok().map(IdCursor)
    }
}

#[cfg(test)]
mod id_cursor_tests {
    use super::*;

    #[test]
    fn id_cursors_round_trip_and_reject_other_cursors() {
        let c = IdCursor(Uuid::now_v7());
        assert_eq!(IdCursor::decode(&c.encode()), Some(c));
        assert_eq!(IdCursor::decode(&NumberCursor(3).encode()), None);
        assert_eq!(IdCursor::decode("bad"), None);
    }
}
