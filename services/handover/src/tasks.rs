//! The task service as the handover service calls it: `POST /internal/tasks/lookup` when a
//! handover is created and `POST /internal/tasks/reassign` when one is accepted, each with a
//! one-minute internal token. The DTOs mirror the task service's (`emrlab_task::internal`)
//! rather than share them, because service crates never depend on each other.

use std::{sync::Arc, time::Duration};

use axum::http::{HeaderValue, StatusCode};
use serde::{Deserialize, Serialize, de::DeserializeOwned};
use uuid::Uuid;

use emrlab_common::{
    auth::{JwtKeys, OrgId, UserId},
    server::REQUEST_ID,
};

use crate::{error::HandoverError, model::HandoverTask};

/// What the task service tells about one task.
#[derive(Debug, Clone, Deserialize)]
pub struct TaskSummary {
    pub id: Uuid,
    pub assignee_id: Option<Uuid>,
    pub status: String,
}

impl TaskSummary {
    /// Completed and cancelled tasks are final: there is nothing left to hand over.
    pub fn is_final(&self) -> bool {
        matches!(self.status.as_str(), "completed" | "cancelled")
    }
}

#[derive(Deserialize)]
struct LookupResponse {
    tasks: Vec<TaskSummary>,
}

/// A task whose assignee is no longer the one the handover recorded.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Change {
    pub task_id: Uuid,
    pub expected_assignee_id: Option<Uuid>,
    pub current_assignee_id: Option<Uuid>,
}

#[derive(Serialize)]
struct Expected {
    id: Uuid,
    expected_assignee_id: Option<Uuid>,
}

#[derive(Serialize)]
struct ReassignRequest {
    org_id: OrgId,
    actor_id: UserId,
    handover_id: Uuid,
    to: Uuid,
    tasks: Vec<Expected>,
}

/// What a reassignment did: the tasks it moved and those it left (already with the receiver,
/// or final).
#[derive(Debug, Deserialize)]
pub struct Reassigned {
    pub tasks: Vec<serde_json::Value>,
    pub unchanged: Vec<Uuid>,
}

/// A handover's accept, as the task service carries it out.
pub struct Reassignment<'a> {
    pub org: OrgId,
    pub actor: UserId,
    pub handover: Uuid,
    pub to: Uuid,
    pub tasks: &'a [HandoverTask],
}

/// The task service's base URL, the keys to mint internal tokens and one pooled client.
#[derive(Clone)]
pub struct TaskClient {
    http: reqwest::Client,
    base: Arc<str>,
    keys: Arc<JwtKeys>,
}

impl TaskClient {
    /// A client for the task service at `base` (e.g. `http://127.0.0.1:41234`).
    pub fn new(base: String, keys: Arc<JwtKeys>) -> Self {
        Self {
            http: reqwest::Client::new(),
            base: base.trim_end_matches('/').into(),
            keys,
        }
    }

    /// Posts `body` to an internal route; the whole exchange, body included, ends within
    /// `timeout`. Answers the status and body; transport failures are already mapped.
    async fn post(
        &self,
        path: &str,
        body: &impl Serialize,
        timeout: Duration,
        request_id: Option<&HeaderValue>,
    ) -> Result<(StatusCode, bytes::Bytes), HandoverError> {
        let token = self
            .keys
            .issue_internal("handover")
            .map_err(|e| HandoverError::TaskServiceError(format!("minting the internal token: {e}")))?;
        let mut request = self
            .http
            .post(format!("{}{path}", self.base))
            .bearer_auth(token)
            .json(body)
            .timeout(timeout);
        if let Some(id) = request_id {
            // One id finds the request in every component's logs.
            request = request.header(REQUEST_ID, id.clone());
        }
        let response = emrlab_common::telemetry::send(request, "task", path)
            .await
            .map_err(transport)?;
        let status = response.status();
        let bytes = response.bytes().await.map_err(transport)?;
        Ok((status, bytes))
    }

    /// The organisation's tasks among `ids`; missing ones are absent from the answer.
    #[tracing::instrument(skip_all, fields(tasks = ids.len()))]
    pub async fn lookup(
        &self,
        org: OrgId,
        ids: &[Uuid],
        timeout: Duration,
        request_id: Option<&HeaderValue>,
    ) -> Result<Vec<TaskSummary>, HandoverError> {
        let body = serde_json::json!({ "org_id": org, "ids": ids });
        let (status, bytes) = self.post("/internal/tasks/lookup", &body, timeout, request_id).await?;
        if status != StatusCode::OK {
            return Err(unexpected("lookup", status, &bytes));
        }
        Ok(parse::<LookupResponse>("lookup", &bytes)?.tasks)
    }

    /// Reassigns the handover's tasks in the task service's one transaction; a task that changed
    /// hands is [`HandoverError::TasksChanged`], and then nothing was written.
    #[tracing::instrument(skip_all, fields(handover_id = %job.handover, tasks = job.tasks.len()))]
    pub async fn reassign(
        &self,
        job: Reassignment<'_>,
        timeout: Duration,
        request_id: Option<&HeaderValue>,
    ) -> Result<Reassigned, HandoverError> {
        let body = ReassignRequest {
            org_id: job.org,
            actor_id: job.actor,
            handover_id: job.handover,
            to: job.to,
            tasks: job
                .tasks
                .iter()
                .map(|t| Expected {
                    id: t.task_id,
                    expected_assignee_id: t.expected_assignee_id,
                })
                .collect(),
        };
        let (status, bytes) = self
            .post("/internal/tasks/reassign", &body, timeout, request_id)
            .await?;
        match status {
            StatusCode::OK => parse("reassign", &bytes),
            StatusCode::CONFLICT => {
                #[derive(Deserialize)]
                struct Details {
                    changes: Vec<Change>,
                }
                #[derive(Deserialize)]
                struct Conflict {
                    details: Details,
                }
                let conflict: Conflict = parse("reassign conflict", &bytes)?;
                Err(HandoverError::TasksChanged(conflict.details.changes))
            }
            _ => Err(unexpected("reassign", status, &bytes)),
        }
    }
}

fn transport(error: reqwest::Error) -> HandoverError {
    if error.is_timeout() {
        HandoverError::TaskServiceTimeout
    } else {
        HandoverError::TaskServiceUnavailable(error.to_string())
    }
}

fn parse<T: DeserializeOwned>(what: &str, bytes: &[u8]) -> Result<T, HandoverError> {
    serde_json::from_slice(bytes).map_err(|e| HandoverError::TaskServiceError(format!("{what} answer: {e}")))
}

/// Any other answer: the task service's own 503 (busy pool, timeout) stays a 503 for the
/// caller; everything else is outside the contract. Only the error code is kept for the log:
/// the message may carry task text.
fn unexpected(what: &str, status: StatusCode, bytes: &[u8]) -> HandoverError {
    let code = serde_json::from_slice::<serde_json::Value>(bytes)
        .ok()
        .and_then(|v| v.get("error").and_then(|c| c.as_str()).map(str::to_owned))
        .unwrap_or_default();
    let cause = format!("{what} answered {status} {code}");
    if status == StatusCode::SERVICE_UNAVAILABLE {
        HandoverError::TaskServiceUnavailable(cause)
    } else {
        HandoverError::TaskServiceError(cause)
    }
}
