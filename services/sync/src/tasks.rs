//! The task service as the sync service calls it: `POST /internal/sync/tasks` to read the rows a
//! merge starts from, `POST /internal/sync/merge` to write a merge result to them in one
//! transaction. The row shape is mirrored here, since service crates never depend on each other.

use std::{sync::Arc, time::Duration};

use serde::{Deserialize, Serialize};
use time::OffsetDateTime;
use uuid::Uuid;

use emrlab_common::{
    auth::{JwtKeys, OrgId},
    error::ApiError,
};

use crate::{Description, Priority, Status, Title, error::ServiceError};

/// Longest wait for the task service: a merge of 1,000 rows on SQLite takes well under a second.
const TIMEOUT: Duration = Duration::from_secs(10);

/// A task row, as much of it as the document mirrors.
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct TaskRow {
    pub id: Uuid,
    pub title: Title,
    pub description: Option<Description>,
    pub status: Status,
    pub priority: Priority,
    pub assignee_id: Option<Uuid>,
    pub ward_id: Option<Uuid>,
    #[serde(with = "time::serde::rfc3339::option")]
    pub due_at: Option<OffsetDateTime>,
    pub version: i64,
    pub conflict: bool,
}

/// A merge result for one row, written only if the row is still at `expected_version`.
#[derive(Debug, Clone, Serialize)]
pub struct RowWrite {
    pub id: Uuid,
    pub expected_version: i64,
    pub title: Title,
    pub description: Option<Description>,
    pub status: Status,
    pub priority: Priority,
    pub assignee_id: Option<Uuid>,
    pub ward_id: Option<Uuid>,
    #[serde(with = "time::serde::rfc3339::option")]
    pub due_at: Option<OffsetDateTime>,
    pub conflict: bool,
}

#[derive(Deserialize)]
struct Rows {
    tasks: Vec<TaskRow>,
}

/// What a write of merged rows came to.
#[derive(Debug)]
pub enum Written {
    /// Every row, as it now reads.
    Rows(Vec<TaskRow>),
    /// A row moved since it was read (a REST edit, a handover): read again and merge again.
    Stale,
}

/// A client of the task service's internal sync endpoints.
#[derive(Clone)]
pub struct TaskClient {
    http: reqwest::Client,
    base: String,
    keys: Arc<JwtKeys>,
}

impl TaskClient {
    /// A client of the task service at `base` (e.g. `http://127.0.0.1:41234`).
    pub fn new(base: String, keys: Arc<JwtKeys>) -> anyhow::Result<Self> {
        let http = reqwest::Client::builder().timeout(TIMEOUT).build()?;
        Ok(Self {
            http,
            base: base.trim_end_matches('/').to_owned(),
            keys,
        })
    }

    /// The rows among `ids` (absent: not a task of the organisation).
    pub async fn rows(&self, org: OrgId, ids: &[Uuid]) -> Result<Vec<TaskRow>, ServiceError> {
        let body = serde_json::json!({ "org_id": org.0, "ids": ids });
        self.fetch_rows(&body).await
    }

    /// The newest rows of a ward (or of the organisation), for a snapshot.
    pub async fn newest(&self, org: OrgId, ward: Option<Uuid>, limit: u32) -> Result<Vec<TaskRow>, ServiceError> {
        let body = serde_json::json!({ "org_id": org.0, "ward_id": ward, "limit": limit });
        self.fetch_rows(&body).await
    }

    async fn fetch_rows(&self, body: &serde_json::Value) -> Result<Vec<TaskRow>, ServiceError> {
        let response = self.post("/internal/sync/tasks", body).await?;
        if !response.status().is_success() {
            return Err(ServiceError::Tasks(format!("reading rows: {}", response.status())));
        }
        let rows: Rows = response.json().await.map_err(|e| ServiceError::Tasks(e.to_string()))?;
        Ok(rows.tasks)
    }

    /// Writes merged rows in one transaction.
    pub async fn write(&self, org: OrgId, actor: Uuid, rows: &[RowWrite]) -> Result<Written, ServiceError> {
        let body = serde_json::json!({ "org_id": org.0, "actor_id": actor, "rows": rows });
        let response = self.post("/internal/sync/merge", &body).await?;
        let status = response.status();
        if status == http::StatusCode::CONFLICT {
            return Ok(Written::Stale);
        }
        if status == http::StatusCode::UNPROCESSABLE_ENTITY {
            // The merge is valid but the row refuses it (an assignee of another organisation):
            // the device's change was wrong, so it hears the task service's reason.
            let body: serde_json::Value = response.json().await.unwrap_or_default();
            let message = body["message"]
                .as_str()
                .unwrap_or("the task service refused the merged values");
            let field = body["field"].as_str().unwrap_or("changes");
            return Err(ApiError::invalid(field.to_owned(), message.to_owned()).into());
        }
        if !status.is_success() {
            return Err(ServiceError::Tasks(format!("writing rows: {status}")));
        }
        let rows: Rows = response.json().await.map_err(|e| ServiceError::Tasks(e.to_string()))?;
        Ok(Written::Rows(rows.tasks))
    }

    async fn post(&self, path: &str, body: &serde_json::Value) -> Result<reqwest::Response, ServiceError> {
        let token = self
            .keys
            .issue_internal("sync")
            .map_err(|e| ServiceError::Tasks(format!("issuing the internal credential: {e}")))?;
        let request = self
            .http
            .post(format!("{}{path}", self.base))
            .bearer_auth(token)
            .json(body);
        emrlab_common::telemetry::send(request, "task", path)
            .await
            .map_err(|e| ServiceError::Tasks(e.to_string()))
    }
}
