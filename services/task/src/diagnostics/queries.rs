//! The ten deliberately heavy queries of `emrlab db bench`: the seed platform's database
//! benchmark, rewritten for emrlab's schema (migrations/postgres). Each has a PostgreSQL text and
//! a SQLite one; they differ only where the dialects do (instants are `timestamptz` against
//! integer microseconds, `ILIKE` against `LIKE`, and SQLite has no `percentile_cont`, so its
//! percentiles are nearest-rank from `ROW_NUMBER`). All are read-only.

/// Now, in SQLite's integer microseconds.
macro_rules! sqlite_now {
    () => {
        "(CAST(strftime('%s', 'now') AS INTEGER) * 1000000)"
    };
}

/// One benchmark query.
#[derive(Debug, Clone, Copy)]
pub struct BenchQuery {
    /// `NN_what`: the request name in the result file.
    pub name: &'static str,
    /// What it exercises.
    pub what: &'static str,
    pub postgres: &'static str,
    pub sqlite: &'static str,
}

/// Open work per ward and assignee, with its patients: a four-way join and a group.
const JOIN_AGGREGATION: &str = "SELECT w.name, p.display_name, count(*) AS tasks, count(DISTINCT t.patient_id) AS patients, \
     sum(CASE WHEN t.status = 'completed' THEN 1 ELSE 0 END) AS completed \
     FROM tasks t \
     JOIN wards w ON w.org_id = t.org_id AND w.id = t.ward_id \
     JOIN practitioners p ON p.org_id = t.org_id AND p.id = t.assignee_id \
     JOIN patients pa ON pa.org_id = t.org_id AND pa.id = t.patient_id \
     GROUP BY w.name, p.display_name ORDER BY tasks DESC LIMIT 50";

/// Five ranks over three partitions of every open task, summarised so the rows do not dominate.
const WINDOWS: &str = "SELECT count(*), sum(CASE WHEN rn <= 5 THEN 1 ELSE 0 END), count(previous_at), count(next_at), \
     max(priority_rank) FROM ( \
       SELECT ROW_NUMBER() OVER (PARTITION BY assignee_id ORDER BY created_at DESC) AS rn, \
              RANK() OVER (PARTITION BY ward_id ORDER BY priority) AS priority_rank, \
              LAG(created_at) OVER (PARTITION BY patient_id ORDER BY created_at) AS previous_at, \
              LEAD(created_at) OVER (PARTITION BY patient_id ORDER BY created_at) AS next_at \
       FROM tasks WHERE status <> 'cancelled') ranked";

/// Load per nurse, then per ward, then the wards with their audit activity: three CTE levels.
const CTES: &str = "WITH open_tasks AS ( \
       SELECT org_id, ward_id, assignee_id, priority FROM tasks WHERE status IN ('pending', 'in_progress')), \
     per_nurse AS ( \
       SELECT org_id, ward_id, assignee_id, count(*) AS open, \
              sum(CASE WHEN priority IN ('urgent', 'stat') THEN 1 ELSE 0 END) AS urgent \
       FROM open_tasks GROUP BY org_id, ward_id, assignee_id), \
     per_ward AS ( \
       SELECT org_id, ward_id, sum(open) AS open, max(open) AS busiest, avg(open) AS mean_load, sum(urgent) AS urgent \
       FROM per_nurse GROUP BY org_id, ward_id), \
     activity AS ( \
       SELECT org_id, count(*) AS events FROM audit_log GROUP BY org_id) \
     SELECT w.name, pw.open, pw.busiest, pw.mean_load, pw.urgent, coalesce(a.events, 0) \
     FROM per_ward pw JOIN wards w ON w.org_id = pw.org_id AND w.id = pw.ward_id \
     LEFT JOIN activity a ON a.org_id = pw.org_id ORDER BY pw.open DESC";

/// The ten, in the seed platform's order.
pub const QUERIES: [BenchQuery; 10] = [
    BenchQuery {
        name: "01_join_aggregation",
        what: "tasks ⋈ wards ⋈ practitioners ⋈ patients, grouped",
        postgres: JOIN_AGGREGATION,
        sqlite: JOIN_AGGREGATION,
    },
    BenchQuery {
        name: "02_exists_subquery",
        what: "practitioners with open urgent tasks and no handover this week (EXISTS, NOT EXISTS)",
        postgres: "SELECT count(*) FROM practitioners p \
             WHERE EXISTS (SELECT 1 FROM tasks t WHERE t.org_id = p.org_id AND t.assignee_id = p.id \
                           AND t.status IN ('pending', 'in_progress') AND t.priority IN ('urgent', 'stat')) \
               AND NOT EXISTS (SELECT 1 FROM handovers h WHERE h.org_id = p.org_id AND h.from_practitioner_id = p.id \
                               AND h.created_at > now() - interval '7 days')",
        sqlite: concat!(
            "SELECT count(*) FROM practitioners p \
             WHERE EXISTS (SELECT 1 FROM tasks t WHERE t.org_id = p.org_id AND t.assignee_id = p.id \
                           AND t.status IN ('pending', 'in_progress') AND t.priority IN ('urgent', 'stat')) \
               AND NOT EXISTS (SELECT 1 FROM handovers h WHERE h.org_id = p.org_id AND h.from_practitioner_id = p.id \
                               AND h.created_at > ",
            sqlite_now!(),
            " - 7 * 86400000000)"
        ),
    },
    BenchQuery {
        name: "03_window_functions",
        what: "ROW_NUMBER, RANK, LAG and LEAD over every task",
        postgres: WINDOWS,
        sqlite: WINDOWS,
    },
    BenchQuery {
        name: "04_multi_level_cte",
        what: "open load per nurse, per ward, with audit activity (three CTE levels)",
        postgres: CTES,
        sqlite: CTES,
    },
    BenchQuery {
        name: "05_complex_aggregation",
        what: "per organisation, status and priority: distinct counts, lateness, mean age",
        postgres: "SELECT org_id, status, priority, count(*), count(DISTINCT patient_id), count(DISTINCT assignee_id), \
             sum(CASE WHEN due_at IS NOT NULL AND due_at < updated_at THEN 1 ELSE 0 END) AS late, \
             avg(length(title)), avg(extract(epoch FROM updated_at - created_at)) AS mean_age_s, \
             min(created_at), max(created_at) \
             FROM tasks GROUP BY org_id, status, priority HAVING count(*) > 0 ORDER BY 4 DESC",
        sqlite: "SELECT org_id, status, priority, count(*), count(DISTINCT patient_id), count(DISTINCT assignee_id), \
             sum(CASE WHEN due_at IS NOT NULL AND due_at < updated_at THEN 1 ELSE 0 END) AS late, \
             avg(length(title)), avg((updated_at - created_at) / 1000000.0) AS mean_age_s, \
             min(created_at), max(created_at) \
             FROM tasks GROUP BY org_id, status, priority HAVING count(*) > 0 ORDER BY 4 DESC",
    },
    BenchQuery {
        name: "06_ilike_search",
        what: "case-insensitive substring search over titles, descriptions and patient names",
        postgres: "SELECT t.id, t.title, pa.family_name FROM tasks t \
             JOIN patients pa ON pa.org_id = t.org_id AND pa.id = t.patient_id \
             WHERE t.title ILIKE '%vital%' OR t.description ILIKE '%pain%' OR t.title ILIKE '%wound%' \
                OR pa.family_name ILIKE '%son%' \
             ORDER BY t.created_at DESC LIMIT 100",
        sqlite: "SELECT t.id, t.title, pa.family_name FROM tasks t \
             JOIN patients pa ON pa.org_id = t.org_id AND pa.id = t.patient_id \
             WHERE t.title LIKE '%vital%' OR t.description LIKE '%pain%' OR t.title LIKE '%wound%' \
                OR pa.family_name LIKE '%son%' \
             ORDER BY t.created_at DESC LIMIT 100",
    },
    BenchQuery {
        name: "07_date_range_aggregation",
        what: "tasks per day and status over the last 30 days",
        postgres: "SELECT date_trunc('day', created_at) AS day, status, count(*), count(DISTINCT assignee_id) \
             FROM tasks WHERE created_at >= now() - interval '30 days' AND created_at < now() \
             GROUP BY 1, 2 ORDER BY 1, 2",
        sqlite: concat!(
            "SELECT created_at / 86400000000 AS day, status, count(*), count(DISTINCT assignee_id) \
             FROM tasks WHERE created_at >= ",
            sqlite_now!(),
            " - 30 * 86400000000 AND created_at < ",
            sqlite_now!(),
            " GROUP BY 1, 2 ORDER BY 1, 2"
        ),
    },
    BenchQuery {
        name: "08_self_join_dependencies",
        what: "pairs of tasks of one patient created within an hour of each other (self-join)",
        postgres: "SELECT count(*), count(DISTINCT a.patient_id) FROM tasks a \
             JOIN tasks b ON b.org_id = a.org_id AND b.patient_id = a.patient_id AND b.id <> a.id \
              AND b.created_at >= a.created_at AND b.created_at <= a.created_at + interval '1 hour'",
        sqlite: "SELECT count(*), count(DISTINCT a.patient_id) FROM tasks a \
             JOIN tasks b ON b.org_id = a.org_id AND b.patient_id = a.patient_id AND b.id <> a.id \
              AND b.created_at >= a.created_at AND b.created_at <= a.created_at + 3600000000",
    },
    BenchQuery {
        name: "09_or_heavy_filter",
        what: "five OR-ed conditions over different columns, newest 200",
        postgres: concat!(
            "SELECT id, title, status, priority FROM tasks \
             WHERE (status = 'pending' AND priority = 'stat') OR assignee_id IS NULL \
                OR (priority = 'urgent' AND ward_id IS NULL) OR title LIKE 'Check%' OR (status = 'in_progress' AND due_at < ",
            "now()) ORDER BY created_at DESC LIMIT 200"
        ),
        sqlite: concat!(
            "SELECT id, title, status, priority FROM tasks \
             WHERE (status = 'pending' AND priority = 'stat') OR assignee_id IS NULL \
                OR (priority = 'urgent' AND ward_id IS NULL) OR title LIKE 'Check%' OR (status = 'in_progress' AND due_at < ",
            sqlite_now!(),
            ") ORDER BY created_at DESC LIMIT 200"
        ),
    },
    BenchQuery {
        name: "10_percentiles",
        what: "P50/P95/P99 of completion time per priority",
        postgres: "SELECT priority, count(*), \
             percentile_cont(0.5) WITHIN GROUP (ORDER BY extract(epoch FROM updated_at - created_at)) AS p50_s, \
             percentile_cont(0.95) WITHIN GROUP (ORDER BY extract(epoch FROM updated_at - created_at)) AS p95_s, \
             percentile_cont(0.99) WITHIN GROUP (ORDER BY extract(epoch FROM updated_at - created_at)) AS p99_s \
             FROM tasks WHERE status = 'completed' GROUP BY priority ORDER BY priority",
        // Nearest rank: the smallest value whose rank reaches p·n.
        sqlite: "WITH ranked AS ( \
               SELECT priority, (updated_at - created_at) / 1000000.0 AS s, \
                      ROW_NUMBER() OVER (PARTITION BY priority ORDER BY updated_at - created_at) AS rn, \
                      count(*) OVER (PARTITION BY priority) AS n \
               FROM tasks WHERE status = 'completed') \
             SELECT priority, max(n), min(CASE WHEN rn >= 0.5 * n THEN s END) AS p50_s, \
                    min(CASE WHEN rn >= 0.95 * n THEN s END) AS p95_s, min(CASE WHEN rn >= 0.99 * n THEN s END) AS p99_s \
             FROM ranked GROUP BY priority ORDER BY priority",
    },
];

/// The pool stress's statement: one task by its primary key, the cheapest indexed read there is,
/// so what is measured is the pool and the connections, not the query.
pub const STRESS: &str = "SELECT id, status, version FROM tasks WHERE id = $1";
