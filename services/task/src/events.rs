//! The task service's live events: `task.created`, `task.updated`, `task.completed` and
//! `task.verified`, each carrying the task as the REST API returns it (ids, no patient names),
//! routed to its ward and its assignee.

use emrlab_common::{
    auth::{OrgId, UserId},
    events::Event,
};

use crate::{
    AppState,
    model::{Status, Task},
};

pub const CREATED: &str = "task.created";
pub const UPDATED: &str = "task.updated";
pub const COMPLETED: &str = "task.completed";
pub const VERIFIED: &str = "task.verified";

/// Publishes `kind` for `task`; never fails a request (a task that cannot be serialised is
/// skipped, which the REST answer would have failed on first).
pub fn publish(state: &AppState, kind: &'static str, org: OrgId, task: &Task) {
    let Ok(payload) = serde_json::to_value(task) else {
        return;
    };
    let event = Event::new(kind, org, payload)
        .ward(task.ward_id)
        .for_users(task.assignee_id.map(UserId));
    state.events.publish(event);
}

/// `task.completed` when a change left the task completed, else `task.updated`.
pub fn kind_of_update(task: &Task, status_changed: bool) -> &'static str {
    if status_changed && task.status == Status::Completed {
        COMPLETED
    } else {
        UPDATED
    }
}
