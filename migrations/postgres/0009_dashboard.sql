-- The dashboard's `materialized` source (`dashboard.source`): task counts per ward, status and
-- priority with the overdue open ones, and each ward's admissions of the last 24 hours, as of the
-- last refresh (`dashboard.refresh_interval`, `REFRESH MATERIALIZED VIEW CONCURRENTLY`, which
-- needs a unique index of plain columns: a NULL ward is keyed as the nil uuid).
CREATE MATERIALIZED VIEW dashboard_task_counts AS
SELECT org_id,
       COALESCE(ward_id, '00000000-0000-0000-0000-000000000000'::uuid) AS ward_key,
       status,
       priority,
       count(*) AS tasks,
       count(*) FILTER (WHERE status IN ('pending', 'in_progress') AND due_at < now()) AS overdue
FROM tasks
GROUP BY org_id, ward_key, status, priority;
CREATE UNIQUE INDEX dashboard_task_counts_key ON dashboard_task_counts (org_id, ward_key, status, priority);

CREATE MATERIALIZED VIEW dashboard_admissions AS
SELECT org_id,
       COALESCE(ward_id, '00000000-0000-0000-0000-000000000000'::uuid) AS ward_key,
       count(*) AS admissions
FROM patients
WHERE admitted_at >= now() - interval '24 hours'
GROUP BY org_id, ward_key;
CREATE UNIQUE INDEX dashboard_admissions_key ON dashboard_admissions (org_id, ward_key);

-- When the views were last refreshed: the staleness a `materialized` answer reports.
CREATE TABLE dashboard_refreshes (
    id            integer PRIMARY KEY CHECK (id = 1),
    refreshed_at  timestamptz NOT NULL
);
INSERT INTO dashboard_refreshes (id, refreshed_at) VALUES (1, now());
