-- SQLite: the same schema as migrations/postgres/0007_authorizations.sql (uuids BLOB, instants
-- INTEGER microseconds).
-- Insurance authorizations: a payer's budget of billable units for one patient and service code
-- over a period, and the reservations sessions book against it. The task service owns these.
--
-- Invariant: used_units + scheduled_units <= total_units, and each counter equals the sum of its
-- reservations in that state. No CHECK constraint enforces the first on purpose: the
-- `authorizations.concurrency = naive` mode exists to show how an unprotected read-check-write
-- overbooks, and `emrlab verify` (or GET /api/v1/admin/integrity) is how a lab detects it.

-- Service codes are reference data (CPT adaptive behaviour codes, 15-minute units), the same on
-- every installation, so the migration carries them rather than the seed.
CREATE TABLE service_codes (
    code          TEXT PRIMARY KEY,
    description   TEXT NOT NULL,
    unit_minutes  INTEGER NOT NULL CHECK (unit_minutes > 0)
);
INSERT INTO service_codes (code, description, unit_minutes) VALUES
    ('97151', 'Behavior identification assessment', 15),
    ('97153', 'Adaptive behavior treatment by protocol', 15),
    ('97155', 'Adaptive behavior treatment with protocol modification', 15),
    ('97156', 'Family adaptive behavior treatment guidance', 15),
    ('97157', 'Multiple-family group adaptive behavior treatment guidance', 15);

CREATE TABLE authorizations (
    id               BLOB PRIMARY KEY,
    org_id           BLOB NOT NULL REFERENCES organisations (id),
    number           TEXT NOT NULL,
    patient_id       BLOB NOT NULL,
    service_code     TEXT NOT NULL REFERENCES service_codes (code),
    valid_from       INTEGER NOT NULL,
    valid_until      INTEGER NOT NULL,
    total_units      INTEGER NOT NULL CHECK (total_units > 0),
    used_units       INTEGER NOT NULL DEFAULT 0 CHECK (used_units >= 0),
    scheduled_units  INTEGER NOT NULL DEFAULT 0 CHECK (scheduled_units >= 0),
    created_at       INTEGER NOT NULL,
    updated_at       INTEGER NOT NULL,
    CHECK (valid_until > valid_from),
    UNIQUE (org_id, id),
    UNIQUE (org_id, number),
    FOREIGN KEY (org_id, patient_id) REFERENCES patients (org_id, id)
);
-- The list is newest first per organisation, optionally for one patient.
CREATE INDEX authorizations_org_created ON authorizations (org_id, created_at DESC, id DESC);
CREATE INDEX authorizations_org_patient ON authorizations (org_id, patient_id, created_at DESC, id DESC);

-- A retried request with the same Idempotency-Key finds its reservation by (org_id, key); keys
-- are NULL when none was sent, and NULLs never collide.
CREATE TABLE reservations (
    id                BLOB PRIMARY KEY,
    org_id            BLOB NOT NULL,
    authorization_id  BLOB NOT NULL,
    units             INTEGER NOT NULL CHECK (units > 0),
    scheduled_for     INTEGER NOT NULL,
    state             TEXT NOT NULL CHECK (state IN ('scheduled', 'consumed', 'released')),
    idempotency_key   TEXT,
    created_by        BLOB NOT NULL,
    created_at        INTEGER NOT NULL,
    settled_at        INTEGER,
    UNIQUE (org_id, idempotency_key),
    FOREIGN KEY (org_id, authorization_id) REFERENCES authorizations (org_id, id),
    FOREIGN KEY (org_id, created_by) REFERENCES practitioners (org_id, id)
);
-- The integrity check sums reservations per authorization and state.
CREATE INDEX reservations_authorization ON reservations (authorization_id, state);
