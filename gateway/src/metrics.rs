//! The gateway's series created at start-up, so that dashboards and alert rules see a rejection,
//! a failed upstream or a dropped client as a rise from zero rather than as a series that appears
//! with the first one. The names live in `emrlab_common::metrics::names`; the label values here
//! are the ones the gateway records (limiters, upstream services, login results, close reasons).

use emrlab_common::{events::count_dropped, metrics::names};

/// The services the proxy forwards to (`proxy::to_*`).
const UPSTREAMS: [&str; 4] = ["task", "emr", "sync", "handover"];

/// Why the gateway closed or refused a WebSocket client: `ws::connect`'s refusals, the hub's slow
/// consumers and each `Ending` of a connection.
const WS_CLOSE_REASONS: [&str; 9] = [
    "full",
    "token_cap",
    "slow_consumer",
    "heartbeat",
    "token_expired",
    "too_big",
    "bad_frame",
    "abuse",
    "shutdown",
];

/// Creates every gateway series whose labels are known before any traffic, at zero.
pub fn register() {
    let gateway = "gateway";
    for limiter in ["requests", "login"] {
        let _ = metrics::counter!(names::RATE_LIMITED, "component" => gateway, "limiter" => limiter);
    }
    for service in UPSTREAMS {
        for kind in ["unreachable", "timeout"] {
            let _ =
                metrics::counter!(names::UPSTREAM_ERRORS, "component" => gateway, "service" => service, "kind" => kind);
        }
    }
    for result in ["ok", "refused"] {
        let _ = metrics::counter!(names::LOGINS, "component" => gateway, "result" => result);
    }
    let _ = metrics::histogram!(names::HASH_DURATION, "component" => gateway);
    // increment(0), not set(0): in the tests several gateways share the process's recorder.
    metrics::gauge!(names::HASHES_WAITING, "component" => gateway).increment(0.0);
    for reason in WS_CLOSE_REASONS {
        let _ = metrics::counter!(names::WS_DROPPED, "component" => gateway, "reason" => reason);
    }
    let _ = metrics::counter!(names::EVENTS_DELIVERED, "component" => gateway);
    for transport in ["redis", "http"] {
        let _ = metrics::counter!(names::EVENTS_RECEIVED, "component" => gateway, "transport" => transport);
    }
    for reason in ["lagged", "unserialisable", "unreadable"] {
        count_dropped(gateway, reason, 0);
    }
}
