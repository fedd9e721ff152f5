-- The seed platform's performance indexes that 0002 did not already create; with 0002's, the
-- set in migrations/indexes.sql, which the knob `db.indexes` drops and builds again at run time.
-- Keep the definitions identical to that file (tests check it).
CREATE INDEX IF NOT EXISTS tasks_status_priority_assignee ON tasks (org_id, status, priority, assignee_id, created_at DESC);
CREATE INDEX IF NOT EXISTS tasks_shift_handover ON tasks (org_id, created_at, status) WHERE status IN ('pending', 'in_progress');
CREATE INDEX IF NOT EXISTS tasks_active ON tasks (org_id, updated_at) WHERE status <> 'completed';
CREATE INDEX IF NOT EXISTS emr_task_links_vendor ON emr_task_links (org_id, vendor);
CREATE INDEX IF NOT EXISTS audit_log_actor_at ON audit_log (actor_id, at DESC);
CREATE INDEX IF NOT EXISTS audit_log_action_at ON audit_log (action, at DESC);
