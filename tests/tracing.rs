//! Distributed tracing: with an OTLP endpoint set, one request is one trace from the gateway
//! through the services to the simulated vendor, and the EMR says on its span how the cache
//! answered. Spans go to a small OTLP/HTTP receiver in this test; its own file, because the
//! tracer provider and the subscriber are the process's.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use std::{
    collections::HashMap,
    net::SocketAddr,
    sync::{Arc, Mutex},
    time::Duration,
};

use axum::{Router, body::Bytes, extract::State, http::StatusCode, routing::post};
use opentelemetry_proto::tonic::{
    collector::trace::v1::{ExportTraceServiceRequest, ExportTraceServiceResponse},
    common::v1::{AnyValue, KeyValue, any_value::Value as Proto},
    trace::v1::span::SpanKind,
};
use prost::Message;
use serde_json::json;

use emrlab_common::telemetry::{self, Export, Telemetry};
use support::TestApp;

const VENDORS: [&str; 2] = ["epic", "cerner"];

/// A span as the receiver got it; attributes as text.
#[derive(Debug, Clone)]
struct Received {
    trace: Vec<u8>,
    id: Vec<u8>,
    parent: Vec<u8>,
    name: String,
    kind: SpanKind,
    start: u64,
    end: u64,
    attributes: HashMap<String, String>,
    /// Each event's name and attributes.
    events: Vec<(String, HashMap<String, String>)>,
    service: String,
}

impl Received {
    fn attribute(&self, key: &str) -> Option<&str> {
        self.attributes.get(key).map(String::as_str)
    }

    fn component(&self) -> &str {
        self.attribute("component").unwrap_or_default()
    }

    fn is_server(&self, component: &str) -> bool {
        self.kind == SpanKind::Server && self.component() == component
    }
}

type Store = Arc<Mutex<Vec<Received>>>;

fn text(value: Option<&AnyValue>) -> String {
    match value.and_then(|v| v.value.as_ref()) {
        Some(Proto::StringValue(s)) => s.clone(),
        Some(Proto::IntValue(i)) => i.to_string(),
        Some(Proto::BoolValue(b)) => b.to_string(),
        other => format!("{other:?}"),
    }
}

fn attributes(list: &[KeyValue]) -> HashMap<String, String> {
    list.iter()
        .map(|kv| (kv.key.clone(), text(kv.value.as_ref())))
        .collect()
}

/// `POST /v1/traces` with a protobuf `ExportTraceServiceRequest`, as the OTLP/HTTP spec has it.
async fn receive(State(store): State<Store>, body: Bytes) -> (StatusCode, Vec<u8>) {
    let Ok(request) = ExportTraceServiceRequest::decode(body) else {
        return (StatusCode::BAD_REQUEST, Vec::new());
    };
    let mut received = store.lock().unwrap();
    for resource_spans in request.resource_spans {
        let resource = resource_spans
            .resource
            .map(|r| attributes(&r.attributes))
            .unwrap_or_default();
        let service = resource.get("service.name").cloned().unwrap_or_default();
        for span in resource_spans.scope_spans.into_iter().flat_map(|s| s.spans) {
            received.push(Received {
                kind: span.kind(),
                trace: span.trace_id,
                id: span.span_id,
                parent: span.parent_span_id,
                name: span.name,
                start: span.start_time_unix_nano,
                end: span.end_time_unix_nano,
                attributes: attributes(&span.attributes),
                events: span
                    .events
                    .into_iter()
                    .map(|e| (e.name, attributes(&e.attributes)))
                    .collect(),
                service: service.clone(),
            });
        }
    }
    (StatusCode::OK, ExportTraceServiceResponse::default().encode_to_vec())
}

struct Traced {
    app: TestApp,
    store: Store,
    telemetry: Arc<Telemetry>,
}

impl Traced {
    /// Every span of the trace the gateway began for `request_id`, once its gateway span (which
    /// ends last) has arrived, so the trace is whole.
    async fn trace(&self, request_id: &str) -> Vec<Received> {
        support::eventually(Duration::from_secs(30), || {
            let (store, telemetry) = (self.store.clone(), self.telemetry.clone());
            async move {
                // Blocks until the exporter's POST was answered, so the store is current after.
                tokio::task::spawn_blocking(move || telemetry.force_flush())
                    .await
                    .unwrap();
                let spans = store.lock().unwrap().clone();
                let root = spans
                    .iter()
                    .find(|s| s.is_server("gateway") && s.attribute("request_id") == Some(request_id))?;
                Some(spans.iter().filter(|s| s.trace == root.trace).cloned().collect())
            }
        })
        .await
    }
}

/// The spans from `span` up to the root of its trace, each the parent of the one before.
fn ancestors<'a>(trace: &'a [Received], span: &'a Received) -> Vec<&'a Received> {
    let mut chain = vec![span];
    let mut current = span;
    while !current.parent.is_empty() {
        current = trace
            .iter()
            .find(|s| s.id == current.parent)
            .unwrap_or_else(|| panic!("the parent of {} is not in the trace", current.name));
        chain.push(current);
    }
    chain
}

/// The components of the server spans in `chain`, from the vendor up.
fn servers<'a>(chain: &[&'a Received]) -> Vec<&'a str> {
    chain
        .iter()
        .filter(|s| s.kind == SpanKind::Server)
        .map(|s| s.component())
        .collect()
}

/// Checks the hops from the vendor's server span up: one trace, every server span below the
/// gateway is the child of a client span and carries a request id (the gateway's, but for the
/// vendor), and every span has its time.
fn assert_chain(trace: &[Received], request_id: &str, expected: &[&str]) -> Vec<Received> {
    let leaf = trace
        .iter()
        .find(|s| s.is_server(expected[0]))
        .unwrap_or_else(|| panic!("no {} span in {:#?}", expected[0], names(trace)));
    let chain = ancestors(trace, leaf);
    assert_eq!(servers(&chain), expected, "{:#?}", names(trace));
    let root = chain.last().unwrap();
    assert!(
        root.is_server("gateway") && root.parent.is_empty(),
        "the gateway's span is the root"
    );
    for (child, parent) in chain.iter().zip(chain.iter().skip(1)) {
        assert_eq!(child.trace, root.trace);
        if child.kind == SpanKind::Server {
            // The EMR service sends no request id to a vendor, so the simulator makes its own.
            if VENDORS.contains(&child.component()) {
                assert!(
                    child.attribute("request_id").is_some_and(|id| id.len() > 1),
                    "{}",
                    child.name
                );
            } else {
                assert_eq!(child.attribute("request_id"), Some(request_id), "{}", child.name);
            }
            assert_eq!(
                parent.kind,
                SpanKind::Client,
                "{} is called by {}",
                child.name,
                parent.name
            );
        }
    }
    for span in &chain {
        assert!(span.start > 0 && span.end >= span.start, "{} has its time", span.name);
        assert_eq!(span.service, "emrlab");
    }
    chain.into_iter().cloned().collect()
}

fn names(trace: &[Received]) -> Vec<(String, String)> {
    trace
        .iter()
        .map(|s| (s.name.clone(), s.component().to_owned()))
        .collect()
}

async fn start() -> Traced {
    let store = Store::default();
    let receiver = Router::new()
        .route("/v1/traces", post(receive))
        .with_state(store.clone());
    let listener = tokio::net::TcpListener::bind(SocketAddr::from(([127, 0, 0, 1], 0)))
        .await
        .unwrap();
    let endpoint = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, receiver).await });
    let export = Export::to(Some(&endpoint), "emrlab");
    // Logs stay quiet unless TEST_LOG is set, as in every test; spans are exported regardless.
    let logs = if std::env::var_os("TEST_LOG").is_some() {
        telemetry::DEFAULT_FILTER
    } else {
        "off"
    };
    let telemetry = telemetry::install(logs, export).unwrap();
    assert!(telemetry::enabled());
    Traced {
        app: support::spawn_app().await,
        store,
        telemetry: Arc::new(telemetry),
    }
}

impl Traced {
    /// The trace of a request the gateway answered with `response`.
    async fn trace_of(&self, response: &reqwest::Response) -> (String, Vec<Received>) {
        let id = response.headers()["x-request-id"].to_str().unwrap().to_owned();
        let trace = self.trace(&id).await;
        (id, trace)
    }

    /// Reads a patient through the gateway, checks how the cache answered (`x-cache`) and
    /// returns its request id and trace.
    async fn read_patient(&self, token: &str, path: &str, cache: &str) -> (String, Vec<Received>) {
        let response = self.app.get(token, path).await;
        assert_eq!(response.status(), StatusCode::OK);
        assert_eq!(response.headers()["x-cache"], cache);
        self.trace_of(&response).await
    }
}

/// The vendor whose server span is in `trace`.
fn vendor_in(trace: &[Received]) -> &'static str {
    VENDORS
        .into_iter()
        .find(|v| trace.iter().any(|s| s.is_server(v)))
        .unwrap_or_else(|| panic!("no vendor span in {:#?}", names(trace)))
}

/// No span of the trace is a vendor's, nor a call to one.
fn assert_no_vendor(trace: &[Received], why: &str) {
    let to_vendor = |s: &Received| {
        VENDORS.contains(&s.component()) || VENDORS.contains(&s.attribute("peer.service").unwrap_or_default())
    };
    assert!(!trace.iter().any(to_vendor), "{why}: {:#?}", names(trace));
}

/// A verification: gateway → task → EMR → vendor, each hop a client span and the callee's
/// server span.
async fn a_verification_is_one_trace_down_to_the_vendor(traced: &Traced, nurse: &str) {
    let app = &traced.app;
    let task = app.create_task(nurse, "Trace this").await;
    let pushed = app.post(nurse, "/api/v1/emr/tasks", task.clone()).await;
    assert_eq!(pushed.status(), StatusCode::CREATED);
    let path = format!("/api/v1/tasks/{}/verify", task["id"].as_str().unwrap());
    let verified = app.post(nurse, &path, json!({})).await;
    assert_eq!(verified.status(), StatusCode::OK);
    let (id, trace) = traced.trace_of(&verified).await;
    let vendor = vendor_in(&trace);
    let chain = assert_chain(&trace, &id, &[vendor, "emr", "task", "gateway"]);
    assert!(
        chain[0].attribute("route").unwrap().ends_with("/Task/{id}"),
        "{:?}",
        chain[0]
    );
    assert!(
        chain[1].name.starts_with(&format!("GET {vendor} ")),
        "{}",
        chain[1].name
    );
    let root = chain.last().unwrap();
    assert_eq!(root.name, "POST /api/v1/tasks/{*rest}");
    assert_eq!(root.attribute("http.response.status_code"), Some("200"));
}

/// A patient read: the first goes to the vendor, the second is the cache's and stops at the EMR.
async fn a_cache_hit_has_no_vendor_span(traced: &Traced, nurse: &str) {
    let patient = traced.app.some_patient(nurse).await;
    let path = format!("/api/v1/emr/patients/{patient}");
    let (id, trace) = traced.read_patient(nurse, &path, "miss").await;
    let chain = assert_chain(&trace, &id, &[vendor_in(&trace), "emr", "gateway"]);
    let emr = chain.iter().find(|s| s.is_server("emr")).unwrap();
    assert_eq!(emr.attribute("emr.cache"), Some("miss"));

    let (id, trace) = traced.read_patient(nurse, &path, "hit").await;
    let emr = trace
        .iter()
        .find(|s| s.is_server("emr"))
        .unwrap_or_else(|| panic!("no EMR span in {:#?}", names(&trace)));
    assert_eq!(emr.attribute("emr.cache"), Some("hit"));
    assert_eq!(emr.attribute("request_id"), Some(id.as_str()));
    assert_eq!(servers(&ancestors(&trace, emr)), ["emr", "gateway"]);
    assert_no_vendor(&trace, "a cache hit calls no vendor");
}

/// A call the open breaker refuses: the EMR's span says so, and no vendor span follows.
async fn a_breaker_rejection_says_why_on_the_emr_span(traced: &Traced, nurse: &str) {
    let app = &traced.app;
    let trip = json!({"emr.cache": "off", "emr.dedup": false, "emr.retries": 0, "emr.breaker.minimum_calls": 4,
        "emr.breaker.open_for": "10m", "vendors.cerner.error_rate": 1.0});
    assert_eq!(app.set_knobs(trip).await.status(), StatusCode::OK);
    let path = format!("/api/v1/emr/patients/{}?vendor=cerner", app.some_patient(nurse).await);
    for _ in 0..4 {
        assert!(app.get(nurse, &path).await.status().is_server_error());
    }
    let refused = app.get(nurse, &path).await;
    assert_eq!(refused.status(), StatusCode::SERVICE_UNAVAILABLE);
    let (_, trace) = traced.trace_of(&refused).await;
    let emr = trace.iter().find(|s| s.is_server("emr")).unwrap();
    assert_eq!(emr.attribute("http.response.status_code"), Some("503"));
    let rejection = emr
        .events
        .iter()
        .find(|(name, _)| name == "vendor call rejected")
        .unwrap_or_else(|| panic!("no rejection on the EMR span: {:?}", emr.events));
    assert_eq!(rejection.1.get("emr.rejected_by").map(String::as_str), Some("breaker"));
    assert_eq!(rejection.1.get("emr.vendor").map(String::as_str), Some("cerner"));
    assert_no_vendor(&trace, "a refused call reaches no vendor");
}

// One test: the tracer provider is the process's, and the receiver lives on this test's runtime.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_trace_per_request_from_gateway_to_vendor_with_cache_hits_and_rejections_on_the_emr_span() {
    let traced = start().await;
    let nurse = traced.app.login("nurse.0001").await;
    a_verification_is_one_trace_down_to_the_vendor(&traced, &nurse).await;
    a_cache_hit_has_no_vendor_span(&traced, &nurse).await;
    // Last: it trips the breaker and switches the cache off.
    a_breaker_rejection_says_why_on_the_emr_span(&traced, &nurse).await;
}
