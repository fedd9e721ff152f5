//! Who wrote a change and what they had seen: replica ids, dots and version vectors.

use std::cmp::Ordering;
use std::collections::BTreeMap;
use std::fmt;

use serde::{Deserialize, Serialize};

use crate::SyncError;

/// Long enough for a UUID with a prefix; short enough that a clock of many devices stays small.
const REPLICA_ID_MAX: usize = 64;

/// A replica of a task document: a device, or [`ReplicaId::server`] for changes made on the server.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct ReplicaId(String);

impl ReplicaId {
    /// The server's replica: changes made through the task REST API and resolutions of conflicts.
    pub fn server() -> Self {
        Self("server".to_owned())
    }

    /// Parses an id of 1 to 64 characters from `A-Z a-z 0-9 - _ . :` (a UUID fits). The narrow
    /// alphabet keeps ids safe to log and to use as JSON keys of a clock.
    pub fn parse(id: impl Into<String>) -> Result<Self, SyncError> {
        let id = id.into();
        let allowed = |c: char| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.' | ':');
        if id.is_empty() || id.len() > REPLICA_ID_MAX || !id.chars().all(allowed) {
            return Err(SyncError::invalid(
                "replica",
                format!("a replica id is 1 to {REPLICA_ID_MAX} characters from A-Z, a-z, 0-9, '-', '_', '.', ':'"),
            ));
        }
        Ok(Self(id))
    }

    /// The id as sent.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl TryFrom<String> for ReplicaId {
    type Error = SyncError;

    fn try_from(id: String) -> Result<Self, SyncError> {
        Self::parse(id)
    }
}

impl From<ReplicaId> for String {
    fn from(id: ReplicaId) -> Self {
        id.0
    }
}

impl fmt::Display for ReplicaId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// The identity of one change: the `counter`-th change written by `replica` (counters start at 1).
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Dot {
    pub replica: ReplicaId,
    pub counter: u64,
}

/// Dots order by counter, then replica id. Across replicas the order means nothing causally, but
/// every replica computes it alike, which is what the view's tie-break needs (no wall clock).
impl Ord for Dot {
    fn cmp(&self, other: &Self) -> Ordering {
        self.counter
            .cmp(&other.counter)
            .then_with(|| self.replica.cmp(&other.replica))
    }
}

impl PartialOrd for Dot {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

/// How two version vectors relate.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Causality {
    Equal,
    /// Everything the left side has seen, the right has seen too, and more.
    Before,
    After,
    /// Each side has seen a change the other has not.
    Concurrent,
}

/// For each replica, how many of its changes have been seen. Since a document only takes a
/// replica's changes in counter order, "seen counter n" means "seen changes 1 to n".
/// JSON: `{"server": 12, "tablet-7": 3}`; a replica never seen is absent, never 0.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "BTreeMap<ReplicaId, u64>")]
pub struct VersionVector(BTreeMap<ReplicaId, u64>);

impl VersionVector {
    /// How many changes of `replica` have been seen.
    pub fn get(&self, replica: &ReplicaId) -> u64 {
        self.0.get(replica).copied().unwrap_or(0)
    }

    /// Whether the change `dot` has been seen.
    pub fn contains(&self, dot: &Dot) -> bool {
        dot.counter <= self.get(&dot.replica)
    }

    /// Records that `dot` (and so every earlier change of its replica) has been seen.
    pub fn observe(&mut self, dot: &Dot) {
        if dot.counter > self.get(&dot.replica) {
            self.0.insert(dot.replica.clone(), dot.counter);
        }
    }

    /// Pointwise maximum: what either side has seen.
    pub fn merge(&mut self, other: &Self) {
        for (replica, &counter) in &other.0 {
            self.observe(&Dot {
                replica: replica.clone(),
                counter,
            });
        }
    }

    /// Whether this side has seen everything `other` has (equal counts as dominating).
    pub fn dominates(&self, other: &Self) -> bool {
        other.0.iter().all(|(replica, &counter)| counter <= self.get(replica))
    }

    /// Compares what the two sides have seen.
    pub fn compare(&self, other: &Self) -> Causality {
        match (self.dominates(other), other.dominates(self)) {
            (true, true) => Causality::Equal,
            (false, true) => Causality::Before,
            (true, false) => Causality::After,
            (false, false) => Causality::Concurrent,
        }
    }

    /// Every replica with its count, in replica id order.
    pub fn iter(&self) -> impl Iterator<Item = (&ReplicaId, u64)> {
        self.0.iter().map(|(replica, &counter)| (replica, counter))
    }

    /// The number of changes seen in all. A change's total is larger than that of every change it
    /// has seen, so sorting by it puts a batch in an order where causes come first.
    pub(crate) fn total(&self) -> u128 {
        self.0.values().map(|&c| u128::from(c)).sum()
    }
}

impl TryFrom<BTreeMap<ReplicaId, u64>> for VersionVector {
    type Error = SyncError;

    fn try_from(map: BTreeMap<ReplicaId, u64>) -> Result<Self, SyncError> {
        // A 0 would make two equal clocks compare unequal as maps; absent is the one spelling.
        if let Some((replica, _)) = map.iter().find(|&(_, &counter)| counter == 0) {
            return Err(SyncError::invalid(
                "context",
                format!("counters start at 1; leave out replica {replica} instead of sending 0"),
            ));
        }
        Ok(Self(map))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn id(s: &str) -> ReplicaId {
        ReplicaId::parse(s).unwrap()
    }

    fn vv(entries: &[(&str, u64)]) -> VersionVector {
        let mut v = VersionVector::default();
        for &(r, c) in entries {
            v.observe(&Dot {
                replica: id(r),
                counter: c,
            });
        }
        v
    }

    #[test]
    fn compare_tells_before_after_equal_and_concurrent() {
        let a = vv(&[("a", 2), ("b", 1)]);
        assert_eq!(a.compare(&a.clone()), Causality::Equal);
        assert_eq!(vv(&[("a", 1)]).compare(&a), Causality::Before);
        assert_eq!(a.compare(&vv(&[("a", 1)])), Causality::After);
        assert_eq!(a.compare(&vv(&[("b", 2)])), Causality::Concurrent);
        assert!(a.dominates(&vv(&[("a", 2)])) && !vv(&[("a", 2)]).dominates(&a));
    }

    #[test]
    fn merge_is_the_pointwise_maximum() {
        let mut a = vv(&[("a", 3), ("b", 1)]);
        a.merge(&vv(&[("b", 4), ("c", 1)]));
        assert_eq!(a, vv(&[("a", 3), ("b", 4), ("c", 1)]));
        assert!(a.contains(&Dot {
            replica: id("b"),
            counter: 4
        }));
        assert!(!a.contains(&Dot {
            replica: id("c"),
            counter: 2
        }));
    }

    #[test]
    fn clocks_are_json_objects_of_counters() {
        let clock = vv(&[("server", 12), ("tablet-7", 3)]);
        let json = serde_json::to_string(&clock).unwrap();
        assert_eq!(json, r#"{"server":12,"tablet-7":3}"#);
        assert_eq!(serde_json::from_str::<VersionVector>(&json).unwrap(), clock);
    }

    #[test]
    fn malformed_clocks_are_refused() {
        for bad in [
            r#"{"a":0}"#,
            r#"{"":1}"#,
            r#"{"a b":1}"#,
            r#"{"a":-1}"#,
            r#"{"a":"1"}"#,
            "[1]",
        ] {
            assert!(
                serde_json::from_str::<VersionVector>(bad).is_err(),
                "{bad} was accepted"
            );
        }
        let long = format!(r#"{{"{}":1}}"#, "x".repeat(65));
        assert!(serde_json::from_str::<VersionVector>(&long).is_err());
        let longest = format!(r#"{{"{}":1}}"#, "x".repeat(64));
        assert!(serde_json::from_str::<VersionVector>(&longest).is_ok());
    }
}
