//! Single flight collapses identical concurrent patient reads into one vendor call. Alone in its
//! test binary because it counts vendor calls in the process-wide metrics.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use reqwest::StatusCode;
use serde_json::json;

fn vendor_reads(metrics: &str) -> u64 {
    metrics
        .lines()
        .filter(|l| l.starts_with("emrlab_vendor_requests_total") && l.contains("component=\"epic\""))
        .filter(|l| l.contains("operation=\"patient.read\"") && l.contains("outcome=\"ok\""))
        .filter_map(|l| l.rsplit(' ').next()?.parse::<u64>().ok())
        .sum()
}

#[tokio::test]
async fn identical_concurrent_reads_make_one_vendor_call_only_with_dedup_on() {
    let app = support::spawn_app().await;
    let slow = json!({"emr.cache": "off", "vendors.epic.latency.median": "300ms"});
    assert_eq!(app.set_knobs(slow).await.status(), StatusCode::OK);
    let nurse = app.login("nurse.0001").await;
    let path = format!("/api/v1/emr/patients/{}?vendor=epic", app.some_patient(&nurse).await);
    for (dedup, expected) in [(true, 1), (false, 20)] {
        app.set_knobs(json!({"emr.dedup": dedup})).await;
        let before = vendor_reads(&app.metrics(&app.emr_base).await);
        let reads = futures::future::join_all((0..20).map(|_| app.get(&nurse, &path))).await;
        assert!(reads.iter().all(|r| r.status() == StatusCode::OK));
        let calls = vendor_reads(&app.metrics(&app.emr_base).await) - before;
        assert_eq!(calls, expected, "dedup {dedup}");
    }
}
