//! The write path: on SQLite every write of a process to one file queues behind one lock, and
//! goes through the component's writer connection when `db.sqlite_writer` is on; on PostgreSQL a
//! write is a pooled connection's transaction.

use std::{
    collections::HashMap,
    sync::{Arc, Mutex as StdMutex, OnceLock},
};

use sqlx::{Database, Transaction, pool::PoolConnection};
use tokio::sync::{Mutex, OwnedMutexGuard};

use super::Db;

/// A write transaction; on SQLite it also holds the process-wide write lock until dropped.
pub struct WriteTx<DB: Database> {
    pub tx: Transaction<'static, DB>,
    _lock: Option<OwnedMutexGuard<()>>,
}

impl<DB: Database> Db<DB> {
    /// A transaction that will write: `BEGIN IMMEDIATE` behind the write lock on SQLite.
    pub async fn begin_write(&self) -> Result<WriteTx<DB>, sqlx::Error> {
        self.begin_write_as("BEGIN").await
    }

    /// A write transaction at SERIALIZABLE isolation: its commit can fail with SQLSTATE 40001
    /// on PostgreSQL, and the caller retries. SQLite's transactions are serializable already, and
    /// behind the write lock they never conflict: it is [`Self::begin_write`] there.
    pub async fn begin_serializable(&self) -> Result<WriteTx<DB>, sqlx::Error> {
        self.begin_write_as("BEGIN ISOLATION LEVEL SERIALIZABLE").await
    }

    /// Executes a call that is atomic by itself: a single statement on PostgreSQL, or on SQLite
    /// a batch that starts with `BEGIN IMMEDIATE` and ends with `COMMIT`. Against
    /// [`Self::begin_write`] it saves two round trips (BEGIN, COMMIT) and, on SQLite, two hand-offs
    /// to the connection's thread while the write lock is held: the lock's hold time is what
    /// bounds SQLite's write throughput. The call runs on its own task, so a request dropped
    /// half-way (its client went away) cannot stop it between BEGIN and COMMIT; and after a
    /// failure the SQLite connection is closed, which rolls back, rather than pooled mid-batch.
    pub async fn execute_atomic(
        self: &Arc<Self>,
        query: sqlx::query::Query<'static, DB, <DB as Database>::Arguments>,
    ) -> Result<DB::QueryResult, sqlx::Error>
    where
        for<'c> &'c mut DB::Connection: sqlx::Executor<'c, Database = DB>,
        <DB as Database>::Arguments: sqlx::IntoArguments<DB> + Send,
    {
        let db = Arc::clone(self);
        let call = tokio::spawn(async move {
            let lock = db.lock_writes().await;
            let mut conn = db.acquire_write().await?;
            let done = query.execute(&mut *conn).await;
            if done.is_err() && lock.is_some() {
                conn.close_on_drop();
            }
            done
        });
        // A panic in the call is the only way to get here without its answer.
        call.await.unwrap_or(Err(sqlx::Error::WorkerCrashed))
    }

    async fn begin_write_as(&self, postgres: &'static str) -> Result<WriteTx<DB>, sqlx::Error> {
        let lock = self.lock_writes().await;
        let conn = self.acquire_write().await?;
        // SQLite's deferred BEGIN would take the write lock only at the first write and could then
        // fail with SQLITE_BUSY at once; IMMEDIATE takes it up front, where busy_timeout applies.
        let statement = if lock.is_some() { "BEGIN IMMEDIATE" } else { postgres };
        let statement = (statement != "BEGIN").then(|| sqlx::SqlSafeStr::into_sql_str(statement));
        let tx = Transaction::begin(conn, statement).await?;
        Ok(WriteTx { tx, _lock: lock })
    }

    /// SQLite: the process-wide write lock of this database file, held until dropped.
    pub(super) async fn lock_writes(&self) -> Option<OwnedMutexGuard<()>> {
        match &self.write_lock {
            Some(lock) => Some(lock.clone().lock_owned().await),
            None => None,
        }
    }

    /// The connection to write through (after the write lock on SQLite): the writer if there is
    /// one, else a pooled connection.
    async fn acquire_write(&self) -> Result<PoolConnection<DB>, sqlx::Error> {
        match self.writer.load_full() {
            Some(writer) => self.timed_acquire(&writer).await,
            None => self.acquire().await,
        }
    }
}

pub(super) fn sqlite_write_lock(url: &str) -> Arc<Mutex<()>> {
    static LOCKS: OnceLock<StdMutex<HashMap<String, Arc<Mutex<()>>>>> = OnceLock::new();
    let locks = LOCKS.get_or_init(Default::default);
    let mut map = locks.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
    map.entry(url.to_owned()).or_default().clone()
}
