-- Admission and discharge (`POST /patients`, `POST /patients/{id}/discharge`): who admitted a
-- patient, and when they left. Seeded patients have no admitting practitioner.
ALTER TABLE patients ADD COLUMN admitting_practitioner_id uuid;
ALTER TABLE patients ADD COLUMN discharged_at timestamptz;
ALTER TABLE patients ADD CONSTRAINT patients_admitting_practitioner
    FOREIGN KEY (org_id, admitting_practitioner_id) REFERENCES practitioners (org_id, id);
-- `GET /patients`: newest first, keyset on (created_at, id) within an organisation.
CREATE INDEX patients_org_created ON patients (org_id, created_at DESC, id DESC);
