//! The wire contract of docs/vendors.md: ids, MRNs, names, search, Task create/read/update.

use reqwest::{StatusCode, header};
use serde_json::json;

use emrlab_seed::Vendor;

use crate::harness::*;

async fn seeded_patient_is_served_in_the_vendors_format(vendor: Vendor, system: &str, mrn: &str, text: &str) {
    let sim = spawn(vendor).await;
    let dir = directory();
    let patient = &dir.patients[0];
    let before = sim.count("patient.read", "ok").await;
    let response = sim.get(&format!("/Patient/{}", vendor_id(patient, vendor))).await;
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(response.headers()[header::ETAG], "W/\"1\"");
    let body = json_of(response).await;
    assert_eq!(body["resourceType"], "Patient");
    assert_eq!(body["id"], vendor_id(patient, vendor));
    assert_eq!(body["identifier"][0]["system"], system);
    assert_eq!(body["identifier"][0]["value"], mrn);
    assert_eq!(body["identifier"][0]["type"]["coding"][0]["code"], "MR");
    assert_eq!(body["name"][0]["use"], "official");
    assert_eq!(body["name"][0]["text"], text);
    assert_eq!(body["name"][0]["family"], patient.family_name);
    assert_eq!(body["name"][0]["given"][0], patient.given_name);
    assert_eq!(body["gender"], patient.sex);
    assert_eq!(body["birthDate"], patient.birth_date.to_string());
    assert_eq!(body["active"], true);
    assert_eq!(body["meta"]["versionId"], "1");
    let updated = body["meta"]["lastUpdated"].as_str().unwrap();
    time::OffsetDateTime::parse(updated, &time::format_description::well_known::Rfc3339).unwrap();
    assert!(sim.count("patient.read", "ok").await > before);
}

#[tokio::test]
async fn epic_serves_a_seeded_patient_under_its_opaque_id_with_the_whole_mrn() {
    let dir = directory();
    let p = &dir.patients[0];
    assert!(p.epic_id.len() == 24 && p.epic_id.starts_with('e'));
    let text = format!("{} {}", p.given_name, p.family_name);
    seeded_patient_is_served_in_the_vendors_format(Vendor::Epic, EPIC_MRN_SYSTEM, &p.mrn, &text).await;
}

#[tokio::test]
async fn cerner_serves_a_seeded_patient_under_its_number_with_the_mrn_digits() {
    let dir = directory();
    let p = &dir.patients[0];
    let digits = p.mrn.trim_start_matches("MRN");
    let text = format!("{}, {}", p.family_name.to_uppercase(), p.given_name);
    seeded_patient_is_served_in_the_vendors_format(Vendor::Cerner, CERNER_MRN_SYSTEM, digits, &text).await;
}

#[tokio::test]
async fn a_search_by_identifier_returns_a_one_entry_searchset_at_each_vendor() {
    let dir = directory();
    let patient = &dir.patients[3];
    for (vendor, system, mrn) in [
        (Vendor::Epic, EPIC_MRN_SYSTEM, patient.mrn.clone()),
        (Vendor::Cerner, CERNER_MRN_SYSTEM, patient.mrn.replace("MRN", "")),
    ] {
        let sim = spawn(vendor).await;
        let response = sim
            .http
            .get(format!("{}/Patient", sim.base))
            .query(&[("identifier", format!("{system}|{mrn}"))])
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::OK);
        let bundle = json_of(response).await;
        assert_eq!(bundle["resourceType"], "Bundle");
        assert_eq!(bundle["type"], "searchset");
        assert_eq!(bundle["total"], 1);
        let entries = bundle["entry"].as_array().unwrap();
        assert_eq!(entries.len(), 1);
        let id = vendor_id(patient, vendor);
        assert_eq!(entries[0]["resource"]["id"], id);
        assert_eq!(entries[0]["fullUrl"], format!("{}/Patient/{id}", sim.base));
        assert_eq!(entries[0]["search"]["mode"], "match");
        let links = bundle["link"].as_array().unwrap();
        assert_eq!((links.len(), &links[0]["relation"]), (1, &json!("self")));

        let elsewhere = sim.get(&format!("/Patient?identifier=urn:oid:9.9|{mrn}")).await;
        let empty = json_of(elsewhere).await;
        assert_eq!((empty["total"].clone(), empty.get("entry")), (json!(0), None));
    }
}

#[tokio::test]
async fn a_search_pages_with_each_vendors_own_continuation() {
    for (vendor, system, page_param) in [
        (Vendor::Epic, EPIC_MRN_SYSTEM, "sessionID="),
        (Vendor::Cerner, CERNER_MRN_SYSTEM, "-pageContext="),
    ] {
        let sim = spawn(vendor).await;
        let first = json_of(sim.get(&format!("/Patient?identifier={system}|&_count=2")).await).await;
        assert_eq!(first["total"], directory().patients.len());
        let next = first["link"]
            .as_array()
            .unwrap()
            .iter()
            .find(|l| l["relation"] == "next")
            .expect("a next link")["url"]
            .as_str()
            .unwrap()
            .to_owned();
        assert!(next.contains(page_param), "{next}");
        let second = json_of(sim.http.get(&next).send().await.unwrap()).await;
        assert_eq!(second["entry"].as_array().unwrap().len(), 2);
        assert_ne!(
            second["entry"][0]["resource"]["id"],
            first["entry"][0]["resource"]["id"]
        );
    }
}

#[tokio::test]
async fn unknown_patients_paths_and_methods_are_operation_outcomes() {
    let sim = spawn(Vendor::Epic).await;
    let before = sim.count("patient.read", "not_found").await;
    let response = sim.get("/Patient/eNoSuchPatient").await;
    assert_eq!(response.status(), StatusCode::NOT_FOUND);
    assert_outcome(&json_of(response).await, "not-found");
    assert!(sim.count("patient.read", "not_found").await > before);
    let response = sim.get("/Observation/1").await;
    assert_eq!(response.status(), StatusCode::NOT_FOUND);
    assert_outcome(&json_of(response).await, "not-found");
    let response = sim.get("/Patient").await;
    assert_eq!(response.status(), StatusCode::BAD_REQUEST);
    assert_outcome(&json_of(response).await, "invalid");
    let response = sim
        .http
        .delete(format!("{}/Patient/eAnyone", sim.base))
        .header("x-request-id", "req-simulator-test")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::METHOD_NOT_ALLOWED);
    assert_eq!(response.headers()["x-request-id"], "req-simulator-test");
    assert_outcome(&json_of(response).await, "not-supported");
}

#[tokio::test]
async fn epic_answers_a_create_with_the_task_and_versions_every_update() {
    let sim = spawn(Vendor::Epic).await;
    let dir = directory();
    let patient = &dir.patients[0].epic_id;
    let before = sim.count("task.update", "conflict").await;
    let created = sim.post_task(&task_body(patient, "requested")).await;
    assert_eq!(created.status(), StatusCode::CREATED);
    assert_eq!(created.headers()[header::ETAG], "W/\"1\"");
    let location = created.headers()[header::LOCATION].to_str().unwrap().to_owned();
    let task = json_of(created).await;
    let id = task["id"].as_str().unwrap().to_owned();
    assert!(id.len() == 25 && id.starts_with('t'), "{id}");
    assert_eq!(location, format!("{}/Task/{id}/_history/1", sim.base));
    assert_eq!(task["for"]["reference"], format!("Patient/{patient}"));
    assert_eq!(task["code"]["text"], "Obs round");
    assert_eq!(task["intent"], "order");
    assert_eq!(task["restriction"]["period"]["end"], "2026-01-31T10:30:00Z");

    let read = sim.get(&format!("/Task/{id}")).await;
    assert_eq!(read.status(), StatusCode::OK);
    assert_eq!(json_of(read).await["status"], "requested");

    let mut change = task_body(patient, "in-progress");
    change["id"] = json!(id);
    let updated = sim.put_task(&id, &change, Some("W/\"1\"")).await;
    assert_eq!(updated.status(), StatusCode::OK);
    assert_eq!(updated.headers()[header::ETAG], "W/\"2\"");
    let updated = json_of(updated).await;
    assert_eq!(
        (&updated["meta"]["versionId"], &updated["status"]),
        (&json!("2"), &json!("in-progress"))
    );

    let stale = sim
        .put_task(&id, &task_body(patient, "completed"), Some("W/\"1\""))
        .await;
    assert_eq!(stale.status(), StatusCode::PRECONDITION_FAILED);
    assert_outcome(&json_of(stale).await, "conflict");
    assert_eq!(
        json_of(sim.get(&format!("/Task/{id}")).await).await["status"],
        "in-progress"
    );
    assert!(sim.count("task.update", "conflict").await > before);
}

#[tokio::test]
async fn cerner_answers_a_create_with_only_its_location_and_etag() {
    let sim = spawn(Vendor::Cerner).await;
    let dir = directory();
    let patient = &dir.patients[1].cerner_id;
    let created = sim.post_task(&task_body(patient, "requested")).await;
    assert_eq!(created.status(), StatusCode::CREATED);
    assert_eq!(created.headers()[header::ETAG], "W/\"1\"");
    let location = created.headers()[header::LOCATION].to_str().unwrap().to_owned();
    assert!(created.bytes().await.unwrap().is_empty());
    let id = location
        .strip_prefix(&format!("{}/Task/", sim.base))
        .and_then(|rest| rest.strip_suffix("/_history/1"))
        .unwrap()
        .to_owned();
    assert!(
        id.len() == 11 && !id.starts_with('0') && id.bytes().all(|b| b.is_ascii_digit()),
        "{id}"
    );
    let read = json_of(sim.get(&format!("/Task/{id}")).await).await;
    assert_eq!(read["for"]["reference"], format!("Patient/{patient}"));

    let updated = sim.put_task(&id, &task_body(patient, "completed"), None).await;
    assert_eq!(updated.headers()[header::ETAG], "W/\"2\"");
    assert_eq!(json_of(updated).await["status"], "completed");
}

#[tokio::test]
async fn tasks_with_bad_values_or_unknown_patients_are_refused() {
    let sim = spawn(Vendor::Epic).await;
    let dir = directory();
    let before = sim.count("task.create", "invalid").await;
    let nobody = sim.post_task(&task_body("eNoSuchPatient", "requested")).await;
    assert_eq!(nobody.status(), StatusCode::UNPROCESSABLE_ENTITY);
    assert_outcome(&json_of(nobody).await, "invalid");
    let cerner_id = sim.post_task(&task_body(&dir.patients[0].cerner_id, "requested")).await;
    assert_eq!(cerner_id.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let draft = sim.post_task(&task_body(&dir.patients[0].epic_id, "draft")).await;
    assert_eq!(draft.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let broken = sim.post_raw("{\"resourceType\": \"Task\"".into()).await;
    assert_eq!(broken.status(), StatusCode::BAD_REQUEST);
    assert_outcome(&json_of(broken).await, "invalid");
    let mut huge = task_body(&dir.patients[0].epic_id, "requested");
    huge["description"] = json!("x".repeat(70 * 1024));
    assert_eq!(sim.post_task(&huge).await.status(), StatusCode::PAYLOAD_TOO_LARGE);
    assert!(sim.count("task.create", "invalid").await >= before + 4.0);
}

#[tokio::test]
async fn active_seeded_tasks_are_held_at_their_patients_home_vendor_only() {
    let epic = spawn(Vendor::Epic).await;
    let cerner = spawn(Vendor::Cerner).await;
    let dir = directory();
    let now = time::OffsetDateTime::now_utc();
    let task = dir
        .tasks(0, SEED, now)
        .flatten()
        .find(|t| t.is_active() && t.vendor == Vendor::Epic)
        .unwrap();
    let held = epic
        .get(&format!("/Task/{}", Vendor::Epic.seeded_task_id(task.id)))
        .await;
    assert_eq!(held.status(), StatusCode::OK);
    let held = json_of(held).await;
    assert_eq!(held["identifier"][0]["system"], "urn:emrlab:task");
    assert_eq!(held["identifier"][0]["value"], task.id.to_string());
    assert_eq!(held["code"]["text"], task.title);
    let elsewhere = cerner
        .get(&format!("/Task/{}", Vendor::Cerner.seeded_task_id(task.id)))
        .await;
    assert_eq!(elsewhere.status(), StatusCode::NOT_FOUND);
}
