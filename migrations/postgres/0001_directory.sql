-- Organisations, wards, practitioners and patients: the directory every service refers to.
-- Composite (org_id, id) keys let child tables prove in SQL that a reference stays in its tenant.
CREATE TABLE organisations (
    id          uuid PRIMARY KEY,
    name        text NOT NULL,
    created_at  timestamptz NOT NULL
);

CREATE TABLE wards (
    id      uuid PRIMARY KEY,
    org_id  uuid NOT NULL REFERENCES organisations (id),
    name    text NOT NULL,
    UNIQUE (org_id, name),
    UNIQUE (org_id, id)
);

CREATE TABLE practitioners (
    id            uuid PRIMARY KEY,
    org_id        uuid NOT NULL REFERENCES organisations (id),
    username      text NOT NULL UNIQUE,
    display_name  text NOT NULL,
    role          text NOT NULL CHECK (role IN ('nurse', 'doctor', 'charge_nurse', 'admin', 'operator')),
    ward_id       uuid,
    password_hash text NOT NULL,
    created_at    timestamptz NOT NULL,
    UNIQUE (org_id, id),
    FOREIGN KEY (org_id, ward_id) REFERENCES wards (org_id, id)
);

CREATE TABLE patients (
    id           uuid PRIMARY KEY,
    org_id       uuid NOT NULL REFERENCES organisations (id),
    mrn          text NOT NULL,
    given_name   text NOT NULL,
    family_name  text NOT NULL,
    birth_date   date NOT NULL,
    sex          text NOT NULL CHECK (sex IN ('female', 'male', 'other', 'unknown')),
    ward_id      uuid,
    bed          text,
    admitted_at  timestamptz,
    created_at   timestamptz NOT NULL,
    UNIQUE (org_id, mrn),
    UNIQUE (org_id, id),
    FOREIGN KEY (org_id, ward_id) REFERENCES wards (org_id, id)
);

-- Refresh tokens are stored as SHA-256 digests: a database leak does not hand out sessions.
CREATE TABLE refresh_tokens (
    token_hash       text PRIMARY KEY,
    practitioner_id  uuid NOT NULL REFERENCES practitioners (id),
    expires_at       timestamptz NOT NULL,
    spent_at         timestamptz,
    created_at       timestamptz NOT NULL
);
CREATE INDEX refresh_tokens_practitioner ON refresh_tokens (practitioner_id);
