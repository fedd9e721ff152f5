//! The authorizations' metric names: outcomes per mode, and the serializable mode's retries and
//! give-ups, which the benchmark reads and a lab watches.

use super::Concurrency;

/// Reservation requests answered, by mode and outcome (`booked`, `insufficient`, `refused`).
pub const RESERVATIONS: &str = "emrlab_authorization_reservations_total";
/// Attempts retried after a serialization failure, by mode.
pub const RETRIES: &str = "emrlab_authorization_retries_total";
/// Reservations answered 503 after the retry budget ran out, by mode.
pub const GIVE_UPS: &str = "emrlab_authorization_retry_exhausted_total";

/// Describes the series and creates them at zero, so a dashboard sees them before any traffic.
pub fn register() {
    ::metrics::describe_counter!(RESERVATIONS, "reservation requests answered, by mode and outcome");
    ::metrics::describe_counter!(RETRIES, "reservation attempts retried after a serialization failure");
    ::metrics::describe_counter!(GIVE_UPS, "reservations that gave up after the retry budget");
    for mode in Concurrency::ALL {
        for outcome in ["booked", "insufficient", "refused"] {
            let _ = ::metrics::counter!(RESERVATIONS, "mode" => mode.as_str(), "outcome" => outcome);
        }
        let _ = ::metrics::counter!(RETRIES, "mode" => mode.as_str());
        let _ = ::metrics::counter!(GIVE_UPS, "mode" => mode.as_str());
    }
}

pub fn reserved(mode: Concurrency, outcome: &'static str) {
    ::metrics::counter!(RESERVATIONS, "mode" => mode.as_str(), "outcome" => outcome).increment(1);
}

pub fn retried(mode: Concurrency) {
    ::metrics::counter!(RETRIES, "mode" => mode.as_str()).increment(1);
}

pub fn gave_up(mode: Concurrency) {
    ::metrics::counter!(GIVE_UPS, "mode" => mode.as_str()).increment(1);
}
