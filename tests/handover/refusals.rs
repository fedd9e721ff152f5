//! Every way a create or a decision is refused: a clear 4xx, and nothing written.

use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::{helpers::*, on_both_backends};

#[tokio::test]
async fn bad_input_gets_a_clear_4xx_and_writes_nothing() {
    let app = crate::support::spawn_app().await;
    let (giver, receiver) = (staff(&app, "nurse.0001").await, staff(&app, "nurse.0002").await);
    let (foreign_admin, foreign_nurse) = (staff(&app, "admin.0002").await, staff(&app, "nurse.0041").await);
    assert_ne!(foreign_nurse.org, giver.org, "nurse.0041 is of the second organisation");
    let ward = some_ward(&app, &giver.token).await;
    let foreign_ward = some_ward(&app, &foreign_admin.token).await;
    let task = task_for(&app, &giver, &giver, "Obs").await;
    let foreign_task = app.create_task(&foreign_admin.token, "Theirs").await;
    let done = app.create_task(&giver.token, "Done already").await;
    let completed = app
        .post(
            &giver.token,
            &format!("/api/v1/tasks/{}/complete", id(&done)),
            json!({}),
        )
        .await;
    assert_eq!(completed.status(), StatusCode::OK);
    let good = handover_body(&receiver, &ward, &[&task]);
    let with = |path: &str, value: Value| {
        let mut body = good.clone();
        let pointer = path.rsplit_once('/').map_or("", |(parent, _)| parent);
        let key = path.rsplit('/').next().unwrap();
        body.pointer_mut(pointer).unwrap()[key] = value;
        body
    };
    let too_many: Vec<String> = (0..201).map(|_| uuid::Uuid::now_v7().to_string()).collect();
    let cases = [
        (
            "unknown field",
            with("/urgent", json!(true)),
            StatusCode::BAD_REQUEST,
            None,
        ),
        (
            "unknown SBAR field",
            with("/sbar/summary", json!("x")),
            StatusCode::BAD_REQUEST,
            None,
        ),
        (
            "no task ids",
            with("/task_ids", json!([])),
            StatusCode::UNPROCESSABLE_ENTITY,
            Some("task_ids"),
        ),
        (
            "too many tasks",
            with("/task_ids", json!(too_many)),
            StatusCode::UNPROCESSABLE_ENTITY,
            Some("task_ids"),
        ),
        (
            "a task twice",
            with("/task_ids", json!([id(&task), id(&task)])),
            StatusCode::UNPROCESSABLE_ENTITY,
            Some("task_ids"),
        ),
        (
            "another org's task",
            with("/task_ids", json!([id(&task), id(&foreign_task)])),
            StatusCode::UNPROCESSABLE_ENTITY,
            Some("task_ids"),
        ),
        (
            "a completed task",
            with("/task_ids", json!([id(&done)])),
            StatusCode::UNPROCESSABLE_ENTITY,
            Some("task_ids"),
        ),
        (
            "empty situation",
            with("/sbar/situation", json!("")),
            StatusCode::UNPROCESSABLE_ENTITY,
            Some("sbar.situation"),
        ),
        (
            "no situation",
            with("/sbar/situation", Value::Null),
            StatusCode::UNPROCESSABLE_ENTITY,
            Some("sbar.situation"),
        ),
        (
            "overlong notes",
            with("/notes", json!("x".repeat(4_001))),
            StatusCode::UNPROCESSABLE_ENTITY,
            Some("notes"),
        ),
        (
            "to oneself",
            with("/to_practitioner_id", json!(giver.id)),
            StatusCode::UNPROCESSABLE_ENTITY,
            Some("to_practitioner_id"),
        ),
        (
            "to another org",
            with("/to_practitioner_id", json!(foreign_nurse.id)),
            StatusCode::UNPROCESSABLE_ENTITY,
            Some("to_practitioner_id"),
        ),
        (
            "another org's ward",
            with("/ward_id", json!(foreign_ward)),
            StatusCode::UNPROCESSABLE_ENTITY,
            Some("ward_id"),
        ),
        (
            "a bad uuid",
            with("/ward_id", json!("ward-7")),
            StatusCode::BAD_REQUEST,
            None,
        ),
    ];
    for (what, body, status, field) in cases {
        let response = app.post(&giver.token, "/api/v1/handovers", body).await;
        let got = response.status();
        let body: Value = response.json().await.unwrap();
        assert_eq!(got, status, "{what}: {body}");
        assert!(
            body["error"].is_string() && body["message"].is_string(),
            "{what}: {body}"
        );
        if let Some(field) = field {
            assert_eq!(body["field"], field, "{what}: {body}");
        }
    }
    let foreign = app
        .post(
            &giver.token,
            "/api/v1/handovers",
            with("/task_ids", json!([id(&foreign_task)])),
        )
        .await;
    let foreign: Value = foreign.json().await.unwrap();
    assert_eq!(
        foreign["details"]["missing"],
        json!([id(&foreign_task)]),
        "names the task: {foreign}"
    );

    for (query, status, field) in [
        ("?status=done", StatusCode::UNPROCESSABLE_ENTITY, Some("status")),
        ("?limit=201", StatusCode::UNPROCESSABLE_ENTITY, Some("limit")),
        ("?ward=7", StatusCode::BAD_REQUEST, None),
        ("?cursor=bm9wZQ", StatusCode::BAD_REQUEST, None),
        ("?assignee=x", StatusCode::BAD_REQUEST, None),
    ] {
        let (got, body) = read(&app, &giver.token, &format!("/api/v1/handovers{query}")).await;
        assert_eq!(got, status, "{query}: {body}");
        if let Some(field) = field {
            assert_eq!(body["field"], field, "{query}: {body}");
        }
    }
    let (status, body) = read(&app, &giver.token, "/api/v1/handovers/not-a-uuid").await;
    assert_eq!(
        (status, &body["error"]),
        (StatusCode::BAD_REQUEST, &json!("invalid_path"))
    );
    assert!(listed(&app, &giver.token, "").await.is_empty(), "nothing was written");
    let (_, task_now) = read(&app, &giver.token, &format!("/api/v1/tasks/{}", id(&task))).await;
    assert_eq!(task_now["version"], 1);
}

on_both_backends! {
    async fn another_organisation_can_neither_see_nor_decide_the_handover(app) {
        let (giver, receiver) = (staff(&app, "nurse.0001").await, staff(&app, "nurse.0002").await);
        let (foreign_admin, foreign_charge) = (staff(&app, "admin.0002").await, staff(&app, "charge.0005").await);
        assert_ne!(foreign_charge.org, giver.org, "charge.0005 is of the second organisation");
        let ward = some_ward(&app, &giver.token).await;
        let task = task_for(&app, &giver, &giver, "Private").await;
        let created = handover(&app, &giver, &receiver, &ward, &[&task]).await;
        let path = format!("/api/v1/handovers/{}", id(&created));
        let (status, body) = read(&app, &foreign_admin.token, &path).await;
        assert_eq!((status, &body["error"]), (StatusCode::NOT_FOUND, &json!("not_found")));
        assert!(listed(&app, &foreign_admin.token, "").await.is_empty());
        assert!(listed(&app, &foreign_charge.token, &format!("?ward={ward}")).await.is_empty());
        let (status, _) = decide(&app, &foreign_charge, &created, "accept", json!({})).await;
        assert_eq!(status, StatusCode::NOT_FOUND);
        let (status, _) = decide(&app, &foreign_charge, &created, "reject", json!({"reason": "mine"})).await;
        assert_eq!(status, StatusCode::NOT_FOUND);
        let (_, still) = read(&app, &giver.token, &path).await;
        assert_eq!(still["status"], "requested");
    }
}
