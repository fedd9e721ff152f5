//! Live events end to end: WebSocket clients of the gateway see the events of tasks changed over
//! REST, only for their own organisation, filtered, resumable, and only with valid credentials.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use std::time::Duration;

use reqwest::StatusCode;
use serde_json::{Value, json};
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;

use emrlab_common::{
    auth::{JwtKeys, OrgId},
    events::Event,
};
use support::ws::{connect, open};

/// A task of the caller's organisation created over REST, with `extra` fields in the body.
async fn create(app: &support::TestApp, token: &str, title: &str, extra: Value) -> Value {
    let patient = app.some_patient(token).await;
    let mut body = json!({"title": title, "patient_id": patient});
    body.as_object_mut().unwrap().extend(extra.as_object().unwrap().clone());
    let response = app.post(token, "/api/v1/tasks", body).await;
    assert_eq!(response.status(), StatusCode::CREATED);
    response.json().await.unwrap()
}

async fn ticket(app: &support::TestApp, token: &str) -> String {
    let response = app.post(token, "/api/v1/ws/ticket", json!({})).await;
    assert_eq!(response.status(), StatusCode::OK);
    let body: Value = response.json().await.unwrap();
    body["ticket"].as_str().unwrap().to_owned()
}

#[tokio::test]
async fn a_client_receives_task_created_for_a_task_made_over_rest() {
    let app = support::spawn_app().await;
    let token = app.login("nurse.0001").await;
    let mut ws = connect(&app, "", &token).await;
    let task = app.create_task(&token, "Obs round").await;
    let event = ws.next_json().await;
    assert_eq!(event["type"], "task.created");
    assert_eq!(event["payload"]["id"], task["id"]);
    assert_eq!(
        event["payload"], task,
        "the payload is the task as the REST API returns it"
    );
    let mut keys: Vec<&str> = event.as_object().unwrap().keys().map(String::as_str).collect();
    keys.sort_unstable();
    assert_eq!(keys, ["id", "payload", "time", "type"]);
    let path = format!("/api/v1/tasks/{}/complete", task["id"].as_str().unwrap());
    assert_eq!(app.post(&token, &path, json!({})).await.status(), StatusCode::OK);
    let completed = ws.next_json().await;
    assert_eq!(
        (completed["type"].as_str(), &completed["payload"]["status"]),
        (Some("task.completed"), &json!("completed"))
    );
    // One recorder per test process, shared by parallel tests: check the series, not the values.
    let metrics = app.metrics(&app.base).await;
    for series in [
        "emrlab_events_delivered_total",
        "emrlab_events_published_total",
        "emrlab_ws_connections_open",
    ] {
        assert!(metrics.contains(series), "{series} missing from /metrics");
    }
}

#[tokio::test]
async fn a_client_of_another_organisation_sees_only_its_own_events() {
    let app = support::spawn_app().await;
    let (ours, theirs) = (app.login("nurse.0001").await, app.login("admin.0002").await);
    let mut our_ws = connect(&app, "", &ours).await;
    let mut their_ws = connect(&app, "", &theirs).await;
    let first = app.create_task(&ours, "Ours").await;
    assert_eq!(our_ws.next_json().await["payload"]["id"], first["id"]);
    // Had the first event leaked, it would arrive before this one: delivery keeps bus order.
    let second = app.create_task(&theirs, "Theirs").await;
    let event = their_ws.next_json().await;
    assert_eq!(
        (event["type"].as_str(), &event["payload"]["id"]),
        (Some("task.created"), &second["id"])
    );
}

#[tokio::test]
async fn a_ticket_opens_one_connection_and_tokens_never_go_in_the_url() {
    let app = support::spawn_app().await;
    let token = app.login("nurse.0001").await;
    let ticket = ticket(&app, &token).await;
    let mut ws = open(&app, &format!("?ticket={ticket}"), None)
        .await
        .expect("a fresh ticket opens");
    let task = app.create_task(&token, "Via ticket").await;
    assert_eq!(ws.next_json().await["payload"]["id"], task["id"]);
    assert_eq!(
        open(&app, &format!("?ticket={ticket}"), None).await.err(),
        Some(StatusCode::UNAUTHORIZED)
    );
    assert_eq!(open(&app, "", None).await.err(), Some(StatusCode::UNAUTHORIZED));
    assert_eq!(
        open(&app, "?ticket=made-up", None).await.err(),
        Some(StatusCode::UNAUTHORIZED)
    );
    for query in [
        format!("?ticket={token}"),
        format!("?access_token={token}"),
        format!("?token={token}"),
    ] {
        assert_eq!(
            open(&app, &query, None).await.err(),
            Some(StatusCode::UNAUTHORIZED),
            "{query}"
        );
    }
    let unauthenticated = app.http.post(app.url("/api/v1/ws/ticket")).send().await.unwrap();
    assert_eq!(unauthenticated.status(), StatusCode::UNAUTHORIZED);
    let operator = app.login("operator").await;
    assert_eq!(open(&app, "", Some(&operator)).await.err(), Some(StatusCode::FORBIDDEN));
}

#[tokio::test]
async fn a_ward_subscription_filters_and_a_bad_message_gets_an_error() {
    let app = support::spawn_app().await;
    let token = app.login("nurse.0001").await;
    let page: Value = app.get(&token, "/api/v1/tasks?limit=200").await.json().await.unwrap();
    let mut wards: Vec<&str> = page["items"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|t| t["ward_id"].as_str())
        .collect();
    wards.sort_unstable();
    wards.dedup();
    let (ward, other) = (wards[0], wards[1]);
    let mut ws = connect(&app, "", &token).await;
    ws.send(json!({"type": "subscribe", "ward": "not-a-uuid"})).await;
    let error = ws.next_json().await;
    assert_eq!(
        (error["type"].as_str(), error["error"].as_str()),
        (Some("error"), Some("invalid_message"))
    );
    ws.send(json!({"type": "subscribe", "ward": ward})).await;
    assert_eq!(
        ws.next_json().await,
        json!({"type": "subscribed", "ward": ward, "mine": false})
    );
    create(&app, &token, "Elsewhere", json!({"ward_id": other})).await;
    let here = create(&app, &token, "Here", json!({"ward_id": ward})).await;
    let event = ws.next_json().await;
    assert_eq!(
        event["payload"]["id"], here["id"],
        "the other ward's event was not filtered out"
    );
}

#[tokio::test]
async fn repeated_bad_messages_close_the_connection_with_1008() {
    let app = support::spawn_app().await;
    let token = app.login("nurse.0001").await;
    let mut ws = connect(&app, "", &token).await;
    for _ in 0..5 {
        ws.send(json!({"type": "nonsense"})).await;
    }
    assert_eq!(ws.close_code().await, CloseCode::Policy);
}

#[tokio::test]
async fn a_client_resuming_with_its_last_event_id_gets_what_it_missed() {
    let app = support::spawn_app().await;
    let token = app.login("nurse.0001").await;
    let mut ws = connect(&app, "", &token).await;
    app.create_task(&token, "Seen").await;
    let seen = ws.next_json().await;
    drop(ws);
    let missed = [
        app.create_task(&token, "Missed 1").await,
        app.create_task(&token, "Missed 2").await,
    ];
    let query = format!("?last_event_id={}", seen["id"].as_str().unwrap());
    let mut ws = connect(&app, &query, &token).await;
    for task in &missed {
        assert_eq!(ws.next_json().await["payload"]["id"], task["id"]);
    }
    let live = app.create_task(&token, "Live").await;
    assert_eq!(ws.next_json().await["payload"]["id"], live["id"]);
    let forgotten = format!("?last_event_id={}", uuid::Uuid::now_v7());
    let mut ws = connect(&app, &forgotten, &token).await;
    assert_eq!(ws.next_json().await["type"], "resync_required");
}

#[tokio::test]
async fn upgrades_skip_the_request_limit_but_each_token_has_a_connection_cap() {
    let app = support::spawn_app().await;
    let set = app
        .set_knobs(json!({"gateway.rate_limit.kind": "fixed_window", "gateway.rate_limit.max": 1, "gateway.ws.max_per_token": 3}))
        .await;
    assert_eq!(set.status(), StatusCode::OK);
    let token = app.login("nurse.0001").await;
    let mut held = Vec::new();
    for _ in 0..3 {
        held.push(connect(&app, "", &token).await);
    }
    assert_eq!(
        open(&app, "", Some(&token)).await.err(),
        Some(StatusCode::TOO_MANY_REQUESTS)
    );
    let other = app.login("nurse.0002").await;
    held.push(connect(&app, "", &other).await);
    let without_upgrade = app.get(&other, "/api/v1/ws").await;
    assert_eq!(without_upgrade.status(), StatusCode::UPGRADE_REQUIRED);
}

#[tokio::test]
async fn the_publish_endpoint_takes_internal_tokens_only_and_delivers_their_events() {
    let app = support::spawn_app().await;
    let token = app.login("nurse.0001").await;
    let mut ws = connect(&app, "", &token).await;
    let org = app.create_task(&token, "Find the org").await;
    let created = ws.next_json().await;
    assert_eq!(created["payload"]["id"], org["id"]);
    let claims = token.split('.').nth(1).unwrap();
    let claims: Value = serde_json::from_slice(
        &base64::Engine::decode(&base64::engine::general_purpose::URL_SAFE_NO_PAD, claims).unwrap(),
    )
    .unwrap();
    let org = OrgId(claims["org"].as_str().unwrap().parse().unwrap());
    let event = Event::new("handover.requested", org, json!({"id": "h1"}));
    let url = app.url("/internal/events");
    let as_user = app
        .http
        .post(&url)
        .bearer_auth(&token)
        .json(&[&event])
        .send()
        .await
        .unwrap();
    assert_eq!(as_user.status(), StatusCode::UNAUTHORIZED);
    let keys = JwtKeys::new(emrlab::config::TEST_JWT_SECRET.as_bytes(), "emrlab", "emrlab-api");
    let internal = keys.issue_internal("handover").unwrap();
    let accepted = app
        .http
        .post(&url)
        .bearer_auth(internal)
        .json(&[&event])
        .send()
        .await
        .unwrap();
    assert_eq!(accepted.status(), StatusCode::ACCEPTED);
    let received = ws.next_json().await;
    assert_eq!(
        (received["type"].as_str(), &received["payload"]),
        (Some("handover.requested"), &json!({"id": "h1"}))
    );
    // What `emrlab serve task` uses without Redis: the queued HTTP publisher against this endpoint.
    let publisher = emrlab_common::events::EventPublisher::http(&app.base, std::sync::Arc::new(keys), "handover", 16);
    publisher.publish(Event::new("handover.accepted", org, json!({"id": "h1"})));
    assert_eq!(ws.next_json().await["type"], "handover.accepted");
}

#[tokio::test]
async fn over_redis_a_second_gateway_fans_out_the_first_ones_events() {
    let Some(redis) = emrlab_common::testing::redis_url() else {
        return;
    };
    // A channel of its own: parallel tests on the same Redis must not see each other's events.
    let channel = format!("emrlab:test:{}", uuid::Uuid::now_v7());
    let with_redis = |cfg: &mut emrlab::PlatformConfig| {
        cfg.redis_url = Some(redis.clone());
        cfg.events.redis_channel = channel.clone();
    };
    let first = support::spawn_with(support::Backend::Sqlite, with_redis).await.unwrap();
    let second = support::spawn_with(support::Backend::Sqlite, with_redis).await.unwrap();
    // The seed is deterministic, so nurse.0001 belongs to the same organisation on both.
    let mut on_first = connect(&first, "", &first.login("nurse.0001").await).await;
    let mut on_second = connect(&second, "", &second.login("nurse.0001").await).await;
    let token = first.login("nurse.0001").await;
    let task = first.create_task(&token, "Over Redis").await;
    for ws in [&mut on_first, &mut on_second] {
        let event = ws.next_json().await;
        assert_eq!(
            (event["type"].as_str(), &event["payload"]["id"]),
            (Some("task.created"), &task["id"])
        );
    }
}

#[tokio::test]
async fn a_message_over_4_kib_closes_the_connection_with_1009() {
    let app = support::spawn_app().await;
    let token = app.login("nurse.0001").await;
    let mut ws = connect(&app, "", &token).await;
    ws.send(json!({"type": "subscribe", "padding": "x".repeat(5 * 1024)}))
        .await;
    assert_eq!(ws.close_code().await, CloseCode::Size);
}

/// The `websocket-stress` scenario's shape, two VUs for three seconds: VU 0 creates tasks, both
/// listen.
const LOAD_SCENARIO: &str = r#"
name = "ws-load"
[load]
model = "closed"
start = 2
stages = [{ duration = "3s", target = 2 }]
graceful_stop = "2s"
[users]
pattern = "nurse.{n}"
count = 2
password = "emrlab"
[setup]
before_start = true
[[setup.steps]]
name = "login"
request = "POST /api/v1/auth/login"
json = { username = "${user.username}", password = "${user.password}" }
capture = { token = "access_token" }
[[setup.steps]]
name = "list tasks"
request = "GET /api/v1/tasks?limit=5"
headers = { authorization = "Bearer ${token}" }
capture = { patient_ids = "items[*].patient_id" }
[[flows]]
name = "subscribe"
[[flows.steps]]
name = "create task"
request = "POST /api/v1/tasks"
headers = { authorization = "Bearer ${token}" }
json = { title = "Load", patient_id = "${pick:patient_ids}" }
check = { status = [201] }
every_nth_vu = 2
[[flows.steps]]
name = "events"
ws = "/api/v1/ws"
headers = { authorization = "Bearer ${token}" }
listen = "500ms"
"#;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_load_generator_measures_event_latency_at_every_subscriber() {
    let app = support::spawn_app().await;
    let scenario = emrlab_loadgen::Scenario::parse(LOAD_SCENARIO, "ws-load.toml").unwrap();
    let plan = emrlab_loadgen::plan::Plan::compile(scenario, &app.base).unwrap();
    let options = emrlab_loadgen::RunOptions {
        workers: 1,
        progress: false,
        scrape: vec![],
        scrape_every: Duration::from_secs(5),
        started: None,
    };
    let outcome = tokio::task::spawn_blocking(move || emrlab_loadgen::run(plan, &options).unwrap())
        .await
        .unwrap();
    let created = outcome.summary.step("create task").unwrap().count();
    let events = outcome.summary.step("events").unwrap();
    assert!(created > 0, "no task was created: {:?}", outcome.aborts);
    assert_eq!(events.failed, 0, "{:?}", outcome.aborts);
    // Each creation reaches both subscribers (those made in the last listen may be missed).
    assert!(
        events.count() >= created,
        "{} event samples for {created} tasks",
        events.count()
    );
}
