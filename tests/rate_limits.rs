//! The gateway's limiters: token bucket by default, fixed window and per-client by knob.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use futures::future::join_all;
use reqwest::StatusCode;
use serde_json::{Value, json};

async fn burst(app: &support::TestApp, token: &str, n: usize) -> Vec<reqwest::Response> {
    join_all((0..n).map(|_| app.get(token, "/api/v1/tasks?limit=1"))).await
}

#[tokio::test]
async fn a_burst_of_200_with_one_token_meets_429s_with_retry_after() {
    let app = support::spawn_app().await;
    let token = app.login("nurse.0001").await;
    let responses = burst(&app, &token, 200).await;
    let limited: Vec<_> = responses
        .iter()
        .filter(|r| r.status() == StatusCode::TOO_MANY_REQUESTS)
        .collect();
    // Burst 100 at 50/s: however slowly this machine sends, well over 50 of 200 are refused.
    assert!(limited.len() >= 50, "only {} of 200 were limited", limited.len());
    assert!(
        limited
            .iter()
            .all(|r| { r.headers()["retry-after"].to_str().unwrap().parse::<u64>().unwrap() >= 1 })
    );
    let other = app.login("nurse.0002").await;
    assert_eq!(
        app.get(&other, "/api/v1/tasks?limit=1").await.status(),
        StatusCode::OK,
        "limits are per token"
    );
}

#[tokio::test]
async fn a_fixed_window_admits_exactly_max_requests() {
    let app = support::spawn_app().await;
    let set = app.set_knobs(json!({"gateway.rate_limit.kind": "fixed_window", "gateway.rate_limit.max": 5, "gateway.rate_limit.window": "1h"})).await;
    assert_eq!(set.status(), StatusCode::OK);
    let token = app.login("nurse.0001").await;
    let statuses: Vec<StatusCode> = burst(&app, &token, 8).await.iter().map(|r| r.status()).collect();
    assert_eq!(statuses.iter().filter(|s| **s == StatusCode::OK).count(), 5);
    assert_eq!(
        statuses.iter().filter(|s| **s == StatusCode::TOO_MANY_REQUESTS).count(),
        3
    );
}

#[tokio::test]
async fn keyed_by_client_every_token_from_one_address_shares_the_limit() {
    let app = support::spawn_app().await;
    app.set_knobs(json!({"gateway.rate_limit.kind": "fixed_window", "gateway.rate_limit.max": 3, "gateway.rate_limit.key": "client"})).await;
    let (a, b) = (app.login("nurse.0001").await, app.login("nurse.0002").await);
    let mut statuses = vec![];
    for token in [&a, &b, &a, &b] {
        statuses.push(app.get(token, "/api/v1/tasks?limit=1").await.status());
    }
    assert_eq!(
        statuses,
        [
            StatusCode::OK,
            StatusCode::OK,
            StatusCode::OK,
            StatusCode::TOO_MANY_REQUESTS
        ]
    );
}

#[tokio::test]
async fn with_the_limit_off_a_burst_is_served() {
    let app = support::spawn_app().await;
    app.set_knobs(json!({"gateway.rate_limit.kind": "off"})).await;
    let token = app.login("nurse.0001").await;
    assert!(
        burst(&app, &token, 150)
            .await
            .iter()
            .all(|r| r.status() == StatusCode::OK)
    );
}

#[tokio::test]
async fn logins_have_their_own_per_address_limit() {
    let app = support::spawn_app().await;
    app.set_knobs(json!({"gateway.login_rate_limit.per_second": 1, "gateway.login_rate_limit.burst": 2}))
        .await;
    let mut statuses = vec![];
    for _ in 0..3 {
        statuses.push(app.login_response("nurse.0001", "emrlab").await);
    }
    assert_eq!(statuses[2].status(), StatusCode::TOO_MANY_REQUESTS);
    let body: Value = statuses.pop().unwrap().json().await.unwrap();
    assert_eq!(body["error"], "rate_limited");
}
