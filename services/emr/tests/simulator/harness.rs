//! A simulator on a free port, and what the tests ask of its answers.

use std::{future::Future, sync::Arc, time::Duration};

use reqwest::{Client, Response, header};
use serde_json::{Map, Value, json};
use tokio::task::JoinHandle;
use tokio_util::sync::{CancellationToken, DropGuard};

use emrlab_common::{auth::JwtKeys, knobs::KnobCell};
use emrlab_emr::sim::{SimSettings, Simulator, config::LatencyKind};
use emrlab_seed::{Directory, Profile, Vendor};

pub(crate) const SEED: u64 = 42;
pub(crate) const EPIC_MRN_SYSTEM: &str = "urn:oid:1.2.840.114350.1.13.0.1.7.5.737384.14";
pub(crate) const CERNER_MRN_SYSTEM: &str = "urn:oid:2.16.840.1.113883.6.1000";
/// Longest a test waits for a state it polls for.
pub(crate) const PATIENCE: Duration = Duration::from_secs(10);

pub(crate) struct TestSim {
    pub(crate) vendor: Vendor,
    /// `http://<addr>`.
    pub(crate) root: String,
    /// `http://<addr><fhir base>`.
    pub(crate) base: String,
    pub(crate) knobs: Arc<KnobCell<SimSettings>>,
    pub(crate) keys: Arc<JwtKeys>,
    pub(crate) http: Client,
    pub(crate) stop: CancellationToken,
    pub(crate) running: JoinHandle<std::io::Result<()>>,
    pub(crate) _guard: DropGuard,
}

/// A simulator on a free port, answering without injected latency.
pub(crate) async fn spawn(vendor: Vendor) -> TestSim {
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
    pub(crate) fn set(&self, knob: &str, value: Value) {
        let name = format!("vendors.{}.{knob}", self.vendor);
        self.knobs.apply(&Map::from_iter([(name, value)])).unwrap();
    }

    pub(crate) async fn get(&self, path: &str) -> Response {
        self.http.get(format!("{}{path}", self.base)).send().await.unwrap()
    }

    pub(crate) async fn post_task(&self, task: &Value) -> Response {
        self.post_raw(task.to_string()).await
    }

    pub(crate) async fn post_raw(&self, body: String) -> Response {
        self.http
            .post(format!("{}/Task", self.base))
            .header(header::CONTENT_TYPE, "application/fhir+json")
            .body(body)
            .send()
            .await
            .unwrap()
    }

    pub(crate) async fn put_task(&self, id: &str, task: &Value, if_match: Option<&str>) -> Response {
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
    pub(crate) async fn count(&self, operation: &str, outcome: &str) -> f64 {
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

pub(crate) fn directory() -> Directory {
    Directory::generate(Profile::Small, SEED, time::OffsetDateTime::now_utc())
}

pub(crate) fn vendor_id(patient: &emrlab_seed::Patient, vendor: Vendor) -> &str {
    match vendor {
        Vendor::Epic => &patient.epic_id,
        Vendor::Cerner => &patient.cerner_id,
    }
}

/// A Task body for `patient_id` at the vendor, as the EMR service sends one.
pub(crate) fn task_body(patient_id: &str, status: &str) -> Value {
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

pub(crate) async fn json_of(response: Response) -> Value {
    assert_eq!(
        response.headers()[header::CONTENT_TYPE],
        "application/fhir+json",
        "content type"
    );
    response.json().await.unwrap()
}

pub(crate) fn assert_outcome(body: &Value, code: &str) {
    assert_eq!(body["resourceType"], "OperationOutcome");
    assert_eq!(body["issue"][0]["code"], code, "{body}");
    assert_eq!(body["issue"][0]["severity"], "error");
}

/// Polls `check` until it holds; fails the test after [`PATIENCE`].
pub(crate) async fn eventually<F, Fut>(what: &str, mut check: F)
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
