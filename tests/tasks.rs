//! End to end through the gateway: creating, reading, updating and completing tasks.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use reqwest::StatusCode;
use serde_json::{Value, json};

on_both_backends! {
    async fn a_created_task_reads_back_with_its_location_and_etag(app) {
        let token = app.login("nurse.0001").await;
        let patient = app.some_patient(&token).await;
        let created = app.post(&token, "/api/v1/tasks", json!({"title": "Obs round", "patient_id": patient})).await;
        assert_eq!(created.status(), StatusCode::CREATED);
        let location = created.headers()["location"].to_str().unwrap().to_owned();
        let task: Value = created.json().await.unwrap();
        assert_eq!(location, format!("/api/v1/tasks/{}", task["id"].as_str().unwrap()));
        assert_eq!((task["priority"].as_str(), task["status"].as_str(), task["version"].as_i64()), (Some("routine"), Some("pending"), Some(1)));
        let read = app.get(&token, &location).await;
        assert_eq!(read.status(), StatusCode::OK);
        assert_eq!(read.headers()["etag"], "\"1\"");
        assert_eq!(read.json::<Value>().await.unwrap(), task);
    }
}

on_both_backends! {
    async fn stale_version_gets_409_and_keeps_the_newer_write(app) {
        let token = app.login("nurse.0001").await;
        let task = app.create_task(&token, "Obs round").await;
        let path = format!("/api/v1/tasks/{}", task["id"].as_str().unwrap());
        let first = app.put(&token, &path, json!({"title": "Obs round, bay 2", "version": 1})).await;
        assert_eq!(first.status(), StatusCode::OK);
        let stale = app.put(&token, &path, json!({"title": "old", "version": 1})).await;
        assert_eq!(stale.status(), StatusCode::CONFLICT);
        let body: Value = stale.json().await.unwrap();
        assert_eq!((body["error"].as_str(), body["details"]["current_version"].as_i64()), (Some("stale_version"), Some(2)));
        let now: Value = app.get(&token, &path).await.json().await.unwrap();
        assert_eq!((now["title"].as_str(), now["version"].as_i64()), (Some("Obs round, bay 2"), Some(2)));
    }
}

#[tokio::test]
async fn if_match_carries_the_version_and_a_missing_version_is_428() {
    let app = support::spawn_app().await;
    let token = app.login("nurse.0001").await;
    let task = app.create_task(&token, "Fluids").await;
    let path = app.url(&format!("/api/v1/tasks/{}", task["id"].as_str().unwrap()));
    let ok = app
        .http
        .put(&path)
        .bearer_auth(&token)
        .header("if-match", "\"1\"")
        .json(&json!({"status": "in_progress"}))
        .send()
        .await
        .unwrap();
    assert_eq!(ok.status(), StatusCode::OK);
    assert_eq!(ok.headers()["etag"], "\"2\"");
    let stale = app
        .http
        .put(&path)
        .bearer_auth(&token)
        .header("if-match", "\"1\"")
        .json(&json!({"status": "pending"}))
        .send()
        .await
        .unwrap();
    assert_eq!(stale.status(), StatusCode::CONFLICT);
    let missing = app
        .http
        .put(&path)
        .bearer_auth(&token)
        .json(&json!({"status": "pending"}))
        .send()
        .await
        .unwrap();
    assert_eq!(missing.status(), StatusCode::PRECONDITION_REQUIRED);
}

on_both_backends! {
    async fn a_completed_task_can_no_longer_change(app) {
        let token = app.login("nurse.0001").await;
        let task = app.create_task(&token, "Wound dressing").await;
        let path = format!("/api/v1/tasks/{}", task["id"].as_str().unwrap());
        let done = app.http.post(app.url(&format!("{path}/complete"))).bearer_auth(&token).send().await.unwrap();
        assert_eq!(done.status(), StatusCode::OK);
        assert_eq!(done.json::<Value>().await.unwrap()["status"], "completed");
        let again = app.put(&token, &path, json!({"title": "reopen", "version": 2})).await;
        assert_eq!(again.status(), StatusCode::UNPROCESSABLE_ENTITY);
        let now: Value = app.get(&token, &path).await.json().await.unwrap();
        assert_eq!((now["title"].as_str(), now["version"].as_i64()), (Some("Wound dressing"), Some(2)));
    }
}

on_both_backends! {
    async fn another_organisations_task_is_a_404(app) {
        let mine = app.login("nurse.0001").await;
        let task = app.create_task(&mine, "Private").await;
        let path = format!("/api/v1/tasks/{}", task["id"].as_str().unwrap());
        // admin.0002 belongs to the second organisation.
        let theirs = app.login("admin.0002").await;
        let read = app.get(&theirs, &path).await;
        assert_eq!(read.status(), StatusCode::NOT_FOUND);
        assert_eq!(read.json::<Value>().await.unwrap()["error"], "not_found");
        let write = app.put(&theirs, &path, json!({"title": "mine now", "version": 1})).await;
        assert_eq!(write.status(), StatusCode::NOT_FOUND);
        let listed: Value = app.get(&theirs, &format!("/api/v1/tasks?patient_id={}", task["patient_id"].as_str().unwrap())).await.json().await.unwrap();
        assert_eq!(listed["items"], json!([]));
        let foreign_patient = app.post(&theirs, "/api/v1/tasks", json!({"title": "x", "patient_id": task["patient_id"]})).await;
        assert_eq!(foreign_patient.status(), StatusCode::UNPROCESSABLE_ENTITY);
        assert_eq!(foreign_patient.json::<Value>().await.unwrap()["field"], "patient_id");
    }
}
