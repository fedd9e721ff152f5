-- SQLite keeps uuids as 16-byte BLOBs and instants as INTEGER microseconds since the epoch
-- (they sort as numbers). Otherwise the same schema as migrations/postgres.
-- Organisations, wards, practitioners and patients: the directory every service refers to.
-- Composite (org_id, id) keys let child tables prove in SQL that a reference stays in its tenant.
CREATE TABLE organisations (
    id          BLOB PRIMARY KEY,
    name        TEXT NOT NULL,
    created_at  INTEGER NOT NULL
);

CREATE TABLE wards (
    id      BLOB PRIMARY KEY,
    org_id  BLOB NOT NULL REFERENCES organisations (id),
    name    TEXT NOT NULL,
    UNIQUE (org_id, name),
    UNIQUE (org_id, id)
);

CREATE TABLE practitioners (
    id            BLOB PRIMARY KEY,
    org_id        BLOB NOT NULL REFERENCES organisations (id),
    username      TEXT NOT NULL UNIQUE,
    display_name  TEXT NOT NULL,
    role          TEXT NOT NULL CHECK (role IN ('nurse', 'doctor', 'charge_nurse', 'admin', 'operator')),
    ward_id       BLOB,
    password_hash TEXT NOT NULL,
    created_at    INTEGER NOT NULL,
    UNIQUE (org_id, id),
    FOREIGN KEY (org_id, ward_id) REFERENCES wards (org_id, id)
);

CREATE TABLE patients (
    id           BLOB PRIMARY KEY,
    org_id       BLOB NOT NULL REFERENCES organisations (id),
    mrn          TEXT NOT NULL,
    given_name   TEXT NOT NULL,
    family_name  TEXT NOT NULL,
    birth_date   TEXT NOT NULL,
    sex          TEXT NOT NULL CHECK (sex IN ('female', 'male', 'other', 'unknown')),
    ward_id      BLOB,
    bed          TEXT,
    admitted_at  INTEGER,
    created_at   INTEGER NOT NULL,
    UNIQUE (org_id, mrn),
    UNIQUE (org_id, id),
    FOREIGN KEY (org_id, ward_id) REFERENCES wards (org_id, id)
);

-- Refresh tokens are stored as SHA-256 digests: a database leak does not hand out sessions.
CREATE TABLE refresh_tokens (
    token_hash       TEXT PRIMARY KEY,
    practitioner_id  BLOB NOT NULL REFERENCES practitioners (id),
    expires_at       INTEGER NOT NULL,
    spent_at         INTEGER,
    created_at       INTEGER NOT NULL
);
CREATE INDEX refresh_tokens_practitioner ON refresh_tokens (practitioner_id);
