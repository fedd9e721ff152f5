//! The HTML report of a real run against the stall server: one self-contained page that parses
//! as XML, loads nothing, escapes what the result file says and draws its charts.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::Duration;

use emrlab_loadgen::{
    RunOptions, Scenario,
    html::{Arm, Report, render},
    plan::Plan,
    result::RunResult,
    scrape::Scrape,
    stall,
};

const HOSTILE: &str = "<script>alert('x')</script> & co";

const SCENARIO: &str = r#"
name = "report"
description = "two requests, one whose check fails"
[load]
model = "open"
start = 40
stages = [{ duration = "2s", target = 40 }]
max_vus = 10
[thresholds]
http_req_duration = ["p95<10s", "p99<1us"]
[[flows]]
name = "get"
steps = [
  { name = "NAME", request = "GET /", check = { status = [200] } },
  { name = "read chart", request = "GET /chart", check = { status = [201] } },
]
"#;

/// A two-second open run against a stall server that freezes for 100 ms every second.
async fn real_run() -> RunResult {
    let config = stall::Config {
        stall_every: Duration::from_secs(1),
        stall_for: Duration::from_millis(100),
        ..stall::Config::default()
    };
    let (url, _stop) = emrlab_common::testing::serve(stall::router(config)).await.unwrap();
    let scenario = Scenario::parse(&SCENARIO.replace("NAME", HOSTILE), "report.toml").unwrap();
    let plan = Plan::compile(scenario.clone(), &url).unwrap();
    let options = RunOptions {
        workers: 1,
        progress: false,
        scrape: vec![],
        scrape_every: Duration::from_secs(5),
        started: None,
    };
    let started = time::OffsetDateTime::now_utc();
    let outcome = tokio::task::spawn_blocking(move || emrlab_loadgen::run(plan, &options).unwrap())
        .await
        .unwrap();
    let mut result = RunResult::new(&scenario, &url, &outcome, started);
    // The stall server has no /metrics; these are the series `emrlab up` exposes, as scraped.
    result.scraped = (1..=3).map(|i| scrape(f64::from(i) * 0.6, f64::from(i))).collect();
    result.knobs = [
        ("db.pool_size".to_owned(), serde_json::json!(10)),
        ("gateway.rate_limit.kind".to_owned(), serde_json::json!("token_bucket")),
    ]
    .into_iter()
    .collect();
    result
}

fn scrape(t: f64, i: f64) -> Scrape {
    let series = [
        (r#"emrlab_db_pool_connections_in_use{component="task"}"#, i),
        (
            r#"emrlab_db_pool_acquire_duration_seconds_sum{component="task"}"#,
            0.01 * i * i,
        ),
        (
            r#"emrlab_db_pool_acquire_duration_seconds_count{component="task"}"#,
            10.0 * i,
        ),
        (
            r#"emrlab_cache_requests_total{component="emr",cache="moka",result="hit"}"#,
            8.0 * i,
        ),
        (
            r#"emrlab_cache_requests_total{component="emr",cache="moka",result="miss"}"#,
            2.0 * i,
        ),
        (r#"emrlab_emr_breaker_state{component="emr",vendor="epic"}"#, i - 1.0),
        (
            r#"emrlab_emr_vendor_call_duration_seconds_sum{component="emr",vendor="epic",operation="patient",outcome="ok"}"#,
            0.2 * i,
        ),
        (
            r#"emrlab_emr_vendor_call_duration_seconds_count{component="emr",vendor="epic",operation="patient",outcome="ok"}"#,
            4.0 * i,
        ),
        (
            r#"emrlab_gateway_rate_limited_total{component="gateway",limiter="requests"}"#,
            5.0 * i * i,
        ),
    ];
    Scrape {
        url: "http://127.0.0.1:8080/metrics".into(),
        t,
        series: series.iter().map(|(s, v)| ((*s).to_owned(), *v)).collect(),
    }
}

/// The page parsed as XML (the doctype is the only DTD), or a panic that says where it breaks.
fn parse(html: &str) -> roxmltree::Document<'_> {
    let options = roxmltree::ParsingOptions {
        allow_dtd: true,
        ..Default::default()
    };
    roxmltree::Document::parse_with_options(html, options).unwrap_or_else(|e| panic!("not well-formed: {e}"))
}

/// Nothing in the page makes a browser fetch anything.
fn assert_self_contained(html: &str, doc: &roxmltree::Document<'_>) {
    for banned in ["<script", "<link", "@import", "url(", "<img", "<iframe"] {
        assert!(!html.to_lowercase().contains(banned), "the page contains {banned}");
    }
    for node in doc.descendants().filter(|n| n.is_element()) {
        let tag = node.tag_name().name();
        assert!(node.attribute("src").is_none(), "<{tag}> has a src");
        if let Some(href) = node.attribute("href") {
            assert!(
                tag == "a" && (href.starts_with('#') || href.starts_with("https://")),
                "<{tag} href={href:?}> is not a link for reading"
            );
        }
        if tag == "style" {
            let css = node.text().unwrap_or_default();
            assert!(!css.contains("url(") && !css.contains("@import") && !css.contains("@font-face"));
        }
    }
}

fn text(doc: &roxmltree::Document<'_>) -> String {
    doc.descendants()
        .filter(|n| n.is_text())
        .filter_map(|n| n.text())
        .collect::<Vec<_>>()
        .join(" ")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_report_is_one_offline_page_with_charts_tables_and_escaped_names() {
    let result = real_run().await;
    assert!(result.totals.requests >= 40, "{} requests", result.totals.requests);
    let html = render(&Report {
        title: "Report of <a run>".into(),
        summary_html: String::new(),
        arms: vec![Arm {
            label: "rep".into(),
            result: &result,
        }],
    });
    let doc = parse(&html);
    assert_self_contained(&html, &doc);
    let svgs = doc.descendants().filter(|n| n.has_tag_name("svg")).count();
    // Latency, throughput, VUs and the percentile distribution, then six server-side charts.
    assert!(svgs >= 10, "{svgs} charts");
    let text = text(&doc);
    for expected in [
        HOSTILE,
        "read chart",
        "Report of <a run>",
        "gateway.rate_limit.kind",
        "token_bucket",
        "DB pool connections in use",
        "Cache hit ratio (per interval)",
        "p99<1us",
        "✗ fail",
    ] {
        assert!(text.contains(expected), "{expected:?} is not in the page");
    }
    assert!(!text.contains("not scraped"), "every server chart has its series");
    let machine = &result.machine;
    assert!(text.contains(&machine.cpus.to_string()) && text.contains(&machine.os));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_runs_sit_side_by_side_and_a_knob_that_differs_is_marked() {
    let before = real_run().await;
    let mut after = before.clone();
    after.knobs.insert("db.pool_size".into(), serde_json::json!(40));
    after.scraped.clear();
    let html = render(&Report {
        title: "pool 10 against 40".into(),
        summary_html: "<table><tr><td>verdict: better</td></tr></table>".into(),
        arms: vec![
            Arm {
                label: "pool-10".into(),
                result: &before,
            },
            Arm {
                label: "pool-40".into(),
                result: &after,
            },
        ],
    });
    let doc = parse(&html);
    assert_self_contained(&html, &doc);
    let text = text(&doc);
    assert!(text.contains("verdict: better") && text.contains("pool-40: p99"));
    let differs: Vec<String> = doc
        .descendants()
        .filter(|n| n.has_tag_name("tr") && n.attribute("class") == Some("differs"))
        .map(|n| {
            n.descendants()
                .filter(|d| d.is_text())
                .filter_map(|d| d.text())
                .collect()
        })
        .collect();
    assert_eq!(differs, ["db.pool_size1040"]);
    // Each request name has one row per run.
    let rows = doc
        .descendants()
        .filter(|n| n.has_tag_name("td") && n.text() == Some("read chart"))
        .count();
    assert!(rows >= 2, "{rows} rows of `read chart`");
}
