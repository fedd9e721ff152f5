//! The multi-value register: a field's writes that no later write has seen. Concurrent writes sit
//! side by side until someone writes over all of them; nothing is chosen by a wall clock.

use serde::{Deserialize, Serialize};

use crate::{Dot, VersionVector};

/// A value with the dot of the change that wrote it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Versioned<T> {
    pub dot: Dot,
    pub value: T,
}

/// A multi-value register. Its entries are kept sorted by dot (and so compare equal on every
/// replica that holds the same writes); JSON is that list, sorted again when read.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(
    from = "Vec<Versioned<T>>",
    bound(deserialize = "T: Deserialize<'de> + Clone + PartialEq")
)]
pub struct MvRegister<T>(Vec<Versioned<T>>);

impl<T> Default for MvRegister<T> {
    fn default() -> Self {
        Self(Vec::new())
    }
}

impl<T: Clone + PartialEq> From<Vec<Versioned<T>>> for MvRegister<T> {
    fn from(entries: Vec<Versioned<T>>) -> Self {
        let mut register = Self::default();
        entries.into_iter().for_each(|entry| register.insert(entry));
        register
    }
}

impl<T: Clone + PartialEq> MvRegister<T> {
    /// Records the write `dot` of `value` by a writer that had seen `seen`. It replaces each entry
    /// the writer had seen and `replaces` agrees to; entries it had not seen stay, as concurrent.
    pub fn write(&mut self, dot: Dot, value: T, seen: &VersionVector, replaces: impl Fn(&T) -> bool) {
        self.0.retain(|e| !(seen.contains(&e.dot) && replaces(&e.value)));
        self.insert(Versioned { dot, value });
    }

    /// State-based join with `other`, given what each side has seen. An entry one side has seen
    /// but no longer holds was replaced there, so it goes; an entry a side has not seen stays.
    /// Whether a write replaces an entry depends only on the two of them, so a replacement that
    /// happened on one side happens on every side that receives the same writes.
    pub fn join(&mut self, other: &Self, seen_here: &VersionVector, seen_there: &VersionVector) {
        let mine = std::mem::take(&mut self.0);
        for entry in &mine {
            if other.holds(&entry.dot) || !seen_there.contains(&entry.dot) {
                self.insert(entry.clone());
            }
        }
        for entry in &other.0 {
            if !self.holds(&entry.dot) && !seen_here.contains(&entry.dot) {
                self.insert(entry.clone());
            }
        }
    }

    /// The entries, sorted by dot.
    pub fn entries(&self) -> &[Versioned<T>] {
        &self.0
    }

    /// The value the view shows: the one with the greatest dot (counter, then replica id).
    pub fn shown(&self) -> Option<&T> {
        self.0.last().map(|e| &e.value)
    }

    /// Whether the entries hold two different values. Two people concurrently writing the same
    /// value leave two entries but nothing for anyone to resolve.
    pub fn is_conflicted(&self) -> bool {
        self.0.windows(2).any(|pair| pair[0].value != pair[1].value)
    }

    fn holds(&self, dot: &Dot) -> bool {
        self.0.binary_search_by(|e| e.dot.cmp(dot)).is_ok()
    }

    fn insert(&mut self, entry: Versioned<T>) {
        if let Err(at) = self.0.binary_search_by(|e| e.dot.cmp(&entry.dot)) {
            self.0.insert(at, entry);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ReplicaId;

    fn dot(r: &str, counter: u64) -> Dot {
        Dot {
            replica: ReplicaId::parse(r).unwrap(),
            counter,
        }
    }

    fn seen(dots: &[Dot]) -> VersionVector {
        let mut v = VersionVector::default();
        dots.iter().for_each(|d| v.observe(d));
        v
    }

    fn values(reg: &MvRegister<&'static str>) -> Vec<&'static str> {
        reg.entries().iter().map(|e| e.value).collect()
    }

    #[test]
    fn a_write_that_saw_the_value_replaces_it() {
        let mut reg = MvRegister::default();
        reg.write(dot("a", 1), "x", &seen(&[]), |_| true);
        reg.write(dot("b", 1), "y", &seen(&[dot("a", 1)]), |_| true);
        assert_eq!(values(&reg), ["y"]);
        assert!(!reg.is_conflicted());
    }

    #[test]
    fn concurrent_writes_stay_side_by_side_and_the_greatest_dot_is_shown() {
        let mut reg = MvRegister::default();
        reg.write(dot("b", 1), "from b", &seen(&[]), |_| true);
        reg.write(dot("a", 1), "from a", &seen(&[]), |_| true);
        assert_eq!(values(&reg), ["from a", "from b"]);
        assert!(reg.is_conflicted());
        assert_eq!(reg.shown(), Some(&"from b"));
        reg.write(dot("a", 2), "resolved", &seen(&[dot("a", 1), dot("b", 1)]), |_| true);
        assert_eq!(values(&reg), ["resolved"]);
    }

    #[test]
    fn the_same_value_written_concurrently_is_no_conflict() {
        let mut reg = MvRegister::default();
        reg.write(dot("a", 1), "same", &seen(&[]), |_| true);
        reg.write(dot("b", 1), "same", &seen(&[]), |_| true);
        assert_eq!(reg.entries().len(), 2);
        assert!(!reg.is_conflicted());
    }

    #[test]
    fn a_write_can_decline_to_replace_an_entry() {
        let mut reg = MvRegister::default();
        reg.write(dot("a", 1), "sticky", &seen(&[]), |_| true);
        reg.write(dot("a", 2), "later", &seen(&[dot("a", 1)]), |old| *old != "sticky");
        assert_eq!(values(&reg), ["sticky", "later"]);
    }

    #[test]
    fn join_drops_what_the_other_side_replaced_and_keeps_what_it_never_saw() {
        let mut here = MvRegister::default();
        here.write(dot("a", 1), "old", &seen(&[]), |_| true);
        let here_seen = seen(&[dot("a", 1)]);
        let mut there = here.clone();
        there.write(dot("b", 1), "new", &here_seen, |_| true);
        let there_seen = seen(&[dot("a", 1), dot("b", 1)]);
        let mut offline = MvRegister::default();
        offline.write(dot("c", 1), "offline", &seen(&[]), |_| true);

        here.join(&there, &here_seen, &there_seen);
        assert_eq!(values(&here), ["new"]);
        here.join(&offline, &there_seen, &seen(&[dot("c", 1)]));
        assert_eq!(values(&here), ["new", "offline"]);
    }
}
