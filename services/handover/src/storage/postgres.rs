//! The handover store on PostgreSQL: instants are `timestamptz`.

use sqlx::Postgres;
use time::OffsetDateTime;

fn same(t: OffsetDateTime) -> OffsetDateTime {
    t
}

super::sql::sql_handover_store!(PgHandoverStore, Postgres, instant: OffsetDateTime, to_db: same, from_db: same);
