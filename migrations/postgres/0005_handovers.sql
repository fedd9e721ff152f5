-- Shift handovers (SBAR) and the tasks each one hands over. The handover service owns these
-- tables; it never reads `tasks` (the task service answers for those over HTTP), so no key points
-- at `tasks` here. Directory references are composite (org_id, id) keys, as everywhere, so a
-- handover cannot name another organisation's ward or practitioner.
-- `accepting` is the short-lived claim an accept holds while the task service reassigns;
-- `claimed_at` lets a claim left behind by a crashed process be taken over (see the service).
CREATE TABLE handovers (
    id                    uuid PRIMARY KEY,
    org_id                uuid NOT NULL REFERENCES organisations (id),
    from_practitioner_id  uuid NOT NULL,
    to_practitioner_id    uuid NOT NULL,
    ward_id               uuid NOT NULL,
    status                text NOT NULL CHECK (status IN ('requested', 'accepting', 'accepted', 'rejected')),
    situation             text NOT NULL,
    background            text,
    assessment            text,
    recommendation        text,
    notes                 text,
    created_at            timestamptz NOT NULL,
    claimed_at            timestamptz,
    decided_at            timestamptz,
    decided_by            uuid,
    reject_reason         text,
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
    handover_id           uuid NOT NULL,
    org_id                uuid NOT NULL,
    position              integer NOT NULL,
    task_id               uuid NOT NULL,
    expected_assignee_id  uuid,
    PRIMARY KEY (handover_id, task_id),
    FOREIGN KEY (org_id, handover_id) REFERENCES handovers (org_id, id)
);
CREATE INDEX handover_tasks_org_task ON handover_tasks (org_id, task_id);
