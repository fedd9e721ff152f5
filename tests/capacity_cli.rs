//! `emrlab capacity` as a user runs it, against the stall server: the exit code and message when
//! the SLO breaks at the first step, the result file and the report, and a bad `--slo`.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::process::Command;

use serde_json::Value;

const SCENARIO: &str = r#"
name = "cli"
[load]
model = "open"
start = 10
stages = [{ duration = "1s", target = 10 }]
[[flows]]
name = "get"
steps = [{ name = "root", request = "GET /", check = { status = [200] } }]
"#;

async fn capacity(args: Vec<String>) -> std::process::Output {
    tokio::task::spawn_blocking(move || {
        Command::new(env!("CARGO_BIN_EXE_emrlab"))
            .arg("capacity")
            .args(args)
            .output()
            .unwrap()
    })
    .await
    .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_slo_broken_at_the_first_step_exits_99_and_says_so_with_the_files_written() {
    let config = emrlab_loadgen::stall::Config {
        service_time: std::time::Duration::from_millis(20),
        ..Default::default()
    };
    let (url, _stop) = emrlab_common::testing::serve(emrlab_loadgen::stall::router(config))
        .await
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("s.toml");
    std::fs::write(&file, SCENARIO).unwrap();
    let (out, report) = (dir.path().join("c.json"), dir.path().join("c.html"));
    let mut args: Vec<String> = vec![file.display().to_string(), "--url".into(), url];
    args.extend(
        [
            "--slo",
            "root:p95<1ms",
            "--sweep",
            "20,40",
            "--warmup",
            "0s",
            "--measured",
            "1s",
            "--out",
        ]
        .map(String::from),
    );
    args.extend([
        out.display().to_string(),
        "--report".into(),
        report.display().to_string(),
    ]);
    let output = capacity(args.clone()).await;
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(99), "{stderr}");
    assert!(stderr.contains("the SLO broke at the first step (20)"), "{stderr}");
    let result: Value = serde_json::from_slice(&std::fs::read(&out).unwrap()).unwrap();
    assert_eq!(result["format"], "emrlab-capacity-result/1");
    assert_eq!(result["stop"]["kind"], "broken_at_first_step");
    assert_eq!(result["steps"].as_array().unwrap().len(), 1, "the sweep stopped");
    assert_eq!(result["steps"][0]["slo"][0]["ok"], false);
    // Each step is a load result file, as `emrlab report` and `compare` read them.
    assert_eq!(result["steps"][0]["result"]["format"], "emrlab-load-result/1");
    assert!(
        std::fs::read_to_string(&report)
            .unwrap()
            .contains("Saturation signals against load")
    );

    let slo_at = args.iter().position(|a| a == "root:p95<1ms").unwrap();
    args[slo_at] = "rooot:p95<1s".into();
    let output = capacity(args).await;
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("no request named `rooot`"), "{stderr}");
}
