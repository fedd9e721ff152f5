//! The built-in scenarios: the TOML files in `scenarios/`, embedded so `emrlab load NAME` works
//! from any directory.

/// (name, file contents) of every built-in scenario.
pub const SCENARIOS: &[(&str, &str)] = &[
    ("api-baseline", include_str!("../../scenarios/api-baseline.toml")),
    (
        "concurrent-users",
        include_str!("../../scenarios/concurrent-users.toml"),
    ),
    ("spike", include_str!("../../scenarios/spike.toml")),
    ("stress", include_str!("../../scenarios/stress.toml")),
    ("soak", include_str!("../../scenarios/soak.toml")),
    (
        "clinical-workflow",
        include_str!("../../scenarios/clinical-workflow.toml"),
    ),
    ("mixed-traffic", include_str!("../../scenarios/mixed-traffic.toml")),
    (
        "clinical-journeys",
        include_str!("../../scenarios/clinical-journeys.toml"),
    ),
    (
        "sync-performance",
        include_str!("../../scenarios/sync-performance.toml"),
    ),
    (
        "websocket-stress",
        include_str!("../../scenarios/websocket-stress.toml"),
    ),
    (
        "auth-high-contention",
        include_str!("../../scenarios/auth-high-contention.toml"),
    ),
    (
        "auth-high-throughput",
        include_str!("../../scenarios/auth-high-throughput.toml"),
    ),
    ("auth-mixed", include_str!("../../scenarios/auth-mixed.toml")),
];

/// A built-in scenario's text.
pub fn find(name: &str) -> Option<&'static str> {
    SCENARIOS.iter().find(|(n, _)| *n == name).map(|(_, text)| *text)
}

#[cfg(test)]
mod tests {
    #[test]
    fn every_built_in_scenario_parses_and_compiles() {
        for (name, text) in super::SCENARIOS {
            let scenario = crate::scenario::Scenario::parse(text, name).unwrap_or_else(|e| panic!("{e}"));
            assert_eq!(&scenario.name, name);
            crate::plan::Plan::compile(scenario, "http://127.0.0.1:8080").unwrap_or_else(|e| panic!("{name}: {e}"));
        }
    }
}
