//! `GET /tasks` in its three pagination modes, its filters and its text search.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use std::collections::HashSet;

use reqwest::StatusCode;
use serde_json::{Value, json};

use support::ids;

async fn page(app: &support::TestApp, token: &str, query: &str) -> Value {
    let response = app.get(token, &format!("/api/v1/tasks?{query}")).await;
    assert_eq!(response.status(), StatusCode::OK, "{query}");
    response.json().await.unwrap()
}

on_both_backends! {
    async fn cursor_pages_visit_every_task_once_while_tasks_are_added(app) {
        let token = app.login("nurse.0001").await;
        app.set_knobs(json!({"tasks.pagination": "unbounded"})).await;
        let everything: HashSet<String> = ids(&page(&app, &token, "").await).into_iter().collect();
        app.set_knobs(json!({"tasks.pagination": "cursor"})).await;
        let mut seen = Vec::new();
        let mut query = "limit=200".to_owned();
        loop {
            let page = page(&app, &token, &query).await;
            assert!(page.get("total").is_none(), "cursor pages carry no total");
            seen.extend(ids(&page));
            // New tasks arrive mid-walk; keyset paging neither repeats nor skips older ones.
            app.create_task(&token, "Arrived while paging").await;
            match page["next_cursor"].as_str() {
                Some(cursor) => query = format!("limit=200&cursor={cursor}"),
                None => break,
            }
        }
        let unique: HashSet<String> = seen.iter().cloned().collect();
        assert_eq!(unique.len(), seen.len(), "no task appears twice");
        assert_eq!(unique, everything, "every task present at the start is visited");
    }
}

#[tokio::test]
async fn offset_pages_carry_total_and_offset() {
    let app = support::spawn_app().await;
    let token = app.login("nurse.0001").await;
    app.set_knobs(json!({"tasks.pagination": "offset"})).await;
    let first = page(&app, &token, "").await;
    assert_eq!(first["items"].as_array().unwrap().len(), 50, "the default page is 50");
    assert_eq!(
        (first["offset"].as_u64(), first["next_cursor"].clone()),
        (Some(0), Value::Null)
    );
    let total = first["total"].as_i64().unwrap();
    assert!(total >= 800);
    let last = page(&app, &token, &format!("offset={}&limit=200", total - 10)).await;
    assert_eq!(last["items"].as_array().unwrap().len(), 10);
    let wrong_mode = app.get(&token, "/api/v1/tasks?cursor=abc").await;
    assert_eq!(wrong_mode.status(), StatusCode::UNPROCESSABLE_ENTITY);
}

#[tokio::test]
async fn unbounded_returns_everything_and_ignores_the_page_size() {
    let app = support::spawn_app().await;
    let token = app.login("nurse.0001").await;
    app.set_knobs(json!({"tasks.pagination": "offset"})).await;
    let total = page(&app, &token, "limit=1").await["total"].as_i64().unwrap();
    app.set_knobs(json!({"tasks.pagination": "unbounded"})).await;
    let all = page(&app, &token, "limit=5").await;
    assert_eq!(all["items"].as_array().unwrap().len() as i64, total);
}

on_both_backends! {
    async fn filters_and_search_narrow_the_list(app) {
        let token = app.login("nurse.0001").await;
        let patient = app.some_patient(&token).await;
        let urgent = app.post(&token, "/api/v1/tasks", json!({
            "title": "Check 50% Dextrose_line", "description": "Bay 3 CANNULA review",
            "patient_id": patient, "priority": "stat", "status": "in_progress"
        })).await.json::<Value>().await.unwrap();
        let id = urgent["id"].as_str().unwrap().to_owned();
        for query in ["q=dextrose", "q=DEXTROSE+cannula", "q=50%25", "q=dextrose_line", "priority=stat&status=in_progress&q=bay"] {
            assert!(ids(&page(&app, &token, &format!("{query}&limit=200")).await).contains(&id), "{query} finds the task");
        }
        for query in ["q=dextrose+nothing", "q=50_", "priority=routine&q=dextrose", "status=pending&q=dextrose"] {
            assert!(!ids(&page(&app, &token, &format!("{query}&limit=200")).await).contains(&id), "{query} excludes the task");
        }
        let of_patient = page(&app, &token, &format!("patient_id={patient}&limit=200")).await;
        assert!(of_patient["items"].as_array().unwrap().iter().all(|t| t["patient_id"] == patient.as_str()));
        let after = urgent["created_at"].as_str().unwrap();
        let newer = page(&app, &token, &format!("created_after={}", after.replace(':', "%3A"))).await;
        assert!(!ids(&newer).contains(&id), "created_after is strict");
    }
}
