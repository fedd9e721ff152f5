//! `GET /api/v1/tasks?include=patient` in each `tasks.patient_loading` mode: the same page with
//! the same patients, from one query per task (`n_plus_one`) or one per page (`join`, `batch`).
//! One test runs both backends in turn: the query counter is process-wide.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use reqwest::StatusCode;
use serde_json::{Value, json};

use support::{Backend, TestApp};

async fn patient_queries(app: &TestApp, mode: &str) -> f64 {
    let text = app.metrics(&app.task_base).await;
    let label = format!("mode=\"{mode}\"");
    text.lines()
        .filter(|l| l.starts_with("emrlab_task_patient_queries_total") && l.contains(&label))
        .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
        .sum()
}

async fn every_mode_lists_the_same_patients(app: TestApp) {
    let nurse = app.login("nurse.0001").await;
    let plain: Value = app.get(&nurse, "/api/v1/tasks?limit=20").await.json().await.unwrap();
    assert!(
        plain["items"]
            .as_array()
            .unwrap()
            .iter()
            .all(|t| t.get("patient").is_none())
    );

    let mut pages = Vec::new();
    for (mode, queries) in [("n_plus_one", 20.0), ("join", 1.0), ("batch", 1.0)] {
        assert_eq!(
            app.set_knobs(json!({"tasks.patient_loading": mode})).await.status(),
            StatusCode::OK
        );
        let before = patient_queries(&app, mode).await;
        let page: Value = app
            .get(&nurse, "/api/v1/tasks?limit=20&include=patient")
            .await
            .json()
            .await
            .unwrap();
        assert_eq!(patient_queries(&app, mode).await - before, queries, "{mode}");
        let items = page["items"].as_array().unwrap();
        assert_eq!(items.len(), 20, "{mode}");
        for task in items {
            let patient = &task["patient"];
            assert_eq!(patient["id"], task["patient_id"], "{mode}: {task}");
            // The first organisation's MRNs: no other organisation's patient comes along.
            assert!(
                patient["mrn"].as_str().unwrap().starts_with("MRN1"),
                "{mode}: {patient}"
            );
            assert!(patient["name"].as_str().unwrap().contains(' '), "{mode}: {patient}");
        }
        let tasks: Vec<_> = items.iter().map(|t| t["id"].clone()).collect();
        let expected: Vec<_> = plain["items"]
            .as_array()
            .unwrap()
            .iter()
            .map(|t| t["id"].clone())
            .collect();
        assert_eq!(tasks, expected, "{mode}: the same page as without patients");
        pages.push(page);
    }
    assert_eq!(pages[0], pages[1]);
    assert_eq!(pages[1], pages[2]);

    // The next page follows the same cursor; offset paging keeps its total.
    let cursor = pages[0]["next_cursor"].as_str().unwrap();
    let next: Value = app
        .get(
            &nurse,
            &format!("/api/v1/tasks?limit=20&include=patient&cursor={cursor}"),
        )
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(next["items"].as_array().unwrap().len(), 20);
    app.set_knobs(json!({"tasks.pagination": "offset", "tasks.patient_loading": "join"}))
        .await;
    let offset: Value = app
        .get(&nurse, "/api/v1/tasks?limit=5&offset=5&include=patient")
        .await
        .json()
        .await
        .unwrap();
    assert!(offset["total"].as_i64().unwrap() >= 800);
    assert_eq!(offset["items"][0]["id"], pages[0]["items"][5]["id"]);

    let response = app.get(&nurse, "/api/v1/tasks?include=doctor").await;
    assert_eq!(response.status(), StatusCode::UNPROCESSABLE_ENTITY);
}

#[tokio::test]
async fn every_loading_mode_returns_the_same_page_and_n_plus_one_sends_a_query_per_task() {
    every_mode_lists_the_same_patients(support::spawn_app().await).await;
    if let Some(app) = support::spawn_with(Backend::Postgres, |_| {}).await {
        every_mode_lists_the_same_patients(app).await;
    }
}
