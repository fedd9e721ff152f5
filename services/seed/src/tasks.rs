//! The tasks, generated a chunk at a time from each organisation's own seeded generator.

use rand::{Rng, SeedableRng, rngs::StdRng};
use time::{Duration, OffsetDateTime};
use uuid::Uuid;

use crate::{Directory, OrgSize, SeedTask, Vendor, id, names, pick};

impl Directory {
    /// The tasks of organisation `index`, in chunks, from their own seeded generator.
    pub fn tasks(&self, index: usize, seed: u64, now: OffsetDateTime) -> TaskChunks {
        let org_id = self.orgs[index].id;
        TaskChunks {
            org_id,
            size: self.sizes[index],
            produced: 0,
            patients: self
                .patients
                .iter()
                .filter(|p| p.org_id == org_id)
                .map(|p| (p.id, p.ward_id, p.home_vendor))
                .collect(),
            nurses: self
                .practitioners
                .iter()
                .filter(|p| p.org_id == org_id && p.role == "nurse")
                .map(|p| p.id)
                .collect(),
            rng: StdRng::seed_from_u64(seed ^ (0x7A5C_0000 + index as u64)),
            now,
        }
    }
}

/// Generates one organisation's tasks a chunk at a time, so a million never sit in memory.
pub struct TaskChunks {
    org_id: Uuid,
    size: OrgSize,
    produced: usize,
    patients: Vec<(Uuid, Uuid, Vendor)>,
    nurses: Vec<Uuid>,
    rng: StdRng,
    now: OffsetDateTime,
}

/// Rows per multi-row INSERT: 1,000 x 12 binds stays under SQLite's and PostgreSQL's limits.
pub const CHUNK: usize = 1_000;

impl Iterator for TaskChunks {
    type Item = Vec<SeedTask>;

    fn next(&mut self) -> Option<Vec<SeedTask>> {
        let total = self.size.active_tasks + self.size.closed_tasks;
        let end = total.min(self.produced + CHUNK);
        if self.produced == end || self.patients.is_empty() {
            return None;
        }
        let rng = &mut self.rng;
        let batch = (self.produced..end)
            .map(|n| {
                let active = n < self.size.active_tasks;
                let (patient_id, ward_id, vendor) = self.patients[rng.random_range(0..self.patients.len())];
                let (title, description) = pick(rng, names::TASKS);
                let priority = match rng.random_range(0..100) {
                    0..60 => "routine",
                    60..85 => "urgent",
                    85..95 => "asap",
                    _ => "stat",
                };
                let status = match (active, rng.random_range(0..10)) {
                    (true, 0..7) => "pending",
                    (true, _) => "in_progress",
                    (false, 0..9) => "completed",
                    (false, _) => "cancelled",
                };
                let age = if active {
                    rng.random_range(1..3 * 24 * 3600)
                } else {
                    rng.random_range(3 * 24 * 3600..365 * 24 * 3600)
                };
                let created_at =
                    self.now - Duration::seconds(age) - Duration::microseconds(rng.random_range(0..1_000_000));
                let assignee_id = (rng.random_range(0..10) < 7 && !self.nurses.is_empty())
                    .then(|| self.nurses[rng.random_range(0..self.nurses.len())]);
                SeedTask {
                    id: id(rng),
                    org_id: self.org_id,
                    patient_id,
                    title,
                    description: rng.random_bool(0.6).then_some(description),
                    status,
                    priority,
                    assignee_id,
                    ward_id,
                    due_at: created_at + Duration::minutes(rng.random_range(30..24 * 60)),
                    created_at,
                    vendor,
                }
            })
            .collect();
        self.produced = end;
        Some(batch)
    }
}
