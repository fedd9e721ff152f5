//! `audit.retention`: events older than it are deleted, checked every tenth of the retention
//! (at least every second, at most every hour) and at once when the knob changes. On PostgreSQL a
//! monthly partition wholly past it is detached and dropped (no dead tuples, no vacuum debt), and
//! the next months' partitions are made ahead, so new events never pile up in the default one.

use std::{sync::Arc, time::Duration};

use serde::{Deserialize, Serialize};
use sqlx::AssertSqlSafe;
use time::{Date, Month, OffsetDateTime};
use tokio::sync::watch;

use emrlab_common::{
    db::{AnyDb, to_micros},
    knobs::{KnobKind, KnobSpec},
};

/// Rows one delete removes, so a purge never holds SQLite's write lock for long.
const BATCH: i64 = 5_000;
/// A year as humantime counts it (365.25 days), so the default prints as `6years`.
const YEAR_SECS: u64 = 31_557_600;
/// Months of partitions kept ready ahead of now.
const MONTHS_AHEAD: u8 = 3;

/// The `[audit]` section of the configuration.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Config {
    /// How long audit events are kept (`audit.retention`).
    #[serde(with = "humantime_serde")]
    pub retention: Duration,
}

impl Default for Config {
    fn default() -> Self {
        // Six years: HIPAA's retention for compliance documentation, a common audit-log floor.
        Self {
            retention: Duration::from_secs(6 * YEAR_SECS),
        }
    }
}

pub const KNOBS: [KnobSpec; 1] = [KnobSpec {
    name: "audit.retention",
    kind: KnobKind::Duration {
        min: Duration::from_secs(1),
        max: Duration::from_secs(100 * YEAR_SECS),
    },
    help: "how long audit events are kept; older ones are deleted (whole monthly partitions dropped on PostgreSQL)",
}];

/// How often the purge runs for a retention.
fn interval(retention: Duration) -> Duration {
    (retention / 10).clamp(Duration::from_secs(1), Duration::from_secs(3_600))
}

/// Purges on a schedule for as long as the knobs live.
pub fn spawn_purger(db: AnyDb, mut changes: watch::Receiver<Arc<crate::Settings>>) {
    tokio::spawn(async move {
        loop {
            let retention = changes.borrow().audit.retention;
            let now = emrlab_common::db::now();
            match purge(&db, now, now - retention).await {
                Ok(0) => {}
                Ok(deleted) => tracing::info!(deleted, ?retention, "audit events past retention deleted"),
                Err(error) => tracing::warn!(%error, "audit retention purge failed; retrying later"),
            }
            tokio::select! {
                () = tokio::time::sleep(interval(retention)) => {}
                changed = changes.changed() => if changed.is_err() { break },
            }
        }
    });
}

/// Deletes the events before `cutoff`; returns how many rows went, counting dropped partitions'.
pub async fn purge(db: &AnyDb, now: OffsetDateTime, cutoff: OffsetDateTime) -> Result<u64, sqlx::Error> {
    const DELETE: &str =
        "DELETE FROM audit_log WHERE (at, id) IN (SELECT at, id FROM audit_log WHERE at < $1 LIMIT $2)";
    let mut deleted = 0;
    match db {
        AnyDb::Postgres(db) => {
            let mut conn = db.acquire().await?;
            let partitions = partitions(&mut conn).await?;
            make_partitions_ahead(&mut conn, &partitions, now.date()).await;
            deleted += drop_expired_partitions(&mut conn, partitions, cutoff).await?;
            loop {
                let done = sqlx::query(DELETE).bind(cutoff).bind(BATCH).execute(&mut *conn).await?;
                deleted += done.rows_affected();
                if done.rows_affected() == 0 {
                    break;
                }
            }
        }
        AnyDb::Sqlite(db) => loop {
            let mut w = db.begin_write().await?;
            let done = sqlx::query(DELETE)
                .bind(to_micros(cutoff))
                .bind(BATCH)
                .execute(&mut *w.tx)
                .await?;
            w.tx.commit().await?;
            deleted += done.rows_affected();
            if done.rows_affected() == 0 {
                break;
            }
        },
    }
    Ok(deleted)
}

/// The first day of the month `months` after `day`'s.
fn month_start(day: Date, months: u8) -> Option<Date> {
    let index = day.year() * 12 + i32::from(u8::from(day.month())) - 1 + i32::from(months);
    Date::from_calendar_date(
        index.div_euclid(12),
        Month::try_from((index.rem_euclid(12) + 1) as u8).ok()?,
        1,
    )
    .ok()
}

/// `audit_log_2026_11` for November 2026, the migration's naming.
fn partition_name(start: Date) -> String {
    format!("audit_log_{:04}_{:02}", start.year(), u8::from(start.month()))
}

/// The audit log's partitions, by table name.
async fn partitions(conn: &mut sqlx::PgConnection) -> Result<Vec<String>, sqlx::Error> {
    sqlx::query_scalar(
        "SELECT c.relname::text FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid \
         WHERE i.inhparent = 'audit_log'::regclass",
    )
    .fetch_all(conn)
    .await
}

async fn make_partitions_ahead(conn: &mut sqlx::PgConnection, existing: &[String], today: Date) {
    for ahead in 0..=MONTHS_AHEAD {
        let (Some(start), Some(end)) = (month_start(today, ahead), month_start(today, ahead + 1)) else {
            continue;
        };
        if existing.contains(&partition_name(start)) {
            continue;
        }
        // Bounds as plain dates, in the session's time zone, exactly as the migration wrote them;
        // every part comes from a date, none from input.
        let create = format!(
            "CREATE TABLE {} PARTITION OF audit_log FOR VALUES FROM ('{start}') TO ('{end}')",
            partition_name(start)
        );
        if let Err(error) = sqlx::query(AssertSqlSafe(create)).execute(&mut *conn).await {
            // The default partition already holds rows of that month: they stay there.
            tracing::warn!(%error, month = %start, "could not make the audit partition ahead");
        }
    }
}

/// Detaches and drops the monthly partitions that end at least a day before `cutoff` (a day of
/// margin for the session time zone the bounds were written in); returns the rows they held.
async fn drop_expired_partitions(
    conn: &mut sqlx::PgConnection,
    partitions: Vec<String>,
    cutoff: OffsetDateTime,
) -> Result<u64, sqlx::Error> {
    let mut dropped = 0;
    for name in partitions {
        let Some(start) = parse_partition(&name) else { continue };
        let Some(end) = month_start(start, 1) else { continue };
        if end.midnight().assume_utc() + time::Duration::DAY > cutoff {
            continue;
        }
        let rows: i64 = sqlx::query_scalar(AssertSqlSafe(format!("SELECT count(*) FROM {name}")))
            .fetch_one(&mut *conn)
            .await?;
        sqlx::query(AssertSqlSafe(format!("ALTER TABLE audit_log DETACH PARTITION {name}")))
            .execute(&mut *conn)
            .await?;
        sqlx::query(AssertSqlSafe(format!("DROP TABLE {name}")))
            .execute(&mut *conn)
            .await?;
        tracing::info!(partition = %name, rows, "audit partition past retention dropped");
        dropped += rows.unsigned_abs();
    }
    Ok(dropped)
}

/// The month a partition named by [`partition_name`] holds; `None` for any other table.
fn parse_partition(name: &str) -> Option<Date> {
    let rest = name.strip_prefix("audit_log_")?;
    let (year, month) = rest.split_once('_')?;
    if year.len() != 4 || month.len() != 2 {
        return None;
    }
    let month = Month::try_from(month.parse::<u8>().ok()?).ok()?;
    Date::from_calendar_date(year.parse().ok()?, month, 1).ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::date;

    #[test]
    fn months_roll_over_the_year_and_names_round_trip() {
        assert_eq!(month_start(date!(2026 - 11 - 23), 0), Some(date!(2026 - 11 - 01)));
        assert_eq!(month_start(date!(2026 - 11 - 23), 2), Some(date!(2027 - 01 - 01)));
        assert_eq!(partition_name(date!(2027 - 01 - 01)), "audit_log_2027_01");
        assert_eq!(parse_partition("audit_log_2027_01"), Some(date!(2027 - 01 - 01)));
        assert_eq!(parse_partition("audit_log_default"), None);
        assert_eq!(parse_partition("audit_log_2027_13"), None);
        assert_eq!(interval(Duration::from_secs(1)), Duration::from_secs(1));
        assert_eq!(interval(Config::default().retention), Duration::from_secs(3_600));
    }
}
