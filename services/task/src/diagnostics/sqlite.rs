//! The SQLite half of `emrlab db report`: SQLite keeps no statement statistics, so the report
//! explains the hot queries' plans instead, with the tables' row counts and the file's size.

use sqlx::{AssertSqlSafe, Sqlite};

use emrlab_common::db::Db;

use super::{
    hot::{self, PlanRow},
    report::{QueryPlan, SqliteReport, TableRows},
};

pub(super) async fn report(db: &Db<Sqlite>) -> Result<SqliteReport, sqlx::Error> {
    let mut conn = db.acquire().await?;
    let file: String = sqlx::query_scalar("SELECT file FROM pragma_database_list WHERE name = 'main'")
        .fetch_one(&mut *conn)
        .await?;
    let (pages, page_size): (i64, i64) =
        sqlx::query_as("SELECT (SELECT page_count FROM pragma_page_count), (SELECT page_size FROM pragma_page_size)")
            .fetch_one(&mut *conn)
            .await?;
    let names: Vec<String> = sqlx::query_scalar(
        "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' \
         AND name NOT LIKE '_sqlx%' ORDER BY name",
    )
    .fetch_all(&mut *conn)
    .await?;
    let mut tables = Vec::with_capacity(names.len());
    for table in names {
        // The name comes from sqlite_master, not from input; quoted as an identifier all the same.
        let quoted = table.replace('"', "\"\"");
        let rows: i64 = sqlx::query_scalar(AssertSqlSafe(format!("SELECT count(*) FROM \"{quoted}\"")))
            .fetch_one(&mut *conn)
            .await?;
        tables.push(TableRows { table, rows });
    }
    let names: Vec<&str> = tables.iter().map(|t| t.table.as_str()).collect();
    let plans = hot::explain(&mut conn)
        .await?
        .into_iter()
        .map(|(name, sql, rows)| plan(name, sql, &rows, &names))
        .collect();
    Ok(SqliteReport {
        file,
        size_bytes: pages * page_size,
        tables,
        plans,
    })
}

/// The plan as an indented tree (SQLite gives each row its parent's id), with its full scans of
/// the database's `tables`.
fn plan(name: &str, sql: String, rows: &[PlanRow], tables: &[&str]) -> QueryPlan {
    let depth = |mut parent: i64| {
        let mut d = 0;
        while let Some(row) = rows.iter().find(|r| r.0 == parent) {
            d += 1;
            parent = row.1;
            if d > rows.len() {
                break; // a malformed plan with a cycle; never seen, but do not loop forever
            }
        }
        d
    };
    let plan = rows
        .iter()
        .map(|(_, parent, _, detail)| format!("{}{detail}", "  ".repeat(depth(*parent))))
        .collect();
    let full_scans = rows
        .iter()
        .map(|r| r.3.clone())
        .filter(|detail| is_full_scan(detail, tables))
        .collect();
    QueryPlan {
        name: name.to_owned(),
        sql,
        plan,
        full_scans,
    }
}

/// `SCAN tasks` reads the whole table; `SCAN tasks USING INDEX …` walks an index in order, a
/// `SEARCH` seeks, and `SCAN buckets` (a subquery's rows) or `SCAN CONSTANT ROW` reads no table.
/// SQLite names a table by its alias when the query gives one; the hot queries give none.
fn is_full_scan(detail: &str, tables: &[&str]) -> bool {
    let Some(rest) = detail.strip_prefix("SCAN ") else {
        return false;
    };
    let scanned = rest.split_whitespace().next().unwrap_or_default();
    tables.contains(&scanned) && !rest.contains(" USING ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_scan_without_an_index_is_a_full_scan_and_the_others_are_not() {
        let tables = ["tasks", "audit_log"];
        assert!(is_full_scan("SCAN tasks", &tables));
        assert!(!is_full_scan("SCAN tasks USING INDEX tasks_org_created", &tables));
        assert!(!is_full_scan(
            "SCAN tasks USING COVERING INDEX tasks_org_status",
            &tables
        ));
        assert!(!is_full_scan(
            "SEARCH tasks USING INDEX tasks_org_status (org_id=?)",
            &tables
        ));
        assert!(!is_full_scan("SCAN buckets", &tables));
        assert!(!is_full_scan("SCAN CONSTANT ROW", &tables));
    }

    #[test]
    fn plan_rows_are_indented_under_their_parent() {
        let rows = vec![
            (2, 0, 0, "CO-ROUTINE buckets".to_owned()),
            (5, 2, 0, "SCAN audit_log".to_owned()),
        ];
        let p = plan("x", "SELECT".into(), &rows, &["audit_log"]);
        assert_eq!(p.plan, vec!["CO-ROUTINE buckets", "  SCAN audit_log"]);
        assert_eq!(p.full_scans, vec!["SCAN audit_log"]);
    }
}
