//! Health, readiness and metrics, on every component, without a token; request ids and log lines.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use reqwest::StatusCode;
use serde_json::Value;

#[tokio::test]
async fn every_series_exists_before_any_traffic() {
    let app = support::spawn_app().await;
    for base in [&app.base, &app.task_base] {
        let metrics = app.metrics(base).await;
        for component in ["gateway", "task"] {
            for series in [
                format!("emrlab_http_requests_in_flight{{component=\"{component}\"}}"),
                format!("emrlab_db_pool_connections_in_use{{component=\"{component}\"}}"),
                format!("emrlab_db_pool_connections_idle{{component=\"{component}\"}}"),
                format!("emrlab_db_pool_connections_max{{component=\"{component}\"}} 10"),
                format!("emrlab_db_pool_acquire_duration_seconds_count{{component=\"{component}\"}}"),
            ] {
                assert!(metrics.contains(&series), "{base}/metrics lacks {series}");
            }
        }
        assert!(metrics.contains("emrlab_http_request_duration_seconds_bucket{component=\"task\",route=\"/tasks/{id}\",method=\"GET\",status=\"200\""));
    }
}

#[tokio::test]
async fn requests_are_counted_by_route_template_not_by_path() {
    let app = support::spawn_app().await;
    let token = app.login("nurse.0001").await;
    let task = app.create_task(&token, "Metrics").await;
    app.get(&token, &format!("/api/v1/tasks/{}", task["id"].as_str().unwrap()))
        .await;
    let metrics = app.metrics(&app.task_base).await;
    let line = metrics
        .lines()
        .find(|l| l.starts_with("emrlab_http_request_duration_seconds_count{component=\"task\",route=\"/tasks/{id}\",method=\"GET\",status=\"200\"}"))
        .unwrap();
    assert!(line.ends_with(" 1"), "{line}");
    assert!(!metrics.contains(task["id"].as_str().unwrap()), "no id in a label");
}

#[tokio::test]
async fn health_and_readiness_answer_without_a_token() {
    let app = support::spawn_app().await;
    for base in [&app.base, &app.task_base] {
        assert_eq!(
            app.http.get(format!("{base}/health")).send().await.unwrap().status(),
            StatusCode::OK
        );
        let ready = app.http.get(format!("{base}/ready")).send().await.unwrap();
        assert_eq!(ready.status(), StatusCode::OK);
        assert!(ready.json::<Value>().await.unwrap()["status"] == "ready");
    }
}

/// A client's own request id comes back (and goes on to the services); one too long or with
/// anything but visible ASCII is replaced by a generated one.
#[tokio::test]
async fn a_clients_request_id_is_kept_when_usable_and_replaced_when_not() {
    let app = support::spawn_app().await;
    let id_for = |sent: String| {
        let request = app
            .http
            .get(format!("{}/health", app.base))
            .header("x-request-id", sent);
        async move {
            let response = request.send().await.unwrap();
            response.headers()["x-request-id"].to_str().unwrap().to_owned()
        }
    };
    let usable = format!("ward-7/{}", "a".repeat(121));
    assert_eq!(id_for(usable.clone()).await, usable);
    for unusable in ["a".repeat(129), "ward 7".to_owned(), "ward\t7".to_owned()] {
        let got = id_for(unusable.clone()).await;
        assert_ne!(got, unusable);
        assert!(uuid::Uuid::parse_str(&got).is_ok(), "{got} is not a generated id");
    }
}

#[test]
fn log_lines_sent_to_a_pipe_or_file_carry_no_colour_codes() {
    let data = tempfile::tempdir().unwrap();
    let output = support::emrlab_command()
        .arg("--data-dir")
        .arg(data.path())
        .args(["seed", "--profile", "small"])
        .env_remove("RUST_LOG")
        .env_remove("NO_COLOR")
        .output()
        .unwrap();
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    let stdout = String::from_utf8(output.stdout).unwrap();
    let log_line = stdout
        .lines()
        .find(|l| l.contains("INFO"))
        .unwrap_or_else(|| panic!("no log line in:\n{stdout}"));
    assert!(log_line.contains("seeded profile=Small"), "{log_line}");
    assert!(!stdout.contains('\u{1b}'), "escape codes in:\n{stdout:?}");
}
