//! Patients through the gateway: the census searched and paged, a patient with its open tasks,
//! admission and discharge with their audit rows, bad input refused with nothing written, and
//! another organisation's patients never seen.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use reqwest::StatusCode;
use serde_json::{Value, json};

use support::{ids, subject};

fn admission(ward: &str, mrn: &str) -> Value {
    json!({
        "mrn": mrn, "given_name": "Ada", "family_name": "Lovelace", "birth_date": "1950-02-03",
        "sex": "female", "ward_id": ward, "bed": "Z-01"
    })
}

on_both_backends!(
    async fn a_patient_is_admitted_found_shown_with_open_tasks_and_discharged_with_audit_rows(app) {
        let nurse = app.login("nurse.0001").await;
        let first = app.get_json(&nurse, "/api/v1/patients?limit=5").await;
        assert_eq!(ids(&first).len(), 5);
        let second = app.get_json(&nurse, &format!("/api/v1/patients?limit=5&cursor={}", first["next_cursor"].as_str().unwrap())).await;
        assert!(ids(&second).iter().all(|id| !ids(&first).contains(id)), "pages do not overlap");
        let ward = first["items"][0]["ward_id"].as_str().unwrap().to_owned();

        let response = app.post(&nurse, "/api/v1/patients", admission(&ward, "T-0001")).await;
        assert_eq!(response.status(), StatusCode::CREATED);
        let location = response.headers()["location"].to_str().unwrap().to_owned();
        let patient: Value = response.json().await.unwrap();
        let id = patient["id"].as_str().unwrap().to_owned();
        assert_eq!(location, format!("/api/v1/patients/{id}"));
        assert_eq!((patient["status"].as_str(), patient["name"].as_str()), (Some("admitted"), Some("Ada Lovelace")));
        assert_eq!(patient["admitting_practitioner_id"].as_str().unwrap(), subject(&nurse));
        assert_eq!(app.get_json(&nurse, "/api/v1/patients?limit=1").await["items"][0]["id"], patient["id"], "newest first");

        for q in ["lovelace", "ADA%20love", "t-00", "T-0001"] {
            assert!(ids(&app.get_json(&nurse, &format!("/api/v1/patients?q={q}")).await).contains(&id), "{q}");
        }
        for q in ["ada%20smith", "0001", "%25"] {
            assert!(!ids(&app.get_json(&nurse, &format!("/api/v1/patients?q={q}")).await).contains(&id), "{q}");
        }

        let task = app.post(&nurse, "/api/v1/tasks", json!({"title": "Admission obs", "patient_id": id})).await;
        let task: Value = task.json().await.unwrap();
        let shown = app.get_json(&nurse, &format!("/api/v1/patients/{id}")).await;
        assert_eq!(shown["mrn"], "T-0001");
        assert_eq!(shown["active_tasks"].as_array().unwrap().len(), 1);
        assert_eq!(shown["active_tasks"][0]["id"], task["id"]);
        let done = app.post(&nurse, &format!("/api/v1/tasks/{}/complete", task["id"].as_str().unwrap()), json!({})).await;
        assert_eq!(done.status(), StatusCode::OK);
        assert_eq!(app.get_json(&nurse, &format!("/api/v1/patients/{id}")).await["active_tasks"], json!([]));

        let again = app.post(&nurse, "/api/v1/patients", admission(&ward, "T-0001")).await;
        assert_eq!(again.status(), StatusCode::CONFLICT);
        assert_eq!(again.json::<Value>().await.unwrap()["error"], "mrn_exists");

        let discharged = app.post(&nurse, &format!("/api/v1/patients/{id}/discharge"), json!({})).await;
        assert_eq!(discharged.status(), StatusCode::OK);
        let discharged: Value = discharged.json().await.unwrap();
        assert_eq!(discharged["status"], "discharged");
        assert!(discharged["discharged_at"].is_string());
        let twice = app.post(&nurse, &format!("/api/v1/patients/{id}/discharge"), json!({})).await;
        assert_eq!(twice.status(), StatusCode::CONFLICT);
        assert!(ids(&app.get_json(&nurse, "/api/v1/patients?q=lovelace&status=discharged").await).contains(&id));
        assert!(!ids(&app.get_json(&nurse, "/api/v1/patients?q=lovelace&status=admitted").await).contains(&id));

        let charge = app.login("charge.0001").await;
        let audit = app.get_json(&charge, &format!("/api/v1/audit?entity_id={id}")).await;
        let actions: Vec<&str> = audit["items"].as_array().unwrap().iter().map(|e| e["action"].as_str().unwrap()).collect();
        assert_eq!(actions, ["patient.discharge", "patient.admit"]);
        assert_eq!(audit["items"][0]["before"]["status"], "admitted");
        assert_eq!(audit["items"][0]["after"]["status"], "discharged");
    }
);

on_both_backends!(
    async fn another_organisations_patients_are_invisible_and_its_wards_refused(app) {
        let nurse = app.login("nurse.0001").await;
        let ward = app.get_json(&nurse, "/api/v1/patients?limit=1").await["items"][0]["ward_id"].as_str().unwrap().to_owned();
        let created: Value = app.post(&nurse, "/api/v1/patients", admission(&ward, "ISO-1")).await.json().await.unwrap();
        let id = created["id"].as_str().unwrap();

        let other = app.login("admin.0002").await;
        assert_eq!(app.get(&other, &format!("/api/v1/patients/{id}")).await.status(), StatusCode::NOT_FOUND);
        let discharge = app.post(&other, &format!("/api/v1/patients/{id}/discharge"), json!({})).await;
        assert_eq!(discharge.status(), StatusCode::NOT_FOUND);
        assert_eq!(app.get_json(&other, "/api/v1/patients?q=ISO-1").await["items"], json!([]));
        let theirs = app.get_json(&other, "/api/v1/patients?limit=200").await;
        assert!(!ids(&theirs).contains(&id.to_owned()));

        let foreign_ward = app.post(&other, "/api/v1/patients", admission(&ward, "ISO-2")).await;
        assert_eq!(foreign_ward.status(), StatusCode::UNPROCESSABLE_ENTITY);
        assert_eq!(foreign_ward.json::<Value>().await.unwrap()["field"], "ward_id");
        let their_ward = theirs["items"][0]["ward_id"].as_str().unwrap();
        let mut foreign_admitter = admission(their_ward, "ISO-3");
        foreign_admitter["admitting_practitioner_id"] = json!(subject(&nurse));
        let refused = app.post(&other, "/api/v1/patients", foreign_admitter).await;
        assert_eq!(refused.status(), StatusCode::UNPROCESSABLE_ENTITY);
        assert_eq!(refused.json::<Value>().await.unwrap()["field"], "admitting_practitioner_id");
        // The same MRN in another organisation is another patient.
        assert_eq!(app.post(&other, "/api/v1/patients", admission(their_ward, "ISO-1")).await.status(), StatusCode::CREATED);
    }
);

on_both_backends!(
    async fn bad_admissions_and_searches_get_clear_errors_and_write_nothing(app) {
        let nurse = app.login("nurse.0001").await;
        let ward = app.get_json(&nurse, "/api/v1/patients?limit=1").await["items"][0]["ward_id"].as_str().unwrap().to_owned();
        let with = |key: &str, value: Value| {
            let mut body = admission(&ward, "BAD-1");
            body[key] = value;
            body
        };
        let mut missing = admission(&ward, "BAD-1");
        missing.as_object_mut().unwrap().remove("mrn");
        for (body, status, field) in [
            (missing, StatusCode::UNPROCESSABLE_ENTITY, "mrn"),
            (with("mrn", json!("BAD 1")), StatusCode::UNPROCESSABLE_ENTITY, "mrn"),
            (with("given_name", json!("  ")), StatusCode::UNPROCESSABLE_ENTITY, "given_name"),
            (with("family_name", json!("x".repeat(101))), StatusCode::UNPROCESSABLE_ENTITY, "family_name"),
            (with("birth_date", json!("2999-01-01")), StatusCode::UNPROCESSABLE_ENTITY, "birth_date"),
            (with("birth_date", json!("03/02/1950")), StatusCode::UNPROCESSABLE_ENTITY, "birth_date"),
            (with("sex", json!("x")), StatusCode::UNPROCESSABLE_ENTITY, "sex"),
            (with("bed", json!("A\u{7}1")), StatusCode::UNPROCESSABLE_ENTITY, "bed"),
            (with("ward_id", json!("not-a-uuid")), StatusCode::BAD_REQUEST, "ward_id"),
            (with("ward_id", json!(uuid::Uuid::nil())), StatusCode::UNPROCESSABLE_ENTITY, "ward_id"),
            (with("bed", json!(12)), StatusCode::BAD_REQUEST, "bed"),
            (with("room", json!("3")), StatusCode::BAD_REQUEST, ""),
        ] {
            let response = app.post(&nurse, "/api/v1/patients", body.clone()).await;
            assert_eq!(response.status(), status, "{body}");
            let error: Value = response.json().await.unwrap();
            if !field.is_empty() {
                assert_eq!(error["field"], field, "{body}");
            }
        }
        assert_eq!(app.get_json(&nurse, "/api/v1/patients?q=BAD-1").await["items"], json!([]), "nothing written");

        for (path, status) in [
            ("/api/v1/patients?status=asleep", StatusCode::UNPROCESSABLE_ENTITY),
            ("/api/v1/patients?limit=0", StatusCode::UNPROCESSABLE_ENTITY),
            ("/api/v1/patients?cursor=nonsense", StatusCode::BAD_REQUEST),
            ("/api/v1/patients?sort=name", StatusCode::BAD_REQUEST),
            ("/api/v1/patients/not-a-uuid", StatusCode::BAD_REQUEST),
            ("/api/v1/patients/00000000-0000-0000-0000-000000000000", StatusCode::NOT_FOUND),
        ] {
            assert_eq!(app.get(&nurse, path).await.status(), status, "{path}");
        }
        let operator = app.login("operator").await;
        assert_eq!(app.get(&operator, "/api/v1/patients").await.status(), StatusCode::FORBIDDEN);
        assert_eq!(app.post(&operator, "/api/v1/patients", admission(&ward, "OP-1")).await.status(), StatusCode::FORBIDDEN);
    }
);
