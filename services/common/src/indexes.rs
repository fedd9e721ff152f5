//! `db.indexes`: the seed platform's performance indexes (`migrations/indexes.sql`), dropped or
//! built again at run time so a lab can show what they do. On PostgreSQL both go CONCURRENTLY
//! (outside a transaction: reads and writes go on while an index builds), except on the
//! partitioned audit log, which refuses it; under an advisory lock so two task services do not
//! race. On SQLite, in one write transaction.

use serde::{Deserialize, Serialize};
use sqlx::{AssertSqlSafe, Connection};

use crate::db::AnyDb;

/// The index definitions, one `CREATE INDEX IF NOT EXISTS name ON …` per line.
pub const INDEXES_SQL: &str = include_str!("../../../migrations/indexes.sql");

/// Which performance indexes exist (`db.indexes`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum IndexSet {
    /// The seed platform's: what the migrations leave.
    #[default]
    Seed,
    /// None of them: filtered queries scan.
    None,
}

const CREATE: &str = "CREATE INDEX IF NOT EXISTS ";
/// The advisory lock [`apply`] builds and drops under (as `pg_locks` shows it): any number, the
/// same in every task service on one database.
pub const LOCK_KEY: i64 = 0x656d_726c_6162_6978;

/// (name, statement) of every index in the set.
pub fn definitions() -> Vec<(&'static str, &'static str)> {
    INDEXES_SQL
        .lines()
        .filter_map(|line| {
            let rest = line.trim().strip_prefix(CREATE)?;
            Some((rest.split_whitespace().next()?, line.trim()))
        })
        .collect()
}

/// The table an index definition is on.
fn table_of(create: &str) -> Option<&str> {
    create.split(" ON ").nth(1)?.split_whitespace().next()
}

/// The statements that bring the database to `set`. `concurrent` says, per table, whether its
/// indexes go CONCURRENTLY: PostgreSQL, except on partitioned tables (the audit log), which
/// refuse it; their indexes are built or dropped with a short lock instead.
fn statements(set: IndexSet, concurrent: impl Fn(&str) -> bool) -> Vec<String> {
    definitions()
        .into_iter()
        .map(|(name, create)| {
            let concurrently = table_of(create).is_some_and(&concurrent);
            match (set, concurrently) {
                (IndexSet::Seed, true) => create.replacen(CREATE, "CREATE INDEX CONCURRENTLY IF NOT EXISTS ", 1),
                (IndexSet::Seed, false) => create.to_owned(),
                (IndexSet::None, true) => format!("DROP INDEX CONCURRENTLY IF EXISTS {name}"),
                (IndexSet::None, false) => format!("DROP INDEX IF EXISTS {name}"),
            }
        })
        .collect()
}

/// `ANALYZE` of every indexed table once the indexes are there: on a freshly seeded database the
/// planner has no statistics until autovacuum's next pass, and until then it may not use the
/// indexes at all (the indexes lab saw no difference on a fresh PostgreSQL database).
fn analyze(set: IndexSet) -> Vec<String> {
    if set != IndexSet::Seed {
        return Vec::new();
    }
    let mut tables: Vec<&str> = definitions()
        .into_iter()
        .filter_map(|(_, create)| table_of(create))
        .collect();
    tables.sort_unstable();
    tables.dedup();
    tables.into_iter().map(|t| format!("ANALYZE {t}")).collect()
}

/// Brings the database to `set`; idempotent. A build that failed half way on PostgreSQL leaves an
/// invalid index, which is dropped and built again.
pub async fn apply(db: &AnyDb, set: IndexSet) -> Result<(), sqlx::Error> {
    match db {
        AnyDb::Postgres(db) => {
            let mut conn = db.acquire().await?;
            if !postgres_already_at(&mut conn, set).await? {
                // CONCURRENTLY refuses a transaction block, so the lock is held by a transaction
                // on a connection of its own (outside the pool, which may have one connection):
                // a transaction-mode pooler keeps a transaction on one server connection, and the
                // lock goes with it when it ends or its connection drops, whatever happens to the
                // build. A session lock's unlock could reach another server connection than its
                // lock and leave it held there for good.
                let mut holder = sqlx::PgConnection::connect_with(&db.connect_options()).await?;
                let mut lock = holder.begin().await?;
                sqlx::query("SELECT pg_advisory_xact_lock($1)")
                    .bind(LOCK_KEY)
                    .execute(&mut *lock)
                    .await?;
                let built = postgres_build(&mut conn, set).await;
                let released = lock.commit().await;
                built?;
                released?;
                holder.close().await?;
            }
            for statement in analyze(set) {
                sqlx::query(AssertSqlSafe(statement)).execute(&mut *conn).await?;
            }
            Ok(())
        }
        AnyDb::Sqlite(db) => {
            let mut w = db.begin_write().await?;
            for statement in statements(set, |_| false).into_iter().chain(analyze(set)) {
                sqlx::query(AssertSqlSafe(statement)).execute(&mut *w.tx).await?;
            }
            w.tx.commit().await
        }
    }
}

/// Under the lock: drops what a failed build left invalid, then creates or drops the set's
/// indexes, CONCURRENTLY except on partitioned tables (see [`statements`]).
async fn postgres_build(conn: &mut sqlx::PgConnection, set: IndexSet) -> Result<(), sqlx::Error> {
    if set == IndexSet::Seed {
        let states = postgres_index_states(conn).await?;
        let invalid = |name: &str| states.iter().any(|(n, valid)| n == name && !valid);
        for name in definitions().into_iter().map(|(n, _)| n).filter(|n| invalid(n)) {
            sqlx::query(AssertSqlSafe(format!("DROP INDEX CONCURRENTLY IF EXISTS {name}")))
                .execute(&mut *conn)
                .await?;
        }
    }
    let partitioned: Vec<String> = sqlx::query_scalar("SELECT relname::text FROM pg_class WHERE relkind = 'p'")
        .fetch_all(&mut *conn)
        .await?;
    for statement in statements(set, |table| !partitioned.iter().any(|p| p == table)) {
        sqlx::query(AssertSqlSafe(statement)).execute(&mut *conn).await?;
    }
    Ok(())
}

/// Whether the database is at `set` already, with no invalid index of it: then nothing is built
/// or dropped, and neither the lock nor its connection is taken (every task service asks at
/// start-up).
async fn postgres_already_at(conn: &mut sqlx::PgConnection, set: IndexSet) -> Result<bool, sqlx::Error> {
    let existing = postgres_index_states(conn).await?;
    let state = |name: &str| existing.iter().find(|(n, _)| n == name).map(|(_, valid)| *valid);
    Ok(definitions().into_iter().all(|(name, _)| match set {
        IndexSet::Seed => state(name) == Some(true),
        IndexSet::None => state(name).is_none(),
    }))
}

/// Every index of the current schema by name, and whether it is valid (a build that failed half
/// way leaves an invalid one).
async fn postgres_index_states(conn: &mut sqlx::PgConnection) -> Result<Vec<(String, bool)>, sqlx::Error> {
    sqlx::query_as(
        "SELECT c.relname::text, i.indisvalid FROM pg_index i \
         JOIN pg_class c ON c.oid = i.indexrelid \
         JOIN pg_namespace n ON n.oid = c.relnamespace WHERE n.nspname = current_schema()",
    )
    .fetch_all(conn)
    .await
}

/// Applies `db.indexes` as configured now and again whenever `changes` brings another value;
/// ends with the component (when its knobs go).
pub fn follow<T: Send + Sync + 'static>(
    db: AnyDb,
    mut changes: tokio::sync::watch::Receiver<std::sync::Arc<T>>,
    pick: fn(&T) -> IndexSet,
) {
    tokio::spawn(async move {
        let mut applied = None;
        loop {
            let wanted = pick(&changes.borrow());
            if applied != Some(wanted) {
                let started = std::time::Instant::now();
                match apply(&db, wanted).await {
                    Ok(()) => {
                        tracing::info!(indexes = ?wanted, took = ?started.elapsed(), "db.indexes applied");
                        applied = Some(wanted);
                    }
                    Err(error) => tracing::warn!(%error, indexes = ?wanted, "db.indexes could not be applied"),
                }
            }
            if changes.changed().await.is_err() {
                break;
            }
        }
    });
}

/// Which of the set's indexes exist now, by name.
pub async fn present(db: &AnyDb) -> Result<Vec<String>, sqlx::Error> {
    let names: Vec<String> = match db {
        AnyDb::Postgres(db) => postgres_index_states(&mut *db.acquire().await?)
            .await?
            .into_iter()
            .map(|(name, _)| name)
            .collect(),
        AnyDb::Sqlite(db) => {
            sqlx::query_scalar("SELECT name FROM sqlite_master WHERE type = 'index'")
                .fetch_all(&mut *db.acquire().await?)
                .await?
        }
    };
    let wanted = definitions();
    Ok(names
        .into_iter()
        .filter(|n| wanted.iter().any(|(w, _)| w == n))
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The migrations must leave the database at `seed`: every definition in the knob's file is
    /// in a migration, word for word, on both backends.
    #[test]
    fn the_migrations_create_every_index_of_the_set_as_the_knob_does() {
        let migrations = [
            include_str!("../../../migrations/postgres/0002_tasks.sql"),
            include_str!("../../../migrations/postgres/0010_seed_indexes.sql"),
            include_str!("../../../migrations/sqlite/0002_tasks.sql"),
            include_str!("../../../migrations/sqlite/0010_seed_indexes.sql"),
        ];
        let defs = definitions();
        assert_eq!(defs.len(), 9);
        for (name, create) in defs {
            let plain = create.replacen(CREATE, "CREATE INDEX ", 1);
            for backend in [&migrations[..2], &migrations[2..]] {
                assert!(
                    backend.iter().any(|m| m.contains(create) || m.contains(&plain)),
                    "{name}: `{create}` is in no migration"
                );
            }
        }
    }
}
