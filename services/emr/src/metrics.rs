//! The EMR service's metric names, and the series it creates at start-up so that dashboards and
//! alert rules see every vendor, operation and rejection reason before the first call.

use emrlab_common::{cache::Cache, metrics::names::CACHE_REQUESTS};
use emrlab_seed::Vendor;

use crate::vendor::Operation;

/// Metric names of the EMR service.
pub mod names {
    pub const VENDOR_CALL_DURATION: &str = "emrlab_emr_vendor_call_duration_seconds";
    pub const VENDOR_IN_FLIGHT: &str = "emrlab_emr_vendor_calls_in_flight";
    pub const BREAKER_STATE: &str = "emrlab_emr_breaker_state";
    pub const RETRIES: &str = "emrlab_emr_vendor_retries_total";
    pub const REJECTIONS: &str = "emrlab_emr_vendor_rejections_total";
    pub const DEDUP_JOINS: &str = "emrlab_emr_dedup_joins_total";
}

/// Creates the counters and histograms at zero. Call durations are created with outcome `ok`
/// only, as the HTTP series are with status 200: the failure outcomes are many and appear with
/// their first occurrence, while `sum by (vendor)` already has a series to add them to.
/// `caches` are every backend `emr.cache` may switch to, since the knob changes at run time.
pub(crate) fn register(caches: &[&dyn Cache]) {
    for vendor in Vendor::ALL {
        let vendor = vendor.as_str();
        for operation in Operation::ALL {
            let _ = ::metrics::histogram!(names::VENDOR_CALL_DURATION, "component" => "emr", "vendor" => vendor,
                "operation" => operation.as_str(), "outcome" => "ok");
            if operation.idempotent() {
                let _ = ::metrics::counter!(names::RETRIES, "component" => "emr", "vendor" => vendor,
                    "operation" => operation.as_str());
            }
        }
        // The two layers that refuse a call before it leaves (`Vendors::attempt`).
        for reason in ["bulkhead", "breaker"] {
            let _ =
                ::metrics::counter!(names::REJECTIONS, "component" => "emr", "vendor" => vendor, "reason" => reason);
        }
    }
    let _ = ::metrics::counter!(names::DEDUP_JOINS, "component" => "emr");
    for cache in caches {
        for result in ["hit", "miss", "error"] {
            let _ =
                ::metrics::counter!(CACHE_REQUESTS, "component" => "emr", "cache" => cache.kind(), "result" => result);
        }
    }
}
