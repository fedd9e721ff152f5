//! The simulated Epic and Cerner over real HTTP: the wire contract of docs/vendors.md (ids, MRNs,
//! names, search, Task create/read/update) and every behaviour knob, each felt by a client.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::{future::Future, sync::Arc, time::Duration};

use reqwest::{Client, Response, StatusCode, header};
use serde_json::{Map, Value, json};
use tokio::task::JoinHandle;
use tokio_util::sync::{CancellationToken, DropGuard};

use emrlab_common::{auth::JwtKeys, knobs::KnobCell};
use emrlab_emr::sim::{SimSettings, Simulator, config::LatencyKind};
use emrlab_seed::{Directory, Profile, Vendor};

const SEED: u64 = 42;
const EPIC_MRN_SYSTEM: &str = "urn:oid:1.2.840.114350.1.13.0.1.7.5.737384.14";
const CERNER_MRN_SYSTEM: &str = "urn:oid:2.16.840.1.113883.6.1000";
/// Longest a test waits for a state it polls for.
const PATIENCE: Duration = Duration::from_secs(10);

struct TestSim {
    vendor: Vendor,
    /// `http://<addr>`.
    root: String,
    /// `http://<addr><fhir base>`.
    base: String,
    knobs: Arc<KnobCell<SimSettings>>,
    keys: Arc<JwtKeys>,
    http: Client,
    stop: CancellationToken,
    running: JoinHandle<std::io::Result<()>>,
    _guard: DropGuard,
}

/// A simulator on a free port, answering without injected latency.
async fn spawn(vendor: Vendor) -> TestSim {
    emrlab_common::telemetry::init_for_tests();
    let mut settings = SimSettings::default();
    for section in [&mut settings.vendors.epic, &mut settings.vendors.cerner] {
        section.latency.kind = LatencyKind::Fixed;
        section.latency.median = Duration::ZERO;
    }
    let keys = Arc::new(JwtKeys::new(
        b"emrlab-test-secret-emrlab-test-secret",
        "emrlab",
        "emrlab-api",
    ));
    let sim = Simulator::bind(vendor, settings, Profile::Small, SEED, keys.clone())
        .await
        .unwrap();
    let root = format!("http://{}", sim.local_addr());
    let base = sim.base_url();
    assert_eq!(base, format!("{root}{}", emrlab_emr::sim::fhir_base(vendor)));
    let knobs = sim.knobs();
    let stop = CancellationToken::new();
    let running = tokio::spawn(sim.run(stop.clone()));
    TestSim {
        vendor,
        root,
        base,
        knobs,
        keys,
        http: Client::new(),
        _guard: stop.clone().drop_guard(),
        stop,
        running,
    }
}

impl TestSim {
    fn set(&self, knob: &str, value: Value) {
        let name = format!("vendors.{}.{knob}", self.vendor);
        self.knobs.apply(&Map::from_iter([(name, value)])).unwrap();
    }

    async fn get(&self, path: &str) -> Response {
        self.http.get(format!("{}{path}", self.base)).send().await.unwrap()
    }

    async fn post_task(&self, task: &Value) -> Response {
        self.post_raw(task.to_string()).await
    }

    async fn post_raw(&self, body: String) -> Response {
        self.http
            .post(format!("{}/Task", self.base))
            .header(header::CONTENT_TYPE, "application/fhir+json")
            .body(body)
            .send()
            .await
            .unwrap()
    }

    async fn put_task(&self, id: &str, task: &Value, if_match: Option<&str>) -> Response {
        let mut request = self
            .http
            .put(format!("{}/Task/{id}", self.base))
            .header(header::CONTENT_TYPE, "application/fhir+json")
            .body(task.to_string());
        if let Some(etag) = if_match {
            request = request.header(header::IF_MATCH, etag);
        }
        request.send().await.unwrap()
    }

    /// `emrlab_vendor_requests_total` for this vendor, from its own `/metrics`.
    async fn count(&self, operation: &str, outcome: &str) -> f64 {
        let text = self
            .http
            .get(format!("{}/metrics", self.root))
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        let labels = [
            format!("component=\"{}\"", self.vendor),
            format!("operation=\"{operation}\""),
            format!("outcome=\"{outcome}\""),
        ];
        text.lines()
            .filter(|line| line.starts_with("emrlab_vendor_requests_total{"))
            .find(|line| labels.iter().all(|l| line.contains(l.as_str())))
            .and_then(|line| line.rsplit(' ').next()?.parse().ok())
            .unwrap_or_else(|| panic!("no series for {operation} {outcome}"))
    }
}

fn directory() -> Directory {
    Directory::generate(Profile::Small, SEED, time::OffsetDateTime::now_utc())
}

fn vendor_id(patient: &emrlab_seed::Patient, vendor: Vendor) -> &str {
    match vendor {
        Vendor::Epic => &patient.epic_id,
        Vendor::Cerner => &patient.cerner_id,
    }
}

/// A Task body for `patient_id` at the vendor, as the EMR service sends one.
fn task_body(patient_id: &str, status: &str) -> Value {
    json!({
        "resourceType": "Task",
        "identifier": [{"system": "urn:emrlab:task", "value": uuid::Uuid::new_v4().to_string()}],
        "status": status,
        "intent": "order",
        "priority": "urgent",
        "code": {"text": "Obs round"},
        "description": "Full set of observations",
        "for": {"reference": format!("Patient/{patient_id}")},
        "authoredOn": "2026-01-31T09:30:00Z",
        "restriction": {"period": {"end": "2026-01-31T10:30:00Z"}}
    })
}

async fn json_of(response: Response) -> Value {
    assert_eq!(
        response.headers()[header::CONTENT_TYPE],
        "application/fhir+json",
        "content type"
    );
    response.json().await.unwrap()
}

fn assert_outcome(body: &Value, code: &str) {
    assert_eq!(body["resourceType"], "OperationOutcome");
    assert_eq!(body["issue"][0]["code"], code, "{body}");
    assert_eq!(body["issue"][0]["severity"], "error");
}

/// Polls `check` until it holds; fails the test after [`PATIENCE`].
async fn eventually<F, Fut>(what: &str, mut check: F)
where
    F: FnMut() -> Fut,
    Fut: Future<Output = bool>,
{
    let polled = tokio::time::timeout(PATIENCE, async {
        while !check().await {
            tokio::task::yield_now().await;
        }
    });
    polled
        .await
        .unwrap_or_else(|_| panic!("{what} did not happen within {PATIENCE:?}"));
}

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

#[tokio::test]
async fn an_error_rate_of_one_answers_500_exception() {
    let sim = spawn(Vendor::Cerner).await;
    let before = sim.count("patient.read", "error").await;
    sim.set("error_rate", json!(1.0));
    let response = sim
        .get(&format!("/Patient/{}", directory().patients[1].cerner_id))
        .await;
    assert_eq!(response.status(), StatusCode::INTERNAL_SERVER_ERROR);
    assert_outcome(&json_of(response).await, "exception");
    assert!(sim.count("patient.read", "error").await > before);
}

#[tokio::test]
async fn a_concurrency_throttle_answers_429_with_retry_after() {
    let sim = Arc::new(spawn(Vendor::Epic).await);
    let path = format!("/Patient/{}", directory().patients[0].epic_id);
    let before = sim.count("patient.read", "throttled").await;
    sim.set("throttle.kind", json!("concurrency"));
    sim.set("throttle.limit", json!(1));
    sim.set("throttle.retry_after", json!("2s"));
    sim.set("latency.median", json!("10m"));
    // Of two requests at once, one takes the only slot and is held by the long latency (until
    // shutdown), so the first to be answered is the other one, refused.
    let send = || {
        let (sim, path) = (sim.clone(), path.clone());
        tokio::spawn(async move { sim.get(&path).await })
    };
    let (mut first, mut second) = (send(), send());
    let refused = tokio::time::timeout(PATIENCE, async {
        tokio::select! {
            answer = &mut first => answer,
            answer = &mut second => answer,
        }
    })
    .await
    .expect("an answer")
    .unwrap();
    assert_eq!(refused.status(), StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(refused.headers()[header::RETRY_AFTER], "2");
    assert_outcome(&json_of(refused).await, "throttled");
    assert!(sim.count("patient.read", "throttled").await > before);
}

#[tokio::test]
async fn a_malformed_rate_of_one_cuts_answers_off_mid_json() {
    let sim = spawn(Vendor::Epic).await;
    let before = sim.count("patient.read", "malformed").await;
    sim.set("malformed_rate", json!(1.0));
    let response = sim.get(&format!("/Patient/{}", directory().patients[0].epic_id)).await;
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(response.headers()[header::CONTENT_TYPE], "application/fhir+json");
    let body = response.bytes().await.unwrap();
    assert!(body.starts_with(b"{\"resourceType\":\"Patient\""));
    assert!(serde_json::from_slice::<Value>(&body).is_err());
    assert!(sim.count("patient.read", "malformed").await > before);
}

#[tokio::test]
async fn a_refuse_outage_closes_the_port_until_it_ends() {
    let sim = spawn(Vendor::Cerner).await;
    let url = format!("{}/Patient/{}", sim.base, directory().patients[1].cerner_id);
    let pooled = Client::new();
    assert_eq!(pooled.get(&url).send().await.unwrap().status(), StatusCode::OK);
    sim.set("outage", json!("refuse"));
    eventually("a refused connection", || async {
        let fresh = Client::new();
        fresh.get(&url).send().await.is_err_and(|e| e.is_connect())
    })
    .await;
    // The keep-alive connection opened before the outage is cut too.
    assert!(pooled.get(&url).send().await.is_err());
    sim.set("outage", json!("none"));
    eventually("an answer again", || async {
        Client::new()
            .get(&url)
            .send()
            .await
            .is_ok_and(|r| r.status() == StatusCode::OK)
    })
    .await;
}

#[tokio::test]
async fn a_hang_outage_never_answers() {
    let sim = spawn(Vendor::Epic).await;
    let before = sim.count("patient.read", "hang").await;
    sim.set("outage", json!("hang"));
    let impatient = Client::builder().timeout(Duration::from_millis(300)).build().unwrap();
    let url = format!("{}/Patient/{}", sim.base, directory().patients[0].epic_id);
    let error = impatient.get(&url).send().await.unwrap_err();
    assert!(error.is_timeout(), "{error}");
    assert!(sim.count("patient.read", "hang").await > before);
}

#[tokio::test]
async fn a_trickle_outage_sends_the_head_at_once_and_the_body_a_byte_at_a_time() {
    let sim = spawn(Vendor::Epic).await;
    let before = sim.count("patient.read", "trickle").await;
    sim.set("outage", json!("trickle"));
    let url = format!("{}/Patient/{}", sim.base, directory().patients[0].epic_id);
    let mut response = tokio::time::timeout(PATIENCE, sim.http.get(&url).send())
        .await
        .expect("the head arrives")
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    let length = response.content_length().unwrap();
    assert!(length > 100);
    let first = tokio::time::timeout(PATIENCE, response.chunk())
        .await
        .unwrap()
        .unwrap()
        .unwrap();
    assert_eq!(first.as_ref(), b"{");
    let rest = tokio::time::timeout(Duration::from_millis(300), response.bytes()).await;
    assert!(rest.is_err(), "the body finished within 300 ms");
    assert!(sim.count("patient.read", "trickle").await > before);
}

#[tokio::test]
async fn shutdown_ends_requests_the_outage_keeps_waiting() {
    let sim = spawn(Vendor::Cerner).await;
    sim.set("outage", json!("hang"));
    let url = format!("{}/Patient/{}", sim.base, directory().patients[1].cerner_id);
    let before = sim.count("patient.read", "hang").await;
    let waiting = tokio::spawn(sim.http.get(&url).send());
    eventually("the request to hang", || async {
        sim.count("patient.read", "hang").await > before
    })
    .await;
    sim.stop.cancel();
    let TestSim { running, .. } = sim;
    tokio::time::timeout(PATIENCE, running)
        .await
        .expect("shutdown finished")
        .unwrap()
        .unwrap();
    drop(waiting);
}

#[tokio::test]
async fn the_root_serves_health_metrics_and_the_vendors_own_knobs() {
    let sim = spawn(Vendor::Epic).await;
    let health = sim.http.get(format!("{}/health", sim.root)).send().await.unwrap();
    assert_eq!(health.status(), StatusCode::OK);
    let token = sim.keys.issue_internal("gateway").unwrap();
    let knobs: Value = sim
        .http
        .get(format!("{}/internal/knobs", sim.root))
        .bearer_auth(token)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let names: Vec<&str> = knobs
        .as_array()
        .unwrap()
        .iter()
        .map(|k| k["name"].as_str().unwrap())
        .collect();
    assert!(names.contains(&"vendors.epic.outage"));
    assert!(names.iter().all(|n| n.starts_with("vendors.epic.")), "{names:?}");
    let unauthenticated = sim
        .http
        .get(format!("{}/internal/knobs", sim.root))
        .send()
        .await
        .unwrap();
    assert_eq!(unauthenticated.status(), StatusCode::UNAUTHORIZED);
    // Every series exists before any traffic (count panics on a missing one).
    assert!(sim.count("task.update", "malformed").await >= 0.0);
}
