//! The engine against the stall server, whose behaviour is known: request counts of an open run,
//! a stall the corrected percentiles must show, thresholds that break.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::Duration;

use emrlab_loadgen::{RunOptions, Scenario, ad_hoc, plan::Plan, run::Outcome, stall, stats::percentile_ms};

async fn stall_server(config: stall::Config) -> (String, tokio_util::sync::DropGuard) {
    emrlab_common::testing::serve(stall::router(config)).await.unwrap()
}

async fn run(scenario: Scenario, url: &str, workers: usize) -> Outcome {
    run_plan(Plan::compile(scenario, url).unwrap(), workers).await
}

async fn run_plan(plan: Plan, workers: usize) -> Outcome {
    let options = RunOptions {
        workers,
        progress: false,
        scrape: vec![],
        scrape_every: Duration::from_secs(5),
        started: None,
    };
    tokio::task::spawn_blocking(move || emrlab_loadgen::run(plan, &options).unwrap())
        .await
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_open_run_sends_exactly_rate_times_duration() {
    let (url, _stop) = stall_server(stall::Config::default()).await;
    let outcome = run(ad_hoc("/", Some(100.0), Some(50), Duration::from_secs(2)), &url, 2).await;
    let total = outcome.summary.total();
    assert_eq!((total.count(), outcome.summary.dropped, total.failed), (200, 0, 0));
    assert_eq!(outcome.summary.iterations, 200);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stall_shows_in_the_corrected_tail_and_hides_from_the_uncorrected() {
    // Ground truth: every second the server freezes for 300 ms; requests take ~1 ms otherwise.
    let stall_for = Duration::from_millis(300);
    let config = stall::Config {
        stall_every: Duration::from_secs(1),
        stall_for,
        ..stall::Config::default()
    };
    let (url, _stop) = stall_server(config).await;
    // One VU per worker, as wrk2 with one connection per thread: arrivals during a stall wait.
    let outcome = run(ad_hoc("/", Some(400.0), Some(2), Duration::from_secs(4)), &url, 2).await;
    let total = outcome.summary.total();
    let (corrected, uncorrected) = (
        percentile_ms(&total.corrected, 99.0),
        percentile_ms(&total.uncorrected, 99.0),
    );
    let stall_ms = stall_for.as_secs_f64() * 1_000.0;
    assert!(
        corrected >= 0.6 * stall_ms,
        "corrected p99 {corrected:.1} ms does not show the {stall_ms} ms stall"
    );
    assert!(
        uncorrected < 0.3 * stall_ms,
        "uncorrected p99 {uncorrected:.1} ms should hide it (coordinated omission)"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_broken_threshold_fails_the_run_and_a_kept_one_passes() {
    let config = stall::Config {
        service_time: Duration::from_millis(20),
        ..stall::Config::default()
    };
    let (url, _stop) = stall_server(config).await;
    let mut scenario = ad_hoc("/", None, Some(4), Duration::from_secs(1));
    scenario
        .thresholds
        .insert("http_req_duration".into(), vec!["p95<5ms".into()]);
    scenario
        .thresholds
        .insert("http_req_failed".into(), vec!["rate<0.01".into()]);
    let outcome = run(scenario, &url, 1).await;
    assert!(!outcome.passed());
    let by_metric = |m: &str| outcome.verdicts.iter().find(|v| v.metric == m).unwrap().ok;
    assert!(!by_metric("http_req_duration") && by_metric("http_req_failed"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_closed_run_keeps_its_vus_busy_and_reports_an_unreachable_target() {
    let (url, _stop) = stall_server(stall::Config {
        service_time: Duration::from_millis(10),
        ..stall::Config::default()
    })
    .await;
    let outcome = run(ad_hoc("/", None, Some(8), Duration::from_secs(2)), &url, 2).await;
    // 8 VUs back to back at ~10 ms each: well over a few hundred requests, none failed.
    let total = outcome.summary.total();
    assert!(
        total.count() > 300 && total.failed == 0,
        "{} requests, {} failed",
        total.count(),
        total.failed
    );
    let unreachable = run(
        ad_hoc("/", None, Some(2), Duration::from_millis(500)),
        "http://127.0.0.1:1",
        1,
    )
    .await;
    assert!(unreachable.summary.total().failed > 0);
    assert!(
        unreachable
            .aborts
            .keys()
            .any(|reason| reason.contains("did not answer"))
    );
}

async fn echo_server() -> (String, tokio_util::sync::DropGuard) {
    use axum::{
        extract::ws::{Message, WebSocketUpgrade},
        routing::get,
    };
    let app = axum::Router::new().route(
        "/ws",
        get(|upgrade: WebSocketUpgrade| async {
            upgrade.on_upgrade(|mut socket| async move {
                while let Some(Ok(Message::Text(text))) = socket.recv().await {
                    if socket.send(Message::Text(format!("echo:{text}").into())).await.is_err() {
                        return;
                    }
                }
            })
        }),
    );
    emrlab_common::testing::serve(app).await.unwrap()
}

fn ws_scenario(expect: &str, within: &str) -> Scenario {
    let text = format!(
        r#"
name = "ws"
[load]
model = "closed"
start = 2
stages = [{{ duration = "1s", target = 2 }}]
[[flows]]
name = "echo"
steps = [{{ name = "echo", ws = "/ws", send = "hello ${{vu}}", expect = "{expect}", within = "{within}", think = "10ms" }}]
"#
    );
    Scenario::parse(&text, "ws.toml").unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn websocket_steps_measure_message_latency_and_time_out_clearly() {
    let (url, _stop) = echo_server().await;
    let outcome = run(ws_scenario("echo:hello", "1s"), &url, 1).await;
    let echo = outcome.summary.step("echo").unwrap();
    assert!(
        echo.count() > 20 && echo.failed == 0,
        "{} messages, {} failed",
        echo.count(),
        echo.failed
    );
    assert_eq!(echo.statuses.keys().copied().collect::<Vec<_>>(), [101]);
    let silent = run(ws_scenario("never", "100ms"), &url, 1).await;
    assert!(silent.summary.step("echo").unwrap().failed > 0);
    assert!(
        silent
            .aborts
            .keys()
            .any(|r| r.contains("no message containing `never` within 100ms")),
        "{:?}",
        silent.aborts
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn iterations_that_cannot_send_end_on_time_with_their_reason() {
    let (url, _stop) = stall_server(stall::Config::default()).await;
    let text = r#"
name = "broken"
[load]
model = "closed"
start = 2
stages = [{ duration = "1s", target = 2 }]
[[flows]]
name = "f"
steps = [{ name = "uses a token nobody captured", request = "GET /tasks?token=${token}" }]
"#;
    let scenario = Scenario::parse(text, "broken.toml").unwrap();
    let outcome = tokio::time::timeout(Duration::from_secs(20), run(scenario, &url, 1))
        .await
        .expect("the run must end");
    assert_eq!(outcome.summary.total().count(), 0);
    assert!(
        outcome.aborts.keys().any(|r| r.contains("variable `token` is not set")),
        "{:?}",
        outcome.aborts
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn teardown_steps_run_once_after_the_load_and_count_in_the_thresholds() {
    let (url, _stop) = stall_server(stall::Config::default()).await;
    let scenario = Scenario::parse(
        r#"
name = "with-teardown"
[load]
model = "open"
start = 20
stages = [{ duration = "1s", target = 20 }]
max_vus = 10
[thresholds]
"status:final check:200" = ["count==1"]
"status:load:200" = ["count==20"]
checks = ["rate==1"]
"checks:final check" = ["rate==1"]
"checks:load" = ["rate==1"]
[[flows]]
name = "load"
[[flows.steps]]
name = "load"
request = "GET /"
check = { status = [200] }
[[teardown.steps]]
name = "final check"
request = "GET /"
check = { status = [201] }
"#,
        "with-teardown.toml",
    )
    .unwrap();
    let outcome = run(scenario, &url, 2).await;
    let verdict = |m: &str| outcome.verdicts.iter().find(|v| v.metric == m).unwrap();
    assert!(verdict("status:final check:200").ok, "{:?}", outcome.verdicts);
    assert!(verdict("status:load:200").ok, "{:?}", outcome.verdicts);
    // The teardown's check expected a 201 and got a 200: the run fails on it, and a threshold on
    // that step's checks alone names it.
    assert!(!verdict("checks").ok && !outcome.passed());
    assert!(!verdict("checks:final check").ok && verdict("checks:load").ok);
    assert_eq!(outcome.summary.step("final check").unwrap().count(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_warm_up_is_left_out_of_the_counts_and_the_rate() {
    let (url, _stop) = stall_server(stall::Config::default()).await;
    let scenario = ad_hoc("/", Some(100.0), Some(50), Duration::from_secs(3));
    let mut plan = Plan::compile(scenario.clone(), &url).unwrap();
    plan.warmup = Duration::from_secs(1);
    let outcome = run_plan(plan, 2).await;
    // 300 arrivals in 3 s; the first second's ~100 (each answered within a millisecond or so)
    // are gone, and the rate is over the 2 measured seconds.
    let counted = outcome.summary.total().count();
    assert!((195..=205).contains(&counted), "{counted} requests counted");
    let result = emrlab_loadgen::result::RunResult::new(&scenario, &url, &outcome, time::OffsetDateTime::UNIX_EPOCH);
    assert!(
        (97.0..=103.0).contains(&result.totals.requests_per_second),
        "{}",
        result.totals.requests_per_second
    );
    assert_eq!(outcome.summary.timeline.iter().map(|s| s.requests).sum::<u64>(), 300);
}
