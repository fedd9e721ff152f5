-- SQLite: uuids are BLOBs, instants INTEGER microseconds; otherwise as migrations/postgres.
-- Shift handovers (SBAR) and the tasks each one hands over. The handover service owns these
-- tables; it never reads `tasks` (the task service answers for those over HTTP), so no key points
-- at `tasks` here. Directory references are composite (org_id, id) keys, as everywhere, so a
-- handover cannot name another organisation's ward or practitioner.
-- `accepting` is the short-lived claim an accept holds while the task service reassigns;
-- `claimed_at` lets a claim left behind by a crashed process be taken over (see the service).
CREATE TABLE handovers (
    id                    BLOB PRIMARY KEY,
    org_id                BLOB NOT NULL REFERENCES organisations (id),
    from_practitioner_id  BLOB NOT NULL,
    to_practitioner_id    BLOB NOT NULL,
    ward_id               BLOB NOT NULL,
    status                TEXT NOT NULL CHECK (status IN ('requested', 'accepting', 'accepted', 'rejected')),
    situation             TEXT NOT NULL,
    background            TEXT,
    assessment            TEXT,
    recommendation        TEXT,
    notes                 TEXT,
    created_at            INTEGER NOT NULL,
    claimed_at            INTEGER,
    decided_at            INTEGER,
    decided_by            BLOB,
    reject_reason         TEXT,
    UNIQUE (org_id, id),
    FOREIGN KEY (org_id, from_practitioner_id) REFERENCES practitioners (org_id, id),
    FOREIGN KEY (org_id, to_practitioner_id) REFERENCES practitioners (org_id, id),
    FOREIGN KEY (org_id, ward_id) REFERENCES wards (org_id, id),
    FOREIGN KEY (org_id, decided_by) REFERENCES practitioners (org_id, id)
);
-- The list is newest first per organisation, optionally narrowed by status or ward.
CREATE INDEX handovers_org_created ON handovers (org_id, created_at DESC, id DESC);
CREATE INDEX handovers_org_status ON handovers (org_id, status, created_at DESC, id DESC);
CREATE INDEX handovers_org_ward ON handovers (org_id, ward_id, created_at DESC, id DESC);

-- One row per task handed over, with the assignee it had when the handover was requested: an
-- accept reassigns only if that is still its assignee.
CREATE TABLE handover_tasks (
    handover_id           BLOB NOT NULL,
    org_id                BLOB NOT NULL,
    position              INTEGER NOT NULL,
    task_id               BLOB NOT NULL,
    expected_assignee_id  BLOB,
    PRIMARY KEY (handover_id, task_id),
    FOREIGN KEY (org_id, handover_id) REFERENCES handovers (org_id, id)
);
CREATE INDEX handover_tasks_org_task ON handover_tasks (org_id, task_id);
