//! The dashboards (deploy/grafana/dashboards) and alert rules (deploy/prometheus/rules) name only
//! metrics the components export, from the moment they start: a renamed or misspelt series fails
//! here, naming the file, the panel or rule and the metric, instead of drawing an empty panel or
//! an alert that can never fire.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod metric_check;
mod support;

use std::{
    collections::{BTreeSet, HashSet},
    path::{Path, PathBuf},
};

use metric_check::{
    MADE_BY_PROMETHEUS, Query, all_panels, dashboard_queries, exported_names, rule_queries, unknown_names,
};
use serde_json::Value;

fn files(dir: &str, extension: &str) -> Vec<PathBuf> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join(dir);
    let mut files: Vec<_> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|entry| entry.unwrap().path())
        .filter(|path| path.extension().is_some_and(|e| e == extension))
        .collect();
    files.sort();
    assert!(!files.is_empty(), "no *.{extension} in {}", dir.display());
    files
}

fn name(path: &Path) -> String {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    path.strip_prefix(root).unwrap_or(path).display().to_string()
}

fn dashboards() -> Vec<(String, Value)> {
    files("deploy/grafana/dashboards", "json")
        .into_iter()
        .map(|path| {
            let text = std::fs::read_to_string(&path).unwrap();
            let json = serde_json::from_str(&text).unwrap_or_else(|e| panic!("{}: not JSON: {e}", name(&path)));
            (name(&path), json)
        })
        .collect()
}

#[tokio::test]
async fn dashboards_and_rules_name_only_metrics_the_components_export_at_start() {
    // No traffic: a series that appears only with its first event leaves a panel empty and an
    // alert blind until then, so every name must be there from start-up.
    let app = support::spawn_app().await;
    let mut known: BTreeSet<String> = MADE_BY_PROMETHEUS.iter().map(|n| (*n).to_owned()).collect();
    let components = [
        &app.base,
        &app.task_base,
        &app.emr_base,
        &app.sync_base,
        &app.handover_base,
    ];
    for base in components.into_iter().chain(&app.vendor_bases) {
        known.extend(exported_names(&app.metrics(base).await));
    }

    let mut queries: Vec<Query> = Vec::new();
    for (file, dashboard) in dashboards() {
        queries.extend(dashboard_queries(&file, &dashboard));
    }
    for path in files("deploy/prometheus/rules", "yml") {
        let rules = serde_yaml_ng::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
        let (rule_exprs, recorded) = rule_queries(&name(&path), &rules);
        queries.extend(rule_exprs);
        known.extend(recorded);
    }
    assert!(
        queries.len() > 50,
        "only {} queries found: is the extraction reading the files?",
        queries.len()
    );

    let problems = unknown_names(&queries, &known);
    assert!(
        problems.is_empty(),
        "{} unknown metric name(s):\n{}",
        problems.len(),
        problems.join("\n")
    );
}

#[test]
fn every_dashboard_has_a_uid_a_title_the_emrlab_tag_and_unique_panel_ids() {
    let mut uids = HashSet::new();
    for (file, dashboard) in dashboards() {
        let uid = dashboard["uid"].as_str().unwrap_or_default();
        assert!(!uid.is_empty(), "{file}: no uid");
        assert!(uids.insert(uid.to_owned()), "{file}: uid {uid} is another dashboard's");
        assert!(
            dashboard["title"].as_str().is_some_and(|t| !t.is_empty()),
            "{file}: no title"
        );
        assert!(
            dashboard["tags"].as_array().unwrap().contains(&"emrlab".into()),
            "{file}: not tagged emrlab"
        );
        let mut ids = HashSet::new();
        for panel in all_panels(&dashboard) {
            let id = panel["id"]
                .as_u64()
                .unwrap_or_else(|| panic!("{file}: panel {} has no id", panel["title"]));
            assert!(ids.insert(id), "{file}: panel id {id} is used twice");
        }
    }
}
