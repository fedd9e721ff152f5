//! `emrlab db report` and `emrlab db bench` as a user runs them: the built binary against a
//! freshly seeded database (the small profile), on SQLite always and on PostgreSQL when
//! `TEST_DATABASE_URL` is set.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use emrlab::PlatformConfig;
use serde_json::Value;

/// A seeded database and the directory its SQLite file (if any) lives in.
struct Seeded {
    url: String,
    dir: tempfile::TempDir,
}

async fn seeded(postgres: bool) -> Option<Seeded> {
    emrlab_common::telemetry::init_for_tests();
    let dir = tempfile::tempdir().unwrap();
    let mut cfg = PlatformConfig::for_tests(dir.path());
    if postgres {
        let server = emrlab_common::testing::postgres_url()?;
        cfg.database_url = Some(emrlab_common::testing::fresh_postgres_database(&server).await.unwrap());
    }
    let db = emrlab::open_database(&cfg, "test").await.unwrap();
    emrlab::seed(&cfg, &db).await.unwrap();
    db.close().await;
    Some(Seeded {
        url: cfg.database_url(),
        dir,
    })
}

/// Runs `emrlab <args>` against the database; its stdout, failing the test on a non-zero exit.
async fn emrlab(db: &Seeded, args: &[&str]) -> String {
    let mut command = support::emrlab_command();
    command
        .arg("--data-dir")
        .arg(db.dir.path())
        .arg("--database-url")
        .arg(&db.url)
        .args(args);
    let output = tokio::task::spawn_blocking(move || command.output().unwrap())
        .await
        .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
    assert!(
        output.status.success(),
        "emrlab {args:?} failed:\n{stdout}\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    stdout
}

async fn json_report(db: &Seeded) -> Value {
    serde_json::from_str(&emrlab(db, &["db", "report", "--format", "json"]).await).unwrap()
}

#[tokio::test]
async fn the_sqlite_report_explains_every_hot_query_and_counts_the_rows() {
    let db = seeded(false).await.unwrap();
    let report = json_report(&db).await;
    assert_eq!(report["backend"], "sqlite");
    let sqlite = &report["sqlite"];
    let plans = sqlite["plans"].as_array().unwrap();
    for wanted in [
        "task list",
        "task by id",
        "patient by id",
        "patient search",
        "dashboard",
        "audit events",
        "audit series",
    ] {
        let plan = plans
            .iter()
            .find(|p| p["name"].as_str().unwrap().starts_with(wanted))
            .unwrap_or_else(|| panic!("no plan for {wanted}: {plans:?}"));
        assert!(!plan["plan"].as_array().unwrap().is_empty(), "{plan}");
        assert!(plan["sql"].as_str().unwrap().starts_with("SELECT"), "{plan}");
    }
    let tasks = sqlite["tables"]
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["table"] == "tasks")
        .unwrap();
    assert!(tasks["rows"].as_i64().unwrap() > 0, "{tasks}");
    assert!(sqlite["size_bytes"].as_i64().unwrap() > 0);
    // The list and the lookups by id are served by indexes on the seeded schema.
    let by_id = plans.iter().find(|p| p["name"] == "task by id").unwrap();
    assert_eq!(by_id["full_scans"], serde_json::json!([]), "{by_id}");
    let text = emrlab(&db, &["db", "report"]).await;
    assert!(text.contains("query plans of the hot queries"), "{text}");
}

#[tokio::test]
async fn the_postgres_report_has_the_statements_or_how_to_enable_them_and_the_table_and_cache_sections() {
    let Some(db) = seeded(true).await else {
        return;
    };
    let report = json_report(&db).await;
    assert_eq!(report["backend"], "postgres");
    let pg = &report["postgres"];
    let statements = &pg["statements"];
    if statements["available"] == true {
        // The seeding just ran its statements through this database.
        assert!(!statements["top"].as_array().unwrap().is_empty(), "{statements}");
    } else {
        let steps = statements["how_to_enable"].to_string();
        assert!(
            steps.contains("shared_preload_libraries = 'pg_stat_statements'"),
            "{steps}"
        );
        assert!(steps.contains("CREATE EXTENSION pg_stat_statements"), "{steps}");
    }
    assert!(pg["dead_tuples"].is_array(), "{pg}");
    assert!(pg["missing_indexes"]["candidates"].is_array(), "{pg}");
    assert_eq!(pg["cache"]["target"], 0.95);
    assert!(pg["cache"]["blocks_hit"].as_i64().unwrap() > 0, "{pg}");
    assert!(pg["connections"]["max_connections"].as_i64().unwrap() > 0, "{pg}");
}

/// The bench's file: the load result format, ten query groups per index set, every pool level
/// either measured or skipped with a reason, and the indexes left as they were.
async fn the_bench_writes_ten_queries_per_index_set_and_the_pool_levels(postgres: bool) {
    let Some(db) = seeded(postgres).await else {
        return;
    };
    let out = db.dir.path().join("bench.json");
    let out_arg = out.to_str().unwrap().to_owned();
    let args = [
        "db",
        "bench",
        "--iterations",
        "1",
        "--stress-duration",
        "1s",
        "--out",
        &out_arg,
    ];
    let text = emrlab(&db, &args).await;
    assert!(text.contains("10_percentiles"), "{text}");
    let result: Value = serde_json::from_slice(&std::fs::read(&out).unwrap()).unwrap();
    assert_eq!(result["format"], "emrlab-load-result/1");
    let steps = result["steps"].as_array().unwrap();
    for set in ["seed", "none"] {
        let groups: Vec<&Value> = steps
            .iter()
            .filter(|s| s["name"].as_str().unwrap().starts_with(&format!("query/{set}/")))
            .collect();
        assert_eq!(groups.len(), 10, "{set}: {groups:?}");
        for g in groups {
            // One timed run each, and every query runs on the seeded schema.
            assert_eq!(
                (&g["requests"], &g["failed"]),
                (&serde_json::json!(1), &serde_json::json!(0)),
                "{g}"
            );
            assert!(g["corrected"]["p50_ms"].as_f64().unwrap() > 0.0, "{g}");
        }
    }
    let pool = result["db_bench"]["pool"].as_array().unwrap();
    let levels: Vec<u64> = pool.iter().map(|l| l["connections"].as_u64().unwrap()).collect();
    assert_eq!(levels, [10, 25, 50, 100]);
    for level in pool {
        let n = level["connections"].as_u64().unwrap();
        if level["skipped"].is_null() {
            let group = steps.iter().find(|s| s["name"] == format!("pool/{n}")).unwrap();
            assert!(group["requests"].as_u64().unwrap() > 0, "{group}");
            assert!(steps.iter().any(|s| s["name"] == format!("pool/{n}/acquire")));
        } else {
            assert!(
                level["skipped"].as_str().unwrap().contains("max_connections"),
                "{level}"
            );
        }
    }
    assert_eq!(result["db_bench"]["indexes_before"].as_array().unwrap().len(), 9);
    let cfg = PlatformConfig {
        database_url: Some(db.url.clone()),
        ..PlatformConfig::for_tests(db.dir.path())
    };
    let after = emrlab::open_database(&cfg, "test").await.unwrap();
    assert_eq!(emrlab_common::indexes::present(&after).await.unwrap().len(), 9);
    after.close().await;
}

#[tokio::test]
async fn the_bench_on_sqlite_writes_ten_queries_per_index_set_and_the_pool_levels() {
    the_bench_writes_ten_queries_per_index_set_and_the_pool_levels(false).await;
}

#[tokio::test]
async fn the_bench_on_postgres_writes_ten_queries_per_index_set_and_the_pool_levels() {
    the_bench_writes_ten_queries_per_index_set_and_the_pool_levels(true).await;
}
