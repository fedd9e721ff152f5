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

fn request_id(response: &reqwest::Response) -> String {
    response.headers()["x-request-id"].to_str().unwrap().to_owned()
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

// One test: the tracer provider is the process's, and the receiver lives on this test's runtime.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_trace_runs_gateway_task_emr_vendor_and_a_cache_hit_stops_at_the_emr() {
    let traced = start().await;
    let app = &traced.app;
    let nurse = app.login("nurse.0001").await;

    // A verification: gateway → task → EMR → vendor.
    let task = app.create_task(&nurse, "Trace this").await;
    let pushed = app.post(&nurse, "/api/v1/emr/tasks", task.clone()).await;
    assert_eq!(pushed.status(), StatusCode::CREATED);
    let verify_path = format!("/api/v1/tasks/{}/verify", task["id"].as_str().unwrap());
    let verified = app.post(&nurse, &verify_path, json!({})).await;
    assert_eq!(verified.status(), StatusCode::OK);
    let id = request_id(&verified);
    let trace = traced.trace(&id).await;
    let vendor = VENDORS
        .into_iter()
        .find(|v| trace.iter().any(|s| s.is_server(v)))
        .unwrap_or_else(|| panic!("no vendor span in {:#?}", names(&trace)));
    let chain = assert_chain(&trace, &id, &[vendor, "emr", "task", "gateway"]);
    assert_eq!(
        chain[0].attribute("route"),
        Some(
            format!(
                "{}/Task/{{id}}",
                emrlab_emr::sim::fhir_base(emrlab_emr::Vendor::parse(vendor).unwrap())
            )
            .as_str()
        )
    );
    assert!(
        chain[1].name.starts_with(&format!("GET {vendor} ")),
        "{}",
        chain[1].name
    );
    assert_eq!(chain.last().unwrap().name, "POST /api/v1/tasks/{*rest}");
    assert_eq!(
        chain.last().unwrap().attribute("http.response.status_code"),
        Some("200")
    );

    // A patient read: the first goes to the vendor, the second is the cache's.
    let patient = app.some_patient(&nurse).await;
    let path = format!("/api/v1/emr/patients/{patient}");
    let first = app.get(&nurse, &path).await;
    assert_eq!(
        (first.status(), &first.headers()["x-cache"]),
        (StatusCode::OK, &"miss".parse().unwrap())
    );
    let first_id = request_id(&first);
    let trace = traced.trace(&first_id).await;
    let vendor = VENDORS
        .into_iter()
        .find(|v| trace.iter().any(|s| s.is_server(v)))
        .unwrap();
    let chain = assert_chain(&trace, &first_id, &[vendor, "emr", "gateway"]);
    let emr = chain.iter().find(|s| s.is_server("emr")).unwrap();
    assert_eq!(emr.attribute("emr.cache"), Some("miss"));

    let second = app.get(&nurse, &path).await;
    assert_eq!(
        (second.status(), &second.headers()["x-cache"]),
        (StatusCode::OK, &"hit".parse().unwrap())
    );
    let second_id = request_id(&second);
    let trace = traced.trace(&second_id).await;
    let emr = trace
        .iter()
        .find(|s| s.is_server("emr"))
        .unwrap_or_else(|| panic!("no EMR span in {:#?}", names(&trace)));
    assert_eq!(emr.attribute("emr.cache"), Some("hit"));
    assert_eq!(emr.attribute("request_id"), Some(second_id.as_str()));
    let emr_chain = ancestors(&trace, emr);
    assert_eq!(servers(&emr_chain), ["emr", "gateway"]);
    let to_vendor = |s: &&Received| {
        VENDORS.contains(&s.component()) || VENDORS.contains(&s.attribute("peer.service").unwrap_or_default())
    };
    assert!(
        !trace.iter().any(|s| to_vendor(&s)),
        "a cache hit calls no vendor: {:#?}",
        names(&trace)
    );

    // A call the breaker refuses: the EMR's span says so, and no vendor span follows.
    let trip = json!({"emr.cache": "off", "emr.dedup": false, "emr.retries": 0, "emr.breaker.minimum_calls": 4,
        "emr.breaker.open_for": "10m", "vendors.cerner.error_rate": 1.0});
    assert_eq!(app.set_knobs(trip).await.status(), StatusCode::OK);
    let cerner = format!("{path}?vendor=cerner");
    for _ in 0..4 {
        assert!(app.get(&nurse, &cerner).await.status().is_server_error());
    }
    let refused = app.get(&nurse, &cerner).await;
    assert_eq!(refused.status(), StatusCode::SERVICE_UNAVAILABLE);
    let refused_id = request_id(&refused);
    let trace = traced.trace(&refused_id).await;
    let emr = trace.iter().find(|s| s.is_server("emr")).unwrap();
    assert_eq!(emr.attribute("http.response.status_code"), Some("503"));
    let rejection = emr
        .events
        .iter()
        .find(|(name, _)| name == "vendor call rejected")
        .unwrap_or_else(|| panic!("no rejection on the EMR span: {:?}", emr.events));
    assert_eq!(rejection.1.get("emr.rejected_by").map(String::as_str), Some("breaker"));
    assert_eq!(rejection.1.get("emr.vendor").map(String::as_str), Some("cerner"));
    assert!(
        !trace.iter().any(|s| to_vendor(&s)),
        "a refused call reaches no vendor: {:#?}",
        names(&trace)
    );
}
