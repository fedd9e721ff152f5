//! The labs: one experiment file per bottleneck the seed platforms met (`labs/*.toml`, with a
//! page each in docs/labs/), embedded so `emrlab experiment NAME` works from any directory.

/// (name, experiment file) of every lab, in the order a new engineer should take them.
pub const LABS: &[(&str, &str)] = &[
    ("emr-cache", include_str!("../../labs/emr-cache.toml")),
    (
        "coordinated-omission",
        include_str!("../../labs/coordinated-omission.toml"),
    ),
    ("emr-dedup", include_str!("../../labs/emr-dedup.toml")),
    ("breaker-timeout", include_str!("../../labs/breaker-timeout.toml")),
    ("bulkhead", include_str!("../../labs/bulkhead.toml")),
    ("cascade", include_str!("../../labs/cascade.toml")),
    ("db-pool", include_str!("../../labs/db-pool.toml")),
    ("pagination", include_str!("../../labs/pagination.toml")),
    ("n-plus-one", include_str!("../../labs/n-plus-one.toml")),
    ("indexes", include_str!("../../labs/indexes.toml")),
    ("dashboard-cache", include_str!("../../labs/dashboard-cache.toml")),
    ("overbooking", include_str!("../../labs/overbooking.toml")),
    ("rate-limit", include_str!("../../labs/rate-limit.toml")),
    ("token-expiry", include_str!("../../labs/token-expiry.toml")),
    ("login-storm", include_str!("../../labs/login-storm.toml")),
    ("sync-async", include_str!("../../labs/sync-async.toml")),
    ("ws-fanout", include_str!("../../labs/ws-fanout.toml")),
];

/// A lab's experiment file.
pub fn find(name: &str) -> Option<&'static str> {
    LABS.iter().find(|(n, _)| *n == name).map(|(_, text)| *text)
}

#[cfg(test)]
mod tests {
    #[test]
    fn every_lab_and_its_scenario_parse_and_it_has_a_page() {
        for (name, text) in super::LABS {
            let lab = crate::experiment::Experiment::parse(text, name).unwrap_or_else(|e| panic!("{e:#}"));
            assert_eq!(&lab.name, name);
            lab.scenario().unwrap_or_else(|e| panic!("{name}: {e:#}"));
            let page = format!("{}/../docs/labs/{name}.md", env!("CARGO_MANIFEST_DIR"));
            assert!(std::path::Path::new(&page).exists(), "{page} is missing");
        }
    }
}
