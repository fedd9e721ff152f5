//! The labs: one experiment file per bottleneck the seed platforms met (`labs/*.toml`, with a
//! page each in docs/labs/), embedded so `emrlab experiment NAME` works from any directory.

/// (name, experiment file) of every lab, in the order a new engineer should take them.
pub const LABS: &[(&str, &str)] = &[("emr-cache", include_str!("../../labs/emr-cache.toml"))];

/// A lab's experiment file.
pub fn find(name: &str) -> Option<&'static str> {
    LABS.iter().find(|(n, _)| *n == name).map(|(_, text)| *text)
}
