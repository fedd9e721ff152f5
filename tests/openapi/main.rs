//! Keeps `docs/openapi.json` equal to the code: the gateway serves it verbatim, every documented
//! operation is routed (and no other method is) and answers with a documented status, its routes
//! are the ones the crates declare (gateway, task, EMR, sync and handover services), its `Task` schema
//! and enumerations are the ones the services use, and its EMR schemas fit the EMR service's
//! answers (the handover schemas are checked against real answers in `tests/handover/`).
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod routed;
mod schemas;
#[path = "../support/mod.rs"]
mod support;

use std::collections::BTreeSet;

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use emrlab_task::model::{Priority, Status};

const DOCUMENT_PATH: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/docs/openapi.json");
const METHODS: [&str; 5] = ["get", "post", "put", "patch", "delete"];
/// Routes the gateway serves besides those in the crates' `ROUTES` constants.
const UNLISTED: [(&str, &str); 4] = [
    ("GET", "/api/v1/openapi.json"),
    ("GET", "/health"),
    ("GET", "/ready"),
    ("GET", "/metrics"),
];

fn document_bytes() -> Vec<u8> {
    std::fs::read(DOCUMENT_PATH).expect("docs/openapi.json is readable")
}

fn document() -> Value {
    serde_json::from_slice(&document_bytes()).expect("docs/openapi.json is not valid JSON")
}

/// Every (METHOD, path) the document describes.
fn operations(doc: &Value) -> BTreeSet<(String, String)> {
    let paths = doc["paths"].as_object().expect("docs/openapi.json has no paths object");
    paths
        .iter()
        .flat_map(|(path, item)| {
            METHODS
                .iter()
                .filter(|m| item.get(**m).is_some())
                .map(move |m| (m.to_uppercase(), path.clone()))
        })
        .collect()
}

fn operation<'a>(doc: &'a Value, method: &str, path: &str) -> &'a Value {
    &doc["paths"][path][method.to_lowercase()]
}

/// The statuses the document lists for an operation (`"default"` included, if present).
fn documented_statuses(doc: &Value, method: &str, path: &str) -> BTreeSet<String> {
    operation(doc, method, path)["responses"]
        .as_object()
        .unwrap_or_else(|| panic!("{method} {path} in docs/openapi.json has no responses"))
        .keys()
        .cloned()
        .collect()
}

/// Whether the document says the operation needs no token.
fn is_public(doc: &Value, method: &str, path: &str) -> bool {
    let security = operation(doc, method, path).get("security").unwrap_or(&doc["security"]);
    security.as_array().is_none_or(Vec::is_empty)
}

/// The public routes the code declares: the gateway's own, the task, EMR, sync and handover services'
/// behind the proxy, and the unlisted ones.
fn code_routes() -> BTreeSet<(String, String)> {
    let proxy_prefixes: Vec<&str> = emrlab_gateway::ROUTES
        .iter()
        .filter_map(|(_, path)| path.strip_suffix("/{*rest}"))
        .collect();
    let proxied = |path: &str| {
        proxy_prefixes
            .iter()
            .any(|prefix| path == *prefix || path.starts_with(&format!("{prefix}/")))
    };
    let own = emrlab_gateway::ROUTES
        .iter()
        .filter(|(_, path)| !proxied(path))
        .map(|(m, p)| ((*m).to_owned(), (*p).to_owned()));
    let services = [
        ("task", emrlab_task::ROUTES),
        ("EMR", emrlab_emr::ROUTES),
        ("sync", emrlab_sync::ROUTES),
        ("handover", emrlab_handover::ROUTES),
    ];
    let behind_proxy = services.into_iter().flat_map(|(service, routes)| {
        routes.iter().map(move |(m, p)| {
            let public = format!("/api/v1{p}");
            assert!(
                proxied(&public),
                "{service} route {m} {p} is served as {public}, which no gateway proxy route in \
                 emrlab_gateway::ROUTES covers"
            );
            ((*m).to_owned(), public)
        })
    });
    let unlisted = UNLISTED.iter().map(|(m, p)| ((*m).to_owned(), (*p).to_owned()));
    own.chain(behind_proxy).chain(unlisted).collect()
}

/// The request for an operation, with `{id}` replaced by `task_id` (on `/api/v1/emr/patients/{id}`
/// that is no patient: 404 `not_found`) and a JSON body `{}` on POST and PUT.
fn request(
    app: &support::TestApp,
    method: &str,
    path: &str,
    task_id: &str,
    token: Option<&str>,
) -> reqwest::RequestBuilder {
    let url = app.url(&path.replace("{id}", task_id));
    let method = Method::from_bytes(method.as_bytes()).unwrap();
    let with_body = method == Method::POST || method == Method::PUT;
    let mut request = app.http.request(method, url);
    if with_body {
        request = request.json(&json!({}));
    }
    match token {
        Some(token) => request.bearer_auth(token),
        None => request,
    }
}

/// The status and, when JSON, the body.
async fn answer(request: reqwest::RequestBuilder) -> (StatusCode, Value) {
    let response = request.send().await.unwrap();
    let status = response.status();
    let body = response.json().await.unwrap_or(Value::Null);
    (status, body)
}

#[test]
fn the_document_is_openapi_3_1_and_every_ref_resolves() {
    let doc = document();
    assert_eq!(doc["openapi"], "3.1.0", "docs/openapi.json must declare openapi 3.1.0");
    fn refs<'a>(value: &'a Value, found: &mut Vec<&'a str>) {
        match value {
            Value::Object(map) => {
                if let Some(Value::String(target)) = map.get("$ref") {
                    found.push(target);
                }
                map.values().for_each(|v| refs(v, found));
            }
            Value::Array(items) => items.iter().for_each(|v| refs(v, found)),
            _ => {}
        }
    }
    let mut found = Vec::new();
    refs(&doc, &mut found);
    for target in found {
        let pointer = target
            .strip_prefix('#')
            .unwrap_or_else(|| panic!("$ref {target} in docs/openapi.json is not local"));
        assert!(
            doc.pointer(pointer).is_some(),
            "$ref {target} in docs/openapi.json points at nothing"
        );
    }
}

#[test]
fn the_documented_routes_are_the_routes_the_code_declares() {
    let documented = operations(&document());
    let declared = code_routes();
    let undocumented: Vec<_> = declared.difference(&documented).collect();
    let undeclared: Vec<_> = documented.difference(&declared).collect();
    assert!(
        undocumented.is_empty() && undeclared.is_empty(),
        "docs/openapi.json is out of sync with emrlab_gateway::ROUTES / emrlab_task::ROUTES / \
         emrlab_emr::ROUTES: routes in the code but not in the document: {undocumented:?}; \
         routes in the document but not in the code: {undeclared:?}"
    );
}

#[test]
fn the_enumerations_are_the_ones_the_services_accept() {
    let doc = document();
    let enumerations = [
        ("Status", Status::ALL),
        ("Priority", Priority::ALL),
        ("HandoverStatus", emrlab_handover::model::Status::ALL),
    ];
    for (name, accepted) in enumerations {
        let documented: Vec<&str> = doc["components"]["schemas"][name]["enum"]
            .as_array()
            .unwrap_or_else(|| panic!("docs/openapi.json has no enum for schema {name}"))
            .iter()
            .map(|v| v.as_str().unwrap())
            .collect();
        assert_eq!(
            documented, accepted,
            "schema {name} in docs/openapi.json lists other values than {name}::ALL in its model"
        );
    }
    let vendors: Vec<&str> = emrlab_emr::Vendor::ALL.iter().map(|v| v.as_str()).collect();
    assert_eq!(
        doc["components"]["schemas"]["Vendor"]["enum"],
        json!(vendors),
        "schema Vendor in docs/openapi.json lists other values than Vendor::ALL"
    );
}
