-- Offline sync. Each task synced at least once has a replicated document (JSON, the sync
-- service's own format, so text rather than jsonb: the database never looks inside), the task
-- row's version it was last written at, and its position in the organisation's change order,
-- which `GET /sync/state?since=` pages by. A task row carries the document's conflict flag.
ALTER TABLE tasks ADD COLUMN conflict boolean NOT NULL DEFAULT false;

CREATE TABLE sync_devices (
    org_id           uuid NOT NULL REFERENCES organisations (id),
    device_id        text NOT NULL,
    practitioner_id  uuid NOT NULL,
    registered_at    timestamptz NOT NULL,
    last_seen_at     timestamptz NOT NULL,
    PRIMARY KEY (org_id, device_id)
);

CREATE TABLE sync_docs (
    task_id      uuid PRIMARY KEY,
    org_id       uuid NOT NULL,
    doc          text NOT NULL,
    row_version  bigint NOT NULL,
    doc_version  bigint NOT NULL,
    position     bigint NOT NULL,
    conflict     boolean NOT NULL,
    updated_at   timestamptz NOT NULL,
    FOREIGN KEY (org_id, task_id) REFERENCES tasks (org_id, id)
);
CREATE INDEX sync_docs_org_position ON sync_docs (org_id, position);
CREATE INDEX sync_docs_org_conflict ON sync_docs (org_id) WHERE conflict;

-- The last position handed out per organisation. Taking it in the transaction that stores the
-- documents orders writers, so a reader paging by position never skips a later-committed one.
CREATE TABLE sync_positions (
    org_id    uuid PRIMARY KEY REFERENCES organisations (id),
    position  bigint NOT NULL
);

-- Batches accepted in async mode. The request is kept so a restart re-queues what it had not
-- merged yet: a 202 is a promise.
CREATE TABLE sync_jobs (
    id            uuid PRIMARY KEY,
    org_id        uuid NOT NULL REFERENCES organisations (id),
    device_id     text NOT NULL,
    actor_id      uuid NOT NULL,
    status        text NOT NULL CHECK (status IN ('queued', 'done', 'failed')),
    request       text NOT NULL,
    result        text,
    submitted_at  timestamptz NOT NULL,
    finished_at   timestamptz
);
CREATE INDEX sync_jobs_queued ON sync_jobs (submitted_at) WHERE status = 'queued';
