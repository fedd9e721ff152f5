//! Helpers for the insurance authorization tests: finding seeded authorizations and booking.

use reqwest::StatusCode;
use serde_json::{Value, json};
use time::{Duration, OffsetDateTime, format_description::well_known::Rfc3339};

use super::TestApp;

/// A session time inside every seeded authorization's period: tomorrow at 09:00, the same on
/// every call, so a retried request is the same request.
pub fn session() -> String {
    let tomorrow = OffsetDateTime::now_utc() + Duration::days(1);
    tomorrow
        .replace_time(time::Time::from_hms(9, 0, 0).unwrap())
        .format(&Rfc3339)
        .unwrap()
}

/// Untouched authorizations of `total` units in the caller's organisation, newest first.
pub async fn untouched(app: &TestApp, token: &str, total: i64) -> Vec<Value> {
    let path = format!("/api/v1/authorizations?total_units={total}&min_available={total}&limit=50");
    let page: Value = app.get(token, &path).await.json().await.unwrap();
    page["items"].as_array().unwrap().clone()
}

/// Books `units` on `auth`, with an `Idempotency-Key` when given.
pub async fn reserve(app: &TestApp, token: &str, auth: &str, units: i64, key: Option<&str>) -> (StatusCode, Value) {
    let mut request = app
        .http
        .post(app.url(&format!("/api/v1/authorizations/{auth}/reservations")))
        .bearer_auth(token)
        .json(&json!({"units": units, "scheduled_for": session()}));
    if let Some(key) = key {
        request = request.header("idempotency-key", key);
    }
    let response = request.send().await.unwrap();
    let status = response.status();
    (status, response.json().await.unwrap_or(Value::Null))
}

/// The authorization as the API shows it now.
pub async fn balance(app: &TestApp, token: &str, auth: &str) -> Value {
    app.get(token, &format!("/api/v1/authorizations/{auth}"))
        .await
        .json()
        .await
        .unwrap()
}

/// The integrity report, as the operator sees it.
pub async fn integrity(app: &TestApp) -> Value {
    let operator = app.login("operator").await;
    let response = app.get(&operator, "/api/v1/admin/integrity").await;
    assert_eq!(response.status(), StatusCode::OK);
    response.json().await.unwrap()
}

/// Fires `count` reservations of `units` on `auth` at once and returns their statuses.
pub async fn burst(app: &TestApp, token: &str, auth: &str, count: usize, units: i64) -> Vec<StatusCode> {
    let requests = (0..count).map(|_| reserve(app, token, auth, units, None));
    futures::future::join_all(requests)
        .await
        .into_iter()
        .map(|(status, _)| status)
        .collect()
}

/// How many of `statuses` are `status`.
pub fn count(statuses: &[StatusCode], status: StatusCode) -> usize {
    statuses.iter().filter(|s| **s == status).count()
}

/// Runs one statement against the app's database, binding `id`: `postgres` or `sqlite` text, as
/// the backends store instants differently.
pub async fn execute(app: &TestApp, postgres: &'static str, sqlite: &'static str, id: &str) {
    let id = uuid::Uuid::parse_str(id).unwrap();
    if app.database_url.starts_with("postgres") {
        let pool = sqlx::PgPool::connect(&app.database_url).await.unwrap();
        sqlx::query(postgres).bind(id).execute(&pool).await.unwrap();
        pool.close().await;
    } else {
        let pool = sqlx::SqlitePool::connect(&app.database_url).await.unwrap();
        sqlx::query(sqlite).bind(id).execute(&pool).await.unwrap();
        pool.close().await;
    }
}

/// `emrlab verify` against the app's database: its exit success and its output.
pub fn verify_cli(app: &TestApp) -> (bool, String) {
    let mut command = super::emrlab_command();
    let output = command
        .arg("--data-dir")
        .arg(app.data_dir())
        .arg("--database-url")
        .arg(&app.database_url)
        .arg("verify")
        .output()
        .unwrap();
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    (output.status.success(), text)
}
