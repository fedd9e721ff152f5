//! `GET /api/v1/audit` and `/audit/series`: the organisation's audit events for admins and charge
//! nurses, filtered and paged, and counts over time that add up to the events.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use base64::{Engine, engine::general_purpose::URL_SAFE_NO_PAD};
use reqwest::StatusCode;
use serde_json::{Value, json};

use support::TestApp;

fn subject(token: &str) -> String {
    let payload = token.split('.').nth(1).unwrap();
    let claims: Value = serde_json::from_slice(&URL_SAFE_NO_PAD.decode(payload).unwrap()).unwrap();
    claims["sub"].as_str().unwrap().to_owned()
}

async fn read(app: &TestApp, token: &str, path: &str) -> Value {
    let response = app.get(token, path).await;
    assert_eq!(response.status(), StatusCode::OK, "{path}");
    response.json().await.unwrap()
}

on_both_backends!(
    async fn admins_and_charge_nurses_read_their_organisations_events_and_the_series_adds_up(app) {
        let nurse = app.login("nurse.0001").await;
        let mut created = Vec::new();
        for title in ["Wound care", "Obs round", "Fluid chart"] {
            created.push(app.create_task(&nurse, title).await);
        }
        let first = &created[0];
        let path = format!("/api/v1/tasks/{}", first["id"].as_str().unwrap());
        app.put(&nurse, &path, json!({"status": "in_progress", "version": first["version"]})).await;

        for who in ["nurse.0001", "operator", "doctor.0001"] {
            let token = app.login(who).await;
            assert_eq!(app.get(&token, "/api/v1/audit").await.status(), StatusCode::FORBIDDEN, "{who}");
        }
        let charge = app.login("charge.0001").await;
        let mine = format!("/api/v1/audit?actor_id={}&action=task.create", subject(&nurse));
        let page = read(&app, &charge, &format!("{mine}&limit=2")).await;
        let items = page["items"].as_array().unwrap();
        assert_eq!(items.len(), 2);
        assert_eq!(items[0]["entity_id"], created[2]["id"], "newest first");
        assert_eq!(items[0]["after"]["title"], "Fluid chart");
        let cursor = page["next_cursor"].as_str().unwrap();
        let rest = read(&app, &charge, &format!("{mine}&limit=2&cursor={cursor}")).await;
        assert_eq!(rest["items"].as_array().unwrap().len(), 1);
        assert_eq!(rest["next_cursor"], Value::Null);
        let updates = read(&app, &charge, &format!("/api/v1/audit?entity_id={}", first["id"].as_str().unwrap())).await;
        assert_eq!(updates["items"].as_array().unwrap().len(), 2, "its create and its update");

        // Every event of the last day, counted two ways.
        let all = read(&app, &charge, "/api/v1/audit?limit=200").await["items"].as_array().unwrap().len() as i64;
        for bucket in ["1m", "1h", "1d"] {
            let series = read(&app, &charge, &format!("/api/v1/audit/series?bucket={bucket}")).await;
            let summed: i64 = series["buckets"].as_array().unwrap().iter().map(|b| b["events"].as_i64().unwrap()).sum();
            assert_eq!((summed, series["total"].as_i64().unwrap()), (all, all), "{bucket}");
        }
        assert!(all >= 4);

        let other_admin = app.login("admin.0002").await;
        let theirs = read(&app, &other_admin, "/api/v1/audit?limit=200").await;
        assert!(theirs["items"].as_array().unwrap().iter().all(|e| !created.iter().any(|t| t["id"] == e["entity_id"])));

        for (bad, status) in [
            ("/api/v1/audit/series?bucket=5m", StatusCode::UNPROCESSABLE_ENTITY),
            ("/api/v1/audit/series", StatusCode::UNPROCESSABLE_ENTITY),
            ("/api/v1/audit?from=2026-02-01T00:00:00Z&to=2026-01-01T00:00:00Z", StatusCode::UNPROCESSABLE_ENTITY),
            ("/api/v1/audit?since=yesterday", StatusCode::BAD_REQUEST),
            ("/api/v1/audit/series?bucket=1m&from=2020-01-01T00:00:00Z", StatusCode::UNPROCESSABLE_ENTITY),
        ] {
            assert_eq!(app.get(&charge, bad).await.status(), status, "{bad}");
        }
    }
);
