//! `db.sqlite_writer`: on SQLite a component writes through one connection of its own, beside its
//! pool, so a write in progress holds no pooled connection and reads go on even with
//! `db.pool_size` = 1. Switched off at run time, writes take pooled connections again.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::Duration;

use emrlab_common::{
    config::DbConfig,
    db::{AnyDb, Db},
};
use sqlx::Sqlite;

fn one_connection() -> DbConfig {
    DbConfig {
        pool_size: 1,
        acquire_timeout: Duration::from_millis(500),
        ..DbConfig::default()
    }
}

async fn count(db: &Db<Sqlite>) -> Result<i64, sqlx::Error> {
    sqlx::query_scalar("SELECT count(*) FROM notes")
        .fetch_one(&mut *db.acquire().await?)
        .await
}

/// Inserts a note in a write transaction and, before committing, reads through the pool.
async fn read_during_write(db: &Db<Sqlite>) -> Result<i64, sqlx::Error> {
    let mut write = db.begin_write().await.unwrap();
    sqlx::query("INSERT INTO notes (body) VALUES ('handover')")
        .execute(&mut *write.tx)
        .await
        .unwrap();
    let read = count(db).await;
    write.tx.commit().await.unwrap();
    read
}

#[tokio::test]
async fn reads_go_on_during_a_write_with_a_pool_of_one_until_the_writer_is_switched_off() {
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

    assert_eq!(
        read_during_write(&db)
            .await
            .expect("a read waited for the write's connection"),
        0,
        "a read saw an uncommitted write"
    );
    assert_eq!(count(&db).await.unwrap(), 1, "the committed write is not visible");

    AnyDb::Sqlite(db.clone()).reconfigure(&DbConfig {
        sqlite_writer: false,
        ..one_connection()
    });
    let error = read_during_write(&db)
        .await
        .expect_err("with the writer off, the write holds the pool's one connection");
    assert!(matches!(error, sqlx::Error::PoolTimedOut), "{error}");
    assert_eq!(count(&db).await.unwrap(), 2);

    // And back on: writes go through a new writer, reads through the pool.
    AnyDb::Sqlite(db.clone()).reconfigure(&one_connection());
    assert_eq!(read_during_write(&db).await.unwrap(), 2);
    assert_eq!(count(&db).await.unwrap(), 3);
}
