-- The dashboard's `materialized` source on SQLite, which has no materialized views: summary
-- tables the refresh rebuilds in one transaction (same columns as migrations/postgres/0009).
CREATE TABLE dashboard_task_counts (
    org_id    BLOB NOT NULL,
    ward_key  BLOB NOT NULL,
    status    TEXT NOT NULL,
    priority  TEXT NOT NULL,
    tasks     INTEGER NOT NULL,
    overdue   INTEGER NOT NULL,
    PRIMARY KEY (org_id, ward_key, status, priority)
);

CREATE TABLE dashboard_admissions (
    org_id      BLOB NOT NULL,
    ward_key    BLOB NOT NULL,
    admissions  INTEGER NOT NULL,
    PRIMARY KEY (org_id, ward_key)
);

CREATE TABLE dashboard_refreshes (
    id            INTEGER PRIMARY KEY CHECK (id = 1),
    refreshed_at  INTEGER NOT NULL
);
INSERT INTO dashboard_refreshes (id, refreshed_at) VALUES (1, 0);
