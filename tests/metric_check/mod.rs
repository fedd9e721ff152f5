//! What the dashboards and alert rules ask Prometheus for, and what the components export: the
//! metric names in a PromQL expression (parsed, not pattern-matched, so functions, keywords,
//! label names, durations and strings are never taken for metrics), in every query of a Grafana
//! dashboard and every expression of a rule file, and in a `/metrics` page.

use std::collections::BTreeSet;

use promql_parser::{
    label::MatchOp,
    parser::{Expr, VectorSelector},
    util::{ExprVisitor, walk_expr},
};
use serde_json::Value;

/// Series Prometheus makes itself: per scrape target (`up`, `scrape_*`) and per alert (`ALERTS`).
pub const MADE_BY_PROMETHEUS: [&str; 7] = [
    "up",
    "scrape_duration_seconds",
    "scrape_samples_scraped",
    "scrape_samples_post_metric_relabeling",
    "scrape_series_added",
    "ALERTS",
    "ALERTS_FOR_STATE",
];

/// Where a query was found (file, panel or rule) and its text.
#[derive(Debug)]
pub struct Query {
    pub place: String,
    pub expr: String,
}

/// The metric names `expr` selects. Grafana's interval variables (`$__rate_interval`) stand in
/// for a duration; any other variable may only appear inside a string (a label value).
pub fn metric_names(expr: &str) -> Result<BTreeSet<String>, String> {
    let ast = promql_parser::parser::parse(&with_grafana_intervals(expr))?;
    let mut names = Names::default();
    walk_expr(&mut names, &ast)?;
    Ok(names.0)
}

#[derive(Default)]
struct Names(BTreeSet<String>);

impl Names {
    fn add(&mut self, selector: &VectorSelector) {
        self.0.extend(selector.name.clone());
        // `{__name__="x"}` selects x as surely as `x` does; a regex on the name selects no one name.
        let matchers = &selector.matchers;
        for matcher in matchers.matchers.iter().chain(matchers.or_matchers.iter().flatten()) {
            if matcher.name == "__name__" && matches!(matcher.op, MatchOp::Equal) {
                self.0.insert(matcher.value.clone());
            }
        }
    }
}

impl ExprVisitor for Names {
    type Error = String;

    fn pre_visit(&mut self, expr: &Expr) -> Result<bool, String> {
        match expr {
            Expr::VectorSelector(selector) => self.add(selector),
            Expr::MatrixSelector(matrix) => self.add(&matrix.vs),
            _ => {}
        }
        Ok(true)
    }
}

/// Replaces `$__rate_interval`, `$__interval`, `$__range` (and their `${…}` forms) by `5m`.
fn with_grafana_intervals(expr: &str) -> String {
    let mut out = String::with_capacity(expr.len());
    let mut rest = expr;
    while let Some(at) = [rest.find("$__"), rest.find("${__")].into_iter().flatten().min() {
        out.push_str(&rest[..at]);
        let tail = &rest[at..];
        let braced = tail.starts_with("${");
        let name = &tail[if braced { 2 } else { 1 }..];
        let len = name
            .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
            .unwrap_or(name.len());
        out.push_str("5m");
        rest = &name[len..];
        if braced {
            rest = rest.strip_prefix('}').unwrap_or(rest);
        }
    }
    out.push_str(rest);
    out
}

/// A Grafana variable query as PromQL: `label_values(selector, label)` and `query_result(expr)`
/// name their metric inside; `label_values(label)` names none.
pub fn variable_query_expr(query: &str) -> Option<String> {
    let query = query.trim();
    if let Some(inner) = query.strip_prefix("label_values(").and_then(|q| q.strip_suffix(')')) {
        // The label is the last argument; a selector's own commas sit inside its braces.
        let (selector, _label) = inner.rsplit_once(',')?;
        return Some(selector.trim().to_owned());
    }
    if let Some(inner) = query.strip_prefix("query_result(").and_then(|q| q.strip_suffix(')')) {
        return Some(inner.to_owned());
    }
    Some(query.to_owned())
}

/// Every query of a dashboard: panel targets (rows' nested panels included) and variables.
pub fn dashboard_queries(file: &str, dashboard: &Value) -> Vec<Query> {
    let mut queries = Vec::new();
    for panel in all_panels(dashboard) {
        let title = panel["title"].as_str().unwrap_or("untitled");
        for target in panel["targets"].as_array().into_iter().flatten() {
            if let Some(expr) = target["expr"].as_str() {
                let place = format!(
                    "{file}: panel \"{title}\" (id {}) query {}",
                    panel["id"], target["refId"]
                );
                queries.push(Query {
                    place,
                    expr: expr.to_owned(),
                });
            }
        }
    }
    for variable in dashboard["templating"]["list"].as_array().into_iter().flatten() {
        if variable["type"] != "query" {
            continue;
        }
        let query = variable["query"]["query"].as_str().or(variable["query"].as_str());
        if let Some(expr) = query.and_then(variable_query_expr) {
            let place = format!("{file}: variable ${}", variable["name"].as_str().unwrap_or("?"));
            queries.push(Query { place, expr });
        }
    }
    queries
}

/// The panels of a dashboard, with those inside collapsed rows.
pub fn all_panels(dashboard: &Value) -> Vec<&Value> {
    let mut panels = Vec::new();
    for panel in dashboard["panels"].as_array().into_iter().flatten() {
        panels.push(panel);
        panels.extend(panel["panels"].as_array().into_iter().flatten());
    }
    panels
}

/// Every expression of a Prometheus rule file, and the names its recording rules define.
pub fn rule_queries(file: &str, rules: &serde_yaml_ng::Value) -> (Vec<Query>, BTreeSet<String>) {
    let (mut queries, mut defined) = (Vec::new(), BTreeSet::new());
    for group in rules["groups"].as_sequence().into_iter().flatten() {
        for rule in group["rules"].as_sequence().into_iter().flatten() {
            let name = rule["alert"].as_str().or(rule["record"].as_str()).unwrap_or("unnamed");
            if let Some(record) = rule["record"].as_str() {
                defined.insert(record.to_owned());
            }
            if let Some(expr) = rule["expr"].as_str() {
                let group = group["name"].as_str().unwrap_or("?");
                let place = format!("{file}: group {group} rule {name}");
                queries.push(Query {
                    place,
                    expr: expr.to_owned(),
                });
            }
        }
    }
    (queries, defined)
}

/// The metric names of a Prometheus text page: those with a sample (a histogram's `_bucket`,
/// `_sum` and `_count`), not those merely described by `# HELP`.
pub fn exported_names(page: &str) -> BTreeSet<String> {
    page.lines()
        .filter(|line| !line.starts_with('#') && !line.trim().is_empty())
        .filter_map(|line| line.split(['{', ' ']).next())
        .map(str::to_owned)
        .collect()
}

/// One line per query naming a metric outside `known`, or that does not parse.
pub fn unknown_names(queries: &[Query], known: &BTreeSet<String>) -> Vec<String> {
    let mut problems = Vec::new();
    for query in queries {
        match metric_names(&query.expr) {
            Ok(names) => problems.extend(
                names
                    .into_iter()
                    .filter(|name| !known.contains(name))
                    .map(|name| format!("{}: {name} is exported by no component", query.place)),
            ),
            Err(error) => problems.push(format!("{}: does not parse as PromQL: {error}", query.place)),
        }
    }
    problems
}

#[cfg(test)]
mod tests {
    use super::*;

    fn query(expr: &str) -> Vec<Query> {
        vec![Query {
            place: "made-up.json: panel \"p\"".into(),
            expr: expr.into(),
        }]
    }

    fn known(names: &[&str]) -> BTreeSet<String> {
        names.iter().map(|n| (*n).to_owned()).collect()
    }

    #[test]
    fn a_misspelt_metric_is_named_with_its_place() {
        let problems = unknown_names(
            &query(r#"sum by (route) (rate(emrlab_http_requests_totl{component="gateway"}[5m]))"#),
            &known(&["emrlab_http_request_duration_seconds_count"]),
        );
        assert_eq!(
            problems,
            ["made-up.json: panel \"p\": emrlab_http_requests_totl is exported by no component"]
        );
    }

    #[test]
    fn functions_keywords_labels_durations_strings_and_numbers_are_not_metrics() {
        let tricky = r#"
            histogram_quantile(0.95, sum without (instance) (rate(emrlab_http_request_duration_seconds_bucket{
                route=~"/api/v1/.+", status!~"5..", component="$component"}[$__rate_interval] offset 1h)))
            > bool on (component) group_left (vendor)
            max by (component, le) (emrlab_db_pool_connections_max)
            or label_replace(vector(1e3), "dst", "emrlab_not_a_metric_total", "src", "(.*)")
            unless ignoring (job) absent({__name__="emrlab_http_requests_in_flight"})
            and count_values("le", sum_over_time(up[${__range}:1m]))
            + 0x1f * -Inf"#;
        let names = metric_names(tricky).unwrap();
        assert_eq!(
            names,
            known(&[
                "emrlab_db_pool_connections_max",
                "emrlab_http_request_duration_seconds_bucket",
                "emrlab_http_requests_in_flight",
                "up",
            ])
        );
    }

    #[test]
    fn an_expression_that_does_not_parse_is_reported() {
        let problems = unknown_names(&query("rate(emrlab_x_total[$interval])"), &known(&[]));
        assert_eq!(problems.len(), 1);
        assert!(problems[0].contains("does not parse as PromQL"), "{problems:?}");
    }

    #[test]
    fn a_variable_query_names_the_metric_of_its_selector() {
        let expr =
            variable_query_expr(r#"label_values(emrlab_http_requests_in_flight{component=~"a|b", x="y"}, route)"#);
        assert_eq!(
            metric_names(&expr.unwrap()).unwrap(),
            known(&["emrlab_http_requests_in_flight"])
        );
    }

    #[test]
    fn recording_rule_outputs_are_defined_names() {
        let yaml = "groups:\n  - name: g\n    rules:\n      - record: job:x:rate5m\n        expr: sum(rate(x_total[5m]))\n      - alert: A\n        expr: job:x:rate5m > 1\n";
        let (queries, defined) = rule_queries("r.yml", &serde_yaml_ng::from_str(yaml).unwrap());
        assert_eq!(defined, known(&["job:x:rate5m"]));
        assert_eq!(queries[1].place, "r.yml: group g rule A");
        let mut all = defined;
        all.insert("x_total".into());
        assert!(unknown_names(&queries, &all).is_empty());
    }

    #[test]
    fn a_page_exports_sampled_names_only() {
        let page = "# HELP a_seconds time\n# TYPE a_seconds histogram\na_seconds_bucket{le=\"1\"} 0\na_seconds_sum 0\na_seconds_count 0\n# HELP described_only_total never recorded\nb 1\n";
        assert_eq!(
            exported_names(page),
            known(&["a_seconds_bucket", "a_seconds_count", "a_seconds_sum", "b"])
        );
    }
}
