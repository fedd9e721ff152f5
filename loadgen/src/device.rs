//! The `sync` step: a VU plays a nurse's device that syncs offline edits, as the seed's sync
//! suite did. The device keeps what the server told it (each task's version vector and its own
//! change counter) and the organisation's sync clock; `edit` records changes offline (no
//! request), `push` sends them as one batch, `state` fetches what changed since its clock, and
//! `init` registers it and takes the snapshot it picks tasks from. Each device edits its own
//! share of the snapshot (a nurse's patients), so devices meet only where the scenario says:
//! with probability `overlap` a change goes to the title of the snapshot's first task, which
//! every device edits, and that is where conflicts come from. docs/load.md describes the step.

use std::ops::RangeInclusive;

use rand::{Rng, seq::IndexedRandom};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value, json};

/// What a `sync` step does.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SyncAction {
    /// `POST /api/v1/sync/init`: register and take the snapshot (again, if the device had one).
    Init,
    /// Record changes offline: no request.
    Edit,
    /// `POST /api/v1/sync/changes` with everything recorded since the last push.
    Push,
    /// `GET /api/v1/sync/state?since=<clock>`.
    State,
}

/// A field an `edit` changes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum EditField {
    Title,
    Description,
    Priority,
    Note,
}

/// `sync = { action = "edit", changes = "10..60", tasks = 20 }` as written in a scenario.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SyncSpec {
    pub action: SyncAction,
    /// init: the device id, a template (default `device-${vu}`).
    #[serde(default)]
    pub device: Option<String>,
    /// init: the ward whose newest tasks the snapshot holds, a template (default: the organisation's).
    #[serde(default)]
    pub ward: Option<String>,
    /// edit: how many changes, `"1"` or `"10..60"` (uniform), default 1.
    #[serde(default)]
    pub changes: Option<String>,
    /// init: the device keeps N tasks of its snapshot (its patients for the shift, default 10):
    /// device `i` takes the i-th share, so devices do not share tasks while the snapshot lasts.
    #[serde(default)]
    pub tasks: Option<u32>,
    /// edit: the chance that a change goes to the title of the snapshot's first task, which
    /// every device edits (default 0): the scenario's concurrent conflicting edits.
    #[serde(default)]
    pub overlap: Option<f64>,
    /// edit: the fields changed, one picked at random per change (default title, description,
    /// priority, note; list one twice to make it twice as likely).
    #[serde(default)]
    pub fields: Vec<EditField>,
    /// init: register again every time the step runs (to measure init), not only when the device
    /// has not registered yet.
    #[serde(default)]
    pub again: bool,
}

/// Parses `"10"` or `"10..60"`.
pub fn parse_count(text: &str) -> Result<RangeInclusive<u32>, String> {
    let bad = || format!("`{text}`: a count is `N` or `N..M` with 1 ≤ N ≤ M ≤ 10000");
    let (low, high) = match text.split_once("..") {
        Some((low, high)) => (
            low.trim().parse().map_err(|_| bad())?,
            high.trim().parse().map_err(|_| bad())?,
        ),
        None => {
            let n = text.trim().parse().map_err(|_| bad())?;
            (n, n)
        }
    };
    if low == 0 || low > high || high > 10_000 {
        return Err(bad());
    }
    Ok(low..=high)
}

/// One task as the device holds it.
#[derive(Debug, Clone)]
struct HeldTask {
    id: Value,
    /// The task's version vector as the device last heard it, its own changes included.
    clock: Map<String, Value>,
}

/// A device's state, kept by its VU across iterations.
#[derive(Debug, Clone, Default)]
pub struct Device {
    pub id: String,
    /// The shared task, then the device's own.
    tasks: Vec<HeldTask>,
    pending: Vec<Value>,
    /// The organisation's sync clock, for `state`.
    pub clock: i64,
}

impl Device {
    /// Whether `init` has run (and not been undone by a refused push).
    pub fn registered(&self) -> bool {
        !self.id.is_empty()
    }

    /// Changes recorded and not yet pushed.
    pub fn pending(&self) -> usize {
        self.pending.len()
    }

    /// Takes an init answer: the shared task (the snapshot's first), device `slot`'s share of
    /// `keep` tasks after it, and the clock.
    pub fn take_snapshot(&mut self, id: String, answer: &Value, keep: u32, slot: u64) -> Result<(), String> {
        let tasks = answer["tasks"].as_array().ok_or("the init answer has no tasks")?;
        if tasks.len() < 2 {
            return Err("the snapshot holds too few tasks to edit".into());
        }
        let others = tasks.len() - 1;
        let keep = (keep.max(1) as usize).min(others);
        let start = (slot as usize).wrapping_mul(keep) % others;
        let share = (0..keep).map(|j| &tasks[1 + (start + j) % others]);
        self.tasks = std::iter::once(&tasks[0])
            .chain(share)
            .filter_map(|t| {
                Some(HeldTask {
                    id: t["task_id"].clone(),
                    clock: t["doc"]["clock"].as_object()?.clone(),
                })
            })
            .collect();
        if self.tasks.len() < 2 {
            return Err("the snapshot's documents have no clocks".into());
        }
        self.id = id;
        self.clock = answer["clock"].as_i64().unwrap_or(0);
        self.pending.clear();
        Ok(())
    }

    /// Records `count` changes offline: each, with probability `overlap`, to the shared task's
    /// title, else to one of its own tasks and a field of `fields`.
    pub fn edit(&mut self, count: u32, fields: &[EditField], overlap: f64, rng: &mut impl Rng) {
        if self.tasks.len() < 2 {
            return;
        }
        for _ in 0..count {
            let shared = rng.random_bool(overlap.clamp(0.0, 1.0));
            let (index, field) = if shared {
                (0, EditField::Title)
            } else {
                (
                    rng.random_range(1..self.tasks.len()),
                    *fields.choose(rng).unwrap_or(&EditField::Description),
                )
            };
            let op = match field {
                EditField::Title => {
                    json!({"set": {"field": "title", "value": format!("Obs round, bay {}", rng.random_range(1..=24))}})
                }
                EditField::Description => {
                    json!({"set": {"field": "description", "value": format!("NEWS2 {}", rng.random_range(0..=9))}})
                }
                EditField::Priority => {
                    let priority = ["routine", "urgent", "asap", "stat"].choose(rng).unwrap_or(&"routine");
                    json!({"set": {"field": "priority", "value": priority}})
                }
                EditField::Note => json!({"add_note": {
                    "id": uuid::Uuid::new_v4(),
                    "text": "Observations recorded at the bedside",
                    "author": uuid::Uuid::nil(),
                    "at": "2026-01-01T08:00:00Z",
                }}),
            };
            let task = &mut self.tasks[index];
            let counter = task.clock.get(&self.id).and_then(Value::as_u64).unwrap_or(0) + 1;
            let mut context = task.clock.clone();
            context.remove(&self.id);
            self.pending.push(json!({
                "task_id": task.id, "replica": self.id, "counter": counter, "context": context, "op": op,
            }));
            task.clock.insert(self.id.clone(), Value::from(counter));
        }
    }

    /// The body of a push of everything pending.
    pub fn push_body(&self) -> Value {
        json!({"device_id": self.id, "changes": self.pending})
    }

    /// Takes a push answer: 200 brings every touched task's clock up to the server's; 202 leaves
    /// the device's own view (it learns the rest at its next `state` or `init`). A busy server
    /// (429, 503) or no answer keeps the changes for the next push, as a device would; anything
    /// else means the device's view is off: it registers again at its next `init`.
    pub fn pushed(&mut self, status: u16, answer: &Value) {
        if matches!(status, 0 | 429 | 503) {
            return;
        }
        self.pending.clear();
        match status {
            200 => {
                if let Some(clocks) = answer["clocks"].as_object() {
                    for task in &mut self.tasks {
                        if let Some(clock) = task
                            .id
                            .as_str()
                            .and_then(|id| clocks.get(id))
                            .and_then(Value::as_object)
                        {
                            task.clock = clock.clone();
                        }
                    }
                }
                self.clock = self.clock.max(answer["position"].as_i64().unwrap_or(0));
            }
            202 => {}
            _ => self.id.clear(),
        }
    }

    /// Takes a state answer: newer clocks of the tasks it holds, and the organisation's clock.
    pub fn took_state(&mut self, answer: &Value) {
        for doc in answer["tasks"].as_array().into_iter().flatten() {
            if let (Some(task), Some(clock)) = (
                self.tasks.iter_mut().find(|t| t.id == doc["task_id"]),
                doc["doc"]["clock"].as_object(),
            ) {
                // The server's clock counts what it holds; the device may hold more of its own.
                let own = task.clock.get(&self.id).cloned();
                task.clock = clock.clone();
                if let Some(own) = own {
                    task.clock.insert(self.id.clone(), own);
                }
            }
        }
        self.clock = answer["clock"].as_i64().unwrap_or(self.clock);
    }
}

/// Whether a push answer put a task in conflict (the seed's conflict rate counts these syncs).
pub fn made_conflict(answer: &Value) -> bool {
    answer["new_conflicts"].as_array().is_some_and(|c| !c.is_empty())
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::{SeedableRng, rngs::StdRng};

    fn snapshot() -> Value {
        let task = |id: &str, clock: Value| json!({"task_id": id, "doc": {"clock": clock}});
        json!({"clock": 3, "tasks": [task("hot", json!({"server": 7})), task("t1", json!({"server": 7})),
            task("t2", json!({"server": 7, "d": 2})), task("t3", json!({"server": 7}))]})
    }

    #[test]
    fn devices_take_separate_shares_and_meet_only_on_the_shared_task() {
        let mut rng = StdRng::seed_from_u64(3);
        let ids = |slot: u64, overlap: f64, rng: &mut StdRng| {
            let mut device = Device::default();
            device.take_snapshot(format!("d{slot}"), &snapshot(), 1, slot).unwrap();
            device.edit(50, &[EditField::Description], overlap, rng);
            let body = device.push_body();
            let mut ids: Vec<String> = body["changes"]
                .as_array()
                .unwrap()
                .iter()
                .map(|c| c["task_id"].as_str().unwrap().to_owned())
                .collect();
            ids.dedup();
            ids
        };
        assert_eq!(
            (ids(0, 0.0, &mut rng), ids(1, 0.0, &mut rng)),
            (vec!["t1".to_owned()], vec!["t2".to_owned()])
        );
        assert!(ids(0, 0.5, &mut rng).contains(&"hot".to_owned()));
    }

    #[test]
    fn edits_count_on_from_what_the_server_holds_of_the_device() {
        let mut device = Device::default();
        let mut rng = StdRng::seed_from_u64(1);
        device.take_snapshot("d".into(), &snapshot(), 2, 0).unwrap();
        device.edit(4, &[EditField::Priority], 0.0, &mut rng);
        let body = device.push_body();
        let changes = body["changes"].as_array().unwrap();
        assert_eq!(changes.len(), 4);
        for task in ["t1", "t2"] {
            let counters: Vec<u64> = changes
                .iter()
                .filter(|c| c["task_id"] == task)
                .map(|c| c["counter"].as_u64().unwrap())
                .collect();
            let start = if task == "t2" { 3 } else { 1 };
            assert_eq!(
                counters,
                (start..start + counters.len() as u64).collect::<Vec<_>>(),
                "{task}"
            );
        }
        assert!(
            changes
                .iter()
                .all(|c| c["context"]["server"] == 7 && c["context"].get("d").is_none())
        );
    }

    #[test]
    fn a_busy_server_keeps_the_changes_for_the_next_push() {
        let mut device = Device::default();
        let mut rng = StdRng::seed_from_u64(4);
        device.take_snapshot("d".into(), &snapshot(), 1, 0).unwrap();
        device.edit(3, &[], 0.0, &mut rng);
        device.pushed(503, &json!({"error": "sync_queue_full"}));
        assert!(device.registered() && device.pending() == 3);
    }

    #[test]
    fn a_refused_push_makes_the_device_register_again() {
        let mut device = Device::default();
        let mut rng = StdRng::seed_from_u64(2);
        device.take_snapshot("d".into(), &snapshot(), 1, 0).unwrap();
        device.edit(1, &[], 0.0, &mut rng);
        device.pushed(409, &json!({"error": "change_gap"}));
        assert!(!device.registered() && device.pending() == 0);
    }

    #[test]
    fn counts_parse_as_one_number_or_a_range() {
        assert_eq!(parse_count("10..60").unwrap(), 10..=60);
        assert_eq!(parse_count("1").unwrap(), 1..=1);
        assert!(parse_count("0").is_err() && parse_count("5..2").is_err() && parse_count("x").is_err());
    }
}
