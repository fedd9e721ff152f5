//! Every behaviour knob, each felt by a client: errors, throttling, malformed answers, outages.

use std::{sync::Arc, time::Duration};

use reqwest::{Client, StatusCode, header};
use serde_json::{Value, json};

use emrlab_seed::Vendor;

use crate::harness::*;

#[tokio::test]
async fn an_error_rate_of_one_answers_500_exception() {
    let sim = spawn(Vendor::Cerner).await;
    let before = sim.count("patient.read", "error").await;
    sim.set("error_rate", json!(1.0));
    let response = sim
        .get(&format!("/Patient/{}", directory().patients[1].cerner_id))
        .await;
    assert_eq!(response.status(), StatusCode::INTERNAL_SERVER_ERROR);
    assert_outcome(&json_of(response).await, "exception");
    assert!(sim.count("patient.read", "error").await > before);
}

#[tokio::test]
async fn a_concurrency_throttle_answers_429_with_retry_after() {
    let sim = Arc::new(spawn(Vendor::Epic).await);
    let path = format!("/Patient/{}", directory().patients[0].epic_id);
    let before = sim.count("patient.read", "throttled").await;
    sim.set("throttle.kind", json!("concurrency"));
    sim.set("throttle.limit", json!(1));
    sim.set("throttle.retry_after", json!("2s"));
    sim.set("latency.median", json!("10m"));
    // Of two requests at once, one takes the only slot and is held by the long latency (until
    // shutdown), so the first to be answered is the other one, refused.
    let send = || {
        let (sim, path) = (sim.clone(), path.clone());
        tokio::spawn(async move { sim.get(&path).await })
    };
    let (mut first, mut second) = (send(), send());
    let refused = tokio::time::timeout(PATIENCE, async {
        tokio::select! {
            answer = &mut first => answer,
            answer = &mut second => answer,
        }
    })
    .await
    .expect("an answer")
    .unwrap();
    assert_eq!(refused.status(), StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(refused.headers()[header::RETRY_AFTER], "2");
    assert_outcome(&json_of(refused).await, "throttled");
    assert!(sim.count("patient.read", "throttled").await > before);
}

#[tokio::test]
async fn a_malformed_rate_of_one_cuts_answers_off_mid_json() {
    let sim = spawn(Vendor::Epic).await;
    let before = sim.count("patient.read", "malformed").await;
    sim.set("malformed_rate", json!(1.0));
    let response = sim.get(&format!("/Patient/{}", directory().patients[0].epic_id)).await;
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(response.headers()[header::CONTENT_TYPE], "application/fhir+json");
    let body = response.bytes().await.unwrap();
    assert!(body.starts_with(b"{\"resourceType\":\"Patient\""));
    assert!(serde_json::from_slice::<Value>(&body).is_err());
    assert!(sim.count("patient.read", "malformed").await > before);
}

#[tokio::test]
async fn a_refuse_outage_closes_the_port_until_it_ends() {
    let sim = spawn(Vendor::Cerner).await;
    let url = format!("{}/Patient/{}", sim.base, directory().patients[1].cerner_id);
    let pooled = Client::new();
    assert_eq!(pooled.get(&url).send().await.unwrap().status(), StatusCode::OK);
    sim.set("outage", json!("refuse"));
    eventually("a refused connection", || async {
        let fresh = Client::new();
        fresh.get(&url).send().await.is_err_and(|e| e.is_connect())
    })
    .await;
    // The keep-alive connection opened before the outage is cut too.
    assert!(pooled.get(&url).send().await.is_err());
    sim.set("outage", json!("none"));
    eventually("an answer again", || async {
        Client::new()
            .get(&url)
            .send()
            .await
            .is_ok_and(|r| r.status() == StatusCode::OK)
    })
    .await;
}

#[tokio::test]
async fn a_hang_outage_never_answers() {
    let sim = spawn(Vendor::Epic).await;
    let before = sim.count("patient.read", "hang").await;
    sim.set("outage", json!("hang"));
    let impatient = Client::builder().timeout(Duration::from_millis(300)).build().unwrap();
    let url = format!("{}/Patient/{}", sim.base, directory().patients[0].epic_id);
    let error = impatient.get(&url).send().await.unwrap_err();
    assert!(error.is_timeout(), "{error}");
    assert!(sim.count("patient.read", "hang").await > before);
}

#[tokio::test]
async fn a_trickle_outage_sends_the_head_at_once_and_the_body_a_byte_at_a_time() {
    let sim = spawn(Vendor::Epic).await;
    let before = sim.count("patient.read", "trickle").await;
    sim.set("outage", json!("trickle"));
    let url = format!("{}/Patient/{}", sim.base, directory().patients[0].epic_id);
    let mut response = tokio::time::timeout(PATIENCE, sim.http.get(&url).send())
        .await
        .expect("the head arrives")
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    let length = response.content_length().unwrap();
    assert!(length > 100);
    let first = tokio::time::timeout(PATIENCE, response.chunk())
        .await
        .unwrap()
        .unwrap()
        .unwrap();
    assert_eq!(first.as_ref(), b"{");
    let rest = tokio::time::timeout(Duration::from_millis(300), response.bytes()).await;
    assert!(rest.is_err(), "the body finished within 300 ms");
    assert!(sim.count("patient.read", "trickle").await > before);
}

#[tokio::test]
async fn shutdown_ends_requests_the_outage_keeps_waiting() {
    let sim = spawn(Vendor::Cerner).await;
    sim.set("outage", json!("hang"));
    let url = format!("{}/Patient/{}", sim.base, directory().patients[1].cerner_id);
    let before = sim.count("patient.read", "hang").await;
    let waiting = tokio::spawn(sim.http.get(&url).send());
    eventually("the request to hang", || async {
        sim.count("patient.read", "hang").await > before
    })
    .await;
    sim.stop.cancel();
    let TestSim { running, .. } = sim;
    tokio::time::timeout(PATIENCE, running)
        .await
        .expect("shutdown finished")
        .unwrap()
        .unwrap();
    drop(waiting);
}

#[tokio::test]
async fn the_root_serves_health_metrics_and_the_vendors_own_knobs() {
    let sim = spawn(Vendor::Epic).await;
    let health = sim.http.get(format!("{}/health", sim.root)).send().await.unwrap();
    assert_eq!(health.status(), StatusCode::OK);
    let token = sim.keys.issue_internal("gateway").unwrap();
    let knobs: Value = sim
        .http
        .get(format!("{}/internal/knobs", sim.root))
        .bearer_auth(token)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let names: Vec<&str> = knobs
        .as_array()
        .unwrap()
        .iter()
        .map(|k| k["name"].as_str().unwrap())
        .collect();
    assert!(names.contains(&"vendors.epic.outage"));
    assert!(names.iter().all(|n| n.starts_with("vendors.epic.")), "{names:?}");
    let unauthenticated = sim
        .http
        .get(format!("{}/internal/knobs", sim.root))
        .send()
        .await
        .unwrap();
    assert_eq!(unauthenticated.status(), StatusCode::UNAUTHORIZED);
    // Every series exists before any traffic (count panics on a missing one).
    assert!(sim.count("task.update", "malformed").await >= 0.0);
}
