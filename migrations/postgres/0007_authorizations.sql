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
    code          text PRIMARY KEY,
    description   text NOT NULL,
    unit_minutes  integer NOT NULL CHECK (unit_minutes > 0)
);
INSERT INTO service_codes (code, description, unit_minutes) VALUES
    ('97151', 'Behavior identification assessment', 15),
    ('97153', 'Adaptive behavior treatment by protocol', 15),
    ('97155', 'Adaptive behavior treatment with protocol modification', 15),
    ('97156', 'Family adaptive behavior treatment guidance', 15),
    ('97157', 'Multiple-family group adaptive behavior treatment guidance', 15);

CREATE TABLE authorizations (
    id               uuid PRIMARY KEY,
    org_id           uuid NOT NULL REFERENCES organisations (id),
    number           text NOT NULL,
    patient_id       uuid NOT NULL,
    service_code     text NOT NULL REFERENCES service_codes (code),
    valid_from       timestamptz NOT NULL,
    valid_until      timestamptz NOT NULL,
    total_units      bigint  NOT NULL CHECK (total_units > 0),
    used_units       bigint  NOT NULL DEFAULT 0 CHECK (used_units >= 0),
    scheduled_units  bigint  NOT NULL DEFAULT 0 CHECK (scheduled_units >= 0),
    created_at       timestamptz NOT NULL,
    updated_at       timestamptz NOT NULL,
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
    id                uuid PRIMARY KEY,
    org_id            uuid NOT NULL,
    authorization_id  uuid NOT NULL,
    units             bigint  NOT NULL CHECK (units > 0),
    scheduled_for     timestamptz NOT NULL,
    state             text NOT NULL CHECK (state IN ('scheduled', 'consumed', 'released')),
    idempotency_key   text,
    created_by        uuid NOT NULL,
    created_at        timestamptz NOT NULL,
    settled_at        timestamptz,
    UNIQUE (org_id, idempotency_key),
    FOREIGN KEY (org_id, authorization_id) REFERENCES authorizations (org_id, id),
    FOREIGN KEY (org_id, created_by) REFERENCES practitioners (org_id, id)
);
-- The integrity check sums reservations per authorization and state.
CREATE INDEX reservations_authorization ON reservations (authorization_id, state);
