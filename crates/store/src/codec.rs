//! Column codecs that decode to the same Rust type on both backends.
//!
//! * [`DbUuid`]: `uuid` on PostgreSQL, hyphenated lowercase text on SQLite (so
//!   ids stay readable with the `sqlite3` shell and sort like the bytes).
//! * [`DbTime`]: `timestamptz` on PostgreSQL, fixed-width RFC 3339 text in UTC
//!   with microseconds on SQLite (`2026-11-25T20:20:20.123456Z`): fixed width
//!   makes text order equal time order, which keyset pagination relies on.
//!   Times are truncated to microseconds on both, PostgreSQL's precision.

use sqlx::encode::IsNull;
use sqlx::error::BoxDynError;
use sqlx::postgres::{PgArgumentBuffer, PgTypeInfo, PgValueRef};
use sqlx::sqlite::{SqliteArgumentValue, SqliteTypeInfo, SqliteValueRef};
use sqlx::{Decode, Encode, Postgres, Sqlite, Type};
use time::format_description::well_known::Rfc3339;
use time::macros::format_description;
use time::{OffsetDateTime, UtcOffset};
use uuid::Uuid;

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct DbUuid(pub Uuid);

impl<T: Into<Uuid>> From<T> for DbUuid {
    fn from(v: T) -> Self {
        DbUuid(v.into())
    }
}

impl Type<Sqlite> for DbUuid {
    fn type_info() -> SqliteTypeInfo {
        <String as Type<Sqlite>>::type_info()
    }
    fn compatible(ty: &SqliteTypeInfo) -> bool {
        <String as Type<Sqlite>>::compatible(ty)
    }
}

impl<'q> Encode<'q, Sqlite> for DbUuid {
    fn encode_by_ref(&self, buf: &mut Vec<SqliteArgumentValue<'q>>) -> Result<IsNull, BoxDynError> {
        <String as Encode<'q, Sqlite>>::encode(self.0.hyphenated().to_string(), buf)
    }
}

impl<'r> Decode<'r, Sqlite> for DbUuid {
    fn decode(value: SqliteValueRef<'r>) -> Result<Self, BoxDynError> {
        let text = <&str as Decode<Sqlite>>::decode(value)?;
        Ok(DbUuid(Uuid::parse_str(text)?))
    }
}

impl Type<Postgres> for DbUuid {
    fn type_info() -> PgTypeInfo {
        <Uuid as Type<Postgres>>::type_info()
    }
}

impl Encode<'_, Postgres> for DbUuid {
    fn encode_by_ref(&self, buf: &mut PgArgumentBuffer) -> Result<IsNull, BoxDynError> {
        <Uuid as Encode<Postgres>>::encode_by_ref(&self.0, buf)
    }
}

impl<'r> Decode<'r, Postgres> for DbUuid {
    fn decode(value: PgValueRef<'r>) -> Result<Self, BoxDynError> {
        Ok(DbUuid(<Uuid as Decode<Postgres>>::decode(value)?))
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct DbTime(pub OffsetDateTime);

impl DbTime {
    /// Now, in UTC, truncated to the microsecond both backends keep.
    pub fn now() -> Self {
        Self::from(OffsetDateTime::now_utc())
    }

    /// The SQLite text form (also used inside cursors).
    pub fn to_text(self) -> String {
        let fmt = format_description!(
            "[year]-[month]-[day]T[hour]:[minute]:[second].[subsecond digits:6]Z"
        );
        self.0.format(&fmt).expect("a UTC time always formats")
    }

    pub fn parse_text(text: &str) -> Result<Self, time::error::Parse> {
        OffsetDateTime::parse(text, &Rfc3339).map(Self::from)
    }
}

impl From<OffsetDateTime> for DbTime {
    fn from(t: OffsetDateTime) -> Self {
        let utc = t.to_offset(UtcOffset::UTC);
        let micros = utc.microsecond();
        DbTime(
            utc.replace_microsecond(micros)
                .expect("a valid microsecond"),
        )
    }
}

impl From<DbTime> for OffsetDateTime {
    fn from(t: DbTime) -> Self {
        t.0
    }
}

impl Type<Sqlite> for DbTime {
    fn type_info() -> SqliteTypeInfo {
        <String as Type<Sqlite>>::type_info()
    }
    fn compatible(ty: &SqliteTypeInfo) -> bool {
        <String as Type<Sqlite>>::compatible(ty)
    }
}

impl<'q> Encode<'q, Sqlite> for DbTime {
    fn encode_by_ref(&self, buf: &mut Vec<SqliteArgumentValue<'q>>) -> Result<IsNull, BoxDynError> {
        <String as Encode<'q, Sqlite>>::encode(self.to_text(), buf)
    }
}

impl<'r> Decode<'r, Sqlite> for DbTime {
    fn decode(value: SqliteValueRef<'r>) -> Result<Self, BoxDynError> {
        let text = <&str as Decode<Sqlite>>::decode(value)?;
        Ok(DbTime::parse_text(text)?)
    }
}

impl Type<Postgres> for DbTime {
    fn type_info() -> PgTypeInfo {
        <OffsetDateTime as Type<Postgres>>::type_info()
    }
}

impl Encode<'_, Postgres> for DbTime {
    fn encode_by_ref(&self, buf: &mut PgArgumentBuffer) -> Result<IsNull, BoxDynError> {
        <OffsetDateTime as Encode<Postgres>>::encode_by_ref(&self.0, buf)
    }
}

impl<'r> Decode<'r, Postgres> for DbTime {
    fn decode(value: PgValueRef<'r>) -> Result<Self, BoxDynError> {
        Ok(DbTime::from(<OffsetDateTime as Decode<Postgres>>::decode(
            value,
        )?))
    }
}

/// A JSON array of objects, bound at `param`, as a table `v` with these
/// columns (name, PostgreSQL type), on either backend: how a batch of rows
/// goes into one `update … from` statement instead of one per row.
pub(crate) fn json_rows(pg: bool, param: &str, columns: &[(&str, &str)]) -> String {
    let list = |column: &dyn Fn(&str, &str) -> String| {
        let all: Vec<String> = columns.iter().map(|(name, ty)| column(name, ty)).collect();
        all.join(", ")
    };
    if pg {
        let typed = list(&|name, ty| format!("{name} {ty}"));
        format!("jsonb_to_recordset({param}::jsonb) as v({typed})")
    } else {
        // `json_extract` answers SQL values for JSON scalars and JSON text
        // for arrays and objects: what the columns hold on SQLite.
        let extracted = list(&|name, _| format!("json_extract(value, '$.{name}') as {name}"));
        format!("(select {extracted} from json_each({param})) as v")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sqlite_time_text_is_fixed_width_and_sorts_like_time() {
        let a = DbTime::parse_text("2026-01-02T03:04:05Z").unwrap();
        let b = DbTime::parse_text("2026-01-02T03:04:05.5+01:00").unwrap();
        assert_eq!(a.to_text(), "2026-01-02T03:04:05.000000Z");
        assert_eq!(b.to_text(), "2026-01-02T02:04:05.500000Z");
        assert_eq!(a.to_text().len(), b.to_text().len());
        assert!((b < a) == (b.to_text() < a.to_text()));
    }

    #[test]
    fn times_are_truncated_to_microseconds() {
        let t = OffsetDateTime::from_unix_timestamp_nanos(1_700_000_000_123_456_789).unwrap();
        assert_eq!(DbTime::from(t).0.nanosecond(), 123_456_000);
    }
}
