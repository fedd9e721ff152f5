//! `GET /api/v1/audit` and `/audit/series`: the organisation's audit events for admins and charge
//! nurses, filtered and paged, and counts over time that add up to the events.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use reqwest::StatusCode;
use serde_json::{Value, json};

use support::subject;

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
        let page = app.get_json(&charge, &format!("{mine}&limit=2")).await;
        let items = page["items"].as_array().unwrap();
        assert_eq!(items.len(), 2);
        assert_eq!(items[0]["entity_id"], created[2]["id"], "newest first");
        assert_eq!(items[0]["after"]["title"], "Fluid chart");
        let cursor = page["next_cursor"].as_str().unwrap();
        let rest = app.get_json(&charge, &format!("{mine}&limit=2&cursor={cursor}")).await;
        assert_eq!(rest["items"].as_array().unwrap().len(), 1);
        assert_eq!(rest["next_cursor"], Value::Null);
        let updates = app.get_json(&charge, &format!("/api/v1/audit?entity_id={}", first["id"].as_str().unwrap())).await;
        assert_eq!(updates["items"].as_array().unwrap().len(), 2, "its create and its update");

        // Every event of the last day, counted two ways.
        let all = app.get_json(&charge, "/api/v1/audit?limit=200").await["items"].as_array().unwrap().len() as i64;
        for bucket in ["1m", "1h", "1d"] {
            let series = app.get_json(&charge, &format!("/api/v1/audit/series?bucket={bucket}")).await;
            let summed: i64 = series["buckets"].as_array().unwrap().iter().map(|b| b["events"].as_i64().unwrap()).sum();
            assert_eq!((summed, series["total"].as_i64().unwrap()), (all, all), "{bucket}");
        }
        assert!(all >= 4);

        let other_admin = app.login("admin.0002").await;
        let theirs = app.get_json(&other_admin, "/api/v1/audit?limit=200").await;
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

on_both_backends!(
    async fn events_past_the_retention_knob_are_deleted_and_a_longer_retention_keeps_new_ones(app) {
        let nurse = app.login("nurse.0001").await;
        for title in ["Obs round", "Fluid chart"] {
            app.create_task(&nurse, title).await;
        }
        let charge = app.login("charge.0001").await;
        let count = |page: Value| page["items"].as_array().unwrap().len();
        assert!(count(app.get_json(&charge, "/api/v1/audit?limit=200").await) >= 2);

        // Polled below faster than the default per-token rate.
        let knobs = json!({"audit.retention": "1s", "gateway.rate_limit.kind": "off"});
        assert_eq!(app.set_knobs(knobs).await.status(), StatusCode::OK);
        support::eventually(std::time::Duration::from_secs(20), || async {
            (count(app.get_json(&charge, "/api/v1/audit?limit=200").await) == 0).then_some(())
        })
        .await;

        assert_eq!(app.set_knobs(json!({"audit.retention": "1h"})).await.status(), StatusCode::OK);
        let task = app.create_task(&nurse, "Wound care").await;
        let events = app.get_json(&charge, &format!("/api/v1/audit?entity_id={}", task["id"].as_str().unwrap())).await;
        assert_eq!(count(events), 1, "a new event is kept under a one-hour retention");
        let refused = app.set_knobs(json!({"audit.retention": "0s"})).await;
        assert_eq!(refused.status(), StatusCode::UNPROCESSABLE_ENTITY);
    }
);

on_both_backends!(
    async fn a_purge_drops_postgres_months_wholly_past_the_cutoff_and_deletes_the_rest(app) {
        use emrlab_common::{config::DbConfig, db::AnyDb};
        let nurse = app.login("nurse.0001").await;
        app.create_task(&nurse, "Obs round").await;
        let db = AnyDb::connect(&app.database_url, &DbConfig::default(), "test").unwrap();
        let now = emrlab_common::db::now();
        let month = |t: time::OffsetDateTime| format!("audit_log_{:04}_{:02}", t.year(), u8::from(t.month()));
        let partitions = || async {
            let AnyDb::Postgres(pg) = &db else { return Vec::new() };
            sqlx::query_scalar::<_, String>(
                "SELECT c.relname::text FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid \
                 WHERE i.inhparent = 'audit_log'::regclass",
            )
            .fetch_all(&pg.pool())
            .await
            .unwrap()
        };
        let before = partitions().await;

        let deleted = emrlab_task::audit::retention::purge(&db, now, now + time::Duration::days(70)).await.unwrap();
        assert!(deleted >= 1, "at least the new task's event");
        let after = partitions().await;
        if matches!(db, AnyDb::Postgres(_)) {
            assert!(before.contains(&month(now)) && !after.contains(&month(now)), "this month's partition dropped");
            assert!(after.contains(&month(now + time::Duration::days(120))), "months ahead kept: {after:?}");
        }
        let charge = app.login("charge.0001").await;
        assert_eq!(app.get_json(&charge, "/api/v1/audit?limit=200").await["items"], json!([]));
        db.close().await;
    }
);
