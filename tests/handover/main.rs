//! Shift handover end to end through the gateway: create, list, accept (which reassigns every
//! task in the task service's one transaction), reject, and every way an accept or a create is
//! refused, on SQLite and, with `TEST_DATABASE_URL`, on PostgreSQL.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod helpers;
mod refusals;
#[path = "../support/mod.rs"]
mod support;

use std::collections::BTreeSet;

use reqwest::StatusCode;
use serde_json::{Value, json};

use emrlab_common::{
    auth::{JwtKeys, OrgId, Role, UserId},
    config::DbConfig,
    db::AnyDb,
};
use helpers::*;

on_both_backends! {
    async fn an_accepted_handover_reassigns_every_task_with_audit_rows(app) {
        let (giver, receiver) = (staff(&app, "nurse.0001").await, staff(&app, "nurse.0002").await);
        let ward = some_ward(&app, &giver.token).await;
        let a = task_for(&app, &giver, &giver, "Obs round").await;
        let b = task_for(&app, &giver, &giver, "IV antibiotics 14:00").await;
        let created = handover(&app, &giver, &receiver, &ward, &[&a, &b]).await;
        assert_eq!(created["status"], "requested");
        assert_eq!((&created["from_practitioner_id"], &created["to_practitioner_id"]), (&json!(giver.id), &json!(receiver.id)));
        assert_eq!(created["tasks"], json!([
            {"task_id": id(&a), "expected_assignee_id": giver.id},
            {"task_id": id(&b), "expected_assignee_id": giver.id},
        ]));
        assert_eq!(created["sbar"]["situation"], "Bay 2: post-op day 1, stable");
        assert_eq!((&created["decided_at"], &created["decided_by"], &created["reject_reason"]), (&Value::Null, &Value::Null, &Value::Null));
        let version = uuid::Uuid::parse_str(id(&created)).unwrap().get_version_num();
        assert_eq!(version, 7, "handover ids are UUID v7");

        let all = listed(&app, &receiver.token, "").await;
        assert_eq!(all, vec![id(&created).to_owned()]);
        assert_eq!(listed(&app, &receiver.token, &format!("?ward={ward}&status=requested")).await, all);
        let other_ward = uuid::Uuid::now_v7();
        assert!(listed(&app, &receiver.token, &format!("?ward={other_ward}")).await.is_empty());
        assert!(listed(&app, &receiver.token, "?status=accepted").await.is_empty());

        let (status, accepted) = decide(&app, &receiver, &created, "accept", json!({})).await;
        assert_eq!(status, StatusCode::OK, "{accepted}");
        assert_eq!((&accepted["status"], &accepted["decided_by"]), (&json!("accepted"), &json!(receiver.id)));
        assert!(accepted["decided_at"].is_string());
        for task in [&a, &b] {
            let (_, now) = read(&app, &receiver.token, &format!("/api/v1/tasks/{}", id(task))).await;
            assert_eq!((&now["assignee_id"], &now["version"]), (&json!(receiver.id), &json!(2)));
            assert_eq!(audit_actions(&app, &giver.org, task).await, ["task.create", "task.reassigned"]);
        }
        let (_, read_back) = read(&app, &giver.token, &format!("/api/v1/handovers/{}", id(&created))).await;
        assert_eq!(read_back, accepted);
        assert_eq!(listed(&app, &giver.token, "?status=accepted").await, all);
        assert!(listed(&app, &giver.token, "?status=requested").await.is_empty());
    }
}

on_both_backends! {
    async fn a_task_that_changed_hands_makes_the_accept_409_and_nothing_is_reassigned(app) {
        let (giver, receiver, third) = (staff(&app, "nurse.0001").await, staff(&app, "nurse.0002").await, staff(&app, "nurse.0003").await);
        let ward = some_ward(&app, &giver.token).await;
        let kept = task_for(&app, &giver, &giver, "Wound check").await;
        let moved = task_for(&app, &giver, &giver, "Catheter care").await;
        let created = handover(&app, &giver, &receiver, &ward, &[&kept, &moved]).await;
        let path = format!("/api/v1/tasks/{}", id(&moved));
        let put = app.put(&giver.token, &path, json!({"assignee_id": third.id, "version": 1})).await;
        assert_eq!(put.status(), StatusCode::OK);

        let (status, body) = decide(&app, &receiver, &created, "accept", json!({})).await;
        assert_eq!((status, &body["error"]), (StatusCode::CONFLICT, &json!("tasks_changed")), "{body}");
        assert_eq!(body["details"]["changes"], json!([
            {"task_id": id(&moved), "expected_assignee_id": giver.id, "current_assignee_id": third.id}
        ]));
        let (_, kept_now) = read(&app, &giver.token, &format!("/api/v1/tasks/{}", id(&kept))).await;
        assert_eq!((&kept_now["assignee_id"], &kept_now["version"]), (&json!(giver.id), &json!(1)));
        let (_, moved_now) = read(&app, &giver.token, &path).await;
        assert_eq!((&moved_now["assignee_id"], &moved_now["version"]), (&json!(third.id), &json!(2)));
        assert_eq!(audit_actions(&app, &giver.org, &kept).await, ["task.create"]);
        let (_, still) = read(&app, &receiver.token, &format!("/api/v1/handovers/{}", id(&created))).await;
        assert_eq!(still["status"], "requested");

        // The handover is free again: the receiver can still turn it down.
        let (status, rejected) = decide(&app, &receiver, &created, "reject", json!({"reason": "Catheter care is with nurse 3 now"})).await;
        assert_eq!((status, &rejected["status"]), (StatusCode::OK, &json!("rejected")), "{rejected}");
    }
}

on_both_backends! {
    async fn a_handover_is_accepted_once_even_by_two_accepts_at_the_same_time(app) {
        let (giver, receiver, charge) = (staff(&app, "nurse.0001").await, staff(&app, "nurse.0002").await, staff(&app, "charge.0001").await);
        let ward = some_ward(&app, &giver.token).await;
        let task = task_for(&app, &giver, &giver, "Blood glucose").await;
        let created = handover(&app, &giver, &receiver, &ward, &[&task]).await;
        let (first, second) = tokio::join!(
            decide(&app, &receiver, &created, "accept", json!({})),
            decide(&app, &charge, &created, "accept", json!({})),
        );
        let statuses: BTreeSet<u16> = [first.0.as_u16(), second.0.as_u16()].into();
        assert_eq!(statuses, BTreeSet::from([200, 409]), "{} / {}", first.1, second.1);
        let refused = if first.0 == StatusCode::CONFLICT { &first.1 } else { &second.1 };
        assert_eq!(refused["error"], "handover_not_pending");
        let (_, now) = read(&app, &giver.token, &format!("/api/v1/tasks/{}", id(&task))).await;
        assert_eq!((&now["assignee_id"], &now["version"]), (&json!(receiver.id), &json!(2)), "reassigned once");

        let (status, again) = decide(&app, &receiver, &created, "accept", json!({})).await;
        assert_eq!((status, &again["error"], &again["details"]["status"]), (StatusCode::CONFLICT, &json!("handover_not_pending"), &json!("accepted")));
        let (status, late) = decide(&app, &receiver, &created, "reject", json!({"reason": "too late"})).await;
        assert_eq!((status, &late["error"]), (StatusCode::CONFLICT, &json!("handover_not_pending")));
    }
}

#[tokio::test]
async fn only_the_receiver_or_a_charge_nurse_may_decide_and_a_rejection_keeps_its_reason() {
    let app = support::spawn_app().await;
    let (giver, receiver) = (staff(&app, "nurse.0001").await, staff(&app, "nurse.0002").await);
    let (third, doctor, charge) = (
        staff(&app, "nurse.0003").await,
        staff(&app, "doctor.0001").await,
        staff(&app, "charge.0001").await,
    );
    let ward = some_ward(&app, &giver.token).await;
    let task = task_for(&app, &giver, &giver, "Pressure area care").await;
    let created = handover(&app, &giver, &receiver, &ward, &[&task]).await;
    for outsider in [&third, &doctor, &giver] {
        let (status, body) = decide(&app, outsider, &created, "accept", json!({})).await;
        assert_eq!(
            (status, &body["error"]),
            (StatusCode::FORBIDDEN, &json!("forbidden")),
            "{body}"
        );
        assert!(body["message"].as_str().unwrap().contains("receiving practitioner"));
        let (status, _) = decide(&app, outsider, &created, "reject", json!({"reason": "no"})).await;
        assert_eq!(status, StatusCode::FORBIDDEN);
    }
    let (_, task_now) = read(&app, &giver.token, &format!("/api/v1/tasks/{}", id(&task))).await;
    assert_eq!(task_now["version"], 1, "a refused accept changes no task");

    // The operator runs the platform and sees no clinical data, as on tasks.
    let operator = staff(&app, "operator").await;
    let (status, _) = read(&app, &operator.token, "/api/v1/handovers").await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let refused = app
        .post(
            &operator.token,
            "/api/v1/handovers",
            handover_body(&receiver, &ward, &[&task]),
        )
        .await;
    assert_eq!(refused.status(), StatusCode::FORBIDDEN);

    let (status, body) = decide(&app, &charge, &created, "reject", json!({"reason": "  "})).await;
    assert_eq!(
        (status, &body["field"]),
        (StatusCode::UNPROCESSABLE_ENTITY, &json!("reason"))
    );
    let (status, body) = decide(&app, &charge, &created, "reject", json!({})).await;
    assert_eq!(
        (status, &body["field"]),
        (StatusCode::UNPROCESSABLE_ENTITY, &json!("reason"))
    );
    let (status, rejected) = decide(
        &app,
        &charge,
        &created,
        "reject",
        json!({"reason": "Receiver is off sick"}),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{rejected}");
    assert_eq!(
        (&rejected["status"], &rejected["reject_reason"], &rejected["decided_by"]),
        (&json!("rejected"), &json!("Receiver is off sick"), &json!(charge.id))
    );
    let (_, read_back) = read(&app, &receiver.token, &format!("/api/v1/handovers/{}", id(&created))).await;
    assert_eq!(read_back, rejected);
    let (status, body) = decide(&app, &receiver, &created, "accept", json!({})).await;
    assert_eq!(
        (status, &body["error"]),
        (StatusCode::CONFLICT, &json!("handover_not_pending"))
    );
    assert_eq!(
        listed(&app, &giver.token, "?status=rejected").await,
        vec![id(&created).to_owned()]
    );
}

#[tokio::test]
async fn a_handover_fits_its_openapi_schema() {
    let app = support::spawn_app().await;
    let (giver, receiver) = (staff(&app, "nurse.0001").await, staff(&app, "nurse.0002").await);
    let ward = some_ward(&app, &giver.token).await;
    let task = task_for(&app, &giver, &giver, "Schema").await;
    let created = handover(&app, &giver, &receiver, &ward, &[&task]).await;
    let doc: Value =
        serde_json::from_slice(&std::fs::read(concat!(env!("CARGO_MANIFEST_DIR"), "/docs/openapi.json")).unwrap())
            .unwrap();
    for (schema, value) in [
        ("Handover", &created),
        ("HandoverTask", &created["tasks"][0]),
        ("Sbar", &created["sbar"]),
    ] {
        let keys = |v: &Value| v.as_object().unwrap().keys().cloned().collect::<BTreeSet<String>>();
        let properties = keys(&doc["components"]["schemas"][schema]["properties"]);
        assert_eq!(
            properties,
            keys(value),
            "schema {schema} in docs/openapi.json differs from a real answer"
        );
    }
}

#[tokio::test]
async fn a_task_service_that_is_down_is_a_503_and_nothing_is_written() {
    emrlab_common::telemetry::init_for_tests();
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}", dir.path().join("handover.db").display());
    let db = AnyDb::connect(&url, &DbConfig::default(), "handover").unwrap();
    db.migrate().await.unwrap();
    let keys = std::sync::Arc::new(JwtKeys::new(
        emrlab::config::TEST_JWT_SECRET.as_bytes(),
        "emrlab",
        "emrlab-api",
    ));
    // A port that was free a moment ago: nothing listens there.
    let closed = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap();
    let state = emrlab_handover::AppState::new(
        Default::default(),
        db,
        keys.clone(),
        format!("http://{closed}"),
        emrlab_common::events::EventPublisher::disabled(),
    );
    let store = state.store.clone();
    let (base, _stop) = emrlab_common::testing::serve(emrlab_handover::router(state))
        .await
        .unwrap();
    let (user, org) = (UserId(uuid::Uuid::now_v7()), OrgId(uuid::Uuid::now_v7()));
    let token = keys
        .issue(user, org, Role::Nurse, std::time::Duration::from_secs(60))
        .unwrap();
    let body = json!({
        "to_practitioner_id": uuid::Uuid::now_v7(), "ward_id": uuid::Uuid::now_v7(),
        "task_ids": [uuid::Uuid::now_v7()], "sbar": {"situation": "s"}
    });
    let response = reqwest::Client::new()
        .post(format!("{base}/handovers"))
        .bearer_auth(&token)
        .json(&body)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::SERVICE_UNAVAILABLE);
    assert!(response.headers().contains_key("retry-after"));
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["error"], "task_service_unavailable", "{body}");
    let page = emrlab_handover::listing::PageRequest { after: None, limit: 10 };
    assert!(
        store
            .page_handovers(org, &Default::default(), page)
            .await
            .unwrap()
            .is_empty()
    );
}

#[tokio::test]
async fn the_receiver_sees_the_handover_requested_and_accepted_live() {
    let app = support::spawn_app().await;
    let (giver, receiver) = (staff(&app, "nurse.0001").await, staff(&app, "nurse.0002").await);
    let ward = some_ward(&app, &giver.token).await;
    let task = task_for(&app, &giver, &giver, "Obs round").await;
    let mut ws = support::ws::connect(&app, "", &receiver.token).await;
    ws.send(json!({"type": "subscribe", "mine": true})).await;
    let created = handover(&app, &giver, &receiver, &ward, &[&task]).await;
    let requested = ws.next_event("handover.requested").await;
    assert_eq!(requested["payload"]["id"], created["id"]);
    let (status, _) = decide(&app, &receiver, &created, "accept", json!({})).await;
    assert_eq!(status, StatusCode::OK);
    let accepted = ws.next_event("handover.accepted").await;
    assert_eq!(
        (&accepted["payload"]["id"], &accepted["payload"]["status"]),
        (&created["id"], &json!("accepted"))
    );
}
