//! The task service's own metric names; the HTTP and pool series come from `emrlab_common`.

use crate::model::Verification;

/// Verifications recorded on tasks, by the state stored (`verified`, `mismatch`, `failed`).
pub const VERIFICATIONS: &str = "emrlab_task_verifications_total";

const COMPONENT: &str = "task";

/// Describes the series and creates them at zero, so a dashboard sees them before any traffic.
pub fn register() {
    ::metrics::describe_counter!(VERIFICATIONS, "verifications recorded on tasks, by state stored");
    // `pending` is only ever a task's starting state, never an outcome that is recorded.
    for state in [Verification::Verified, Verification::Mismatch, Verification::Failed] {
        let _ = ::metrics::counter!(VERIFICATIONS, "component" => COMPONENT, "state" => state.as_str());
    }
}

/// Counts one recorded verification.
pub fn record(state: Verification) {
    ::metrics::counter!(VERIFICATIONS, "component" => COMPONENT, "state" => state.as_str()).increment(1);
}
