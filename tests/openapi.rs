//! Keeps `docs/openapi.json` equal to the code: the gateway serves it verbatim, every documented
//! operation is routed (and no other method is) and answers with a documented status, its routes
//! are the ones the crates declare (gateway, task, EMR, sync and handover services), its `Task` schema
//! and enumerations are the ones the services use, and its EMR schemas fit the EMR service's
//! answers (the handover schemas are checked against real answers in `tests/handover.rs`).
#![allow(clippy::unwrap_used, clippy::expect_used)]

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

#[tokio::test]
async fn the_gateway_serves_the_document_verbatim() {
    let app = support::spawn_app().await;
    let response = app.http.get(app.url("/api/v1/openapi.json")).send().await.unwrap();
    assert_eq!(response.status(), StatusCode::OK, "GET /api/v1/openapi.json");
    assert_eq!(
        response.headers()["content-type"],
        "application/json",
        "/api/v1/openapi.json must be served as JSON"
    );
    let served = response.bytes().await.unwrap();
    assert!(
        served.as_ref() == document_bytes().as_slice(),
        "the gateway serves a different document than docs/openapi.json (stale build?)"
    );
    let parsed: Value = serde_json::from_slice(&served).expect("the served document is not JSON");
    assert_eq!(parsed["openapi"], "3.1.0", "the served document must be OpenAPI 3.1.0");
}

#[tokio::test]
async fn every_documented_operation_is_routed_with_the_documented_security() {
    // Every operation, every method and every role in a burst: more than the rate limit allows.
    let app = support::spawn_with(support::Backend::Sqlite, |cfg| {
        cfg.gateway.rate_limit.kind = emrlab_gateway::config::LimitKind::Off;
    })
    .await
    .unwrap();
    let doc = document();
    let nurse = app.login("nurse.0001").await;
    let operator = app.login("operator").await;
    let task = app.create_task(&nurse, "OpenAPI route check").await;
    let task_id = task["id"].as_str().unwrap();
    for (method, path) in operations(&doc) {
        let public = is_public(&doc, &method, &path);
        let token = if path.starts_with("/api/v1/admin/") {
            &operator
        } else {
            &nurse
        };
        let documented = documented_statuses(&doc, &method, &path);
        let (status, body) = answer(request(&app, &method, &path, task_id, Some(token))).await;
        assert!(
            status != StatusCode::METHOD_NOT_ALLOWED
                && !(status == StatusCode::NOT_FOUND && body["error"] == "route_not_found"),
            "{method} {path} is in docs/openapi.json but the stack has no such route \
             (answered {status} {body})"
        );
        assert!(
            documented.contains(status.as_str()) || documented.contains("default"),
            "{method} {path} answered {status} {body}, a status docs/openapi.json does not list \
             for it (it lists {documented:?})"
        );
        if path.starts_with("/api/v1/emr/") && (method == "POST" || method == "PUT") {
            // `{}` is no task: the EMR service must refuse it before calling a vendor.
            assert!(
                status == StatusCode::BAD_REQUEST || status == StatusCode::UNPROCESSABLE_ENTITY,
                "{method} {path} with the body {{}} answered {status} {body}, not a 400 or 422"
            );
        }
        let (status, body) = answer(request(&app, &method, &path, task_id, None)).await;
        if public {
            assert_ne!(
                status,
                StatusCode::UNAUTHORIZED,
                "docs/openapi.json says {method} {path} needs no token, but without one it \
                 answered {body}"
            );
        } else {
            assert_eq!(
                status,
                StatusCode::UNAUTHORIZED,
                "docs/openapi.json says {method} {path} needs a bearer token, but without one \
                 it answered {body}"
            );
            assert!(
                documented.contains("401"),
                "{method} {path} needs a bearer token, but docs/openapi.json lists no 401 for it"
            );
        }
    }
    // The other direction, per documented path: a method the document lacks is not routed.
    let paths: BTreeSet<String> = operations(&doc).into_iter().map(|(_, p)| p).collect();
    for path in paths {
        for method in METHODS {
            if doc["paths"][&path].get(method).is_some() {
                continue;
            }
            let method = method.to_uppercase();
            let token = if path.starts_with("/api/v1/admin/") {
                &operator
            } else {
                &nurse
            };
            let (status, body) = answer(request(&app, &method, &path, task_id, Some(token))).await;
            assert_eq!(
                status,
                StatusCode::METHOD_NOT_ALLOWED,
                "{method} {path} is not in docs/openapi.json, yet the stack answered {body}"
            );
        }
    }
}

#[tokio::test]
async fn every_documented_list_parameter_is_accepted() {
    let app = support::spawn_app().await;
    let doc = document();
    let nurse = app.login("nurse.0001").await;
    let parameters = operation(&doc, "GET", "/api/v1/tasks")["parameters"]
        .as_array()
        .expect("GET /api/v1/tasks documents its query parameters");
    for parameter in parameters.iter().filter(|p| p["in"] == "query") {
        let name = parameter["name"].as_str().unwrap();
        let example = match &parameter["example"] {
            Value::String(s) => s.clone(),
            Value::Null => panic!("query parameter {name} of GET /api/v1/tasks has no example"),
            other => other.to_string(),
        };
        let (status, body) = answer(
            app.http
                .get(app.url("/api/v1/tasks"))
                .query(&[(name, example.as_str())])
                .bearer_auth(&nurse),
        )
        .await;
        assert_ne!(
            body["error"], "invalid_query",
            "query parameter {name}={example} is in docs/openapi.json but GET /api/v1/tasks \
             refuses it ({status} {body})"
        );
    }
    let (status, body) = answer(
        app.http
            .get(app.url("/api/v1/tasks"))
            .query(&[("no_such_parameter", "1")])
            .bearer_auth(&nurse),
    )
    .await;
    assert_eq!(
        (status, &body["error"]),
        (StatusCode::BAD_REQUEST, &json!("invalid_query")),
        "GET /api/v1/tasks no longer refuses unknown parameters, so the check above proves nothing"
    );
    // The refusal names every parameter the service takes (serde: "expected one of `a`, `b`").
    let message = body["message"].as_str().unwrap_or_default();
    let accepted: BTreeSet<&str> = message
        .split_once("expected one of")
        .map(|(_, list)| list.split('`').skip(1).step_by(2).collect())
        .unwrap_or_default();
    assert!(
        !accepted.is_empty(),
        "the unknown-parameter message no longer lists the accepted parameters; adapt this \
         test: {message}"
    );
    let documented: BTreeSet<&str> = parameters
        .iter()
        .filter(|p| p["in"] == "query")
        .map(|p| p["name"].as_str().unwrap())
        .collect();
    assert_eq!(
        documented, accepted,
        "the query parameters of GET /api/v1/tasks in docs/openapi.json differ from those \
         ListQuery accepts"
    );
}

#[tokio::test]
async fn the_task_schema_has_the_fields_of_a_real_task() {
    let app = support::spawn_app().await;
    let doc = document();
    let nurse = app.login("nurse.0001").await;
    let task = app.create_task(&nurse, "OpenAPI schema check").await;
    let actual: BTreeSet<&str> = task
        .as_object()
        .expect("POST /api/v1/tasks answers a JSON object")
        .keys()
        .map(String::as_str)
        .collect();
    let schema = &doc["components"]["schemas"]["Task"];
    let required: BTreeSet<&str> = schema["required"]
        .as_array()
        .expect("the Task schema lists its required properties")
        .iter()
        .map(|v| v.as_str().unwrap())
        .collect();
    let properties: BTreeSet<&str> = schema["properties"]
        .as_object()
        .expect("the Task schema has properties")
        .keys()
        .map(String::as_str)
        .collect();
    assert_eq!(
        required, actual,
        "the Task schema's required properties in docs/openapi.json differ from the fields of \
         a task returned by POST /api/v1/tasks"
    );
    assert_eq!(
        properties, actual,
        "the Task schema's properties in docs/openapi.json differ from the fields of a task \
         returned by POST /api/v1/tasks"
    );
}

/// The properties a schema requires and the ones it lists.
fn schema_keys<'a>(doc: &'a Value, name: &str) -> (BTreeSet<&'a str>, BTreeSet<&'a str>) {
    let schema = &doc["components"]["schemas"][name];
    let required = schema["required"]
        .as_array()
        .unwrap_or_else(|| panic!("schema {name} in docs/openapi.json lists no required properties"))
        .iter()
        .map(|v| v.as_str().unwrap())
        .collect();
    let properties = schema["properties"]
        .as_object()
        .unwrap_or_else(|| panic!("schema {name} in docs/openapi.json has no properties"))
        .keys()
        .map(String::as_str)
        .collect();
    (required, properties)
}

/// Asserts that `body`, the answer of `what`, has exactly the properties of schema `name`.
fn assert_fits(doc: &Value, name: &str, body: &Value, what: &str) {
    let actual: BTreeSet<&str> = body
        .as_object()
        .unwrap_or_else(|| panic!("{what} answered no JSON object: {body}"))
        .keys()
        .map(String::as_str)
        .collect();
    let (required, properties) = schema_keys(doc, name);
    assert_eq!(
        required, actual,
        "the {name} schema's required properties in docs/openapi.json differ from the fields {what} answers"
    );
    assert_eq!(
        properties, actual,
        "the {name} schema's properties in docs/openapi.json differ from the fields {what} answers"
    );
}

#[tokio::test]
async fn the_emr_schemas_have_the_fields_of_real_answers() {
    let app = support::spawn_app().await;
    let doc = document();
    let nurse = app.login("nurse.0001").await;
    let task = app.create_task(&nurse, "OpenAPI EMR schema check").await;
    let task_id = task["id"].as_str().unwrap();
    let patient_id = task["patient_id"].as_str().unwrap();
    let vendors = &doc["components"]["schemas"]["Vendor"]["enum"];
    let cache_values = &doc["components"]["headers"]["XCache"]["schema"]["enum"];

    let path = format!("/api/v1/emr/patients/{patient_id}");
    for expected_cache in ["miss", "hit"] {
        let response = app.get(&nurse, &path).await;
        let status = response.status();
        let cache = response
            .headers()
            .get("x-cache")
            .map(|v| v.to_str().unwrap().to_owned());
        let body: Value = response.json().await.unwrap();
        assert_eq!(status, StatusCode::OK, "GET {path}: {body}");
        assert_fits(&doc, "EmrPatient", &body, "GET /api/v1/emr/patients/{id}");
        assert_eq!(body["id"], patient_id, "GET {path} answers another patient");
        assert!(
            vendors.as_array().unwrap().contains(&body["vendor"]),
            "GET {path} names a vendor the Vendor schema lacks: {body}"
        );
        let cache = cache.unwrap_or_else(|| panic!("GET {path} answered no x-cache header"));
        assert!(
            cache_values.as_array().unwrap().contains(&json!(cache)),
            "GET {path} answered x-cache: {cache}, which docs/openapi.json does not list"
        );
        assert_eq!(cache, expected_cache, "x-cache of a {expected_cache} of GET {path}");
    }

    let response = app.post(&nurse, "/api/v1/emr/tasks", task.clone()).await;
    let status = response.status();
    let body: Value = response.json().await.unwrap();
    assert_eq!(status, StatusCode::CREATED, "POST /api/v1/emr/tasks: {body}");
    assert_fits(&doc, "PushedTask", &body, "POST /api/v1/emr/tasks");

    let response = app
        .put(&nurse, &format!("/api/v1/emr/tasks/{task_id}"), task.clone())
        .await;
    let status = response.status();
    let body: Value = response.json().await.unwrap();
    assert_eq!(status, StatusCode::OK, "PUT /api/v1/emr/tasks/{task_id}: {body}");
    assert_fits(&doc, "PushedTask", &body, "PUT /api/v1/emr/tasks/{id}");

    let path = format!("/api/v1/emr/tasks/{task_id}/verify");
    let response = app.post(&nurse, &path, task.clone()).await;
    let status = response.status();
    let body: Value = response.json().await.unwrap();
    assert_eq!(status, StatusCode::OK, "POST {path}: {body}");
    assert_fits(&doc, "EmrVerification", &body, "POST /api/v1/emr/tasks/{id}/verify");
    assert_eq!(
        body["verified"], true,
        "a task just pushed differs from the vendor's copy: {body}"
    );
}
