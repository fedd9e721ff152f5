//! The task store on PostgreSQL: instants are `timestamptz`, documents `jsonb`, search is `ILIKE`,
//! and an update locks its row with `FOR UPDATE`.

use sqlx::{Postgres, types::Json};
use time::OffsetDateTime;

fn same(t: OffsetDateTime) -> OffsetDateTime {
    t
}

super::sql::sql_task_store!(
    PgTaskStore, Postgres,
    instant: OffsetDateTime, to_db: same, from_db: same,
    json: Json, like: "ILIKE", lock: " FOR UPDATE",
    // A data-modifying CTE: both rows in one statement, atomic on its own.
    create: concat!("WITH created AS (", super::statements::create_task_values!(), ") ", super::statements::create_audit_values!()),
);

super::synced::sql_synced_rows!(PgTaskStore, Postgres, to_db: same, lock: " FOR UPDATE");

super::patients::sql_patient_refs!(PgTaskStore, Postgres);

super::admissions::sql_patient_store!(
    PgTaskStore, Postgres,
    instant: OffsetDateTime, to_db: same, from_db: same,
    like: "ILIKE", lock: " FOR UPDATE"
);
