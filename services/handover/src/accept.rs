//! `POST /handovers/{id}/accept`: the receiver (or a charge nurse) takes the handover's tasks.
//!
//! The tasks belong to the task service, the handover to this one, so no single transaction
//! spans both. The protocol:
//!
//! 1. **Claim**: one conditional update `requested → accepting`. Of two accepts racing, exactly
//!    one changes the row; the other gets 409 `handover_not_pending` and calls nothing, so the
//!    tasks are never reassigned twice (nor a rejected handover's at all).
//! 2. **Reassign**: the task service checks, in its one transaction, that every task is still
//!    with the assignee recorded at request time, and then reassigns all of them with their audit
//!    rows, or none and answers 409 with the changes.
//! 3. **Settle**: `accepting → accepted`; on a conflict or any failure, back to `requested`, so
//!    the handover can be accepted again, or rejected.
//!
//! Steps 1–3 run on a spawned task, so a caller hanging up (or the request timeout) cannot stop
//! the protocol between claim and settle. If the process dies there, the claim stays: after
//! [`CLAIM_TTL`] another accept may take it over. That retry is safe because the task service
//! treats a task already with the receiver as done, so it finishes the first attempt's work
//! rather than reporting it as a change.

use std::time::Duration;

use axum::{extract::State, http::HeaderMap};
use uuid::Uuid;

use emrlab_common::{auth::Caller, error::ApiError, extract::Path};

use crate::{
    AppState,
    error::HandoverError,
    events::{self, HandoverEvent},
    handlers::{Actor, clinical_actor, may_decide, request_id},
    model::{Handover, HandoverId, Status},
    tasks::Reassignment,
};

/// How long an `accepting` claim is honoured. A live accept settles within
/// `handover.task_timeout` (at most 60 s) plus a few statements, so an older claim was left by a
/// process that died between claim and settle.
pub const CLAIM_TTL: Duration = Duration::from_secs(300);

/// `POST /handovers/{id}/accept`: 200 with the accepted handover, or 409 `tasks_changed`
/// (`details.changes`) with nothing reassigned, or 409 `handover_not_pending`.
pub async fn accept_handover(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<Uuid>,
    headers: HeaderMap,
) -> Result<axum::Json<Handover>, HandoverError> {
    let actor = clinical_actor(&caller)?;
    let handover = state.store.fetch_handover(actor.org, HandoverId(id)).await?;
    may_decide(&actor, &handover)?;
    if !matches!(handover.status, Status::Requested | Status::Accepting) {
        return Err(HandoverError::NotPending {
            id: handover.id,
            status: handover.status,
        });
    }
    let request_id = request_id(&headers);
    let run = tokio::spawn(async move { claim_reassign_settle(&state, actor, handover, request_id).await });
    match run.await {
        Ok(outcome) => outcome.map(axum::Json),
        // Only a panic ends the task early; the claim then waits out CLAIM_TTL.
        Err(join) => Err(ApiError::internal(&join).into()),
    }
}

async fn claim_reassign_settle(
    state: &AppState,
    actor: Actor,
    handover: Handover,
    request_id: Option<axum::http::HeaderValue>,
) -> Result<Handover, HandoverError> {
    let (org, id) = (actor.org, handover.id);
    let now = emrlab_common::db::now();
    if !state.store.claim_handover(org, id, now, now - CLAIM_TTL).await? {
        let current = state.store.fetch_handover(org, id).await?;
        return Err(HandoverError::NotPending {
            id,
            status: current.status,
        });
    }
    let settled = reassign_and_mark(state, actor, &handover, request_id).await;
    match settled {
        Ok(accepted) => {
            tracing::info!(handover_id = %id, tasks = accepted.tasks.len(), "handover accepted");
            events::publish(&state.events, org, HandoverEvent::Accepted(&accepted));
            Ok(accepted)
        }
        // A lost claim is another accept's to settle: leave it alone.
        Err(error @ HandoverError::NotPending { .. }) => Err(error),
        Err(error) => {
            // Give the handover back; if even that fails, CLAIM_TTL frees it later.
            if let Err(release) = state.store.release_claim(org, id).await {
                tracing::error!(handover_id = %id, error = ?release, "could not release the accept claim");
            }
            Err(error)
        }
    }
}

async fn reassign_and_mark(
    state: &AppState,
    actor: Actor,
    handover: &Handover,
    request_id: Option<axum::http::HeaderValue>,
) -> Result<Handover, HandoverError> {
    let timeout = state.knobs.get().handover.task_timeout;
    let job = Reassignment {
        org: actor.org,
        actor: actor.user,
        handover: handover.id.0,
        to: handover.to_practitioner_id,
        tasks: &handover.tasks,
    };
    let done = state.tasks.reassign(job, timeout, request_id.as_ref()).await?;
    tracing::debug!(
        handover_id = %handover.id,
        reassigned = done.tasks.len(),
        unchanged = done.unchanged.len(),
        "task service reassigned"
    );
    let at = emrlab_common::db::now();
    if !state
        .store
        .mark_accepted(actor.org, handover.id, actor.user, at)
        .await?
    {
        // Another accept took the claim over (only after CLAIM_TTL); it settles the handover.
        let current = state.store.fetch_handover(actor.org, handover.id).await?;
        return Err(HandoverError::NotPending {
            id: handover.id,
            status: current.status,
        });
    }
    Ok(Handover {
        status: Status::Accepted,
        decided_at: Some(at),
        decided_by: Some(actor.user.0),
        ..handover.clone()
    })
}
