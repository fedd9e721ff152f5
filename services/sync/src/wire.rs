//! The sync API's JSON: what devices send and what they get back. Changes arrive flat, each
//! naming its task, and are grouped by task here; everything is validated once on parsing.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use uuid::Uuid;

use emrlab_common::error::ApiError;

use crate::{Change, Conflict, Op, ReplicaId, SyncError, TaskDoc, TaskView, VersionVector};

/// `POST /sync/init`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct InitRequest {
    pub device_id: String,
    /// The ward whose tasks the snapshot holds; absent: the organisation's newest tasks.
    #[serde(default)]
    pub ward_id: Option<Uuid>,
}

/// One change as a device sends it: a [`Change`] and the task it is for.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WireChange {
    pub task_id: Uuid,
    pub replica: ReplicaId,
    pub counter: u64,
    #[serde(default)]
    pub context: VersionVector,
    pub op: Op,
}

/// `POST /sync/changes`: one change is a batch of one.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ChangesRequest {
    pub device_id: String,
    pub changes: Vec<WireChange>,
}

/// A validated batch: the device's replica id and its changes grouped by task.
#[derive(Debug, Clone)]
pub struct Batch {
    pub device: ReplicaId,
    pub tasks: BTreeMap<Uuid, Vec<Change>>,
    pub len: usize,
}

/// Parses a device id with the replica rules (and never the server's own id).
pub fn device_id(id: String) -> Result<ReplicaId, ApiError> {
    let replica = ReplicaId::parse(id).map_err(|e| ApiError::invalid("device_id", e.to_string()))?;
    if replica == ReplicaId::server() {
        return Err(ApiError::invalid(
            "device_id",
            "\"server\" is the server's own replica id",
        ));
    }
    Ok(replica)
}

impl ChangesRequest {
    /// Checks the batch: 1 to `max` changes, each written by the sending device itself (a device
    /// cannot speak for another or for the server), each a well-formed change.
    pub fn parse(self, max: usize) -> Result<Batch, ApiError> {
        if self.changes.is_empty() {
            return Err(ApiError::invalid("changes", "send at least one change"));
        }
        if self.changes.len() > max {
            return Err(ApiError::new(
                http::StatusCode::PAYLOAD_TOO_LARGE,
                "batch_too_large",
                format!(
                    "{} changes in one batch; at most {max} (sync.max_batch): split it and send the parts in order",
                    self.changes.len()
                ),
            )
            .field("changes"));
        }
        let device = device_id(self.device_id)?;
        let len = self.changes.len();
        let mut tasks: BTreeMap<Uuid, Vec<Change>> = BTreeMap::new();
        for (i, wire) in self.changes.into_iter().enumerate() {
            if wire.replica != device {
                return Err(ApiError::invalid(
                    format!("changes[{i}].replica"),
                    "a device sends only its own changes: replica must equal device_id",
                ));
            }
            let change = Change::new(wire.replica, wire.counter, wire.context, wire.op)
                .map_err(|e| refused(&e).field(format!("changes[{i}]")))?;
            tasks.entry(wire.task_id).or_default().push(change);
        }
        Ok(Batch { device, tasks, len })
    }
}

/// A merge refusal as the device is told it: every one is the device's to fix, and nothing was
/// written. A gap or a clock from the future is a 409 (resend from the right point); malformed
/// input a 422.
pub fn refused(error: &SyncError) -> ApiError {
    let (status, code) = match error {
        SyncError::Invalid { .. } => (http::StatusCode::UNPROCESSABLE_ENTITY, "invalid_field"),
        SyncError::Gap { .. } => (http::StatusCode::CONFLICT, "change_gap"),
        SyncError::ClockFromFuture { .. } => (http::StatusCode::CONFLICT, "clock_from_future"),
        SyncError::NoteIdTaken(_) => (http::StatusCode::CONFLICT, "note_id_taken"),
        SyncError::NoConflict(_) => (http::StatusCode::CONFLICT, "no_conflict"),
    };
    ApiError::new(status, code, error.to_string())
}

/// One task as the sync API shows it: the document (for the device's replica) and its view.
#[derive(Debug, Clone, Serialize)]
pub struct DocOut {
    pub task_id: Uuid,
    /// Where this document stands in the organisation's change order (`since` for the next fetch).
    pub position: i64,
    pub doc: TaskDoc,
    pub view: TaskView,
}

/// A conflicted field as `GET /sync/conflicts` lists it. Its id is `<task id>.<field>`.
#[derive(Debug, Clone, Serialize)]
pub struct ConflictOut {
    pub id: String,
    pub task_id: Uuid,
    #[serde(flatten)]
    pub conflict: Conflict,
}

/// What a merged batch did.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct MergeReport {
    pub applied: usize,
    pub duplicates: usize,
    /// The tasks the batch left with a conflict (new or still open).
    pub conflicted_tasks: Vec<Uuid>,
    /// The tasks that had no conflict before this batch and have one now: what the seed's
    /// conflict rate counts, and what `sync.conflict` events announce.
    pub new_conflicts: Vec<Uuid>,
    /// The organisation's change order after this merge: pass it as `since` to fetch later changes.
    pub position: i64,
    /// Each task the batch touched, with its document's clock after the merge.
    pub clocks: BTreeMap<Uuid, VersionVector>,
}
