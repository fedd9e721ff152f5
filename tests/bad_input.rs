//! Bad input gets a clear JSON error with the right status, and nothing is written.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use reqwest::StatusCode;
use serde_json::{Value, json};

async fn task_count(app: &support::TestApp, token: &str) -> i64 {
    app.set_knobs(json!({"tasks.pagination": "offset"})).await;
    let page: Value = app.get(token, "/api/v1/tasks?limit=1").await.json().await.unwrap();
    page["total"].as_i64().unwrap()
}

#[tokio::test]
async fn every_kind_of_bad_input_gets_its_status_and_writes_nothing() {
    let app = support::spawn_app().await;
    let token = app.login("nurse.0001").await;
    let patient = app.some_patient(&token).await;
    let before = task_count(&app, &token).await;
    let raw = |body: &'static str, content_type: &'static str| {
        app.http
            .post(app.url("/api/v1/tasks"))
            .bearer_auth(&token)
            .header("content-type", content_type)
            .body(body)
            .send()
    };
    let long_title = "x".repeat(201);
    let long_description = "y".repeat(4_001);
    let json_cases = [
        (
            json!({"title": "ok", "patient_id": patient, "priority": "high"}),
            StatusCode::UNPROCESSABLE_ENTITY,
            "priority",
        ),
        (
            json!({"title": "", "patient_id": patient}),
            StatusCode::UNPROCESSABLE_ENTITY,
            "title",
        ),
        (
            json!({"title": long_title, "patient_id": patient}),
            StatusCode::UNPROCESSABLE_ENTITY,
            "title",
        ),
        (
            json!({"title": "bell\u{7}", "patient_id": patient}),
            StatusCode::UNPROCESSABLE_ENTITY,
            "title",
        ),
        (
            json!({"title": "ok", "patient_id": patient, "description": long_description}),
            StatusCode::UNPROCESSABLE_ENTITY,
            "description",
        ),
        (
            json!({"patient_id": patient}),
            StatusCode::UNPROCESSABLE_ENTITY,
            "title",
        ),
        (json!({"title": "ok"}), StatusCode::UNPROCESSABLE_ENTITY, "patient_id"),
        (
            json!({"title": "ok", "patient_id": "00000000-0000-0000-0000-000000000000"}),
            StatusCode::UNPROCESSABLE_ENTITY,
            "patient_id",
        ),
        (
            json!({"title": "ok", "patient_id": patient, "status": "completed"}),
            StatusCode::UNPROCESSABLE_ENTITY,
            "status",
        ),
        (
            json!({"title": 5, "patient_id": patient}),
            StatusCode::BAD_REQUEST,
            "title",
        ),
        (
            json!({"title": "ok", "patient_id": "not-a-uuid"}),
            StatusCode::BAD_REQUEST,
            "patient_id",
        ),
        (
            json!({"title": "ok", "patient_id": patient, "colour": "red"}),
            StatusCode::BAD_REQUEST,
            "",
        ),
    ];
    for (body, status, field) in json_cases {
        let response = app.post(&token, "/api/v1/tasks", body.clone()).await;
        assert_eq!(response.status(), status, "{body}");
        let error: Value = response.json().await.unwrap();
        assert!(error["error"].is_string() && error["message"].is_string(), "{body}");
        if !field.is_empty() {
            assert_eq!(error["field"], field, "{body}");
        }
    }
    let malformed = raw("{\"title\": ", "application/json").await.unwrap();
    assert_eq!(malformed.status(), StatusCode::BAD_REQUEST);
    assert_eq!(malformed.json::<Value>().await.unwrap()["error"], "malformed_json");
    let not_json = raw("title=x", "application/x-www-form-urlencoded").await.unwrap();
    assert_eq!(not_json.status(), StatusCode::UNSUPPORTED_MEDIA_TYPE);
    let huge = format!("{{\"title\": \"{}\"}}", "z".repeat(1024 * 1024 + 10));
    let too_large = app
        .http
        .post(app.url("/api/v1/tasks"))
        .bearer_auth(&token)
        .header("content-type", "application/json")
        .body(huge)
        .send()
        .await
        .unwrap();
    assert_eq!(too_large.status(), StatusCode::PAYLOAD_TOO_LARGE);
    assert_eq!(too_large.json::<Value>().await.unwrap()["error"], "payload_too_large");
    assert_eq!(task_count(&app, &token).await, before, "no bad request wrote a task");
    // A refused write (the unknown patient fails inside SQLite's BEGIN … COMMIT batch) leaves no
    // transaction open behind it: the next writes go through.
    for _ in 0..3 {
        let ok = app
            .post(&token, "/api/v1/tasks", json!({"title": "ok", "patient_id": patient}))
            .await;
        assert_eq!(ok.status(), StatusCode::CREATED);
    }
    assert_eq!(task_count(&app, &token).await, before + 3);
}

#[tokio::test]
async fn unknown_ids_routes_and_methods_get_json_errors() {
    let app = support::spawn_app().await;
    let token = app.login("nurse.0001").await;
    let cases = [
        (
            app.get(&token, "/api/v1/tasks/0193a1b2-0000-7000-8000-000000000000")
                .await,
            StatusCode::NOT_FOUND,
            "not_found",
        ),
        (
            app.get(&token, "/api/v1/tasks/not-a-uuid").await,
            StatusCode::BAD_REQUEST,
            "invalid_path",
        ),
        (
            app.get(&token, "/api/v1/nothing-here").await,
            StatusCode::NOT_FOUND,
            "route_not_found",
        ),
        (
            app.http
                .delete(app.url("/api/v1/tasks"))
                .bearer_auth(&token)
                .send()
                .await
                .unwrap(),
            StatusCode::METHOD_NOT_ALLOWED,
            "method_not_allowed",
        ),
        (
            app.http.get(app.url("/api/v1/auth/login")).send().await.unwrap(),
            StatusCode::METHOD_NOT_ALLOWED,
            "method_not_allowed",
        ),
        (
            app.get(&token, "/api/v1/tasks?limit=abc").await,
            StatusCode::BAD_REQUEST,
            "invalid_query",
        ),
        (
            app.get(&token, "/api/v1/tasks?limit=201").await,
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_field",
        ),
        (
            app.get(&token, "/api/v1/tasks?cursor=bogus").await,
            StatusCode::BAD_REQUEST,
            "invalid_cursor",
        ),
        (
            app.get(&token, "/api/v1/tasks?created_after=yesterday").await,
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_field",
        ),
    ];
    for (response, status, code) in cases {
        let url = response.url().to_string();
        assert_eq!(response.status(), status, "{url}");
        assert_eq!(response.json::<Value>().await.unwrap()["error"], code, "{url}");
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn creates_whose_clients_give_up_midway_leave_the_database_writable() {
    let app = support::spawn_with(support::Backend::Sqlite, |cfg| {
        cfg.gateway.rate_limit.kind = emrlab_gateway::config::LimitKind::Off
    })
    .await
    .unwrap();
    let token = app.login("nurse.0001").await;
    let patient = app.some_patient(&token).await;
    // Clients that hang up at every point of a create: the gateway drops the request, and with it
    // the task service's, some of them inside the write. A patient batch first says how long a
    // create takes here, so the impatient ones give up all along that span.
    let create = |timeout: Option<std::time::Duration>| {
        let mut request = app
            .http
            .post(app.url("/api/v1/tasks"))
            .bearer_auth(&token)
            .json(&json!({"title": "impatient", "patient_id": patient}));
        if let Some(timeout) = timeout {
            request = request.timeout(timeout);
        }
        request.send()
    };
    let started = std::time::Instant::now();
    futures::future::join_all((0..16).map(|_| create(None))).await;
    let span = started.elapsed().as_micros() as u64;
    for round in 0..25u64 {
        let batch = (0..16u64).map(|i| {
            create(Some(std::time::Duration::from_micros(
                1 + span * (i * 25 + round) / 400,
            )))
        });
        futures::future::join_all(batch).await;
    }
    for _ in 0..3 {
        let ok = app
            .post(&token, "/api/v1/tasks", json!({"title": "ok", "patient_id": patient}))
            .await;
        assert_eq!(ok.status(), StatusCode::CREATED, "{}", ok.text().await.unwrap());
    }
}
