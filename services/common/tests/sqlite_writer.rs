//! On SQLite a component writes through one writer connection of its own, beside its pool: a
//! write in progress holds no pooled connection, so reads go on even with `db.pool_size` = 1.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::Duration;

use emrlab_common::{config::DbConfig, db::AnyDb};

fn one_connection() -> DbConfig {
    DbConfig {
        pool_size: 1,
        acquire_timeout: Duration::from_secs(2),
        ..DbConfig::default()
    }
}

async fn count(db: &emrlab_common::db::Db<sqlx::Sqlite>) -> i64 {
    sqlx::query_scalar("SELECT count(*) FROM notes")
        .fetch_one(&mut *db.acquire().await.expect("a read waited for the write's connection"))
        .await
        .unwrap()
}

#[tokio::test]
async fn reads_go_on_while_a_write_holds_its_transaction_with_a_pool_of_one() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}", dir.path().join("writer.db").display());
    let AnyDb::Sqlite(db) = AnyDb::connect(&url, &one_connection(), "test").unwrap() else {
        panic!("a sqlite:// URL opened another backend");
    };
    db.execute_atomic(sqlx::query(
        "BEGIN IMMEDIATE; CREATE TABLE notes (body TEXT NOT NULL); COMMIT;",
    ))
    .await
    .unwrap();

    {
        let mut write = db.begin_write().await.unwrap();
        sqlx::query("INSERT INTO notes (body) VALUES ('handover')")
            .execute(&mut *write.tx)
            .await
            .unwrap();
        assert_eq!(count(&db).await, 0, "a read saw an uncommitted write");
        write.tx.commit().await.unwrap();
    }
    assert_eq!(count(&db).await, 1, "the committed write is not visible");

    // A new pool size replaces the writer too; writes and reads go on through the new ones.
    AnyDb::Sqlite(db.clone()).reconfigure(&DbConfig {
        pool_size: 2,
        ..one_connection()
    });
    db.execute_atomic(sqlx::query(
        "BEGIN IMMEDIATE; INSERT INTO notes (body) VALUES ('round'); COMMIT;",
    ))
    .await
    .unwrap();
    assert_eq!(count(&db).await, 2);
}
