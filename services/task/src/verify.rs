//! `POST /tasks/{id}/verify`: asks the EMR service to compare a task with the vendor's copy and
//! records the outcome on the task (`verified`, `mismatch` or `failed`), within
//! `tasks.verify_timeout` even when the vendor is down. Creating a task never waits on a vendor;
//! only this endpoint does.

use axum::{
    extract::State,
    http::HeaderMap,
    response::{IntoResponse, Response},
};
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;
use uuid::Uuid;

use emrlab_common::{
    auth::{Caller, OrgId},
    db,
    extract::Path,
};
use emrlab_seed::Vendor;

use crate::{
    AppState,
    emr::{Comparison, Difference, Failure, Forwarded},
    error::TaskError,
    events,
    handlers::clinical_actor,
    metrics,
    model::{TaskId, Verification},
};

/// How a verification waits for the EMR service (`tasks.verify_mode`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum VerifyMode {
    /// Holds a write transaction, and so a pooled connection, while the EMR answers, as many
    /// real handlers do: with a hanging vendor and no breaker this drains the task pool.
    InTransaction,
    /// Reads the task, gives the connection back, calls the EMR, then writes in a short
    /// transaction of its own: a slow vendor holds no connection.
    ReleaseFirst,
}

/// The answer when the EMR service compared the task.
#[derive(Debug, Serialize)]
struct Verified {
    task_id: TaskId,
    /// `verified` or `mismatch`, as now stored on the task.
    state: Verification,
    verified: bool,
    vendor: Option<Vendor>,
    vendor_task_id: Option<String>,
    differences: Vec<Difference>,
    #[serde(with = "time::serde::rfc3339")]
    checked_at: OffsetDateTime,
}

/// The state a verification's outcome is stored as.
fn state_of(outcome: &Result<Comparison, Failure>) -> Verification {
    match outcome {
        Ok(comparison) if comparison.verified => Verification::Verified,
        Ok(_) => Verification::Mismatch,
        Err(_) => Verification::Failed,
    }
}

/// `POST /tasks/{id}/verify`: 200 with the comparison, or the EMR's failure passed on (its
/// status and code), `emr_timeout` (504) or `emr_unavailable` (503); the task's `verification`
/// is stored in every case where the task exists and the caller is still waiting.
pub async fn verify_task(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<Uuid>,
    headers: HeaderMap,
) -> Result<Response, TaskError> {
    let actor = clinical_actor(&caller)?;
    let id = TaskId(id);
    // Not detached: a caller that hangs up cancels the verification (an open transaction rolls
    // back), so a stalled vendor cannot pile up work that nobody is waiting for.
    let outcome = verify(&state, actor.org, id, Forwarded::from_headers(&headers)).await?;
    let stored = state_of(&outcome);
    match outcome {
        Ok(comparison) => {
            let body = Verified {
                task_id: comparison.task_id,
                state: stored,
                verified: comparison.verified,
                vendor: comparison.vendor,
                vendor_task_id: comparison.vendor_task_id,
                differences: comparison.differences,
                checked_at: comparison.checked_at,
            };
            Ok(axum::Json(body).into_response())
        }
        Err(failure) => {
            // The cause (a connection error, an unreadable answer) stays here, in the request's span.
            tracing::warn!(task_id = %id, ?failure, "verification failed");
            Err(failure.into_api_error().into())
        }
    }
}

/// Reads the task, asks the EMR service and records the outcome, holding the transaction through
/// the call or not as `tasks.verify_mode` says. An error here means nothing was recorded.
async fn verify(
    state: &AppState,
    org: OrgId,
    id: TaskId,
    forwarded: Forwarded,
) -> Result<Result<Comparison, Failure>, TaskError> {
    let settings = state.knobs.get();
    let (mode, timeout) = (settings.tasks.verify_mode, settings.tasks.verify_timeout);
    let (outcome, task) = match mode {
        VerifyMode::ReleaseFirst => {
            let task = state.store.fetch_task(org, id).await?;
            let outcome = state.emr.verify(&task, &forwarded, timeout).await;
            let task = state
                .store
                .record_verification(org, id, state_of(&outcome), db::now())
                .await?;
            (outcome, task)
        }
        VerifyMode::InTransaction => {
            let locked = state.store.lock_task(org, id).await?;
            let outcome = state.emr.verify(locked.task(), &forwarded, timeout).await;
            let task = locked.record_verification(state_of(&outcome), db::now()).await?;
            (outcome, task)
        }
    };
    // After the write, so a client that reacts to the event reads the recorded outcome.
    events::publish(state, events::VERIFIED, org, &task);
    let stored = state_of(&outcome);
    metrics::record(stored);
    tracing::info!(task_id = %id, ?mode, state = stored.as_str(), "verification recorded");
    Ok(outcome)
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use emrlab_common::knobs::KnobCell;

    use crate::{KNOBS, Settings, VerifyMode};

    #[test]
    fn the_verify_knobs_default_to_release_first_and_15s_and_take_their_documented_values() {
        let cell = KnobCell::new("task", KNOBS, Settings::default());
        let defaults: Vec<_> = cell
            .list()
            .into_iter()
            .filter(|k| k.name.starts_with("tasks.verify_"))
            .map(|k| (k.name, k.default))
            .collect();
        assert_eq!(
            defaults,
            [
                ("tasks.verify_mode".to_owned(), serde_json::json!("release_first")),
                ("tasks.verify_timeout".to_owned(), serde_json::json!("15s")),
            ]
        );
        let change = serde_json::json!({"tasks.verify_mode": "in_transaction", "tasks.verify_timeout": "250ms"});
        let next = cell.validate(change.as_object().unwrap()).unwrap();
        assert_eq!(
            (next.tasks.verify_mode, next.tasks.verify_timeout),
            (VerifyMode::InTransaction, Duration::from_millis(250))
        );
        let too_long = serde_json::json!({"tasks.verify_timeout": "121s"});
        assert!(cell.validate(too_long.as_object().unwrap()).is_err());
    }
}
