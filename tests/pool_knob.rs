//! `db.pool_size` builds a new pool and swaps it in while requests keep flowing. Alone in its
//! test binary because pool gauges are per process, and other tests' platforms would share them.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use reqwest::StatusCode;
use serde_json::json;

#[tokio::test]
async fn a_pool_size_change_swaps_every_components_pool() {
    let app = support::spawn_app().await;
    let nurse = app.login("nurse.0001").await;
    let changed = app.set_knobs(json!({"db.pool_size": 3})).await;
    assert_eq!(changed.status(), StatusCode::OK);
    assert_eq!(app.get(&nurse, "/api/v1/tasks?limit=5").await.status(), StatusCode::OK);
    let metrics = app.metrics(&app.base).await;
    for component in ["gateway", "task"] {
        let series = format!("emrlab_db_pool_connections_max{{component=\"{component}\"}} 3");
        assert!(
            metrics.lines().any(|l| l == series),
            "{component}'s pool was not swapped"
        );
    }
}
