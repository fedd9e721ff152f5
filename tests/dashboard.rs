//! `GET /api/v1/dashboard/stats` in each `dashboard.source`: every source agrees with `live` once
//! refreshed, `cached` and `materialized` say how stale they are, the pending handovers come from
//! the handover service, and nothing crosses organisations.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use std::time::Duration;

use reqwest::StatusCode;
use serde_json::{Value, json};

use support::{TestApp, eventually};

/// The dashboard's aggregates without the fields that say where and when they came from.
fn aggregates(dashboard: &Value) -> Value {
    let mut stats = dashboard.clone();
    for field in ["source", "as_of", "staleness_seconds", "pending_handovers"] {
        stats.as_object_mut().unwrap().remove(field);
    }
    stats
}

async fn dashboard(app: &TestApp, token: &str, query: &str) -> Value {
    let response = app.get(token, &format!("/api/v1/dashboard/stats{query}")).await;
    assert_eq!(response.status(), StatusCode::OK);
    response.json().await.unwrap()
}

/// Polls until the dashboard from the current source equals a live one read just after it.
async fn agrees_with_live(app: &TestApp, token: &str, source: &str) -> Value {
    eventually(Duration::from_secs(20), || async {
        let served = dashboard(app, token, "").await;
        assert_eq!(served["source"], source);
        app.set_knobs(json!({"dashboard.source": "live"})).await;
        let live = dashboard(app, token, "").await;
        app.set_knobs(json!({"dashboard.source": source})).await;
        (aggregates(&served) == aggregates(&live)).then_some(served)
    })
    .await
}

on_both_backends!(
    async fn every_source_agrees_with_live_once_refreshed_and_says_how_stale_it_is(app) {
        let nurse = app.login("nurse.0001").await;
        let live = dashboard(&app, &nurse, "").await;
        assert_eq!((live["source"].as_str(), live["staleness_seconds"].as_f64()), (Some("live"), Some(0.0)));
        let total: i64 = live["tasks_by_status"].as_object().unwrap().values().map(|v| v.as_i64().unwrap()).sum();
        let by_priority: i64 = live["tasks_by_priority"].as_object().unwrap().values().map(|v| v.as_i64().unwrap()).sum();
        assert_eq!(total, by_priority);
        assert!(total >= 800, "the small profile's first organisation has 800 active tasks: {live}");
        assert!(live["admissions_24h"].as_i64().unwrap() > 0, "{live}");
        assert_eq!(live["pending_handovers"], 0);

        // Cached: the first answer is cached for an hour, so a new task is not in the next one.
        app.set_knobs(json!({"dashboard.source": "cached", "dashboard.cache_ttl": "1h"})).await;
        let first = agrees_with_live(&app, &nurse, "cached").await;
        app.create_task(&nurse, "Check the drip").await;
        let again = dashboard(&app, &nurse, "").await;
        assert_eq!(again["tasks_by_status"], first["tasks_by_status"]);
        assert!(again["staleness_seconds"].as_f64().unwrap() > 0.0);
        app.set_knobs(json!({"dashboard.cache_ttl": "10ms"})).await;
        let fresh = agrees_with_live(&app, &nurse, "cached").await;
        assert_eq!(fresh["tasks_by_status"]["pending"], first["tasks_by_status"]["pending"].as_i64().unwrap() + 1);

        // Materialized: summaries refreshed on a schedule catch up with the new task too.
        app.set_knobs(json!({"dashboard.source": "materialized", "dashboard.refresh_interval": "50ms"})).await;
        app.create_task(&nurse, "Turn the patient").await;
        let refreshed = agrees_with_live(&app, &nurse, "materialized").await;
        assert_eq!(refreshed["tasks_by_status"]["pending"], first["tasks_by_status"]["pending"].as_i64().unwrap() + 2);
        assert!(refreshed["staleness_seconds"].as_f64().unwrap() >= 0.0);

        // One ward: part of the organisation's tasks, in every source alike.
        let page: Value = app.get(&nurse, "/api/v1/tasks?limit=50").await.json().await.unwrap();
        let items = page["items"].as_array().unwrap();
        let ward = items.iter().find_map(|t| t["ward_id"].as_str()).unwrap().to_owned();
        app.set_knobs(json!({"dashboard.source": "live"})).await;
        let ward_live = dashboard(&app, &nurse, &format!("?ward_id={ward}")).await;
        let in_ward: i64 = ward_live["tasks_by_status"].as_object().unwrap().values().map(|v| v.as_i64().unwrap()).sum();
        assert!(in_ward > 0 && in_ward < total, "{in_ward} of {total}");
        app.set_knobs(json!({"dashboard.source": "materialized"})).await;
        let ward_summary = eventually(Duration::from_secs(20), || async {
            let served = dashboard(&app, &nurse, &format!("?ward_id={ward}")).await;
            (aggregates(&served) == aggregates(&ward_live)).then_some(served)
        })
        .await;
        assert_eq!(ward_summary["ward_id"], ward.as_str());
    }
);

on_both_backends!(
    async fn pending_handovers_and_the_counts_stay_in_the_organisation(app) {
        let nurse = app.login("nurse.0001").await;
        let other = app.login("nurse.0041").await;
        let mine = dashboard(&app, &nurse, "").await;
        let theirs = dashboard(&app, &other, "").await;
        assert_ne!(aggregates(&mine), aggregates(&theirs));

        // A handover from nurse.0001 to nurse.0002 is pending until decided, and only for them.
        let to = app.login("nurse.0002").await;
        let claims = |token: &str| -> Value {
            use base64::Engine;
            let payload = token.split('.').nth(1).unwrap();
            serde_json::from_slice(&base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(payload).unwrap()).unwrap()
        };
        let seeded: Value = app.get(&nurse, "/api/v1/tasks?limit=1").await.json().await.unwrap();
        let ward = seeded["items"][0]["ward_id"].as_str().unwrap().to_owned();
        let task = app.create_task(&nurse, "Hand me over").await;
        let body = json!({
            "to_practitioner_id": claims(&to)["sub"],
            "ward_id": ward,
            "task_ids": [task["id"]],
            "sbar": {"situation": "Stable overnight"}
        });
        let created = app.post(&nurse, "/api/v1/handovers", body).await;
        assert_eq!(created.status(), StatusCode::CREATED, "{}", created.text().await.unwrap());
        assert_eq!(dashboard(&app, &nurse, "").await["pending_handovers"], 1);
        assert_eq!(dashboard(&app, &other, "").await["pending_handovers"], 0);

        // Another organisation's ward is no way in: it counts nothing of theirs.
        let foreign: Value = app.get(&other, "/api/v1/tasks?limit=1").await.json().await.unwrap();
        let foreign_ward = foreign["items"][0]["ward_id"].as_str().unwrap();
        let seen = dashboard(&app, &nurse, &format!("?ward_id={foreign_ward}")).await;
        assert!(seen["tasks_by_status"].as_object().unwrap().values().all(|v| v == 0), "{seen}");

        for bad in ["?ward_id=ward-3", "?ward=3"] {
            let response = app.get(&nurse, &format!("/api/v1/dashboard/stats{bad}")).await;
            assert_eq!(response.status(), StatusCode::BAD_REQUEST, "{bad}");
        }
    }
);

on_both_backends!(
    async fn task_statistics_count_the_period_and_time_the_completed(app) {
        let nurse = app.login("nurse.0001").await;
        let stats: Value = app.get(&nurse, "/api/v1/tasks/stats").await.json().await.unwrap();
        let by_status: i64 = stats["by_status"].as_object().unwrap().values().map(|v| v.as_i64().unwrap()).sum();
        let by_ward: i64 = stats["by_ward"].as_array().unwrap().iter().map(|w| w["tasks"].as_i64().unwrap()).sum();
        let by_assignee: i64 = stats["by_assignee"].as_array().unwrap().iter().map(|a| a["tasks"].as_i64().unwrap()).sum();
        assert!(stats["total"].as_i64().unwrap() >= 800, "{stats}");
        assert_eq!((by_status, by_ward, by_assignee), (stats["total"].as_i64().unwrap(), by_status, by_status));
        let before = stats["completion"]["completed"].as_i64().unwrap();

        let task = app.create_task(&nurse, "Give the 14:00 dose").await;
        let done = app
            .post(&nurse, &format!("/api/v1/tasks/{}/complete", task["id"].as_str().unwrap()), json!({"version": task["version"]}))
            .await;
        assert_eq!(done.status(), StatusCode::OK);
        let after: Value = app.get(&nurse, "/api/v1/tasks/stats").await.json().await.unwrap();
        assert_eq!(after["completion"]["completed"], before + 1);
        assert_eq!(after["total"], stats["total"].as_i64().unwrap() + 1);
        let p50 = after["completion"]["minutes"]["p50"].as_f64().unwrap();
        assert!((0.0..60.0).contains(&p50), "{after}");

        // The other organisation counts only its own; an empty period counts nothing.
        let other = app.login("nurse.0041").await;
        let theirs: Value = app.get(&other, "/api/v1/tasks/stats").await.json().await.unwrap();
        assert_ne!(theirs["total"], after["total"]);
        let old: Value = app
            .get(&nurse, "/api/v1/tasks/stats?from=2020-01-01T00:00:00Z&to=2020-02-01T00:00:00Z")
            .await
            .json()
            .await
            .unwrap();
        assert_eq!(old["total"], 0);
        assert_eq!(old["completion"]["minutes"]["p95"], Value::Null);
        for bad in ["?from=2026-02-01T00:00:00Z&to=2026-01-01T00:00:00Z", "?from=yesterday", "?period=7d"] {
            let response = app.get(&nurse, &format!("/api/v1/tasks/stats{bad}")).await;
            assert!(response.status().is_client_error(), "{bad}: {}", response.status());
        }
    }
);
