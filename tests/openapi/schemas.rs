//! The document's schemas have the fields of real answers.

use super::*;

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
