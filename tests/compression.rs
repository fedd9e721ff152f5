//! `http.compression`: the API's answers of 1 KB or more are gzipped for clients that accept it
//! while the knob says so, and never otherwise.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use reqwest::header::{ACCEPT_ENCODING, CONTENT_ENCODING};
use serde_json::json;

use support::TestApp;

/// (content-encoding, body bytes) of a GET as a client that accepts gzip (or not).
async fn fetch(app: &TestApp, token: &str, path: &str, gzip: bool) -> (Option<String>, Vec<u8>) {
    let mut request = app.http.get(app.url(path)).bearer_auth(token);
    if gzip {
        request = request.header(ACCEPT_ENCODING, "gzip");
    }
    let response = request.send().await.unwrap();
    assert!(response.status().is_success(), "{path}: {}", response.status());
    let encoding = response
        .headers()
        .get(CONTENT_ENCODING)
        .map(|v| v.to_str().unwrap().to_owned());
    (encoding, response.bytes().await.unwrap().to_vec())
}

#[tokio::test]
async fn large_answers_are_gzipped_only_while_the_knob_says_so() {
    let app = support::spawn_app().await;
    let nurse = app.login("nurse.0001").await;
    let list = "/api/v1/tasks?limit=50";
    let (encoding, plain) = fetch(&app, &nurse, list, true).await;
    assert_eq!(encoding, None, "off by default");
    assert!(plain.len() > 1024);

    assert!(
        app.set_knobs(json!({"http.compression": "gzip"}))
            .await
            .status()
            .is_success()
    );
    let (encoding, gzipped) = fetch(&app, &nurse, list, true).await;
    assert_eq!(encoding.as_deref(), Some("gzip"));
    assert_eq!(gzipped[..2], [0x1f, 0x8b], "a gzip stream");
    assert!(
        gzipped.len() * 3 < plain.len(),
        "{} bytes gzipped of {}",
        gzipped.len(),
        plain.len()
    );

    // Not for a client that did not ask, nor for an answer under 1 KB.
    assert_eq!(fetch(&app, &nurse, list, false).await.0, None);
    let task = app.create_task(&nurse, "Small answer").await;
    let (encoding, small) = fetch(
        &app,
        &nurse,
        &format!("/api/v1/tasks/{}", task["id"].as_str().unwrap()),
        true,
    )
    .await;
    assert!(
        small.len() < 1024 && encoding.is_none(),
        "{} bytes, {encoding:?}",
        small.len()
    );

    app.set_knobs(json!({"http.compression": "off"})).await;
    assert_eq!(fetch(&app, &nurse, list, true).await.0, None);
}
