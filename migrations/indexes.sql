-- The seed platform's performance indexes (its migration 003_add_performance_indexes.sql, on
-- emrlab's schema), the set the knob `db.indexes` switches: `none` drops them, `seed` (the
-- default) builds them again, CONCURRENTLY on PostgreSQL (outside a transaction, writes go on).
-- This is the one place where the schema changes at run time. The migrations create the same
-- indexes (0002 and 0010), so a fresh database is at `seed`; a test keeps the two alike.
-- One statement per line, each `CREATE INDEX IF NOT EXISTS name ON …`.
CREATE INDEX IF NOT EXISTS tasks_org_status ON tasks (org_id, status, created_at DESC);
CREATE INDEX IF NOT EXISTS tasks_org_assignee ON tasks (org_id, assignee_id);
CREATE INDEX IF NOT EXISTS tasks_org_patient ON tasks (org_id, patient_id);
CREATE INDEX IF NOT EXISTS tasks_status_priority_assignee ON tasks (org_id, status, priority, assignee_id, created_at DESC);
CREATE INDEX IF NOT EXISTS tasks_shift_handover ON tasks (org_id, created_at, status) WHERE status IN ('pending', 'in_progress');
CREATE INDEX IF NOT EXISTS tasks_active ON tasks (org_id, updated_at) WHERE status <> 'completed';
CREATE INDEX IF NOT EXISTS emr_task_links_vendor ON emr_task_links (org_id, vendor);
CREATE INDEX IF NOT EXISTS audit_log_actor_at ON audit_log (actor_id, at DESC);
CREATE INDEX IF NOT EXISTS audit_log_action_at ON audit_log (action, at DESC);
