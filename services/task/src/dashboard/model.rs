//! What `GET /dashboard/stats` answers, and how counts per (status, priority) fold into it.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use time::OffsetDateTime;
use uuid::Uuid;

use crate::model::{Priority, Status};

/// The aggregates a nurse sees first, for one ward or the whole organisation.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Stats {
    pub ward_id: Option<Uuid>,
    /// Every status, zeros included.
    pub tasks_by_status: BTreeMap<String, i64>,
    /// Every priority, zeros included.
    pub tasks_by_priority: BTreeMap<String, i64>,
    /// Pending or in progress, past their due time.
    pub overdue_tasks: i64,
    /// Patients admitted in the last 24 hours.
    pub admissions_24h: i64,
}

impl Stats {
    /// Folds rows of (status, priority, tasks, overdue) and the admissions count.
    pub fn fold(ward_id: Option<Uuid>, rows: &[(String, String, i64, i64)], admissions_24h: i64) -> Self {
        let mut tasks_by_status: BTreeMap<String, i64> = Status::ALL.iter().map(|s| ((*s).to_owned(), 0)).collect();
        let mut tasks_by_priority: BTreeMap<String, i64> = Priority::ALL.iter().map(|p| ((*p).to_owned(), 0)).collect();
        let mut overdue_tasks = 0;
        for (status, priority, tasks, overdue) in rows {
            *tasks_by_status.entry(status.clone()).or_default() += tasks;
            *tasks_by_priority.entry(priority.clone()).or_default() += tasks;
            overdue_tasks += overdue;
        }
        Self {
            ward_id,
            tasks_by_status,
            tasks_by_priority,
            overdue_tasks,
            admissions_24h,
        }
    }
}

/// The answer: the stats, where they came from and how old they are.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Dashboard {
    #[serde(flatten)]
    pub stats: Stats,
    /// Handovers requested and not yet accepted or rejected; null when the handover service did
    /// not answer (the rest of the dashboard is still served).
    pub pending_handovers: Option<i64>,
    /// `live`, `cached` or `materialized`: `dashboard.source` when the answer was made.
    pub source: &'static str,
    /// When the aggregates were computed.
    #[serde(with = "time::serde::rfc3339")]
    pub as_of: OffsetDateTime,
    /// How old they were when answered: 0 for `live`.
    pub staleness_seconds: f64,
}
