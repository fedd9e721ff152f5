//! `emrlab up --split`: one OS process per component on one SQLite file, wired as the
//! containers are; a signal stops them all, and one dying stops the rest.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use std::{
    collections::HashMap,
    io::{BufRead, BufReader},
    process::{Child, Stdio},
    sync::mpsc,
    time::Duration,
};

use nix::{
    sys::signal::{Signal, kill},
    unistd::Pid,
};
use reqwest::StatusCode;
use serde_json::{Value, json};
use support::TestApp;

/// A running `emrlab up --split`: the parent, and each component's URL and pid from its banner.
struct Split {
    parent: Child,
    urls: HashMap<String, String>,
    pids: HashMap<String, i32>,
    /// Everything it printed so far, for failure messages.
    lines: mpsc::Receiver<String>,
}

fn start(data: &tempfile::TempDir) -> Split {
    let config = data.path().join("emrlab.toml");
    // The small seed, a cheap KDF and instant vendors keep the test fast; passing a config
    // file also proves the children read the same one.
    std::fs::write(
        &config,
        "[seed]\nprofile = \"small\"\n[auth]\nkdf_cost = 64\n\
         [vendors.epic.latency]\nkind = \"fixed\"\nmedian = \"0s\"\n\
         [vendors.cerner.latency]\nkind = \"fixed\"\nmedian = \"0s\"\n",
    )
    .unwrap();
    let mut parent = support::emrlab_command()
        .arg("--config")
        .arg(&config)
        .arg("--data-dir")
        .arg(data.path())
        .args(["up", "--split", "--gateway-addr", "127.0.0.1:0"])
        .env("RUST_LOG", "warn")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let (send, lines) = mpsc::channel();
    let outputs: [Box<dyn std::io::Read + Send>; 2] = [
        Box::new(parent.stdout.take().unwrap()),
        Box::new(parent.stderr.take().unwrap()),
    ];
    for output in outputs {
        let send = send.clone();
        std::thread::spawn(move || {
            for line in BufReader::new(output).lines().map_while(Result::ok) {
                let _ = send.send(line);
            }
        });
    }
    // The readers hold the only senders: the channel ends when the process's output does.
    drop(send);
    let (mut urls, mut pids, mut said) = (HashMap::new(), HashMap::new(), Vec::new());
    loop {
        let line = lines.recv_timeout(Duration::from_secs(120)).unwrap_or_else(|e| {
            panic!(
                "emrlab up --split printed no banner ({e}); it said:\n{}",
                said.join("\n")
            )
        });
        said.push(line.clone());
        if line == "Ctrl-C stops it." {
            break;
        }
        // "  task     http://127.0.0.1:40119 (pid 31747)"
        let words: Vec<&str> = line.split_whitespace().collect();
        if let [name, url, "(pid", pid] = words[..] {
            urls.insert(name.to_owned(), url.to_owned());
            pids.insert(name.to_owned(), pid.trim_end_matches(')').parse().unwrap());
        }
    }
    Split {
        parent,
        urls,
        pids,
        lines,
    }
}

fn alive(pid: i32) -> bool {
    // Signal 0 checks that the process exists; a reaped child no longer does.
    kill(Pid::from_raw(pid), None).is_ok()
}

fn wait_exit(child: &mut Child, within: Duration) -> std::process::ExitStatus {
    let deadline = std::time::Instant::now() + within;
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            return status;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "emrlab did not exit within {within:?}"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

impl Split {
    fn app(&self, data: tempfile::TempDir) -> TestApp {
        // The banner shows a simulator's FHIR base; the app wants scheme and address only.
        let base = |name: &str| self.urls[name].splitn(4, '/').take(3).collect::<Vec<_>>().join("/");
        TestApp::external(base, data)
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn every_component_runs_in_its_own_process_on_one_sqlite_file_and_a_signal_stops_them_all() {
    let data = tempfile::tempdir().unwrap();
    let mut split = start(&data);
    let components = ["gateway", "task", "emr", "sync", "handover", "epic", "cerner"];
    for name in components {
        assert!(split.pids.contains_key(name), "{name} is missing from the banner");
    }
    let mut pids: Vec<i32> = split.pids.values().copied().collect();
    pids.push(i32::try_from(split.parent.id()).unwrap());
    pids.sort_unstable();
    pids.dedup();
    assert_eq!(pids.len(), components.len() + 1, "one process each: {:?}", split.pids);
    let app = split.app(data);

    // Writes from several processes at once into the one SQLite file: logins (the gateway's
    // sessions), task creation (the task service) and knobs forwarded to every component.
    let nurse = app.login("nurse.0001").await;
    let patient = app.some_patient(&nurse).await;
    let writes = (0..24).map(|i| {
        let (app, nurse, patient) = (&app, &nurse, &patient);
        async move {
            let response = if i % 3 == 0 {
                app.login_response(&format!("nurse.{:04}", i / 3 + 2), "emrlab").await
            } else {
                app.post(
                    nurse,
                    "/api/v1/tasks",
                    json!({"title": format!("split {i}"), "patient_id": patient}),
                )
                .await
            };
            let status = response.status();
            assert!(status.is_success(), "a concurrent write failed: {status}");
            let body: Value = response.json().await.unwrap();
            body["id"].as_str().map(str::to_owned)
        }
    });
    let created: Vec<String> = futures::future::join_all(writes).await.into_iter().flatten().collect();
    assert_eq!(created.len(), 16);
    for id in &created {
        let task = app.get_json(&nurse, &format!("/api/v1/tasks/{id}")).await;
        assert!(task["title"].as_str().unwrap().starts_with("split "), "{task}");
    }
    let patient = app.get(&nurse, &format!("/api/v1/emr/patients/{patient}")).await;
    assert_eq!(patient.status(), StatusCode::OK, "gateway → EMR process → Epic process");
    let knobs = app.set_knobs(json!({"db.pool_size": 4})).await;
    assert_eq!(knobs.status(), StatusCode::OK, "a knob reaches the component processes");
    let knobs: Value = knobs.json().await.unwrap();
    let pool = knobs
        .as_array()
        .unwrap()
        .iter()
        .find(|k| k["name"] == "db.pool_size")
        .unwrap();
    assert_eq!(pool["value"], 4);

    kill(
        Pid::from_raw(i32::try_from(split.parent.id()).unwrap()),
        Signal::SIGTERM,
    )
    .unwrap();
    let status = wait_exit(&mut split.parent, Duration::from_secs(60));
    assert!(status.success(), "a signal is a clean stop: {status}");
    for (name, pid) in &split.pids {
        assert!(!alive(*pid), "{name} (pid {pid}) outlived emrlab up --split");
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_component_that_dies_stops_the_others_and_the_exit_says_which() {
    let data = tempfile::tempdir().unwrap();
    let mut split = start(&data);
    let task = split.pids["task"];
    kill(Pid::from_raw(task), Signal::SIGKILL).unwrap();
    let status = wait_exit(&mut split.parent, Duration::from_secs(60));
    assert!(!status.success(), "losing a component is a failure");
    for (name, pid) in &split.pids {
        assert!(!alive(*pid), "{name} (pid {pid}) kept running after task died");
    }
    let said: Vec<String> = split.lines.iter().collect();
    assert!(
        said.iter().any(|l| l.contains("task") && l.contains("exited")),
        "nothing said task exited: {said:#?}"
    );
}
