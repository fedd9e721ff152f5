-- The audit log, partitioned by month on `at` from the start (time-series queries and retention
-- come later; a partitioned table cannot be made from a plain one without a rewrite).
-- Rows outside the pre-made months land in the default partition rather than failing the write.
CREATE TABLE audit_log (
    id         uuid NOT NULL,
    org_id     uuid NOT NULL,
    actor_id   uuid NOT NULL,
    action     text NOT NULL,
    entity     text NOT NULL,
    entity_id  uuid NOT NULL,
    before     jsonb,
    after      jsonb,
    at         timestamptz NOT NULL,
    PRIMARY KEY (at, id)
) PARTITION BY RANGE (at);

CREATE TABLE audit_log_default PARTITION OF audit_log DEFAULT;

DO $$
DECLARE
    month_start date := date_trunc('month', now())::date - interval '1 month';
BEGIN
    FOR i IN 0..24 LOOP
        EXECUTE format(
            'CREATE TABLE audit_log_%s PARTITION OF audit_log FOR VALUES FROM (%L) TO (%L)',
            to_char(month_start + make_interval(months => i), 'YYYY_MM'),
            month_start + make_interval(months => i),
            month_start + make_interval(months => i + 1));
    END LOOP;
END
$$;

CREATE INDEX audit_log_org_at ON audit_log (org_id, at DESC);
CREATE INDEX audit_log_entity ON audit_log (entity_id, at DESC);
