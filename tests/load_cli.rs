//! `emrlab load` as a user runs it: exit codes, the result file, errors in scenario files, and the
//! commands that read result files (`emrlab compare`, `emrlab report`).
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::process::Command;

use serde_json::Value;

const SCENARIO: &str = r#"
name = "cli"
[load]
model = "open"
start = 50
stages = [{ duration = "1s", target = 50 }]
max_vus = 10
[thresholds]
http_req_duration = ["p95<THRESHOLD"]
[[flows]]
name = "get"
steps = [{ name = "root", request = "GET /", check = { status = [200] } }]
"#;

async fn stall_url() -> (String, tokio_util::sync::DropGuard) {
    emrlab_common::testing::serve(emrlab_loadgen::stall::router(Default::default()))
        .await
        .unwrap()
}

async fn load(args: Vec<String>) -> std::process::Output {
    tokio::task::spawn_blocking(move || {
        Command::new(env!("CARGO_BIN_EXE_emrlab"))
            .arg("load")
            .args(args)
            .output()
            .unwrap()
    })
    .await
    .unwrap()
}

/// `emrlab load` arguments for a quiet run of `scenario` at `url`, its result written to `out`.
fn quiet_run(scenario: &std::path::Path, url: &str, out: &std::path::Path) -> Vec<String> {
    let mut args: Vec<String> = vec![scenario.display().to_string(), "--url".into(), url.into()];
    args.extend(["--quiet", "--no-scrape", "--out"].map(String::from));
    args.push(out.display().to_string());
    args
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn thresholds_decide_the_exit_code_and_the_result_file_is_written() {
    let (url, _stop) = stall_url().await;
    let dir = tempfile::tempdir().unwrap();
    for (threshold, code) in [("10s", 0), ("1us", 99)] {
        let file = dir.path().join(format!("s{code}.toml"));
        std::fs::write(&file, SCENARIO.replace("THRESHOLD", threshold)).unwrap();
        let out = dir.path().join(format!("r{code}.json"));
        let args = quiet_run(&file, &url, &out);
        let output = load(args).await;
        assert_eq!(
            output.status.code(),
            Some(code),
            "{}",
            String::from_utf8_lossy(&output.stderr)
        );
        let result: Value = serde_json::from_slice(&std::fs::read(&out).unwrap()).unwrap();
        assert_eq!(result["format"], "emrlab-load-result/1");
        assert_eq!(result["totals"]["requests"], 50);
        assert_eq!(result["thresholds"][0]["ok"], code == 0);
        assert!(result["steps"][0]["histograms"]["corrected"].as_str().unwrap().len() > 10);
        assert_eq!(result["steps"][0]["by_status_class"]["2xx"]["requests"], 50);
        let per_second: u64 = result["timeline"]
            .as_array()
            .unwrap()
            .iter()
            .map(|s| s["steps"][0].as_u64().unwrap())
            .sum();
        assert!(per_second == 50, "{per_second} of 50 requests in the timeline");
    }
}

#[tokio::test]
async fn a_malformed_scenario_names_its_line_and_field() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("broken.toml");
    std::fs::write(
        &file,
        SCENARIO
            .replace("max_vus = 10", "max_vu = 10")
            .replace("THRESHOLD", "1s"),
    )
    .unwrap();
    let output = load(vec![file.display().to_string()]).await;
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(1));
    assert!(
        stderr.contains("broken.toml") && stderr.contains("line 7") && stderr.contains("max_vu"),
        "{stderr}"
    );
}

#[tokio::test]
async fn the_built_in_scenarios_are_listed() {
    let output = load(vec!["--list".into()]).await;
    assert!(String::from_utf8_lossy(&output.stdout).contains("api-baseline"));
}

/// A think-only step before the first request: a deliberate pause, not the request's latency.
const PAUSE_FIRST: &str = r#"
name = "pause"
[load]
model = "closed"
start = 2
stages = [{ duration = "2s", target = 2 }]
[[flows]]
name = "pause then get"
steps = [{ name = "pause", think = "300ms" }, { name = "root", request = "GET /", check = { status = [200] } }]
"#;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_pause_before_the_first_request_is_not_counted_as_its_latency() {
    let (url, _stop) = stall_url().await;
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("pause.toml");
    std::fs::write(&file, PAUSE_FIRST).unwrap();
    let out = dir.path().join("pause.json");
    let args = quiet_run(&file, &url, &out);
    let output = load(args).await;
    assert_eq!(
        output.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let result: Value = serde_json::from_slice(&std::fs::read(&out).unwrap()).unwrap();
    let root = result["steps"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["name"] == "root")
        .unwrap();
    // The stall server answers at once by default; 300 ms would mean the pause was counted.
    let p50 = root["corrected"]["p50_ms"].as_f64().unwrap();
    assert!(root["requests"].as_u64().unwrap() > 0 && p50 < 300.0, "p50 {p50} ms");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn compare_exits_99_on_a_regression_and_writes_markdown_for_a_pull_request() {
    let (url, _stop) = stall_url().await;
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("s.toml");
    std::fs::write(&file, SCENARIO.replace("THRESHOLD", "10s")).unwrap();
    let baseline = dir.path().join("baseline.json");
    let args = quiet_run(&file, &url, &baseline);
    assert_eq!(load(args).await.status.code(), Some(0));
    // The same run, its `root` requests twice as slow at p95.
    let mut slower: Value = serde_json::from_slice(&std::fs::read(&baseline).unwrap()).unwrap();
    let p95 = slower["steps"][0]["corrected"]["p95_ms"].as_f64().unwrap();
    slower["steps"][0]["corrected"]["p95_ms"] = (p95 * 2.0).into();
    let candidate = dir.path().join("candidate.json");
    std::fs::write(&candidate, serde_json::to_vec(&slower).unwrap()).unwrap();

    let compare = |a: &std::path::Path, b: &std::path::Path, extra: &[&str]| {
        Command::new(env!("CARGO_BIN_EXE_emrlab"))
            .arg("compare")
            .args([a, b])
            .args(extra)
            .output()
            .unwrap()
    };
    let same = compare(&baseline, &baseline, &[]);
    assert_eq!(same.status.code(), Some(0), "{}", String::from_utf8_lossy(&same.stdout));
    assert!(String::from_utf8_lossy(&same.stdout).contains("no regression beyond 10%"));

    let worse = compare(&baseline, &candidate, &["--format", "markdown"]);
    assert_eq!(worse.status.code(), Some(99));
    let table = String::from_utf8_lossy(&worse.stdout);
    assert!(
        table.starts_with("| request | metric | baseline | candidate | change | verdict |"),
        "{table}"
    );
    assert!(
        table
            .lines()
            .any(|l| l.starts_with("| root | p95 ms |") && l.ends_with("**REGRESSION** |")),
        "{table}"
    );
    let lenient = compare(&baseline, &candidate, &["--threshold", "150"]);
    assert_eq!(lenient.status.code(), Some(0), "a 100% rise is within a 150% threshold");

    let bad = compare(&baseline, &file, &[]);
    assert_eq!(bad.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&bad.stderr).contains("is not an emrlab result file"));
}

fn report(args: &[&std::path::Path]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_emrlab"))
        .arg("report")
        .args(args)
        .output()
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn report_writes_one_page_of_two_runs_where_asked() {
    let (url, _stop) = stall_url().await;
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("s.toml");
    std::fs::write(&file, SCENARIO.replace("THRESHOLD", "10s")).unwrap();
    let first = dir.path().join("first.json");
    assert_eq!(load(quiet_run(&file, &url, &first)).await.status.code(), Some(0));
    let second = dir.path().join("second.json");
    std::fs::copy(&first, &second).unwrap();
    let page = dir.path().join("page.html");
    let output = report(&[&first, &second, std::path::Path::new("-o"), &page]);
    assert_eq!(
        output.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(String::from_utf8_lossy(&output.stdout).contains(&page.display().to_string()));
    let html = std::fs::read_to_string(&page).unwrap();
    assert!(html.starts_with("<!DOCTYPE html>") && html.contains("<title>first vs second</title>"));
    // Latency, throughput and the percentile distribution; a 1 ms target leaves no VU busy at
    // the end of a second, so no VU chart, and the stall server has no metrics to chart.
    assert!(html.matches("<svg").count() >= 3, "the charts are missing");
}

#[test]
fn report_on_a_file_that_is_not_a_result_names_it_and_fails() {
    let dir = tempfile::tempdir().unwrap();
    let other = dir.path().join("package.json");
    std::fs::write(&other, r#"{"name": "not a result"}"#).unwrap();
    let output = report(&[&other]);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains(&other.display().to_string()) && stderr.contains("is not an emrlab result file"),
        "{stderr}"
    );
    let missing = dir.path().join("missing.json");
    let stderr = String::from_utf8_lossy(&report(&[&missing]).stderr).into_owned();
    assert!(stderr.contains("missing.json"), "{stderr}");
}
