//! End to end through the gateway: devices register, edit offline, sync, and meet each other's
//! edits and the task API's; conflicts surface and are resolved; async mode answers 202 and its
//! job agrees with the task API once done; bad input writes nothing.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use std::time::Duration;

use reqwest::StatusCode;
use serde_json::{Value, json};

use support::TestApp;

/// Registers `device` and returns the snapshot's document of `task` (its clock is what the device
/// has seen) and the organisation clock.
async fn init(app: &TestApp, token: &str, device: &str, task: &str) -> (Value, i64) {
    let response = app.post(token, "/api/v1/sync/init", json!({"device_id": device})).await;
    assert_eq!(response.status(), StatusCode::OK);
    let body: Value = response.json().await.unwrap();
    let doc = body["tasks"]
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["task_id"] == task)
        .expect("the new task is in the snapshot")["doc"]
        .clone();
    (doc, body["clock"].as_i64().unwrap())
}

fn change(task: &str, device: &str, counter: u64, context: &Value, op: Value) -> Value {
    json!({"task_id": task, "replica": device, "counter": counter, "context": context, "op": op})
}

async fn sync(app: &TestApp, token: &str, device: &str, changes: Vec<Value>) -> reqwest::Response {
    app.post(
        token,
        "/api/v1/sync/changes",
        json!({"device_id": device, "changes": changes}),
    )
    .await
}

async fn task(app: &TestApp, token: &str, id: &str) -> Value {
    app.get(token, &format!("/api/v1/tasks/{id}"))
        .await
        .json()
        .await
        .unwrap()
}

on_both_backends! {
    async fn two_devices_editing_one_field_offline_make_a_conflict_a_person_resolves(app) {
        let token = app.login("nurse.0001").await;
        let created = app.create_task(&token, "Obs round").await;
        let id = created["id"].as_str().unwrap();
        let (doc_a, _) = init(&app, &token, "tablet-a", id).await;
        let (doc_b, _) = init(&app, &token, "tablet-b", id).await;
        let seen = doc_a["clock"].clone();
        assert_eq!(seen, doc_b["clock"]);

        let note = |n: u8| json!({"add_note": {"id": format!("018f0000-0000-7000-8000-00000000000{n}"),
            "text": format!("note {n}"), "author": created["assignee_id"].as_str().unwrap_or("018f0000-0000-7000-8000-0000000000ff"),
            "at": "2026-11-23T10:00:00Z"}});
        let a = sync(&app, &token, "tablet-a", vec![
            change(id, "tablet-a", 1, &seen, json!({"set": {"field": "title", "value": "Obs round, bay 2"}})),
            change(id, "tablet-a", 2, &seen, note(1)),
        ]).await;
        assert_eq!(a.status(), StatusCode::OK);
        let a: Value = a.json().await.unwrap();
        assert_eq!((a["applied"].as_u64(), a["conflicted_tasks"].as_array().unwrap().len()), (Some(2), 0));
        let b: Value = sync(&app, &token, "tablet-b", vec![
            change(id, "tablet-b", 1, &seen, json!({"set": {"field": "title", "value": "Obs round, bay 3"}})),
            change(id, "tablet-b", 2, &seen, note(2)),
            change(id, "tablet-b", 3, &seen, json!({"set": {"field": "priority", "value": "urgent"}})),
        ]).await.json().await.unwrap();
        assert_eq!((&b["conflicted_tasks"], &b["new_conflicts"]), (&json!([id]), &json!([id])));

        // The row shows one value by the documented rule (greatest dot: same counter, so the
        // greater replica id), flags the conflict, and keeps the unconflicted edit.
        let row = task(&app, &token, id).await;
        assert_eq!((row["title"].as_str(), row["priority"].as_str(), row["conflict"].as_bool()), (Some("Obs round, bay 3"), Some("urgent"), Some(true)));

        let conflicts: Value = app.get(&token, "/api/v1/sync/conflicts").await.json().await.unwrap();
        let listed = conflicts["items"].as_array().unwrap().iter().find(|c| c["task_id"] == id).unwrap().clone();
        assert_eq!(listed["field"], "title");
        let values: Vec<&str> = listed["values"].as_array().unwrap().iter().map(|v| v["value"]["value"].as_str().unwrap()).collect();
        assert_eq!(values, ["Obs round, bay 2", "Obs round, bay 3"]);

        let resolved = app.post(&token, &format!("/api/v1/sync/conflicts/{}/resolve", listed["id"].as_str().unwrap()),
            json!({"value": "Obs round, bay 2 and 3"})).await;
        assert_eq!(resolved.status(), StatusCode::OK);
        let row = task(&app, &token, id).await;
        assert_eq!((row["title"].as_str(), row["conflict"].as_bool()), (Some("Obs round, bay 2 and 3"), Some(false)));
        // Both notes survive in the document a device fetches.
        let state: Value = app.get(&token, "/api/v1/sync/state").await.json().await.unwrap();
        let doc = state["tasks"].as_array().unwrap().iter().find(|t| t["task_id"] == id).unwrap();
        assert_eq!(doc["view"]["notes"].as_array().unwrap().len(), 2);
        assert_eq!(doc["view"]["conflict"], false);
    }
}

on_both_backends! {
    async fn a_batch_of_1000_changes_merges_once_and_a_resent_batch_changes_nothing(app) {
        let token = app.login("nurse.0001").await;
        let created = app.create_task(&token, "Fluid balance").await;
        let id = created["id"].as_str().unwrap();
        let (doc, _) = init(&app, &token, "tablet-a", id).await;
        let seen = doc["clock"].clone();
        let changes: Vec<Value> = (1..=1000u64)
            .map(|n| change(id, "tablet-a", n, &seen, json!({"set": {"field": "description", "value": format!("reading {n}")}})))
            .collect();
        let first: Value = sync(&app, &token, "tablet-a", changes.clone()).await.json().await.unwrap();
        assert_eq!((first["applied"].as_u64(), first["duplicates"].as_u64()), (Some(1000), Some(0)));
        let row = task(&app, &token, id).await;
        assert_eq!((row["description"].as_str(), row["conflict"].as_bool()), (Some("reading 1000"), Some(false)));
        let mut reordered = changes;
        reordered.reverse();
        let again: Value = sync(&app, &token, "tablet-a", reordered).await.json().await.unwrap();
        assert_eq!((again["applied"].as_u64(), again["duplicates"].as_u64()), (Some(0), Some(1000)));
        assert_eq!(task(&app, &token, id).await["version"], row["version"]);

        let too_many: Vec<Value> = (1..=1001u64)
            .map(|n| change(id, "tablet-a", n, &seen, json!({"set_status": "in_progress"})))
            .collect();
        let refused = sync(&app, &token, "tablet-a", too_many).await;
        assert_eq!(refused.status(), StatusCode::PAYLOAD_TOO_LARGE);
        assert_eq!(refused.json::<Value>().await.unwrap()["error"], "batch_too_large");
    }
}

on_both_backends! {
    async fn an_edit_through_the_task_api_meets_a_device_edit_of_another_field(app) {
        let token = app.login("nurse.0001").await;
        let created = app.create_task(&token, "Wound care").await;
        let id = created["id"].as_str().unwrap();
        let (doc, _) = init(&app, &token, "tablet-a", id).await;
        let put = app.put(&token, &format!("/api/v1/tasks/{id}"), json!({"priority": "stat", "version": 1})).await;
        assert_eq!(put.status(), StatusCode::OK);
        let merged = sync(&app, &token, "tablet-a", vec![
            change(id, "tablet-a", 1, &doc["clock"], json!({"set_status": "in_progress"})),
        ]).await;
        assert_eq!(merged.status(), StatusCode::OK);
        let row = task(&app, &token, id).await;
        assert_eq!((row["priority"].as_str(), row["status"].as_str(), row["conflict"].as_bool()), (Some("stat"), Some("in_progress"), Some(false)));
        // The REST edit is now a server change in the document every device fetches.
        let state: Value = app.get(&token, "/api/v1/sync/state").await.json().await.unwrap();
        let doc = state["tasks"].as_array().unwrap().iter().find(|t| t["task_id"] == id).unwrap();
        assert_eq!((doc["view"]["priority"].as_str(), doc["view"]["status"].as_str()), (Some("stat"), Some("in_progress")));
    }
}

on_both_backends! {
    async fn async_mode_answers_202_and_the_job_agrees_with_the_task_api(app) {
        let token = app.login("nurse.0001").await;
        assert_eq!(app.set_knobs(json!({"sync.mode": "async"})).await.status(), StatusCode::OK);
        let created = app.create_task(&token, "Obs round").await;
        let id = created["id"].as_str().unwrap();
        let (doc, _) = init(&app, &token, "tablet-a", id).await;
        // Three batches back to back: the device's counters run on from one to the next, so they
        // must be merged in order, whichever worker is free.
        let mut jobs = Vec::new();
        for n in 1..=3u64 {
            let set = json!({"set": {"field": "title", "value": format!("Obs round (async {n})")}});
            let accepted = sync(&app, &token, "tablet-a", vec![change(id, "tablet-a", n, &doc["clock"], set)]).await;
            assert_eq!(accepted.status(), StatusCode::ACCEPTED);
            jobs.push(accepted.json::<Value>().await.unwrap()["job_id"].as_str().unwrap().to_owned());
        }
        for job in jobs {
            let done = support::eventually(Duration::from_secs(10), || async {
                let body: Value = app.get(&token, &format!("/api/v1/sync/jobs/{job}")).await.json().await.unwrap();
                (body["status"] != "queued").then_some(body)
            }).await;
            assert_eq!((done["status"].as_str(), done["result"]["applied"].as_u64()), (Some("done"), Some(1)), "{done}");
        }
        assert_eq!(task(&app, &token, id).await["title"], "Obs round (async 3)");
    }
}

#[tokio::test]
async fn bad_input_gets_a_clear_4xx_and_writes_nothing() {
    let app = support::spawn_app().await;
    let token = app.login("nurse.0001").await;
    let created = app.create_task(&token, "Obs round").await;
    let id = created["id"].as_str().unwrap();
    let (doc, clock) = init(&app, &token, "tablet-a", id).await;
    let seen = doc["clock"].clone();
    let title = json!({"set": {"field": "title", "value": "changed"}});
    let cases = [
        (
            json!({"device_id": "tablet-a", "changes": [change(id, "tablet-a", 1, &seen, title.clone())], "extra": 1}),
            StatusCode::BAD_REQUEST,
            "invalid_json",
        ),
        (
            json!({"device_id": "tablet-a", "changes": [change(id, "tablet-a", 1, &json!({"server": 0}), title.clone())]}),
            StatusCode::BAD_REQUEST,
            "invalid_json",
        ),
        (
            json!({"device_id": "tablet-a", "changes": [change(id, "tablet-a", 1, &json!({"server": 999}), title.clone())]}),
            StatusCode::CONFLICT,
            "clock_from_future",
        ),
        (
            json!({"device_id": "tablet-a", "changes": [change(id, "tablet-a", 2, &seen, title.clone())]}),
            StatusCode::CONFLICT,
            "change_gap",
        ),
        (
            json!({"device_id": "tablet-a", "changes": [change(id, "tablet-b", 1, &seen, title.clone())]}),
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_field",
        ),
        (
            json!({"device_id": "tablet-z", "changes": [change(id, "tablet-z", 1, &seen, title.clone())]}),
            StatusCode::CONFLICT,
            "device_not_registered",
        ),
        (
            json!({"device_id": "tablet-a", "changes": [change("018f0000-0000-7000-8000-000000000001", "tablet-a", 1, &seen, title.clone())]}),
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_field",
        ),
        (
            json!({"device_id": "tablet-a", "changes": []}),
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_field",
        ),
    ];
    for (body, status, code) in cases {
        let response = app.post(&token, "/api/v1/sync/changes", body.clone()).await;
        assert_eq!(response.status(), status, "{body}");
        assert_eq!(response.json::<Value>().await.unwrap()["error"], code, "{body}");
    }
    let row = task(&app, &token, id).await;
    assert_eq!(
        (row["title"].as_str(), row["version"].as_i64()),
        (Some("Obs round"), Some(1))
    );
    let state: Value = app
        .get(&token, &format!("/api/v1/sync/state?since={clock}"))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(state["tasks"], json!([]));
    for (query, status, code) in [
        ("since=abc", StatusCode::BAD_REQUEST, "invalid_clock"),
        ("since=999999", StatusCode::CONFLICT, "clock_from_future"),
    ] {
        let response = app.get(&token, &format!("/api/v1/sync/state?{query}")).await;
        assert_eq!(response.status(), status, "{query}");
        assert_eq!(response.json::<Value>().await.unwrap()["error"], code);
    }
    // Another organisation's device cannot touch the task: to it the task does not exist.
    let other = app.login("nurse.0041").await;
    let response = app
        .post(&other, "/api/v1/sync/init", json!({"device_id": "tablet-o"}))
        .await;
    assert_eq!(response.status(), StatusCode::OK);
    let foreign = sync(&app, &other, "tablet-o", vec![change(id, "tablet-o", 1, &seen, title)]).await;
    assert_eq!(foreign.status(), StatusCode::UNPROCESSABLE_ENTITY);
    assert!(
        foreign.json::<Value>().await.unwrap()["message"]
            .as_str()
            .unwrap()
            .contains("no task")
    );
    assert_eq!(task(&app, &token, id).await["version"], 1);
}

#[tokio::test]
async fn a_conflict_reaches_websocket_clients_as_sync_conflict() {
    let app = support::spawn_app().await;
    let token = app.login("nurse.0001").await;
    let created = app.create_task(&token, "Obs round").await;
    let id = created["id"].as_str().unwrap();
    let (doc, _) = init(&app, &token, "tablet-a", id).await;
    init(&app, &token, "tablet-b", id).await;
    let mut ws = support::ws::connect(&app, "", &token).await;
    for (device, title) in [("tablet-a", "Obs round, bay 2"), ("tablet-b", "Obs round, bay 3")] {
        let set = json!({"set": {"field": "title", "value": title}});
        let response = sync(&app, &token, device, vec![change(id, device, 1, &doc["clock"], set)]).await;
        assert_eq!(response.status(), StatusCode::OK);
    }
    let event = ws.next_event("sync.conflict").await;
    assert_eq!(
        (
            &event["payload"]["task_id"],
            &event["payload"]["conflicted_fields"],
            &event["payload"]["device_id"]
        ),
        (&json!(id), &json!(["title"]), &json!("tablet-b"))
    );
}

on_both_backends! {
    async fn the_cached_clock_store_writes_through_so_the_database_agrees(app) {
        let token = app.login("nurse.0001").await;
        assert_eq!(app.set_knobs(json!({"sync.clock_store": "cached"})).await.status(), StatusCode::OK);
        let created = app.create_task(&token, "Obs round").await;
        let id = created["id"].as_str().unwrap();
        let (doc, _) = init(&app, &token, "tablet-a", id).await;
        init(&app, &token, "tablet-b", id).await;
        for (device, title) in [("tablet-a", "bay 2"), ("tablet-b", "bay 3")] {
            let set = json!({"set": {"field": "title", "value": title}});
            let merged: Value = sync(&app, &token, device, vec![change(id, device, 1, &doc["clock"], set)]).await.json().await.unwrap();
            assert_eq!(merged["applied"], 1, "{merged}");
        }
        // A resent change is known from the cached clock and changes nothing.
        let set = json!({"set": {"field": "title", "value": "bay 2"}});
        let again: Value = sync(&app, &token, "tablet-a", vec![change(id, "tablet-a", 1, &doc["clock"], set)]).await.json().await.unwrap();
        assert_eq!((again["applied"].as_u64(), again["duplicates"].as_u64()), (Some(0), Some(1)));
        // Reading from the database alone shows the same documents: the cache held no state of its own.
        assert_eq!(app.set_knobs(json!({"sync.clock_store": "database"})).await.status(), StatusCode::OK);
        let conflicts: Value = app.get(&token, "/api/v1/sync/conflicts").await.json().await.unwrap();
        let conflict = conflicts["items"].as_array().unwrap().iter().find(|c| c["task_id"] == id).unwrap().clone();
        assert_eq!(conflict["values"].as_array().unwrap().len(), 2);
        assert_eq!(task(&app, &token, id).await["conflict"], true);
    }
}

#[tokio::test]
async fn every_device_gets_the_snapshot_newest_task_first_whatever_synced_since() {
    let app = support::spawn_app().await;
    let token = app.login("nurse.0001").await;
    let order = |body: &Value| -> Vec<String> {
        body["tasks"]
            .as_array()
            .unwrap()
            .iter()
            .map(|t| t["task_id"].as_str().unwrap().to_owned())
            .collect()
    };
    let first: Value = app
        .post(&token, "/api/v1/sync/init", json!({"device_id": "tablet-a"}))
        .await
        .json()
        .await
        .unwrap();
    let ids = order(&first);
    let oldest = first["tasks"].as_array().unwrap().last().unwrap().clone();
    let set = json!({"set": {"field": "description", "value": "moved"}});
    let merged = sync(
        &app,
        &token,
        "tablet-a",
        vec![change(ids.last().unwrap(), "tablet-a", 1, &oldest["doc"]["clock"], set)],
    )
    .await;
    assert_eq!(merged.status(), StatusCode::OK);
    let second: Value = app
        .post(&token, "/api/v1/sync/init", json!({"device_id": "tablet-b"}))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(
        order(&second),
        ids,
        "a device shares tasks out by their place in the snapshot"
    );
}
