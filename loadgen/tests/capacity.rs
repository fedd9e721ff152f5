//! The capacity search against the stall server, whose capacity is known: `workers` slots each
//! busy `service_time` per request serve at most workers / service_time requests per second.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::Duration;

use emrlab_loadgen::{
    Model, ad_hoc,
    capacity::{self, CapacityResult, Mode, Options, Stop, slo::Slo},
    stall,
};

async fn stall_server(config: stall::Config) -> (String, tokio_util::sync::DropGuard) {
    emrlab_common::testing::serve(stall::router(config)).await.unwrap()
}

/// Short steps: 1 s warm-up, 2 s measured; no budget to speak of.
fn options(mode: Mode, workers: usize) -> Options {
    Options {
        mode,
        model: Model::Open,
        warmup: Duration::from_secs(1),
        measured: Duration::from_secs(2),
        repeats: 1,
        budget: Duration::from_secs(600),
        workers,
        scrape: Vec::new(),
        scrape_every: Duration::from_secs(1),
    }
}

async fn capacity(scenario: emrlab_loadgen::Scenario, url: String, slo: &str, options: Options) -> CapacityResult {
    let slo = Slo::parse(slo, &["GET /".to_owned()]).unwrap();
    tokio::task::spawn_blocking(move || capacity::run(&scenario, &url, &slo, &options, &mut |_| {}).unwrap())
        .await
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_search_finds_the_servers_capacity_within_the_stated_tolerance() {
    // 10 slots × 50 ms: 200 requests/s. Below it a request takes 50 ms; above it the queue (and
    // the corrected latency) grows for as long as the step lasts, past the 250 ms objective.
    let config = stall::Config {
        workers: 10,
        service_time: Duration::from_millis(50),
        ..stall::Config::default()
    };
    let analytic = 200.0;
    let (url, _stop) = stall_server(config).await;
    let mode = Mode::Search {
        start: 50.0,
        factor: 2.0,
        resolution: 0.1,
        max: 1_000.0,
    };
    let base = ad_hoc("/", Some(1.0), None, Duration::from_secs(1));
    let result = capacity(base, url, "p95<250ms,errors<1%", options(mode, 2)).await;
    let found = result.sustainable.as_ref().expect("a sustainable load").load;
    // Tolerance: 25% below (the bisection's resolution, a timer's overshoot of each 50 ms and a
    // shared machine's noise all make a step fail early), 10% above (a step this short at a
    // rate a little over capacity may not yet have queued past the objective).
    assert!(
        (0.75 * analytic..=1.1 * analytic).contains(&found),
        "found {found} iterations/s, analytic {analytic}: {}",
        result.text()
    );
    assert_eq!(result.stop, Stop::Found, "{}", result.text());
    assert!(
        result.steps.iter().any(|s| s.load > found && !s.ok),
        "a load above the answer broke the SLO"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dropped_iterations_with_the_slo_met_are_reported_as_a_generator_limit() {
    let config = stall::Config {
        service_time: Duration::from_millis(20),
        ..stall::Config::default()
    };
    let (url, _stop) = stall_server(config).await;
    // One VU and no queue: at most ~50 iterations/s leave the generator; the server could take
    // 64 / 20 ms = 3,200/s. 200/s asked, the rest dropped, and what was sent is fast.
    let mut base = ad_hoc("/", Some(1.0), Some(1), Duration::from_secs(1));
    base.load.max_waiting = 0;
    let result = capacity(
        base,
        url,
        "p95<500ms,errors<1%",
        options(Mode::Sweep(vec![200.0, 400.0]), 1),
    )
    .await;
    let Stop::GeneratorLimit { load, reason } = &result.stop else {
        panic!("not a generator limit: {}", result.text());
    };
    assert_eq!(*load, 200.0);
    assert!(reason.contains("iterations dropped"), "{reason}");
    assert_eq!(result.steps.len(), 1, "the sweep stops at the generator's limit");
    assert!(result.steps[0].slo.iter().all(|v| v.ok));
    assert!(
        result.verdict().contains("GENERATOR was the limit"),
        "{}",
        result.verdict()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_slo_broken_at_the_first_step_stops_with_no_answer_and_names_the_broken_term() {
    let config = stall::Config {
        service_time: Duration::from_millis(30),
        ..stall::Config::default()
    };
    let (url, _stop) = stall_server(config).await;
    let base = ad_hoc("/", Some(1.0), None, Duration::from_secs(1));
    let mode = Mode::Search {
        start: 20.0,
        factor: 2.0,
        resolution: 0.1,
        max: 1_000.0,
    };
    let result = capacity(base, url, "p95<5ms", options(mode, 1)).await;
    assert_eq!(result.stop, Stop::BrokenAtFirstStep);
    assert_eq!((result.steps.len(), result.sustainable.clone()), (1, None));
    let broken = &result.steps[0].slo[0];
    assert!(!broken.ok && broken.actual.unwrap() >= 30.0, "{broken:?}");
    assert!(result.verdict().contains("the SLO broke at the first step"));
    // The report draws the curves and each step, and parses as XML.
    let page = emrlab_loadgen::html::capacity::page(&result);
    let xml = roxmltree::ParsingOptions {
        allow_dtd: true,
        ..Default::default()
    };
    roxmltree::Document::parse_with_options(&page, xml).unwrap();
    assert!(page.contains("Latency against throughput") && page.contains("20 iterations/s #1"));
}
