-- Offline sync: the same schema as migrations/postgres/0006_sync.sql (uuids BLOB, instants
-- INTEGER microseconds, booleans INTEGER 0/1).
ALTER TABLE tasks ADD COLUMN conflict INTEGER NOT NULL DEFAULT 0 CHECK (conflict IN (0, 1));

CREATE TABLE sync_devices (
    org_id           BLOB NOT NULL REFERENCES organisations (id),
    device_id        TEXT NOT NULL,
    practitioner_id  BLOB NOT NULL,
    registered_at    INTEGER NOT NULL,
    last_seen_at     INTEGER NOT NULL,
    PRIMARY KEY (org_id, device_id)
);

CREATE TABLE sync_docs (
    task_id      BLOB PRIMARY KEY,
    org_id       BLOB NOT NULL,
    doc          TEXT NOT NULL,
    row_version  INTEGER NOT NULL,
    doc_version  INTEGER NOT NULL,
    position     INTEGER NOT NULL,
    conflict     INTEGER NOT NULL CHECK (conflict IN (0, 1)),
    updated_at   INTEGER NOT NULL,
    FOREIGN KEY (org_id, task_id) REFERENCES tasks (org_id, id)
);
CREATE INDEX sync_docs_org_position ON sync_docs (org_id, position);
CREATE INDEX sync_docs_org_conflict ON sync_docs (org_id) WHERE conflict = 1;

CREATE TABLE sync_positions (
    org_id    BLOB PRIMARY KEY REFERENCES organisations (id),
    position  INTEGER NOT NULL
);

CREATE TABLE sync_jobs (
    id            BLOB PRIMARY KEY,
    org_id        BLOB NOT NULL REFERENCES organisations (id),
    device_id     TEXT NOT NULL,
    actor_id      BLOB NOT NULL,
    status        TEXT NOT NULL CHECK (status IN ('queued', 'done', 'failed')),
    request       TEXT NOT NULL,
    result        TEXT,
    submitted_at  INTEGER NOT NULL,
    finished_at   INTEGER
);
CREATE INDEX sync_jobs_queued ON sync_jobs (submitted_at) WHERE status = 'queued';
