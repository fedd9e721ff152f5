-- Clinical tasks. The (org_id, created_at DESC, id DESC) index serves the default cursor listing.
CREATE TABLE tasks (
    id           uuid PRIMARY KEY,
    org_id       uuid NOT NULL REFERENCES organisations (id),
    patient_id   uuid NOT NULL,
    title        text NOT NULL,
    description  text,
    status       text NOT NULL CHECK (status IN ('pending', 'in_progress', 'completed', 'cancelled')),
    priority     text NOT NULL CHECK (priority IN ('routine', 'urgent', 'asap', 'stat')),
    assignee_id  uuid,
    ward_id      uuid,
    due_at       timestamptz,
    created_at   timestamptz NOT NULL,
    updated_at   timestamptz NOT NULL,
    version      bigint NOT NULL,
    FOREIGN KEY (org_id, patient_id) REFERENCES patients (org_id, id),
    FOREIGN KEY (org_id, assignee_id) REFERENCES practitioners (org_id, id),
    FOREIGN KEY (org_id, ward_id) REFERENCES wards (org_id, id)
);
CREATE INDEX tasks_org_created ON tasks (org_id, created_at DESC, id DESC);
CREATE INDEX tasks_org_status ON tasks (org_id, status, created_at DESC);
CREATE INDEX tasks_org_assignee ON tasks (org_id, assignee_id);
CREATE INDEX tasks_org_patient ON tasks (org_id, patient_id);
