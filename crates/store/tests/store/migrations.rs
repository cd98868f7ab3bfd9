use std::collections::BTreeMap;

use promptrefine_store::{Backend, migrate};
use promptrefine_testkit::{TestDb, both_backends};

use crate::{new_prompt, open, text_version};

both_backends!(
    migrations_go_up_then_down_to_zero_then_up_again,
    a_saved_version_cannot_be_updated_even_with_sql,
);

async fn migrations_go_up_then_down_to_zero_then_up_again(db: TestDb) {
    let store = open(&db).await;
    let status = migrate::status(&store).await.unwrap();
    assert!(!status.is_empty() && status.iter().all(|m| m.applied));

    migrate::down_to(&store, 0).await.unwrap();
    let status = migrate::status(&store).await.unwrap();
    assert!(status.iter().all(|m| !m.applied), "{status:?}");
    assert!(store.prompts().count().await.is_err(), "tables are gone");

    migrate::up(&store).await.unwrap();
    assert_eq!(store.prompts().count().await.unwrap(), 0);
}

async fn a_saved_version_cannot_be_updated_even_with_sql(db: TestDb) {
    let store = open(&db).await;
    let (p, _) = store
        .prompts()
        .create(new_prompt("Immutable", "immutable", &[]))
        .await
        .unwrap();
    let v = store
        .versions()
        .save(p.id, text_version("original"))
        .await
        .unwrap();
    // Plain SQL on the store's own write connection, past every check the
    // store makes: only the trigger stands in the way.
    let sql = "update prompt_versions set note = 'changed' where id = $1";
    let err = match store.backend() {
        Backend::Sqlite { writer, .. } => sqlx::query(sql)
            .bind(v.id.to_string())
            .execute(writer)
            .await
            .unwrap_err(),
        Backend::Postgres(pool) => sqlx::query(sql)
            .bind(uuid::Uuid::parse_str(&v.id.to_string()).unwrap())
            .execute(pool)
            .await
            .unwrap_err(),
    };
    let message = err
        .as_database_error()
        .map(|e| e.message().to_owned())
        .unwrap_or_else(|| panic!("a database error, not {err:?}"));
    assert!(message.contains("immutable"), "{message}");
    assert_eq!(store.versions().get(v.id).await.unwrap().note, None);
}

#[test]
fn both_backends_have_the_same_migrations() {
    assert_eq!(migrate::known("sqlite"), migrate::known("postgres"));
}

/// The two schemas have the same tables with the same columns, each of a
/// type that decodes to the same Rust type on both (see `codec.rs`) and
/// with the same nullability.
#[tokio::test]
async fn both_schemas_have_the_same_tables_columns_types_and_nullability() {
    let lite_db = TestDb::sqlite();
    let Some(pg_db) = TestDb::postgres().await else {
        return;
    };
    let lite = open(&lite_db).await;
    let pg = open(&pg_db).await;

    let Backend::Sqlite { reader, .. } = lite.backend() else {
        unreachable!()
    };
    // SQLite lets a primary key that is not `integer` hold NULL (a legacy
    // quirk); the store always binds ids, so a primary key counts as not null.
    let lite_cols: Vec<(String, String, String, i64)> = sqlx::query_as(
        "select m.name, p.name, lower(p.type), p.\"notnull\" or p.pk > 0
         from sqlite_master m join pragma_table_info(m.name) p
         where m.type = 'table' and m.name not like '\\_sqlx%' escape '\\' and m.name not like 'sqlite%'
         order by 1, 2",
    )
    .fetch_all(reader)
    .await
    .unwrap();
    let Backend::Postgres(pool) = pg.backend() else {
        unreachable!()
    };
    let pg_cols: Vec<(String, String, String, bool)> = sqlx::query_as(
        "select table_name::text, column_name::text, udt_name::text, is_nullable = 'NO'
         from information_schema.columns
         where table_schema = 'public' and table_name not like '\\_sqlx%'
         order by 1, 2",
    )
    .fetch_all(pool)
    .await
    .unwrap();
    assert!(lite_cols.len() > 40, "{lite_cols:?}");

    let lite: BTreeMap<(String, String), (String, bool)> = lite_cols
        .into_iter()
        .map(|(t, c, ty, not_null)| ((t, c), (ty, not_null != 0)))
        .collect();
    let pg: BTreeMap<(String, String), (String, bool)> = pg_cols
        .into_iter()
        .map(|(t, c, ty, not_null)| ((t, c), (ty, not_null)))
        .collect();
    assert_eq!(
        lite.keys().collect::<Vec<_>>(),
        pg.keys().collect::<Vec<_>>(),
        "the same tables and columns"
    );
    let drift: Vec<String> = lite
        .iter()
        .filter_map(|(key, (lite_ty, lite_nn))| {
            let (pg_ty, pg_nn) = &pg[key];
            let same_type = same_rust_type(lite_ty, pg_ty);
            (!same_type || lite_nn != pg_nn).then(|| {
                format!(
                    "{}.{}: sqlite {lite_ty} {}, postgres {pg_ty} {}",
                    key.0,
                    key.1,
                    null_word(*lite_nn),
                    null_word(*pg_nn)
                )
            })
        })
        .collect();
    assert!(drift.is_empty(), "columns that differ: {drift:#?}");
}

/// Whether a SQLite declared type and a PostgreSQL type decode to the same
/// Rust type through the store's codecs: ids (`DbUuid`), times (`DbTime`)
/// and JSON are text on SQLite; every integer is `bigint` on PostgreSQL;
/// a flag is `boolean` on PostgreSQL and a 0/1 integer on SQLite (sqlx
/// decodes both as `bool`); bytes are `blob` and `bytea` (`Vec<u8>` on
/// both: the sealed secrets of `providers`).
fn same_rust_type(sqlite: &str, postgres: &str) -> bool {
    matches!(
        (sqlite, postgres),
        ("text", "text" | "uuid" | "timestamptz" | "jsonb")
            | ("integer", "int8" | "bool")
            | ("blob", "bytea")
    )
}

fn null_word(not_null: bool) -> &'static str {
    if not_null { "not null" } else { "null" }
}

/// The comparison itself: a column whose types cannot decode alike is drift.
#[test]
fn column_types_match_only_through_a_codec() {
    assert!(same_rust_type("text", "uuid"));
    assert!(same_rust_type("integer", "int8"));
    assert!(
        !same_rust_type("integer", "int4"),
        "i32 on PostgreSQL, i64 on SQLite"
    );
    assert!(!same_rust_type("text", "int8"));
    assert!(!same_rust_type("integer", "text"));
}
