//! The integrity check of every authorization: used + scheduled ≤ total, and each counter equal
//! to the sum of its reservations in that state. `emrlab verify` runs it against a database and
//! the gateway's `GET /api/v1/admin/integrity` asks for it, so a load scenario can end with it.

use axum::{extract::State, response::IntoResponse};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use emrlab_common::{auth::Internal, db::AnyDb};

use super::model::Balance;
use crate::{AppState, error::TaskError};

/// Authorizations whose counters break the invariant, with the sums their reservations give.
pub(crate) const VIOLATIONS: &str = "\
    SELECT a.id, a.org_id, a.number, a.total_units, a.used_units, a.scheduled_units, \
           CAST(COALESCE(SUM(CASE WHEN r.state = 'consumed' THEN r.units END), 0) AS BIGINT), \
           CAST(COALESCE(SUM(CASE WHEN r.state = 'scheduled' THEN r.units END), 0) AS BIGINT) \
    FROM authorizations a LEFT JOIN reservations r ON r.authorization_id = a.id \
    GROUP BY a.id, a.org_id, a.number, a.total_units, a.used_units, a.scheduled_units \
    HAVING a.used_units + a.scheduled_units > a.total_units \
        OR a.used_units <> CAST(COALESCE(SUM(CASE WHEN r.state = 'consumed' THEN r.units END), 0) AS BIGINT) \
        OR a.scheduled_units <> CAST(COALESCE(SUM(CASE WHEN r.state = 'scheduled' THEN r.units END), 0) AS BIGINT) \
    ORDER BY a.number";

/// One authorization that breaks the invariant, and how.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct Violation {
    pub authorization_id: Uuid,
    pub org_id: Uuid,
    pub number: String,
    #[serde(flatten)]
    pub balance: Balance,
    /// Units booked beyond the total (0 when the counters fit but disagree with reservations).
    pub overbooked_units: i64,
    /// The sums over its reservations, which the counters must equal.
    pub consumed_by_reservations: i64,
    pub scheduled_by_reservations: i64,
    /// `overbooked`, `used_units_drift`, `scheduled_units_drift`.
    pub problems: Vec<String>,
}

impl Violation {
    pub(crate) fn new(id: Uuid, org_id: Uuid, number: String, balance: Balance, consumed: i64, scheduled: i64) -> Self {
        let overbooked_units = (balance.used_units + balance.scheduled_units - balance.total_units).max(0);
        let problems = [
            (overbooked_units > 0, "overbooked"),
            (balance.used_units != consumed, "used_units_drift"),
            (balance.scheduled_units != scheduled, "scheduled_units_drift"),
        ]
        .into_iter()
        .filter(|(hit, _)| *hit)
        .map(|(_, name)| name.to_owned())
        .collect();
        Self {
            authorization_id: id,
            org_id,
            number,
            balance,
            overbooked_units,
            consumed_by_reservations: consumed,
            scheduled_by_reservations: scheduled,
            problems,
        }
    }
}

/// The check's answer: `ok` when no authorization breaks the invariant.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct IntegrityReport {
    pub ok: bool,
    pub checked: i64,
    pub violations: Vec<Violation>,
}

impl IntegrityReport {
    fn new(checked: i64, violations: Vec<Violation>) -> Self {
        Self {
            ok: violations.is_empty(),
            checked,
            violations,
        }
    }
}

/// Runs the check against a database (all organisations).
pub async fn check(db: &AnyDb) -> Result<IntegrityReport, sqlx::Error> {
    let (checked, violations) = super::store::open(db).violations().await?;
    Ok(IntegrityReport::new(checked, violations))
}

/// `GET /internal/authorizations/integrity`, which the gateway's `GET /api/v1/admin/integrity`
/// calls for the operator: every organisation, 200 with `ok: false` and the violations if any.
pub async fn integrity(State(state): State<AppState>, _caller: Internal) -> Result<impl IntoResponse, TaskError> {
    let (checked, violations) = state.authorizations.violations().await?;
    if !violations.is_empty() {
        tracing::warn!(violations = violations.len(), "authorization integrity check failed");
    }
    Ok(axum::Json(IntegrityReport::new(checked, violations)))
}
