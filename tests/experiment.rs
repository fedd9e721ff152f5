//! `emrlab experiment` as a user runs it against a running emrlab: knobs flipped per arm in
//! interleaved rounds, a verdict per candidate, the result file, the knobs put back afterwards,
//! and a clear error for a broken experiment file.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use std::process::Command;

use serde_json::Value;

/// Vendor patient reads at a fixed 150 ms, with the EMR cache off (baseline) and in memory.
const EXPERIMENT: &str = r#"
name = "cache-test"
title = "EMR cache off vs memory"
setup = { "vendors.epic.latency.median" = "150ms", "vendors.cerner.latency.median" = "150ms", "gateway.rate_limit.kind" = "off" }
rounds = { count = 3, duration = "1500ms", warmup = "0s" }
decide = [
    { metric = "p95", request = "GET patient", better = "lower" },
    { metric = "rate", series = ["emrlab_vendor_requests_total", "patient.read"], better = "lower" },
]

[baseline]
name = "no cache"
knobs = { "emr.cache" = "off", "emr.dedup" = false }

[[candidate]]
name = "memory"
knobs = { "emr.cache" = "memory" }

[scenario]
name = "reads"
description = "patient reads"
load = { model = "closed", stages = [{ duration = "1s", target = 4 }], graceful_stop = "1s" }
users = { pattern = "nurse.{n}", count = 4, password = "emrlab" }
setup = { before_start = true, steps = [
    { name = "login", request = "POST /api/v1/auth/login", json = { username = "${user.username}", password = "${user.password}" }, capture = { token = "access_token" } },
    { name = "census", request = "GET /api/v1/patients?q=MRN&status=admitted&limit=5", headers = { authorization = "Bearer ${token}" }, capture = { patient_ids = "items[*].id" } },
] }
flows = [{ name = "read", steps = [
    { name = "GET patient", request = "GET /api/v1/emr/patients/${pick:patient_ids}", headers = { authorization = "Bearer ${token}" }, check = { status = [200] } },
] }]
"#;

async fn experiment(args: Vec<String>) -> std::process::Output {
    tokio::task::spawn_blocking(move || {
        Command::new(env!("CARGO_BIN_EXE_emrlab"))
            .arg("experiment")
            .args(args)
            .output()
            .unwrap()
    })
    .await
    .unwrap()
}

fn knob<'a>(list: &'a Value, name: &str) -> &'a Value {
    &list.as_array().unwrap().iter().find(|k| k["name"] == name).unwrap()["value"]
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn arms_run_in_rounds_a_verdict_is_given_and_the_knobs_are_put_back() {
    let app = support::spawn_app().await;
    let operator = app.login("operator").await;
    let before = app.get_json(&operator, "/api/v1/admin/knobs").await;
    assert_eq!(knob(&before, "emr.cache"), "memory");
    let dir = tempfile::tempdir().unwrap();
    let (file, out) = (dir.path().join("cache.toml"), dir.path().join("result.json"));
    let page = dir.path().join("page.html");
    std::fs::write(&file, EXPERIMENT).unwrap();
    let args = [
        file.to_str().unwrap(),
        "--url",
        &app.base,
        "--out",
        out.to_str().unwrap(),
        "--report",
        page.to_str().unwrap(),
    ];
    let output = experiment(args.map(String::from).to_vec()).await;
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "{stdout}\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(stdout.contains("emr.cache=memory: p95 of GET patient"), "{stdout}");

    let result: Value = serde_json::from_slice(&std::fs::read(&out).unwrap()).unwrap();
    assert_eq!(result["format"], "emrlab-experiment-result/1");
    let arms = result["arms"].as_array().unwrap();
    assert_eq!(arms.len(), 2);
    for arm in arms {
        assert_eq!(arm["rounds"].as_array().unwrap().len(), 3, "{}", arm["name"]);
        // Three rounds of 1.5 s laid end to end, each with a graceful stop of up to a second.
        let seconds = arm["result"]["timeline"].as_array().unwrap().len();
        assert!((4..=9).contains(&seconds), "{} seconds in {}", seconds, arm["name"]);
    }
    let [baseline, candidate] = [&arms[0], &arms[1]];
    assert_eq!(baseline["knobs"]["emr.cache"], "off");
    // Without the cache each read waits 150 ms for the vendor; with it only the first does.
    let p95 = |arm: &Value| {
        arm["result"]["steps"]
            .as_array()
            .unwrap()
            .iter()
            .find(|s| s["name"] == "GET patient")
            .unwrap()["corrected"]["p95_ms"]
            .as_f64()
            .unwrap()
    };
    assert!(p95(baseline) >= 150.0, "{}", p95(baseline));
    assert!(p95(candidate) < 100.0, "{}", p95(candidate));
    let verdict = &result["candidates"][0];
    assert_eq!(verdict["arm"], "memory");
    assert_eq!(verdict["verdict"], "better", "{verdict}");
    assert_eq!(
        verdict["differences"][1]["outcome"], "better",
        "vendor calls per second fall"
    );

    // The report: the verdict on top, both arms, self-contained.
    let html = std::fs::read_to_string(&page).unwrap();
    assert!(html.contains("memory vs no cache: better, confident"), "{html}");
    assert!(!html.contains("<script") && !html.contains(" src="));
    // `emrlab report` makes the same page from the result file.
    let again = dir.path().join("again.html");
    let output = Command::new(env!("CARGO_BIN_EXE_emrlab"))
        .args(["report", out.to_str().unwrap(), "-o", again.to_str().unwrap()])
        .output()
        .unwrap();
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    assert_eq!(std::fs::read_to_string(&again).unwrap(), html);

    let after = app.get_json(&operator, "/api/v1/admin/knobs").await;
    for name in [
        "emr.cache",
        "emr.dedup",
        "gateway.rate_limit.kind",
        "vendors.epic.latency.median",
    ] {
        assert_eq!(knob(&after, name), knob(&before, name), "{name} put back");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_broken_experiment_file_is_refused_with_its_name_and_the_mistake() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("broken.toml");
    std::fs::write(
        &file,
        EXPERIMENT.replace("better = \"lower\" },", "bettr = \"lower\" },"),
    )
    .unwrap();
    let output = experiment(vec![
        file.display().to_string(),
        "--url".into(),
        "http://127.0.0.1:9".into(),
    ])
    .await;
    assert_eq!(output.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("broken.toml") && stderr.contains("bettr"), "{stderr}");

    let output = experiment(vec!["no-such-lab".into()]).await;
    assert_eq!(output.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&output.stderr).contains("emrlab labs"));
}
