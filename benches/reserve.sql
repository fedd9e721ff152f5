-- pgbench reference for benches/authorizations.sh: the `atomic` mode's booking, the same
-- conditional UPDATE + INSERT statement as services/task/src/authorizations/postgres.rs, booking 1
-- unit on authorization number :n of the bench's own table bench_targets (n, id, org_id, actor_id),
-- which the script fills with the seeded authorizations (pgbench's variables hold no strings).
-- The lookup in bench_targets is one primary-key read, a small cost the service does not pay.
--   pgbench -n -M prepared -f benches/reserve.sql -D count=55   (count=1: the hot authorization)
\set n random(1, :count)
WITH target AS (SELECT id, org_id, actor_id FROM bench_targets WHERE n = :n),
booked AS (
    UPDATE authorizations a SET scheduled_units = scheduled_units + 1, updated_at = now()
    FROM target t
    WHERE a.org_id = t.org_id AND a.id = t.id AND a.used_units + a.scheduled_units + 1 <= a.total_units
      AND a.valid_from <= now() AND a.valid_until >= now()
      AND a.valid_from <= now() + interval '1 day' AND a.valid_until >= now() + interval '1 day'
    RETURNING a.id, a.org_id, t.actor_id, a.total_units, a.used_units, a.scheduled_units),
made AS (
    INSERT INTO reservations (id, org_id, authorization_id, units, scheduled_for, state, idempotency_key,
                              created_by, created_at)
    SELECT gen_random_uuid(), org_id, id, 1, now() + interval '1 day', 'scheduled', NULL, actor_id, now()
    FROM booked)
SELECT total_units, used_units, scheduled_units FROM booked;
