//! The handover store on SQLite: instants are integer microseconds, and writes are serialised by
//! the write lock of [`emrlab_common::db::Db::begin_write`].

use emrlab_common::db::{from_micros, to_micros};
use sqlx::Sqlite;

super::sql::sql_handover_store!(SqliteHandoverStore, Sqlite, instant: i64, to_db: to_micros, from_db: from_micros);
