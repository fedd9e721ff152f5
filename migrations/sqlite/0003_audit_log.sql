-- The audit log. PostgreSQL partitions it by month; SQLite keeps one table with the same columns.
CREATE TABLE audit_log (
    id         BLOB NOT NULL,
    org_id     BLOB NOT NULL,
    actor_id   BLOB NOT NULL,
    action     TEXT NOT NULL,
    entity     TEXT NOT NULL,
    entity_id  BLOB NOT NULL,
    before     TEXT,
    after      TEXT,
    at         INTEGER NOT NULL,
    PRIMARY KEY (at, id)
);

CREATE INDEX audit_log_org_at ON audit_log (org_id, at DESC);
CREATE INDEX audit_log_entity ON audit_log (entity_id, at DESC);
