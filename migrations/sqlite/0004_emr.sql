-- The EMR integration. Each patient has a home vendor and an id at each vendor (the
-- cross-reference a real integration keeps); a task pushed to a vendor is linked to the vendor's
-- id for it; and a task records the outcome of its last verification against that copy.
ALTER TABLE patients ADD COLUMN home_vendor TEXT NOT NULL DEFAULT 'epic' CHECK (home_vendor IN ('epic', 'cerner'));
ALTER TABLE patients ADD COLUMN epic_id TEXT;
ALTER TABLE patients ADD COLUMN cerner_id TEXT;

ALTER TABLE tasks ADD COLUMN verification TEXT NOT NULL DEFAULT 'pending'
    CHECK (verification IN ('pending', 'verified', 'mismatch', 'failed'));
ALTER TABLE tasks ADD COLUMN verified_at INTEGER;
CREATE UNIQUE INDEX tasks_org_id ON tasks (org_id, id);

CREATE TABLE emr_task_links (
    task_id         BLOB PRIMARY KEY,
    org_id          BLOB NOT NULL,
    vendor          TEXT NOT NULL CHECK (vendor IN ('epic', 'cerner')),
    vendor_task_id  TEXT NOT NULL,
    pushed_at       INTEGER NOT NULL,
    UNIQUE (vendor, vendor_task_id),
    FOREIGN KEY (org_id, task_id) REFERENCES tasks (org_id, id)
);
