//! Behind a transaction-mode pooler (PgBouncer) a session advisory lock may stay held on one of
//! its server connections for good, so a component starting on an up-to-date PostgreSQL database
//! must not wait for one: with the migrator's and `db.indexes`' locks held by another session,
//! start-up still finishes. Runs when `TEST_DATABASE_URL` is set.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::Duration;

use emrlab_common::{
    config::DbConfig,
    db::AnyDb,
    indexes::{self, IndexSet},
    testing,
};
use sqlx::{Connection, PgConnection, migrate::Migrate};

/// Far longer than either call takes; a call waiting on a held lock never returns.
const DEADLINE: Duration = Duration::from_secs(30);

#[tokio::test]
async fn an_up_to_date_database_starts_while_another_session_holds_the_schema_locks() {
    let Some(server) = testing::postgres_url() else { return };
    let url = testing::fresh_postgres_database(&server).await.unwrap();
    let db = AnyDb::connect(&url, &DbConfig::default(), "test").unwrap();
    db.migrate().await.unwrap();
    indexes::apply(&db, IndexSet::Seed).await.unwrap();

    let mut holder = PgConnection::connect(&url).await.unwrap();
    // The migrator's own lock, taken the way sqlx takes it, and the one `db.indexes` builds under.
    holder.lock().await.unwrap();
    sqlx::query("SELECT pg_advisory_lock($1)")
        .bind(indexes::LOCK_KEY)
        .execute(&mut holder)
        .await
        .unwrap();

    tokio::time::timeout(DEADLINE, db.migrate())
        .await
        .expect("migrating an up-to-date database waited for the migrator's lock")
        .unwrap();
    tokio::time::timeout(DEADLINE, indexes::apply(&db, IndexSet::Seed))
        .await
        .expect("applying the indexes the database already has waited for their lock")
        .unwrap();

    // A change still takes the lock: dropping the indexes queues behind the holder.
    let dropping = tokio::spawn({
        let db = db.clone();
        async move { indexes::apply(&db, IndexSet::None).await }
    });
    let mut observer = PgConnection::connect(&url).await.unwrap();
    let deadline = tokio::time::Instant::now() + DEADLINE;
    loop {
        let waiting: i64 = sqlx::query_scalar(
            "SELECT count(*) FROM pg_locks l JOIN pg_database d ON d.oid = l.database \
             WHERE l.locktype = 'advisory' AND NOT l.granted AND d.datname = current_database()",
        )
        .fetch_one(&mut observer)
        .await
        .unwrap();
        if waiting > 0 {
            break;
        }
        assert!(
            !dropping.is_finished(),
            "dropping the indexes did not wait for their lock"
        );
        assert!(
            tokio::time::Instant::now() < deadline,
            "dropping the indexes never asked for their lock"
        );
        tokio::task::yield_now().await;
    }
    holder.close().await.unwrap();
    tokio::time::timeout(DEADLINE, dropping)
        .await
        .unwrap()
        .unwrap()
        .unwrap();
    assert!(indexes::present(&db).await.unwrap().is_empty());
}
