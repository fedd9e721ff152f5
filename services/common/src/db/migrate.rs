//! `AnyDb::migrate`: the embedded migrations of each backend, and on PostgreSQL the check that
//! lets a component start without the migrator's lock.

use super::{AnyDb, DbError};

impl AnyDb {
    /// Applies the embedded migrations of this backend (idempotent). On PostgreSQL the migrator
    /// takes a session advisory lock, but only when there is something to apply: see
    /// [`postgres_up_to_date`].
    pub async fn migrate(&self) -> Result<(), DbError> {
        match self {
            Self::Postgres(db) => {
                let migrator = sqlx::migrate!("../../migrations/postgres");
                if !postgres_up_to_date(&migrator, &mut *db.acquire().await?).await? {
                    migrator.run(&db.pool()).await?;
                }
            }
            Self::Sqlite(db) => {
                let _guard = db.lock_writes().await;
                sqlx::migrate!("../../migrations/sqlite").run(&db.pool()).await?
            }
        }
        Ok(())
    }
}

/// Whether every migration is applied, cleanly and with the checksum it has now, asked without
/// the migrator's lock. That lock is a session advisory lock: behind a transaction-mode pooler
/// (PgBouncer) its unlock may reach another server connection than its lock, and the lock stays
/// held there, so every component starting through one must find nothing to do. Migrations go
/// straight to PostgreSQL (`emrlab migrate`, compose's migrate job).
async fn postgres_up_to_date(
    migrator: &sqlx::migrate::Migrator,
    conn: &mut sqlx::PgConnection,
) -> Result<bool, DbError> {
    use sqlx::migrate::Migrate;
    let table = &*migrator.table_name;
    let exists: bool = sqlx::query_scalar("SELECT to_regclass($1::text) IS NOT NULL")
        .bind(table)
        .fetch_one(&mut *conn)
        .await?;
    if !exists || conn.dirty_version(table).await?.is_some() {
        return Ok(false);
    }
    let applied = conn.list_applied_migrations(table).await?;
    Ok(migrator
        .iter()
        .filter(|m| !m.migration_type.is_down_migration())
        .all(|m| {
            applied
                .iter()
                .any(|a| a.version == m.version && a.checksum == m.checksum)
        }))
}
