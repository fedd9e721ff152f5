-- Admission and discharge (`POST /patients`, `POST /patients/{id}/discharge`): who admitted a
-- patient, and when they left. SQLite adds no table constraint to an existing table, so the
-- practitioner's organisation is checked by the admission's SQL (as on PostgreSQL, which also
-- has the composite foreign key).
ALTER TABLE patients ADD COLUMN admitting_practitioner_id BLOB REFERENCES practitioners (id);
ALTER TABLE patients ADD COLUMN discharged_at INTEGER;
-- `GET /patients`: newest first, keyset on (created_at, id) within an organisation.
CREATE INDEX patients_org_created ON patients (org_id, created_at DESC, id DESC);
