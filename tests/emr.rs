//! The EMR service through the gateway, against the simulated Epic and Cerner: the adapters'
//! contract, every vendor fault as the caller sees it, the breaker, the bulkhead and the cache.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use std::time::Duration;

use reqwest::StatusCode;
use serde_json::{Value, json};

use support::TestApp;

/// Vendor calls only: no cache, no single flight, no retries, so each read is one vendor call.
async fn bare(app: &TestApp) {
    let changed = app
        .set_knobs(json!({"emr.cache": "off", "emr.dedup": false, "emr.retries": 0}))
        .await;
    assert_eq!(changed.status(), StatusCode::OK);
}

/// The EMR service's comparison of `task` with the vendor's copy.
async fn verify(app: &TestApp, token: &str, task: Value) -> Value {
    let path = format!("/api/v1/emr/tasks/{}/verify", task["id"].as_str().unwrap());
    app.post(token, &path, task).await.json().await.unwrap()
}

async fn error_code(response: reqwest::Response) -> (StatusCode, String) {
    let status = response.status();
    let body: Value = response.json().await.unwrap();
    (status, body["error"].as_str().unwrap_or_default().to_owned())
}

on_both_backends!(
    async fn both_adapters_read_the_same_patient(app) {
        let nurse = app.login("nurse.0001").await;
        let patient = app.some_patient(&nurse).await;
        let mut seen = Vec::new();
        for vendor in ["epic", "cerner"] {
            let response = app.get(&nurse, &format!("/api/v1/emr/patients/{patient}?vendor={vendor}")).await;
            assert_eq!(response.status(), StatusCode::OK, "{vendor}");
            let body: Value = response.json().await.unwrap();
            assert_eq!(body["vendor"], vendor);
            assert_eq!(body["id"], patient.as_str());
            assert!(body["mrn"].as_str().unwrap().starts_with("MRN"), "{body}");
            seen.push((body["mrn"].clone(), body["given_name"].clone(), body["family_name"].clone(), body["birth_date"].clone()));
        }
        assert_eq!(seen[0], seen[1], "the adapters disagree on the same patient");
        let home = app.get(&nurse, &format!("/api/v1/emr/patients/{patient}")).await;
        assert_eq!(home.status(), StatusCode::OK);
    }
);

#[tokio::test]
async fn patient_reads_check_the_caller_and_the_input() {
    let app = support::spawn_app().await;
    let nurse = app.login("nurse.0001").await;
    let other_org = app.login("nurse.0041").await;
    let patient = app.some_patient(&nurse).await;
    let cases = [
        (
            &other_org,
            format!("/api/v1/emr/patients/{patient}"),
            StatusCode::NOT_FOUND,
        ),
        (
            &nurse,
            format!("/api/v1/emr/patients/{patient}?vendor=meditech"),
            StatusCode::UNPROCESSABLE_ENTITY,
        ),
        (
            &nurse,
            format!("/api/v1/emr/patients/{patient}?colour=red"),
            StatusCode::BAD_REQUEST,
        ),
        (
            &nurse,
            "/api/v1/emr/patients/not-a-uuid".to_owned(),
            StatusCode::BAD_REQUEST,
        ),
        (
            &nurse,
            format!("/api/v1/emr/patients/{}", uuid::Uuid::now_v7()),
            StatusCode::NOT_FOUND,
        ),
    ];
    for (token, path, status) in cases {
        assert_eq!(app.get(token, &path).await.status(), status, "{path}");
    }
    let operator = app.login("operator").await;
    assert_eq!(
        app.get(&operator, &format!("/api/v1/emr/patients/{patient}"))
            .await
            .status(),
        StatusCode::FORBIDDEN
    );
}

#[tokio::test]
async fn the_cache_serves_repeated_reads_and_off_sends_every_read_to_the_vendor() {
    let app = support::spawn_app().await;
    let nurse = app.login("nurse.0001").await;
    let path = format!("/api/v1/emr/patients/{}", app.some_patient(&nurse).await);
    let cache_of = |r: &reqwest::Response| r.headers()["x-cache"].to_str().unwrap().to_owned();
    assert_eq!(cache_of(&app.get(&nurse, &path).await), "miss");
    assert_eq!(cache_of(&app.get(&nurse, &path).await), "hit");
    bare(&app).await;
    assert_eq!(cache_of(&app.get(&nurse, &path).await), "miss");
    assert_eq!(cache_of(&app.get(&nurse, &path).await), "miss");
}

#[tokio::test]
async fn each_vendor_fault_reaches_the_caller_as_a_clear_error() {
    let app = support::spawn_app().await;
    bare(&app).await;
    app.set_knobs(json!({"emr.timeout": "300ms", "emr.breaker.enabled": false}))
        .await;
    let nurse = app.login("nurse.0001").await;
    let path = format!("/api/v1/emr/patients/{}?vendor=epic", app.some_patient(&nurse).await);
    let faults = [
        (
            json!({"vendors.epic.error_rate": 1.0}),
            StatusCode::BAD_GATEWAY,
            "vendor_error",
        ),
        (
            json!({"vendors.epic.throttle.kind": "concurrency", "vendors.epic.throttle.limit": 1, "vendors.epic.latency.median": "1s"}),
            StatusCode::OK,
            "",
        ),
        (
            json!({"vendors.epic.malformed_rate": 1.0}),
            StatusCode::BAD_GATEWAY,
            "vendor_malformed",
        ),
        (
            json!({"vendors.epic.outage": "hang"}),
            StatusCode::GATEWAY_TIMEOUT,
            "vendor_timeout",
        ),
        (
            json!({"vendors.epic.outage": "trickle"}),
            StatusCode::GATEWAY_TIMEOUT,
            "vendor_timeout",
        ),
        (
            json!({"vendors.epic.outage": "refuse"}),
            StatusCode::SERVICE_UNAVAILABLE,
            "vendor_unavailable",
        ),
    ];
    let healthy = json!({"vendors.epic.error_rate": 0.0, "vendors.epic.throttle.kind": "off",
        "vendors.epic.latency.median": "0s", "vendors.epic.malformed_rate": 0.0, "vendors.epic.outage": "none"});
    for (fault, status, code) in faults {
        assert_eq!(app.set_knobs(fault.clone()).await.status(), StatusCode::OK, "{fault}");
        if status == StatusCode::OK {
            // One slow read holds the only slot; the next is throttled.
            let slow = app.get(&nurse, &path);
            let throttled = async {
                tokio::time::sleep(Duration::from_millis(100)).await;
                app.get(&nurse, &path).await
            };
            let (_, throttled) = tokio::join!(slow, throttled);
            assert!(throttled.headers().contains_key("retry-after"));
            assert_eq!(
                error_code(throttled).await,
                (StatusCode::TOO_MANY_REQUESTS, "vendor_throttled".into())
            );
        } else {
            assert_eq!(
                error_code(app.get(&nurse, &path).await).await,
                (status, code.to_owned()),
                "{fault}"
            );
        }
        assert_eq!(app.set_knobs(healthy.clone()).await.status(), StatusCode::OK);
        support::eventually(Duration::from_secs(5), || async {
            (app.get(&nurse, &path).await.status() == StatusCode::OK).then_some(())
        })
        .await;
    }
}

#[tokio::test]
async fn the_breaker_opens_fails_fast_and_closes_when_the_vendor_recovers() {
    let app = support::spawn_app().await;
    bare(&app).await;
    let breaker = json!({"emr.breaker.minimum_calls": 4, "emr.breaker.open_for": "200ms",
        "emr.breaker.half_open_probes": 1, "vendors.cerner.error_rate": 1.0});
    assert_eq!(app.set_knobs(breaker).await.status(), StatusCode::OK);
    let nurse = app.login("nurse.0001").await;
    let path = format!("/api/v1/emr/patients/{}?vendor=cerner", app.some_patient(&nurse).await);
    for _ in 0..4 {
        assert_eq!(error_code(app.get(&nurse, &path).await).await.1, "vendor_error");
    }
    let refused = app.get(&nurse, &path).await;
    assert!(refused.headers().contains_key("retry-after"));
    assert_eq!(
        error_code(refused).await,
        (StatusCode::SERVICE_UNAVAILABLE, "breaker_open".into())
    );
    let metrics = app.metrics(&app.emr_base).await;
    assert!(
        metrics.contains("emrlab_emr_breaker_state{component=\"emr\",vendor=\"cerner\"} 1"),
        "{metrics}"
    );
    app.set_knobs(json!({"vendors.cerner.error_rate": 0.0})).await;
    support::eventually(Duration::from_secs(5), || async {
        (app.get(&nurse, &path).await.status() == StatusCode::OK).then_some(())
    })
    .await;
    let metrics = app.metrics(&app.emr_base).await;
    assert!(metrics.contains("emrlab_emr_breaker_state{component=\"emr\",vendor=\"cerner\"} 0"));
}

#[tokio::test]
async fn the_bulkhead_refuses_calls_over_its_cap_at_once() {
    let app = support::spawn_app().await;
    bare(&app).await;
    app.set_knobs(json!({"emr.max_in_flight": 1, "vendors.epic.latency.median": "500ms"}))
        .await;
    let nurse = app.login("nurse.0001").await;
    let path = format!("/api/v1/emr/patients/{}?vendor=epic", app.some_patient(&nurse).await);
    let reads = futures::future::join_all((0..4).map(|_| app.get(&nurse, &path))).await;
    let mut codes = Vec::new();
    for read in reads {
        codes.push(error_code(read).await);
    }
    assert!(
        codes
            .iter()
            .any(|(s, c)| *s == StatusCode::SERVICE_UNAVAILABLE && c == "bulkhead_full"),
        "{codes:?}"
    );
    assert!(codes.iter().any(|(s, _)| *s == StatusCode::OK), "{codes:?}");
}

on_both_backends!(
    async fn a_task_is_pushed_updated_and_verified_against_its_vendor(app) {
        let nurse = app.login("nurse.0001").await;
        let task = app.create_task(&nurse, "Check fluid balance").await;
        let id = task["id"].as_str().unwrap();
        let before = verify(&app, &nurse, task.clone()).await;
        assert_eq!(before["verified"], false);
        assert_eq!(before["differences"][0]["vendor"], "missing");

        let pushed = app.post(&nurse, "/api/v1/emr/tasks", task.clone()).await;
        assert_eq!(pushed.status(), StatusCode::CREATED);
        let pushed: Value = pushed.json().await.unwrap();
        assert!(pushed["vendor_task_id"].as_str().is_some());
        assert_eq!(app.post(&nurse, "/api/v1/emr/tasks", task.clone()).await.status(), StatusCode::CONFLICT);
        assert_eq!(verify(&app, &nurse, task.clone()).await["verified"], true);

        let changed = app
            .put(&nurse, &format!("/api/v1/tasks/{id}"), json!({"status": "in_progress", "version": task["version"]}))
            .await;
        let changed: Value = changed.json().await.unwrap();
        let mismatch = verify(&app, &nurse, changed.clone()).await;
        assert_eq!(mismatch["verified"], false);
        assert_eq!(mismatch["differences"][0], json!({"field": "status", "ours": "in_progress", "vendor": "pending"}));

        let updated = app.put(&nurse, &format!("/api/v1/emr/tasks/{id}"), changed.clone()).await;
        assert_eq!(updated.status(), StatusCode::OK);
        assert_eq!(verify(&app, &nurse, changed).await["verified"], true);
    }
);

#[tokio::test]
async fn seeded_active_tasks_are_already_at_their_vendor_and_a_failed_push_writes_nothing() {
    let app = support::spawn_app().await;
    let nurse = app.login("nurse.0001").await;
    let page: Value = app
        .get(&nurse, "/api/v1/tasks?limit=1&status=pending")
        .await
        .json()
        .await
        .unwrap();
    let seeded = page["items"][0].clone();
    let check = app
        .post(
            &nurse,
            &format!("/api/v1/emr/tasks/{}/verify", seeded["id"].as_str().unwrap()),
            seeded,
        )
        .await;
    assert_eq!(check.json::<Value>().await.unwrap()["verified"], true);

    bare(&app).await;
    app.set_knobs(json!({"vendors.epic.error_rate": 1.0, "vendors.cerner.error_rate": 1.0}))
        .await;
    let task = app.create_task(&nurse, "Refused by the vendor").await;
    assert_eq!(
        app.post(&nurse, "/api/v1/emr/tasks", task.clone()).await.status(),
        StatusCode::BAD_GATEWAY
    );
    app.set_knobs(json!({"vendors.epic.error_rate": 0.0, "vendors.cerner.error_rate": 0.0}))
        .await;
    assert_eq!(
        app.post(&nurse, "/api/v1/emr/tasks", task).await.status(),
        StatusCode::CREATED,
        "no link was left behind"
    );
}

#[tokio::test]
async fn the_redis_cache_serves_repeated_reads() {
    let Some(redis) = emrlab_common::testing::redis_url() else {
        return;
    };
    // Another seed number: other ids, so no earlier run's entries in the shared Redis.
    let app = support::spawn_with(support::Backend::Sqlite, |cfg| {
        cfg.redis_url = Some(redis);
        cfg.seed.number = rand::random();
    })
    .await
    .unwrap();
    let nurse = app.login("nurse.0001").await;
    let path = format!("/api/v1/emr/patients/{}", app.some_patient(&nurse).await);
    let first = app.get(&nurse, &path).await;
    assert_eq!(first.headers()["x-cache"], "miss");
    let second = app.get(&nurse, &path).await;
    assert_eq!(second.headers()["x-cache"], "hit");
    let metrics = app.metrics(&app.emr_base).await;
    assert!(metrics.lines().any(|l| l.starts_with("emrlab_cache_requests_total")
        && l.contains("cache=\"redis\"")
        && l.contains("result=\"hit\"")));
}
