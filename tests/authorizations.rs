//! Insurance authorizations through the gateway: the seeded budgets, booking, releasing and
//! consuming units, what bad input gets, idempotent retries, and the integrity check that
//! `emrlab verify` and `GET /api/v1/admin/integrity` run. Contention is in
//! `authorization_contention.rs`.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use std::collections::HashSet;

use reqwest::StatusCode;
use serde_json::{Value, json};

use support::units::{balance, execute, integrity, reserve, session, untouched, verify_cli};

fn id(value: &Value) -> String {
    value["id"].as_str().unwrap().to_owned()
}

on_both_backends!(
    async fn the_seeded_authorizations_page_filter_and_stay_in_their_organisation(app) {
        let nurse = app.login("nurse.0001").await;
        let mut seen = HashSet::new();
        let mut path = "/api/v1/authorizations?limit=10".to_owned();
        loop {
            let page: Value = app.get(&nurse, &path).await.json().await.unwrap();
            seen.extend(page["items"].as_array().unwrap().iter().map(id));
            match page["next_cursor"].as_str() {
                Some(cursor) => path = format!("/api/v1/authorizations?limit=10&cursor={cursor}"),
                None => break,
            }
        }
        // The first organisation holds 5 of the 50-unit, 10 of the 200 and 13 of the 1,000.
        assert_eq!(seen.len(), 28);
        assert_eq!(untouched(&app, &nurse, 50).await.len(), 5);
        let coded: Value = app.get(&nurse, "/api/v1/authorizations?service_code=97153").await.json().await.unwrap();
        let coded = coded["items"].as_array().unwrap();
        assert!(!coded.is_empty() && coded.iter().all(|a| a["service_code"] == "97153"));
        let patient = coded[0]["patient_id"].as_str().unwrap();
        let theirs: Value = app
            .get(&nurse, &format!("/api/v1/authorizations?patient_id={patient}"))
            .await
            .json()
            .await
            .unwrap();
        assert!(theirs["items"].as_array().unwrap().iter().all(|a| a["patient_id"] == patient));

        // The second organisation's nurse (the small profile's first 40 are the first's).
        let other = app.login("nurse.0041").await;
        let page: Value = app.get(&other, "/api/v1/authorizations?limit=50").await.json().await.unwrap();
        let others: HashSet<_> = page["items"].as_array().unwrap().iter().map(id).collect();
        assert_eq!(others.len(), 14);
        assert!(others.is_disjoint(&seen));
        let first = seen.iter().next().unwrap();
        let response = app.get(&other, &format!("/api/v1/authorizations/{first}")).await;
        assert_eq!(response.status(), StatusCode::NOT_FOUND);
        let (status, _) = reserve(&app, &other, first, 1, None).await;
        assert_eq!(status, StatusCode::NOT_FOUND);
    }
);

on_both_backends!(
    async fn booking_consuming_and_releasing_keep_the_balance_right(app) {
        let nurse = app.login("nurse.0001").await;
        let auth = id(&untouched(&app, &nurse, 200).await[0]);
        let (status, first) = reserve(&app, &nurse, &auth, 10, None).await;
        assert_eq!(status, StatusCode::CREATED, "{first}");
        assert_eq!(first["state"], "scheduled");
        assert_eq!(first["balance"]["scheduled_units"], 10);
        let (_, second) = reserve(&app, &nurse, &auth, 20, None).await;
        assert_eq!(second["balance"]["available_units"], 170);

        let consumed: Value = app
            .post(&nurse, &format!("/api/v1/reservations/{}/consume", id(&first)), json!({}))
            .await
            .json()
            .await
            .unwrap();
        assert_eq!(consumed["state"], "consumed");
        assert_eq!(consumed["balance"], json!({"total_units": 200, "used_units": 10, "scheduled_units": 20, "available_units": 170}));
        let released = app
            .post(&nurse, &format!("/api/v1/reservations/{}/release", id(&second)), json!({}))
            .await;
        assert_eq!(released.status(), StatusCode::OK);
        let again = app
            .post(&nurse, &format!("/api/v1/reservations/{}/consume", id(&second)), json!({}))
            .await;
        assert_eq!(again.status(), StatusCode::CONFLICT);
        let again: Value = again.json().await.unwrap();
        assert_eq!(again["error"], "reservation_not_scheduled");

        let now = balance(&app, &nurse, &auth).await;
        assert_eq!((now["used_units"].as_i64(), now["scheduled_units"].as_i64()), (Some(10), Some(0)));
        assert_eq!(now["available_units"], 190);
        assert_eq!(integrity(&app).await["ok"], true);
    }
);

on_both_backends!(
    async fn a_booking_the_balance_cannot_cover_is_a_409_with_the_balance(app) {
        let nurse = app.login("nurse.0001").await;
        let auth = id(&untouched(&app, &nurse, 50).await[0]);
        let (status, _) = reserve(&app, &nurse, &auth, 45, None).await;
        assert_eq!(status, StatusCode::CREATED);
        let (status, body) = reserve(&app, &nurse, &auth, 10, None).await;
        assert_eq!(status, StatusCode::CONFLICT);
        assert_eq!(body["error"], "insufficient_units");
        assert_eq!(body["details"]["balance"]["available_units"], 5);
        assert_eq!(body["details"]["requested"], 10);
    }
);

on_both_backends!(
    async fn bad_requests_get_clear_errors_and_book_nothing(app) {
        let nurse = app.login("nurse.0001").await;
        let auth = untouched(&app, &nurse, 50).await[0].clone();
        let path = format!("/api/v1/authorizations/{}/reservations", id(&auth));
        let other_code = if auth["service_code"] == "97151" { "97153" } else { "97151" };
        let cases = [
            (json!({"units": 0, "scheduled_for": session()}), StatusCode::UNPROCESSABLE_ENTITY, "units"),
            (json!({"units": 10_001, "scheduled_for": session()}), StatusCode::UNPROCESSABLE_ENTITY, "units"),
            (json!({"units": 5}), StatusCode::BAD_REQUEST, "invalid_json"),
            (json!({"units": 5, "scheduled_for": "tomorrow"}), StatusCode::BAD_REQUEST, "scheduled_for"),
            (json!({"units": 5, "scheduled_for": session(), "room": 4}), StatusCode::BAD_REQUEST, "invalid_json"),
            (json!({"units": "five", "scheduled_for": session()}), StatusCode::BAD_REQUEST, "units"),
            (json!({"units": 5, "scheduled_for": session(), "service_code": other_code}), StatusCode::UNPROCESSABLE_ENTITY, "service_code_mismatch"),
            (json!({"units": 5, "scheduled_for": "2031-01-01T09:00:00Z"}), StatusCode::UNPROCESSABLE_ENTITY, "outside_authorization_period"),
        ];
        for (body, expected, code) in cases {
            let response = app.post(&nurse, &path, body.clone()).await;
            assert_eq!(response.status(), expected, "{body}");
            let error: Value = response.json().await.unwrap();
            assert!(error["error"].is_string(), "{body}: {error}");
            assert!(code.is_empty() || error["error"] == code || error["field"] == code, "{body}: {error}");
        }
        let long_key = "k".repeat(300);
        let (status, error) = reserve(&app, &nurse, &id(&auth), 5, Some(&long_key)).await;
        assert_eq!(status, StatusCode::BAD_REQUEST);
        assert_eq!(error["error"], "invalid_idempotency_key");
        let missing = format!("/api/v1/authorizations/{}/reservations", uuid::Uuid::now_v7());
        let response = app.post(&nurse, &missing, json!({"units": 5, "scheduled_for": session()})).await;
        assert_eq!(response.status(), StatusCode::NOT_FOUND);
        assert_eq!(balance(&app, &nurse, &id(&auth)).await["scheduled_units"], 0);

        execute(
            &app,
            "UPDATE authorizations SET valid_until = now() - interval '1 day', valid_from = now() - interval '60 days' WHERE id = $1",
            "UPDATE authorizations SET valid_until = valid_from + 1 WHERE id = $1",
            &id(&auth),
        )
        .await;
        let (status, error) = reserve(&app, &nurse, &id(&auth), 5, None).await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
        assert_eq!(error["error"], "authorization_expired");
        assert_eq!(balance(&app, &nurse, &id(&auth)).await["scheduled_units"], 0);
    }
);

on_both_backends!(
    async fn an_idempotency_key_books_once_however_often_it_is_sent(app) {
        let nurse = app.login("nurse.0001").await;
        let auth = id(&untouched(&app, &nurse, 200).await[0]);
        let (status, first) = reserve(&app, &nurse, &auth, 10, Some("visit-1")).await;
        assert_eq!(status, StatusCode::CREATED);
        let (status, retry) = reserve(&app, &nurse, &auth, 10, Some("visit-1")).await;
        assert_eq!(status, StatusCode::CREATED);
        assert_eq!(retry["id"], first["id"]);
        let (status, error) = reserve(&app, &nurse, &auth, 20, Some("visit-1")).await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
        assert_eq!(error["error"], "idempotency_key_reused");

        // A client retrying impatiently: eight copies in flight at once still book once.
        let copies = (0..8).map(|_| reserve(&app, &nurse, &auth, 10, Some("visit-2")));
        let answers = futures::future::join_all(copies).await;
        assert!(answers.iter().all(|(status, _)| *status == StatusCode::CREATED), "{answers:?}");
        let ids: HashSet<_> = answers.iter().map(|(_, body)| id(body)).collect();
        assert_eq!(ids.len(), 1);
        assert_eq!(balance(&app, &nurse, &auth).await["scheduled_units"], 20);
    }
);

on_both_backends!(
    async fn the_integrity_check_and_emrlab_verify_catch_a_corrupted_row(app) {
        let nurse = app.login("nurse.0001").await;
        let response = app.get(&nurse, "/api/v1/admin/integrity").await;
        assert_eq!(response.status(), StatusCode::FORBIDDEN);
        let report = integrity(&app).await;
        assert_eq!((report["ok"].as_bool(), report["checked"].as_i64()), (Some(true), Some(55)));
        let (ok, output) = verify_cli(&app);
        assert!(ok, "{output}");

        let auth = untouched(&app, &nurse, 50).await[0].clone();
        execute(
            &app,
            "UPDATE authorizations SET scheduled_units = 55 WHERE id = $1",
            "UPDATE authorizations SET scheduled_units = 55 WHERE id = $1",
            &id(&auth),
        )
        .await;
        let report = integrity(&app).await;
        assert_eq!(report["ok"], false);
        let violation = &report["violations"][0];
        assert_eq!(violation["number"], auth["number"]);
        assert_eq!(violation["overbooked_units"], 5);
        assert_eq!(violation["problems"], json!(["overbooked", "scheduled_units_drift"]));
        let (ok, output) = verify_cli(&app);
        assert!(!ok, "{output}");
        assert!(output.contains(&format!("VIOLATION {}", auth["number"].as_str().unwrap())), "{output}");
    }
);
