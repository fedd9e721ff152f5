-- pgbench reference for benches/gateway.sh: the two statements of POST /api/v1/tasks in one
-- transaction (task row + audit row, same columns and values as the task service writes;
-- see services/task/src/storage/sql.rs). Run with -M prepared (sqlx prepares its statements too)
-- and the ids of seeded rows given as variables, since pgbench's \set holds no strings:
--   pgbench -n -M prepared -f benches/create_task.sql -D org_id=UUID -D patient_id=UUID -D actor_id=UUID
-- The task id and timestamp come from the first INSERT (\gset), as the service makes its own.
BEGIN;
INSERT INTO tasks (org_id, id, patient_id, title, description, status, priority, assignee_id, ward_id,
                   due_at, created_at, updated_at, version)
VALUES (:org_id::uuid, gen_random_uuid(), :patient_id::uuid, 'Check vital signs', NULL, 'pending', 'routine',
        NULL, NULL, NULL, now(), now(), 1)
RETURNING id AS task_id, created_at AS at \gset
INSERT INTO audit_log (id, org_id, actor_id, action, entity, entity_id, before, after, at)
VALUES (gen_random_uuid(), :org_id::uuid, :actor_id::uuid, 'task.create', 'task', :task_id::uuid, NULL,
        jsonb_build_object('id', :task_id::uuid, 'patient_id', :patient_id::uuid, 'title', 'Check vital signs',
                           'description', NULL, 'status', 'pending', 'priority', 'routine', 'assignee_id', NULL,
                           'ward_id', NULL, 'due_at', NULL, 'created_at', :at::timestamptz,
                           'updated_at', :at::timestamptz, 'version', 1),
        :at::timestamptz);
END;
