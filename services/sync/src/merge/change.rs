//! A change: one edit by one replica, with what its writer had seen. This is what devices send
//! and what the server records for edits made through the task REST API.

use serde::{Deserialize, Serialize};

use crate::{Dot, FieldValue, Note, ReplicaId, Status, SyncError, VersionVector};

/// What a change does. JSON: `{"set": {"field": "title", "value": "…"}}`, `{"set_status": "completed"}`
/// or `{"add_note": {"id": "…", "text": "…", "author": "…", "at": "…"}}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", deny_unknown_fields)]
pub enum Op {
    /// Writes one field, replacing the values its writer had seen.
    Set(FieldValue),
    /// Moves the status (see the status rule in the [`crate::merge`] docs).
    SetStatus(Status),
    /// Adds a note; notes are never edited or removed.
    AddNote(Note),
}

/// One validated change. JSON:
/// `{"replica": "tablet-7", "counter": 3, "context": {"server": 12, "tablet-7": 2}, "op": {…}}`,
/// where `context` is the clock of the writer's copy when it wrote (absent means "had seen nothing").
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "RawChange")]
pub struct Change {
    replica: ReplicaId,
    counter: u64,
    context: VersionVector,
    op: Op,
}

/// A change as sent, before [`Change::new`] checks it.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawChange {
    replica: ReplicaId,
    counter: u64,
    #[serde(default)]
    context: VersionVector,
    op: Op,
}

impl TryFrom<RawChange> for Change {
    type Error = SyncError;

    fn try_from(raw: RawChange) -> Result<Self, SyncError> {
        Self::new(raw.replica, raw.counter, raw.context, raw.op)
    }
}

impl Change {
    /// Checks a change: counters start at 1, and a writer cannot have seen its own change or a
    /// later one. The context is completed with the writer's own earlier changes (counter − 1),
    /// since a replica always has those; clients may leave their own replica out.
    pub fn new(replica: ReplicaId, counter: u64, mut context: VersionVector, op: Op) -> Result<Self, SyncError> {
        if counter == 0 {
            return Err(SyncError::invalid("counter", "counters start at 1"));
        }
        if context.get(&replica) >= counter {
            return Err(SyncError::invalid(
                "context",
                format!(
                    "the context of change {counter} of {replica} already counts {}",
                    context.get(&replica)
                ),
            ));
        }
        if counter > 1 {
            context.observe(&Dot {
                replica: replica.clone(),
                counter: counter - 1,
            });
        }
        Ok(Self {
            replica,
            counter,
            context,
            op,
        })
    }

    /// The replica that wrote it.
    pub fn replica(&self) -> &ReplicaId {
        &self.replica
    }

    /// Its position among its replica's changes, from 1.
    pub fn counter(&self) -> u64 {
        self.counter
    }

    /// Its identity.
    pub fn dot(&self) -> Dot {
        Dot {
            replica: self.replica.clone(),
            counter: self.counter,
        }
    }

    /// What its writer had seen, its own earlier changes included.
    pub fn context(&self) -> &VersionVector {
        &self.context
    }

    /// What it does.
    pub fn op(&self) -> &Op {
        &self.op
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::{Value, json};

    fn change(json: Value) -> Result<Change, serde_json::Error> {
        serde_json::from_value(json)
    }

    #[test]
    fn a_change_reads_and_writes_the_documented_json() {
        let sent = json!({
            "replica": "tablet-7",
            "counter": 3,
            "context": {"server": 12, "tablet-7": 2},
            "op": {"set": {"field": "title", "value": "Obs round"}}
        });
        let parsed = change(sent.clone()).unwrap();
        assert_eq!(parsed.dot().counter, 3);
        assert_eq!(serde_json::to_value(&parsed).unwrap(), sent);
    }

    #[test]
    fn the_writer_is_taken_to_have_seen_its_own_earlier_changes() {
        let parsed = change(json!({"replica": "d", "counter": 4, "op": {"set_status": "in_progress"}})).unwrap();
        assert_eq!(parsed.context().get(&ReplicaId::parse("d").unwrap()), 3);
    }

    #[test]
    fn malformed_changes_are_refused() {
        let note = json!({"id": "018f0000-0000-7000-8000-000000000001", "author": "018f0000-0000-7000-8000-000000000002",
                          "at": "2026-01-02T03:04:05Z", "text": "x".repeat(4_001)});
        for bad in [
            json!({"replica": "d", "counter": 0, "op": {"set_status": "completed"}}),
            json!({"replica": "", "counter": 1, "op": {"set_status": "completed"}}),
            json!({"replica": "x".repeat(65), "counter": 1, "op": {"set_status": "completed"}}),
            json!({"replica": "d", "counter": 2, "context": {"d": 2}, "op": {"set_status": "completed"}}),
            json!({"replica": "d", "counter": 1, "context": {"e": 0}, "op": {"set_status": "completed"}}),
            json!({"replica": "d", "counter": 1, "op": {"set_status": "done"}}),
            json!({"replica": "d", "counter": 1, "op": {"delete": {}}}),
            json!({"replica": "d", "counter": 1, "op": {"set_status": "completed", "add_note": {}}}),
            json!({"replica": "d", "counter": 1, "op": {"set": {"field": "patient_id", "value": null}}}),
            json!({"replica": "d", "counter": 1, "op": {"add_note": note}}),
            json!({"replica": "d", "counter": 1, "op": {"set_status": "completed"}, "at": "now"}),
        ] {
            assert!(change(bad.clone()).is_err(), "{bad} was accepted");
        }
    }

    #[test]
    fn a_context_that_counts_the_change_itself_is_invalid() {
        let d = ReplicaId::parse("d").unwrap();
        let mut context = VersionVector::default();
        context.observe(&Dot {
            replica: d.clone(),
            counter: 5,
        });
        let err = Change::new(d, 5, context, Op::SetStatus(Status::Completed)).unwrap_err();
        assert!(matches!(err, SyncError::Invalid { field: "context", .. }), "{err:?}");
    }
}
