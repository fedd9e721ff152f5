//! `db.sqlite_inline_reads`: reads on the calling thread see every committed write at once, never
//! an uncommitted one, and stop when the knob goes off at run time; an in-memory database has
//! none.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::{Duration, Instant};

use emrlab_common::{
    config::DbConfig,
    db::{AnyDb, Db},
    knobs::{DB_KNOBS, KnobCell},
};
use serde_json::{Map, Value, json};
use sqlx::Sqlite;

fn count(db: &Db<Sqlite>) -> i64 {
    let reader = db.inline_reader().expect("inline reads are on");
    reader
        .read(|conn| conn.query_row("SELECT count(*) FROM notes", [], |row| row.get(0)))
        .unwrap()
}

#[tokio::test]
async fn inline_reads_see_committed_writes_only_and_stop_with_the_knob() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}", dir.path().join("inline.db").display());
    let AnyDb::Sqlite(db) = AnyDb::connect(&url, &DbConfig::default(), "test").unwrap() else {
        panic!("a sqlite:// URL opened another backend");
    };
    db.execute_atomic(sqlx::query(
        "BEGIN IMMEDIATE; CREATE TABLE notes (body TEXT NOT NULL); COMMIT;",
    ))
    .await
    .unwrap();
    assert_eq!(count(&db), 0);

    let mut write = db.begin_write().await.unwrap();
    sqlx::query("INSERT INTO notes (body) VALUES ('handover')")
        .execute(&mut *write.tx)
        .await
        .unwrap();
    assert_eq!(count(&db), 0, "an inline read saw an uncommitted write");
    write.tx.commit().await.unwrap();
    assert_eq!(count(&db), 1, "an inline read missed a committed write");

    let off = DbConfig {
        sqlite_inline_reads: false,
        ..DbConfig::default()
    };
    AnyDb::Sqlite(db.clone()).reconfigure(&off);
    assert!(db.inline_reader().is_none());
    AnyDb::Sqlite(db.clone()).reconfigure(&DbConfig::default());
    assert_eq!(count(&db), 1);
}

#[tokio::test]
async fn an_in_memory_database_reads_through_its_pool() {
    for url in ["sqlite::memory:", "sqlite://notes.db?mode=memory"] {
        let AnyDb::Sqlite(db) = AnyDb::connect(url, &DbConfig::default(), "test").unwrap() else {
            panic!("{url} opened another backend");
        };
        assert!(
            db.inline_reader().is_none(),
            "{url}: inline reads of a database with no file"
        );
    }
}

#[derive(serde::Serialize, serde::Deserialize, Default)]
#[serde(default)]
struct Settings {
    db: DbConfig,
}

/// Polls `done` until it holds, failing after five seconds.
async fn until(what: &str, done: impl Fn() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(5);
    while !done() {
        assert!(Instant::now() < deadline, "{what}: not within 5 s");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

#[tokio::test]
async fn switching_inline_reads_at_run_time_keeps_the_pool_and_a_pool_knob_builds_a_new_one() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}", dir.path().join("inline.db").display());
    let any = AnyDb::connect(&url, &DbConfig::default(), "test").unwrap();
    let AnyDb::Sqlite(db) = any.clone() else {
        panic!("a sqlite:// URL opened another backend");
    };
    let knobs = KnobCell::new("test", &DB_KNOBS, Settings::default());
    any.follow_knobs(&knobs, |s| &s.db);
    // Pools open connections lazily: one in use marks the pool it belongs to.
    drop(db.acquire().await.unwrap());
    assert_eq!(db.pool().size(), 1);
    let change = |name: &str, value: Value| knobs.apply(&Map::from_iter([(name.to_owned(), value)])).unwrap();

    change("db.sqlite_inline_reads", json!(false));
    until("inline reads off", || db.inline_reader().is_none()).await;
    assert_eq!(db.pool().size(), 1, "switching inline reads built a new pool");
    change("db.sqlite_inline_reads", json!(true));
    until("inline reads on", || db.inline_reader().is_some()).await;
    assert_eq!(db.pool().size(), 1, "switching inline reads built a new pool");

    change("db.pool_size", json!(3));
    until("the new pool", || db.pool().options().get_max_connections() == 3).await;
    assert_eq!(db.pool().size(), 0, "the new pool opened no connection yet");
}
