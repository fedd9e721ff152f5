//! Fifty schedulers booking one 50-unit authorization at once, 10 units each: exactly five may
//! succeed. Every safe `authorizations.concurrency` mode must hold that on both databases; the
//! `naive` mode overbooks on PostgreSQL, and the integrity check says so.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use std::time::Duration;

use reqwest::StatusCode;
use serde_json::{Value, json};

use support::{
    Backend, TestApp,
    units::{balance, burst, count, integrity, reserve, untouched, verify_cli},
};

/// The stack with the gateway's rate limit off: fifty requests from one token at once are the
/// point here, not something to refuse.
async fn unlimited(backend: Backend) -> Option<TestApp> {
    support::spawn_with(backend, |cfg| {
        cfg.gateway.rate_limit.kind = emrlab_gateway::config::LimitKind::Off
    })
    .await
}

fn id(value: &Value) -> String {
    value["id"].as_str().unwrap().to_owned()
}

/// The counter `name` with `mode` from the task service's metrics (0 if absent).
async fn counter(app: &TestApp, name: &str, mode: &str) -> f64 {
    let text = app.metrics(&app.task_base).await;
    let label = format!("mode=\"{mode}\"");
    text.lines()
        .filter(|l| l.starts_with(name) && l.contains(&label))
        .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
        .sum()
}

async fn exactly_five_in_every_safe_mode(app: TestApp) {
    let nurse = app.login("nurse.0001").await;
    let fresh = untouched(&app, &nurse, 50).await;
    for (mode, auth) in ["atomic", "row_lock", "serializable"].into_iter().zip(&fresh) {
        let changed = app.set_knobs(json!({"authorizations.concurrency": mode})).await;
        assert_eq!(changed.status(), StatusCode::OK);
        let gave_up_before = counter(&app, "emrlab_authorization_retry_exhausted_total", mode).await;
        let statuses = burst(&app, &nurse, &id(auth), 50, 10).await;
        let (booked, refused) = (
            count(&statuses, StatusCode::CREATED),
            count(&statuses, StatusCode::CONFLICT),
        );
        let gave_up = count(&statuses, StatusCode::SERVICE_UNAVAILABLE);
        assert_eq!(booked, 5, "{mode}: {statuses:?}");
        assert_eq!(booked + refused + gave_up, 50, "{mode}: {statuses:?}");
        // Within its default retry budget, serializable answers every request.
        assert_eq!(gave_up, 0, "{mode}: {statuses:?}");
        let gave_up_after = counter(&app, "emrlab_authorization_retry_exhausted_total", mode).await;
        assert!(gave_up_after >= gave_up_before, "{mode}");
        let now = balance(&app, &nurse, &id(auth)).await;
        assert_eq!(now["scheduled_units"], 50, "{mode}");
    }
    assert_eq!(integrity(&app).await["ok"], true);
}

#[tokio::test]
async fn fifty_at_once_book_exactly_five_in_every_safe_mode_on_sqlite() {
    exactly_five_in_every_safe_mode(unlimited(Backend::Sqlite).await.unwrap()).await;
}

#[tokio::test]
async fn fifty_at_once_book_exactly_five_in_every_safe_mode_on_postgres() {
    if let Some(app) = unlimited(Backend::Postgres).await {
        exactly_five_in_every_safe_mode(app).await;
    }
}

/// Whatever `naive` does to a balance, the integrity check tells the truth about it: it reports
/// the authorization exactly when more than five bookings of 10 units were accepted.
async fn naive_bookings_and_the_integrity_check_agree(app: &TestApp, auth: &str) -> usize {
    let nurse = app.login("nurse.0001").await;
    let statuses = burst(app, &nurse, auth, 50, 10).await;
    let booked = count(&statuses, StatusCode::CREATED);
    let report = integrity(app).await;
    let flagged = report["violations"]
        .as_array()
        .unwrap()
        .iter()
        .any(|v| v["authorization_id"] == auth);
    assert_eq!(flagged, booked > 5, "{booked} booked; {report}");
    let (ok, output) = verify_cli(app);
    assert_eq!(ok, booked <= 5, "{output}");
    booked
}

#[tokio::test]
async fn naive_overbooks_on_postgres_and_the_check_reports_it() {
    let Some(app) = unlimited(Backend::Postgres).await else {
        return;
    };
    let nurse = app.login("nurse.0001").await;
    app.set_knobs(json!({"authorizations.concurrency": "naive"})).await;
    // A race is likely, not certain, on one try: up to five fresh authorizations.
    let mut most = 0;
    for auth in untouched(&app, &nurse, 50).await {
        most = most.max(naive_bookings_and_the_integrity_check_agree(&app, &id(&auth)).await);
        if most > 5 {
            break;
        }
    }
    assert!(
        most > 5,
        "naive never overbooked: at most {most} bookings of 10 units on 50"
    );
}

#[tokio::test]
async fn naive_on_sqlite_is_reported_truthfully_whatever_it_does() {
    let app = unlimited(Backend::Sqlite).await.unwrap();
    let nurse = app.login("nurse.0001").await;
    app.set_knobs(json!({"authorizations.concurrency": "naive"})).await;
    let auth = id(&untouched(&app, &nurse, 50).await[0]);
    let booked = naive_bookings_and_the_integrity_check_agree(&app, &auth).await;
    println!("naive on SQLite: {booked} of 50 bookings of 10 units accepted on 50 units");
}

/// A deterministic serialization failure: another transaction changes the authorization while a
/// serializable reservation is between its read and its write. The reservation must be retried,
/// counted, and succeed.
#[tokio::test]
async fn a_serializable_booking_is_retried_after_a_serialization_failure_and_succeeds() {
    let Some(app) = unlimited(Backend::Postgres).await else {
        return;
    };
    let nurse = app.login("nurse.0001").await;
    app.set_knobs(json!({"authorizations.concurrency": "serializable"}))
        .await;
    let auth = id(&untouched(&app, &nurse, 200).await[0]);
    let retries_before = counter(&app, "emrlab_authorization_retries_total", "serializable").await;

    let pool = sqlx::PgPool::connect(&app.database_url).await.unwrap();
    let mut blocker = pool.begin().await.unwrap();
    sqlx::query("UPDATE authorizations SET updated_at = now() WHERE id = $1")
        .bind(uuid::Uuid::parse_str(&auth).unwrap())
        .execute(&mut *blocker)
        .await
        .unwrap();
    let booking = tokio::spawn({
        let (app_base, nurse, auth) = (app.base.clone(), nurse.clone(), auth.clone());
        async move {
            reqwest::Client::new()
                .post(format!("{app_base}/api/v1/authorizations/{auth}/reservations"))
                .bearer_auth(nurse)
                .json(&json!({"units": 10, "scheduled_for": support::units::session()}))
                .send()
                .await
                .unwrap()
                .status()
        }
    });
    // The booking has read its snapshot and waits for the blocker's row lock to write.
    support::eventually(Duration::from_secs(10), || async {
        let waiting: i64 = sqlx::query_scalar(
            "SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock' AND query LIKE '%authorizations%'",
        )
        .fetch_one(&pool)
        .await
        .unwrap();
        (waiting > 0).then_some(())
    })
    .await;
    blocker.commit().await.unwrap();

    assert_eq!(booking.await.unwrap(), StatusCode::CREATED);
    let retries_after = counter(&app, "emrlab_authorization_retries_total", "serializable").await;
    assert!(
        retries_after > retries_before,
        "no retry counted: {retries_before} -> {retries_after}"
    );
    assert_eq!(balance(&app, &nurse, &auth).await["scheduled_units"], 10);
    let (status, _) = reserve(&app, &nurse, &auth, 10, None).await;
    assert_eq!(status, StatusCode::CREATED);
}

/// The built-in scenario as a user runs it, shortened: its gates hold (exactly five bookings,
/// every answer a 201 or a 409, and its closing integrity check passes).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_high_contention_scenario_books_exactly_five_and_ends_with_a_clean_integrity_check() {
    let app = unlimited(Backend::Sqlite).await.unwrap();
    let out = app.data_dir().join("contention.json");
    let (base, file) = (app.base.clone(), out.clone());
    let output = tokio::task::spawn_blocking(move || {
        std::process::Command::new(env!("CARGO_BIN_EXE_emrlab"))
            .args([
                "load",
                "auth-high-contention",
                "--duration",
                "3s",
                "--quiet",
                "--no-scrape",
                "--url",
            ])
            .arg(base)
            .arg("--out")
            .arg(file)
            .output()
            .unwrap()
    })
    .await
    .unwrap();
    let text = String::from_utf8_lossy(&output.stdout).into_owned() + &String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "{text}");
    let result: Value = serde_json::from_slice(&std::fs::read(&out).unwrap()).unwrap();
    let step = |name: &str| {
        result["steps"]
            .as_array()
            .unwrap()
            .iter()
            .find(|s| s["name"] == name)
            .unwrap()
            .clone()
    };
    assert_eq!(step("reserve")["statuses"]["201"], 5, "{text}");
    assert_eq!(step("integrity")["statuses"]["200"], 1, "{text}");
}
