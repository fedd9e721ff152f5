//! Staff, tasks and handovers made through the gateway, and what the tests read back.

use base64::{Engine, engine::general_purpose::URL_SAFE_NO_PAD};
use reqwest::StatusCode;
use serde_json::{Value, json};

use emrlab_common::{auth::OrgId, config::DbConfig, db::AnyDb};

use crate::support::TestApp;

/// A logged-in practitioner: token, id and organisation (read from the token's claims).
pub(crate) struct Staff {
    pub(crate) token: String,
    pub(crate) id: String,
    pub(crate) org: String,
}

pub(crate) async fn staff(app: &TestApp, username: &str) -> Staff {
    let token = app.login(username).await;
    let payload = token.split('.').nth(1).unwrap();
    let claims: Value = serde_json::from_slice(&URL_SAFE_NO_PAD.decode(payload).unwrap()).unwrap();
    Staff {
        id: claims["sub"].as_str().unwrap().to_owned(),
        org: claims["org"].as_str().unwrap().to_owned(),
        token,
    }
}

/// A ward of the caller's organisation (seeded tasks all have one).
pub(crate) async fn some_ward(app: &TestApp, token: &str) -> String {
    let page: Value = app.get(token, "/api/v1/tasks?limit=1").await.json().await.unwrap();
    page["items"][0]["ward_id"].as_str().unwrap().to_owned()
}

/// A new task assigned to `assignee`; its JSON.
pub(crate) async fn task_for(app: &TestApp, by: &Staff, assignee: &Staff, title: &str) -> Value {
    let patient = app.some_patient(&by.token).await;
    let body = json!({"title": title, "patient_id": patient, "assignee_id": assignee.id});
    let created = app.post(&by.token, "/api/v1/tasks", body).await;
    assert_eq!(created.status(), StatusCode::CREATED);
    created.json().await.unwrap()
}

pub(crate) fn id(value: &Value) -> &str {
    value["id"].as_str().unwrap()
}

pub(crate) fn handover_body(to: &Staff, ward: &str, tasks: &[&Value]) -> Value {
    json!({
        "to_practitioner_id": to.id,
        "ward_id": ward,
        "task_ids": tasks.iter().map(|t| id(t)).collect::<Vec<_>>(),
        "sbar": {
            "situation": "Bay 2: post-op day 1, stable",
            "background": "Hip replacement yesterday",
            "assessment": "Pain controlled",
            "recommendation": "Obs 4-hourly"
        },
        "notes": "Family visiting at 18:00"
    })
}

/// Creates a handover from `from` to `to` of `tasks`; its JSON.
pub(crate) async fn handover(app: &TestApp, from: &Staff, to: &Staff, ward: &str, tasks: &[&Value]) -> Value {
    let created = app
        .post(&from.token, "/api/v1/handovers", handover_body(to, ward, tasks))
        .await;
    assert_eq!(created.status(), StatusCode::CREATED);
    let location = created.headers()["location"].to_str().unwrap().to_owned();
    let body: Value = created.json().await.unwrap();
    assert_eq!(location, format!("/api/v1/handovers/{}", id(&body)));
    body
}

pub(crate) async fn decide(
    app: &TestApp,
    who: &Staff,
    handover: &Value,
    action: &str,
    body: Value,
) -> (StatusCode, Value) {
    let path = format!("/api/v1/handovers/{}/{action}", id(handover));
    let response = app.post(&who.token, &path, body).await;
    let status = response.status();
    (status, response.json().await.unwrap())
}

pub(crate) async fn read(app: &TestApp, token: &str, path: &str) -> (StatusCode, Value) {
    let response = app.get(token, path).await;
    let status = response.status();
    (status, response.json().await.unwrap())
}

/// The ids in a list answer, in order.
pub(crate) async fn listed(app: &TestApp, token: &str, query: &str) -> Vec<String> {
    let (status, page) = read(app, token, &format!("/api/v1/handovers{query}")).await;
    assert_eq!(status, StatusCode::OK, "{page}");
    page["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|h| id(h).to_owned())
        .collect()
}

pub(crate) async fn audit_actions(app: &TestApp, org: &str, task: &Value) -> Vec<String> {
    let db = AnyDb::connect(&app.database_url, &DbConfig::default(), "test").unwrap();
    let store = emrlab_task::storage::open(&db);
    let org = OrgId(org.parse().unwrap());
    store.audit_actions(org, id(task).parse().unwrap()).await.unwrap()
}
