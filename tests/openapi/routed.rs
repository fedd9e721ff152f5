//! The gateway serves the document, routes every operation it lists with the documented security,
//! and accepts every documented list parameter.

use super::*;

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
