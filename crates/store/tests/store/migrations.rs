use promptrefine_store::{StoreError, migrate};
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
    let err = store
        .versions()
        .attempt_update_for_test(v.id, "changed")
        .await
        .unwrap_err();
    assert!(matches!(err, StoreError::Other(_)), "{err:?}");
    assert!(
        err.to_string().contains("immutable") || format!("{err:?}").contains("immutable"),
        "{err:?}"
    );
    assert_eq!(store.versions().get(v.id).await.unwrap().note, None);
}

#[test]
fn both_backends_have_the_same_migrations() {
    assert_eq!(migrate::known("sqlite"), migrate::known("postgres"));
}

/// The two schemas have the same tables with the same columns.
#[tokio::test]
async fn both_schemas_have_the_same_tables_and_columns() {
    let lite_db = TestDb::sqlite();
    let Some(pg_db) = TestDb::postgres().await else {
        return;
    };
    let lite = open(&lite_db).await;
    let pg = open(&pg_db).await;

    let promptrefine_store::Backend::Sqlite { reader, .. } = lite.backend() else {
        unreachable!()
    };
    let lite_cols: Vec<(String, String)> = sqlx::query_as(
        "select m.name, p.name from sqlite_master m join pragma_table_info(m.name) p
         where m.type = 'table' and m.name not like '\\_sqlx%' escape '\\' and m.name not like 'sqlite%'
         order by 1, 2",
    )
    .fetch_all(reader)
    .await
    .unwrap();
    let promptrefine_store::Backend::Postgres(pool) = pg.backend() else {
        unreachable!()
    };
    let pg_cols: Vec<(String, String)> = sqlx::query_as(
        "select table_name::text, column_name::text from information_schema.columns
         where table_schema = 'public' and table_name not like '\\_sqlx%'
         order by 1, 2",
    )
    .fetch_all(pool)
    .await
    .unwrap();
    assert!(lite_cols.len() > 40, "{lite_cols:?}");
    assert_eq!(lite_cols, pg_cols);
}
