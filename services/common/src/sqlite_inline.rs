//! `db.sqlite_inline_reads`: SQLite point reads run on the calling thread, through rusqlite, on
//! read-only connections of their own. sqlx runs every SQLite statement on its connection's own
//! thread, and for a read by primary key (a few microseconds in SQLite) the hand-off and its
//! context switches cost several times the read: ~28 % of a gateway read's CPU (benches/README.md).
//!
//! A read here never waits: the connections have no busy timeout, so one that meets a lock (a
//! WAL recovery, a checkpoint that truncates) fails at once with `SQLITE_BUSY`, and the caller
//! falls back to its pool. It never blocks a runtime thread for longer than the read itself.

use std::{
    path::{Path, PathBuf},
    sync::{Mutex, PoisonError},
    time::Duration,
};

use rusqlite::{Connection, OpenFlags};

/// Read-only connections to one SQLite file, opened on first use. There are never more than the
/// threads that have read at the same time: a connection is held only for one synchronous read.
pub struct InlineReader {
    path: PathBuf,
    idle: Mutex<Vec<Connection>>,
}

impl InlineReader {
    /// A reader beside the pool of the database at `url` (file `path`), unless that database is
    /// in memory: it exists only inside the pool's connections, with no file to read beside them,
    /// and every inline read would fail over to the pool.
    pub fn beside(url: &str, path: &Path) -> Option<Self> {
        let in_memory = url.contains(":memory:") || url.contains("mode=memory");
        (!in_memory).then(|| Self {
            path: path.to_owned(),
            idle: Mutex::new(Vec::new()),
        })
    }

    /// Runs `read` on an idle connection (a new one when none is idle), then keeps it for the
    /// next read. A connection whose read failed is dropped, not kept.
    pub fn read<T>(&self, read: impl FnOnce(&Connection) -> rusqlite::Result<T>) -> rusqlite::Result<T> {
        let idle = self.idle.lock().unwrap_or_else(PoisonError::into_inner).pop();
        let conn = match idle {
            Some(conn) => conn,
            None => self.open()?,
        };
        let result = read(&conn);
        if result.is_ok() {
            self.idle.lock().unwrap_or_else(PoisonError::into_inner).push(conn);
        }
        result
    }

    fn open(&self) -> rusqlite::Result<Connection> {
        let flags = OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX;
        let conn = Connection::open_with_flags(&self.path, flags)?;
        // rusqlite waits 5 s on a lock by default; these reads must not wait at all.
        conn.busy_timeout(Duration::ZERO)?;
        Ok(conn)
    }
}
