//! The task store on SQLite: instants are integer microseconds, documents JSON text, `LIKE` is
//! already case-insensitive for ASCII, and writes are serialised by the write lock of
//! [`emrlab_common::db::Db::begin_write`] (and `execute_atomic`), so no row lock is needed.

use emrlab_common::db::{from_micros, to_micros};
use sqlx::Sqlite;

fn json_text(value: serde_json::Value) -> String {
    value.to_string()
}

super::sql::sql_task_store!(
    SqliteTaskStore, Sqlite,
    instant: i64, to_db: to_micros, from_db: from_micros,
    json: json_text, like: "LIKE", lock: "",
    // A transaction in one call: sqlx-sqlite runs the statements in turn on the connection's
    // thread, and stops at the first that fails (then the connection is closed, rolling back).
    create: concat!(
        "BEGIN IMMEDIATE; ",
        super::statements::create_task_values!(),
        "; ",
        super::statements::create_audit_values!(),
        "; COMMIT"
    ),
);

super::synced::sql_synced_rows!(SqliteTaskStore, Sqlite, to_db: to_micros, lock: "");

super::patients::sql_patient_refs!(SqliteTaskStore, Sqlite);

super::admissions::sql_patient_store!(
    SqliteTaskStore, Sqlite,
    instant: i64, to_db: to_micros, from_db: from_micros,
    like: "LIKE", lock: ""
);
