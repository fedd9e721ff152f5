//! Task verification end to end: through the gateway to the task service, which asks the real EMR
//! service, which asks the simulated vendors. What each outcome looks like to the caller, what
//! the task records, and the pool cascade `tasks.verify_mode = in_transaction` exists to show.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use std::time::Duration;

use emrlab::PlatformConfig;
use emrlab_task::VerifyMode;
use reqwest::StatusCode;
use serde_json::{Value, json};

use support::{Backend, TestApp};

fn path(task: &Value) -> String {
    format!("/api/v1/tasks/{}", task["id"].as_str().unwrap())
}

async fn verify(app: &TestApp, token: &str, task: &Value) -> (StatusCode, Value) {
    let response = app.post(token, &format!("{}/verify", path(task)), json!({})).await;
    let status = response.status();
    (status, response.json().await.unwrap())
}

async fn read(app: &TestApp, token: &str, task: &Value) -> (StatusCode, Value) {
    let response = app.get(token, &path(task)).await;
    let status = response.status();
    (status, response.json().await.unwrap_or(Value::Null))
}

/// A new task, pushed to its patient's vendor.
async fn pushed_task(app: &TestApp, token: &str, title: &str) -> Value {
    let task = app.create_task(token, title).await;
    let pushed = app.post(token, "/api/v1/emr/tasks", task.clone()).await;
    assert_eq!(pushed.status(), StatusCode::CREATED, "push {title}");
    task
}

on_both_backends!(
    async fn a_pushed_task_verifies_and_records_verified(app) {
        let nurse = app.login("nurse.0001").await;
        let task = pushed_task(&app, &nurse, "Check drain output").await;
        assert_eq!(task["verification"], "pending");
        let (status, body) = verify(&app, &nurse, &task).await;
        assert_eq!(status, StatusCode::OK, "{body}");
        assert_eq!((&body["state"], &body["verified"]), (&json!("verified"), &json!(true)));
        assert_eq!(body["differences"], json!([]));
        assert!(body["vendor_task_id"].is_string(), "{body}");
        let (_, after) = read(&app, &nurse, &task).await;
        assert_eq!(after["verification"], "verified");
        assert!(after["verified_at"].is_string());
        assert_eq!(after["version"], task["version"], "a verification is not an edit");
    }
);

on_both_backends!(
    async fn a_task_changed_after_its_push_is_a_mismatch_with_the_differences(app) {
        let nurse = app.login("nurse.0001").await;
        let task = pushed_task(&app, &nurse, "Change dressing").await;
        let changed = app.put(&nurse, &path(&task), json!({"status": "in_progress", "version": task["version"]})).await;
        assert_eq!(changed.status(), StatusCode::OK);
        let (status, body) = verify(&app, &nurse, &task).await;
        assert_eq!(status, StatusCode::OK, "{body}");
        assert_eq!((&body["state"], &body["verified"]), (&json!("mismatch"), &json!(false)));
        assert_eq!(body["differences"][0], json!({"field": "status", "ours": "in_progress", "vendor": "pending"}));
        assert_eq!(read(&app, &nurse, &task).await.1["verification"], "mismatch");
    }
);

#[tokio::test]
async fn a_task_never_pushed_is_a_mismatch_without_a_vendor() {
    let app = support::spawn_app().await;
    let nurse = app.login("nurse.0001").await;
    let task = app.create_task(&nurse, "Only here").await;
    let (status, body) = verify(&app, &nurse, &task).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!((&body["state"], &body["vendor"]), (&json!("mismatch"), &Value::Null));
    assert_eq!(body["differences"][0]["vendor"], "missing");
}

#[tokio::test]
async fn a_hanging_vendor_is_recorded_as_failed_within_the_timeouts() {
    let app = support::spawn_app().await;
    let nurse = app.login("nurse.0001").await;
    let task = pushed_task(&app, &nurse, "Vendor outage").await;
    let outage = json!({"vendors.epic.outage": "hang", "vendors.cerner.outage": "hang", "emr.retries": 0});
    assert_eq!(app.set_knobs(outage).await.status(), StatusCode::OK);
    // The EMR service gives up first (its own timeout is the shorter): its clear 504 is passed on.
    app.set_knobs(json!({"emr.timeout": "300ms", "tasks.verify_timeout": "10s"}))
        .await;
    let (status, body) = verify(&app, &nurse, &task).await;
    assert_eq!(
        (status, &body["error"]),
        (StatusCode::GATEWAY_TIMEOUT, &json!("vendor_timeout")),
        "{body}"
    );
    assert_eq!(body["details"]["verification"], "failed");
    assert_eq!(read(&app, &nurse, &task).await.1["verification"], "failed");
    // The task service gives up first.
    app.set_knobs(json!({"emr.timeout": "10s", "tasks.verify_timeout": "300ms"}))
        .await;
    let (status, body) = verify(&app, &nurse, &task).await;
    assert_eq!(
        (status, &body["error"]),
        (StatusCode::GATEWAY_TIMEOUT, &json!("emr_timeout")),
        "{body}"
    );
    assert_eq!(read(&app, &nurse, &task).await.1["verification"], "failed");
}

#[tokio::test]
async fn an_open_breaker_is_a_fast_503_recorded_as_failed() {
    let app = support::spawn_app().await;
    let nurse = app.login("nurse.0001").await;
    let task = pushed_task(&app, &nurse, "Breaker").await;
    let failing = json!({"emr.retries": 0, "emr.breaker.minimum_calls": 2, "emr.breaker.open_for": "1m",
        "vendors.epic.error_rate": 1.0, "vendors.cerner.error_rate": 1.0});
    assert_eq!(app.set_knobs(failing).await.status(), StatusCode::OK);
    for _ in 0..2 {
        assert_eq!(verify(&app, &nurse, &task).await.1["error"], "vendor_error");
    }
    let refused = app.post(&nurse, &format!("{}/verify", path(&task)), json!({})).await;
    assert_eq!(refused.status(), StatusCode::SERVICE_UNAVAILABLE);
    assert!(refused.headers().contains_key("retry-after"));
    let body: Value = refused.json().await.unwrap();
    assert_eq!(
        (&body["error"], &body["details"]["verification"]),
        (&json!("breaker_open"), &json!("failed"))
    );
    assert_eq!(read(&app, &nurse, &task).await.1["verification"], "failed");
}

/// The stack with a small task pool, a short wait for a connection, and a vendor call that
/// outlasts it: the EMR service's timeout, with no breaker and no retry to cut it short. On
/// SQLite writes and reads by id take pooled connections (`db.sqlite_writer` and
/// `db.sqlite_inline_reads` off), as on PostgreSQL.
async fn small_pool(backend: Backend, pool_size: u32, mode: VerifyMode) -> Option<TestApp> {
    support::spawn_with(backend, |cfg: &mut PlatformConfig| {
        cfg.db.pool_size = pool_size;
        cfg.db.sqlite_writer = false;
        cfg.db.sqlite_inline_reads = false;
        cfg.db.acquire_timeout = Duration::from_millis(300);
        cfg.tasks.verify_mode = mode;
        cfg.tasks.verify_timeout = Duration::from_secs(10);
        cfg.emr.timeout = Duration::from_secs(3);
        cfg.emr.retries = 0;
        cfg.emr.breaker.enabled = false;
    })
    .await
}

/// `n` pushed tasks and the vendors hanging; returns the nurse's token and the tasks.
async fn hanging_vendors(app: &TestApp, n: usize) -> (String, Vec<Value>) {
    let nurse = app.login("nurse.0001").await;
    let mut tasks = Vec::new();
    for i in 0..n {
        tasks.push(pushed_task(app, &nurse, &format!("Cascade {i}")).await);
    }
    // Reads are sampled back to back while the vendors hang; the per-token limit is not under test.
    let outage =
        json!({"vendors.epic.outage": "hang", "vendors.cerner.outage": "hang", "gateway.rate_limit.kind": "off"});
    assert_eq!(app.set_knobs(outage).await.status(), StatusCode::OK);
    (nurse, tasks)
}

/// One verification per task, in the background.
fn start_verifications(
    app: &std::sync::Arc<TestApp>,
    nurse: &str,
    tasks: &[Value],
) -> Vec<tokio::task::JoinHandle<(StatusCode, Value)>> {
    tasks
        .iter()
        .map(|task| {
            let (app, nurse, task) = (app.clone(), nurse.to_owned(), task.clone());
            tokio::spawn(async move { verify(&app, &nurse, &task).await })
        })
        .collect()
}

/// While verifications wait on a hanging vendor holding their transactions, an unrelated read
/// finds no free connection; once the EMR service times out, the pool is back.
async fn in_transaction_drains_the_pool(app: TestApp, verifications: usize) {
    let app = std::sync::Arc::new(app);
    let (nurse, tasks) = hanging_vendors(&app, verifications + 1).await;
    let (unrelated, hanging) = tasks.split_last().unwrap();
    let running = start_verifications(&app, &nurse, hanging);
    let (status, body) = support::eventually(Duration::from_secs(10), || async {
        let (status, body) = read(&app, &nurse, unrelated).await;
        (status != StatusCode::OK).then_some((status, body))
    })
    .await;
    assert_eq!(
        (status, &body["error"]),
        (StatusCode::SERVICE_UNAVAILABLE, &json!("unavailable")),
        "{body}"
    );
    for verification in running {
        let (status, body) = verification.await.unwrap();
        assert_eq!(
            (status, &body["error"]),
            (StatusCode::GATEWAY_TIMEOUT, &json!("vendor_timeout")),
            "{body}"
        );
    }
    assert_eq!(read(&app, &nurse, unrelated).await.0, StatusCode::OK);
    for task in hanging {
        assert_eq!(read(&app, &nurse, task).await.1["verification"], "failed");
    }
}

/// The same hanging vendor: every read made while the verifications wait is served.
async fn reads_are_served_while_verifications_wait(app: TestApp, verifications: usize) {
    let app = std::sync::Arc::new(app);
    let (nurse, tasks) = hanging_vendors(&app, verifications + 1).await;
    let (unrelated, hanging) = tasks.split_last().unwrap();
    let running = start_verifications(&app, &nurse, hanging);
    let mut reads = 0;
    while !running.iter().all(tokio::task::JoinHandle::is_finished) {
        let (status, body) = read(&app, &nurse, unrelated).await;
        assert_eq!(status, StatusCode::OK, "a read while verifications wait: {body}");
        reads += 1;
    }
    assert!(reads > 0);
    for verification in running {
        assert_eq!(verification.await.unwrap().0, StatusCode::GATEWAY_TIMEOUT);
    }
}

// On PostgreSQL each verification holds its own connection: two drain a pool of two. On SQLite
// a write transaction first takes the database's one write lock, so a second verification waits
// for the lock without a connection; there one verification drains a pool of one.

#[tokio::test]
async fn in_transaction_with_a_hanging_vendor_drains_the_pool_sqlite() {
    let app = small_pool(Backend::Sqlite, 1, VerifyMode::InTransaction).await.unwrap();
    in_transaction_drains_the_pool(app, 1).await;
}

#[tokio::test]
async fn in_transaction_with_a_hanging_vendor_drains_the_pool_postgres() {
    if let Some(app) = small_pool(Backend::Postgres, 2, VerifyMode::InTransaction).await {
        in_transaction_drains_the_pool(app, 2).await;
    }
}

/// A verification held in its transaction on SQLite with a pool of one, and `knob` switched on at
/// run time: reads of the unrelated task are served while it waits.
async fn in_transaction_on_sqlite_keeps_reads_served_with(knob: &str) {
    let app = small_pool(Backend::Sqlite, 1, VerifyMode::InTransaction).await.unwrap();
    assert_eq!(app.set_knobs(json!({ knob: true })).await.status(), StatusCode::OK);
    reads_are_served_while_verifications_wait(app, 1).await;
}

/// `db.sqlite_writer`: the write transaction holds the writer connection, not a pooled one.
#[tokio::test]
async fn in_transaction_on_the_sqlite_writer_keeps_reads_served() {
    in_transaction_on_sqlite_keeps_reads_served_with("db.sqlite_writer").await;
}

/// `db.sqlite_inline_reads`: a task read by id needs no pooled connection, so it is served
/// while the verification holds the pool's only one.
#[tokio::test]
async fn in_transaction_with_inline_reads_keeps_task_reads_served_sqlite() {
    in_transaction_on_sqlite_keeps_reads_served_with("db.sqlite_inline_reads").await;
}

#[tokio::test]
async fn release_first_with_a_hanging_vendor_keeps_reads_served_sqlite() {
    let app = small_pool(Backend::Sqlite, 1, VerifyMode::ReleaseFirst).await.unwrap();
    reads_are_served_while_verifications_wait(app, 1).await;
}

#[tokio::test]
async fn release_first_with_a_hanging_vendor_keeps_reads_served_postgres() {
    if let Some(app) = small_pool(Backend::Postgres, 2, VerifyMode::ReleaseFirst).await {
        reads_are_served_while_verifications_wait(app, 2).await;
    }
}
