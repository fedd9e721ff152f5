//! The replicated task document: applying changes, joining states, and making local changes
//! (server edits and resolutions). The rules are described in the [`crate::merge`] docs.

use std::collections::{BTreeMap, BTreeSet};

use serde::{Deserialize, Serialize, Serializer};

use crate::{
    Change, Field, FieldValue, MvRegister, Note, NoteId, Op, ReplicaId, Status, SyncError, VersionVector, Versioned,
};

/// What [`TaskDoc::apply`] did with a change.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Applied {
    /// The change was new and is now part of the document.
    New,
    /// The document already had it (a resent or reordered batch); nothing changed.
    Duplicate,
}

/// What [`TaskDoc::apply_batch`] did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct BatchReport {
    pub applied: usize,
    pub duplicates: usize,
}

/// A field holding concurrent values for a person to choose between.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Conflict {
    pub field: Field,
    /// Sorted by dot; the last is the one the view shows meanwhile.
    pub values: Vec<Versioned<FieldValue>>,
}

/// One task as a replicated document. Every replica holding the same changes holds an equal
/// document, whatever order, duplication or batching they arrived in.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "DocState")]
pub struct TaskDoc {
    pub(crate) clock: VersionVector,
    pub(crate) fields: BTreeMap<Field, MvRegister<FieldValue>>,
    pub(crate) status: MvRegister<Status>,
    #[serde(serialize_with = "notes_as_list")]
    pub(crate) notes: BTreeMap<NoteId, Note>,
}

impl TaskDoc {
    /// Which changes the document holds.
    pub fn clock(&self) -> &VersionVector {
        &self.clock
    }

    /// Applies one change, or refuses it and changes nothing.
    ///
    /// - A change the document already has (its counter is at most the clock's count for its
    ///   replica) is a [`Applied::Duplicate`]: resent and reordered batches are harmless.
    /// - A replica's changes are taken in counter order; skipping one is a [`SyncError::Gap`].
    /// - A context counting changes of another replica beyond the document's clock is a
    ///   [`SyncError::ClockFromFuture`]: a device can only have seen what reached it through here.
    /// - A note id already used by a note with other content is [`SyncError::NoteIdTaken`].
    pub fn apply(&mut self, change: &Change) -> Result<Applied, SyncError> {
        let dot = change.dot();
        let known = self.clock.get(&dot.replica);
        if dot.counter <= known {
            return Ok(Applied::Duplicate);
        }
        if dot.counter > known + 1 {
            return Err(SyncError::Gap {
                replica: dot.replica,
                expected: known + 1,
                counter: dot.counter,
            });
        }
        // The writer's own entry is counter − 1 = known here, so only other replicas can fail this.
        if let Some((of, claimed)) = change.context().iter().find(|&(r, c)| c > self.clock.get(r)) {
            return Err(SyncError::ClockFromFuture {
                replica: dot.replica,
                counter: dot.counter,
                of: of.clone(),
                claimed,
                known: self.clock.get(of),
            });
        }
        let seen = change.context();
        match change.op() {
            Op::Set(value) => {
                self.fields
                    .entry(value.field())
                    .or_default()
                    .write(dot.clone(), value.clone(), seen, |_| true);
            }
            Op::SetStatus(status) => {
                let status = *status;
                // A final status yields only to one at least as great: see the status rule.
                self.status
                    .write(dot.clone(), status, seen, |old| !old.is_final() || status >= *old);
            }
            Op::AddNote(note) => match self.notes.get(&note.id) {
                Some(existing) if existing != note => return Err(SyncError::NoteIdTaken(note.id)),
                _ => {
                    self.notes.insert(note.id, note.clone());
                }
            },
        }
        self.clock.observe(&dot);
        Ok(Applied::New)
    }

    /// Applies a batch all or nothing: on any error the document is left as it was. The batch
    /// may come in any order; it is sorted so that every change follows the changes it had seen.
    pub fn apply_batch(&mut self, changes: &[Change]) -> Result<BatchReport, SyncError> {
        let mut ordered: Vec<&Change> = changes.iter().collect();
        ordered.sort_by_cached_key(|c| (c.context().total(), c.dot()));
        let mut next = self.clone();
        let mut report = BatchReport::default();
        for change in ordered {
            match next.apply(change)? {
                Applied::New => report.applied += 1,
                Applied::Duplicate => report.duplicates += 1,
            }
        }
        *self = next;
        Ok(report)
    }

    /// Makes a change as replica `by`, with the whole document as its context, applies it and
    /// returns it for the other replicas. A task REST API edit is such a change by
    /// [`ReplicaId::server`].
    pub fn change(&mut self, by: ReplicaId, op: Op) -> Result<Change, SyncError> {
        let counter = self.clock.get(&by) + 1;
        let change = Change::new(by, counter, self.clock.clone(), op)?;
        self.apply(&change)?;
        Ok(change)
    }

    /// A person's choice for a conflicted field: a write that has seen, and so replaces, every
    /// concurrent value. Two people resolving at once make a new conflict, as they should.
    pub fn resolve(&mut self, by: ReplicaId, value: FieldValue) -> Result<Change, SyncError> {
        let field = value.field();
        if !self.fields.get(&field).is_some_and(MvRegister::is_conflicted) {
            return Err(SyncError::NoConflict(field));
        }
        self.change(by, Op::Set(value))
    }

    /// Joins another replica's state into this one (the least state holding both). Commutative,
    /// associative and idempotent, so replicas may exchange states in any order and repeatedly.
    pub fn merge(&mut self, other: &TaskDoc) {
        let empty = MvRegister::default();
        let fields: BTreeSet<Field> = self.fields.keys().chain(other.fields.keys()).copied().collect();
        for field in fields {
            let theirs = other.fields.get(&field).unwrap_or(&empty);
            self.fields
                .entry(field)
                .or_default()
                .join(theirs, &self.clock, &other.clock);
        }
        self.status.join(&other.status, &self.clock, &other.clock);
        for note in other.notes.values() {
            add_note(&mut self.notes, note.clone());
        }
        self.clock.merge(&other.clock);
    }

    /// A field's current values: none if never set, one, or several written concurrently.
    pub fn values(&self, field: Field) -> &[Versioned<FieldValue>] {
        self.fields.get(&field).map_or(&[], MvRegister::entries)
    }

    /// The fields holding two or more different values, in field order.
    pub fn conflicts(&self) -> Vec<Conflict> {
        let conflicted = self.fields.iter().filter(|(_, register)| register.is_conflicted());
        conflicted
            .map(|(&field, register)| Conflict {
                field,
                values: register.entries().to_vec(),
            })
            .collect()
    }
}

/// Adds a note to a set that may already hold its id. Our own replicas never produce two notes
/// with one id ([`TaskDoc::apply`] refuses the second), but a device's copy may meet a server
/// copy that took another device's note first; keeping the smaller one keeps the join a join.
fn add_note(notes: &mut BTreeMap<NoteId, Note>, note: Note) {
    match notes.get(&note.id) {
        Some(existing) if *existing <= note => {}
        _ => {
            notes.insert(note.id, note);
        }
    }
}

/// Notes are stored as a list: their ids are inside them.
fn notes_as_list<S: Serializer>(notes: &BTreeMap<NoteId, Note>, serializer: S) -> Result<S::Ok, S::Error> {
    serializer.collect_seq(notes.values())
}

/// A document as stored, checked by `TryFrom` before it becomes a [`TaskDoc`].
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct DocState {
    clock: VersionVector,
    fields: BTreeMap<Field, MvRegister<FieldValue>>,
    status: MvRegister<Status>,
    notes: Vec<Note>,
}

impl TryFrom<DocState> for TaskDoc {
    type Error = SyncError;

    /// Refuses a state whose values sit under the wrong field or whose dots the clock does not
    /// cover: the join relies on both, and would otherwise drop or resurrect values.
    fn try_from(state: DocState) -> Result<Self, SyncError> {
        for (field, register) in &state.fields {
            if let Some(stray) = register.entries().iter().find(|e| e.value.field() != *field) {
                return Err(SyncError::invalid(
                    "fields",
                    format!("a {} value is stored under {field}", stray.value.field()),
                ));
            }
        }
        let field_dots = state.fields.values().flat_map(|r| r.entries().iter().map(|e| &e.dot));
        let mut dots = field_dots.chain(state.status.entries().iter().map(|e| &e.dot));
        if let Some(dot) = dots.find(|d| d.counter == 0 || !state.clock.contains(d)) {
            return Err(SyncError::invalid(
                "clock",
                format!(
                    "change {} of {} is stored but not counted by the clock",
                    dot.counter, dot.replica
                ),
            ));
        }
        let mut notes = BTreeMap::new();
        state.notes.into_iter().for_each(|note| add_note(&mut notes, note));
        Ok(Self {
            clock: state.clock,
            fields: state.fields,
            status: state.status,
            notes,
        })
    }
}

#[cfg(test)]
mod tests;
