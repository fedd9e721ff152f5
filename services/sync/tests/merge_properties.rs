//! Properties of the merge over many generated histories: a server and three devices that edit
//! offline (often the same field), sync now and then, and exchange changes or whole states.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::HashMap;

use emrlab_sync::{
    Change, Dot, Field, FieldValue, Note, NoteId, NoteText, Op, Priority, ReplicaId, Status, SyncError, TaskDoc, Title,
};
use proptest::prelude::*;
use time::OffsetDateTime;
use uuid::Uuid;

/// Replica 0 is the server (REST edits); 1 to 3 are devices.
const REPLICAS: usize = 4;

#[derive(Debug, Clone)]
enum Step {
    /// Replica edits its copy; `value` picks from a small set so equal and clashing values both occur.
    Set {
        replica: usize,
        field: usize,
        value: usize,
    },
    Status {
        replica: usize,
        status: usize,
    },
    Note {
        replica: usize,
    },
    /// A device sends its outbox to the server as one batch and takes the server's state back.
    Sync {
        device: usize,
    },
}

fn step() -> impl Strategy<Value = Step> {
    prop_oneof![
        4 => (0..REPLICAS, 0..6usize, 0..3usize).prop_map(|(replica, field, value)| Step::Set { replica, field, value }),
        2 => (0..REPLICAS, 0..4usize).prop_map(|(replica, status)| Step::Status { replica, status }),
        1 => (0..REPLICAS).prop_map(|replica| Step::Note { replica }),
        3 => (1..REPLICAS).prop_map(|device| Step::Sync { device }),
    ]
}

fn replica(i: usize) -> ReplicaId {
    if i == 0 {
        ReplicaId::server()
    } else {
        ReplicaId::parse(format!("tablet-{i}")).unwrap()
    }
}

fn field_value(field: usize, value: usize) -> FieldValue {
    let uuid = |v: usize| (v > 0).then(|| Uuid::from_u128(v as u128));
    match field {
        0 => FieldValue::Title(Title::parse(["Obs round", "Obs round, bay 2", "Wound care"][value]).unwrap()),
        1 => FieldValue::Description((value > 0).then(|| emrlab_sync::Description::parse("x".repeat(value)).unwrap())),
        2 => FieldValue::Priority([Priority::Routine, Priority::Urgent, Priority::Stat][value]),
        3 => FieldValue::AssigneeId(uuid(value)),
        4 => FieldValue::DueAt((value > 0).then(|| OffsetDateTime::UNIX_EPOCH + time::Duration::hours(value as i64))),
        _ => FieldValue::WardId(uuid(value)),
    }
}

/// Every replica's copy after running the steps, and every change made, in the order made
/// (which puts each change after everything its writer had seen).
struct World {
    docs: Vec<TaskDoc>,
    outboxes: Vec<Vec<Change>>,
    history: Vec<Change>,
    notes: u128,
}

impl World {
    fn new() -> Self {
        Self {
            docs: vec![TaskDoc::default(); REPLICAS],
            outboxes: vec![Vec::new(); REPLICAS],
            history: Vec::new(),
            notes: 0,
        }
    }

    fn edit(&mut self, i: usize, op: Op) {
        let change = self.docs[i].change(replica(i), op).unwrap();
        if i > 0 {
            self.outboxes[i].push(change.clone());
        }
        self.history.push(change);
    }

    fn sync(&mut self, device: usize) {
        let outbox = std::mem::take(&mut self.outboxes[device]);
        self.docs[0].apply_batch(&outbox).unwrap();
        let server = self.docs[0].clone();
        self.docs[device].merge(&server);
    }

    fn run(&mut self, steps: &[Step]) {
        for step in steps {
            match *step {
                Step::Set { replica, field, value } => self.edit(replica, Op::Set(field_value(field, value))),
                Step::Status { replica, status } => {
                    let status = [
                        Status::Pending,
                        Status::InProgress,
                        Status::Cancelled,
                        Status::Completed,
                    ][status];
                    self.edit(replica, Op::SetStatus(status));
                }
                Step::Note { replica } => {
                    self.notes += 1;
                    let note = Note {
                        id: NoteId(Uuid::from_u128(self.notes)),
                        text: NoteText::parse(format!("note {}", self.notes)).unwrap(),
                        author: Uuid::from_u128(replica as u128),
                        at: OffsetDateTime::UNIX_EPOCH,
                    };
                    self.edit(replica, Op::AddNote(note));
                }
                Step::Sync { device } => self.sync(device),
            }
        }
    }
}

/// A small deterministic generator, so proptest's seed decides orders and shrinks them too.
struct Shuffler(u64);

impl Shuffler {
    fn next(&mut self, below: usize) -> usize {
        // splitmix64
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        ((z ^ (z >> 31)) % below as u64) as usize
    }

    fn shuffle<T>(&mut self, items: &mut [T]) {
        for i in (1..items.len()).rev() {
            items.swap(i, self.next(i + 1));
        }
    }

    /// Shuffles and repeats about a quarter of the items.
    fn disorder<T: Clone>(&mut self, items: &[T]) -> Vec<T> {
        let mut out = items.to_vec();
        out.extend(items.iter().filter(|_| self.next(4) == 0).cloned());
        self.shuffle(&mut out);
        out
    }
}

/// Delivers units (a change or a batch) in the given order; a refused unit waits and is sent
/// again after the others, as a device retries. Only "not yet" refusals may happen.
fn deliver<T>(units: Vec<T>, mut apply: impl FnMut(&T) -> Result<(), SyncError>) {
    let mut pending = units;
    while !pending.is_empty() {
        let before = pending.len();
        let mut waiting = Vec::new();
        for unit in pending {
            match apply(&unit) {
                Ok(()) => {}
                Err(SyncError::Gap { .. } | SyncError::ClockFromFuture { .. }) => waiting.push(unit),
                Err(other) => panic!("unexpected refusal: {other}"),
            }
        }
        assert!(waiting.len() < before, "delivery made no progress");
        pending = waiting;
    }
}

fn replay(history: &[Change]) -> TaskDoc {
    let mut doc = TaskDoc::default();
    doc.apply_batch(history).unwrap();
    doc
}

fn history() -> impl Strategy<Value = (Vec<Step>, u64)> {
    (prop::collection::vec(step(), 1..40), any::<u64>())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn any_order_duplication_or_batching_converges_to_the_same_state((steps, seed) in history()) {
        let mut world = World::new();
        world.run(&steps);
        let reference = replay(&world.history);
        let mut rng = Shuffler(seed);

        let mut one_by_one = TaskDoc::default();
        deliver(rng.disorder(&world.history), |c| one_by_one.apply(c).map(drop));
        prop_assert_eq!(&one_by_one, &reference);
        prop_assert_eq!(one_by_one.view(), reference.view());

        // Contiguous batches, each in its own disorder, sent in disorder and some twice.
        let mut batches = Vec::new();
        let mut rest = world.history.as_slice();
        while !rest.is_empty() {
            let (batch, tail) = rest.split_at(1 + rng.next(rest.len()));
            let mut batch = batch.to_vec();
            rng.shuffle(&mut batch);
            batches.push(batch);
            rest = tail;
        }
        let mut batched = TaskDoc::default();
        deliver(rng.disorder(&batches), |b| batched.apply_batch(b).map(drop));
        prop_assert_eq!(&batched, &reference);

        // Once every device has synced, the server holds exactly the replayed document.
        (1..REPLICAS).for_each(|d| world.sync(d));
        prop_assert_eq!(&world.docs[0], &reference);

        // What goes over the wire or into storage comes back equal.
        let json = serde_json::to_string(&world.history).unwrap();
        prop_assert_eq!(serde_json::from_str::<Vec<Change>>(&json).unwrap(), world.history);
        let stored: TaskDoc = serde_json::from_str(&serde_json::to_string(&reference).unwrap()).unwrap();
        prop_assert_eq!(stored, reference);
    }

    #[test]
    fn no_accepted_write_is_lost((steps, _) in history()) {
        let mut world = World::new();
        world.run(&steps);
        let doc = replay(&world.history);
        let view = doc.view();
        let by_dot: HashMap<Dot, &Change> = world.history.iter().map(|c| (c.dot(), c)).collect();
        for change in &world.history {
            match change.op() {
                Op::Set(value) => {
                    let current = doc.values(value.field());
                    let kept = current.iter().any(|v| v.dot == change.dot() && v.value == *value);
                    // Otherwise a current value's writer had seen this one, and so replaced it knowingly.
                    let replaced = current.iter().any(|v| by_dot[&v.dot].context().contains(&change.dot()));
                    prop_assert!(kept || replaced, "{:?} vanished", change);
                }
                Op::AddNote(note) => prop_assert!(view.notes.contains(note)),
                Op::SetStatus(_) => {}
            }
        }
        // A final status, once written anywhere, is never undone: the greatest one written shows.
        let statuses = world.history.iter().filter_map(|c| match c.op() { Op::SetStatus(s) => Some(*s), _ => None });
        if let Some(greatest) = statuses.max().filter(|s| s.is_final()) {
            prop_assert_eq!(view.status, greatest);
        }
    }

    #[test]
    fn state_merge_is_commutative_associative_and_idempotent((steps, _) in history()) {
        let mut world = World::new();
        world.run(&steps);
        let join = |a: &TaskDoc, b: &TaskDoc| { let mut j = a.clone(); j.merge(b); j };
        let [server, a, b, c] = [0, 1, 2, 3].map(|i| world.docs[i].clone());
        prop_assert_eq!(join(&a, &b), join(&b, &a));
        prop_assert_eq!(join(&join(&a, &b), &c), join(&a, &join(&b, &c)));
        prop_assert_eq!(join(&a, &a), a.clone());
        prop_assert_eq!(join(&server, &a).view(), join(&a, &server).view());
        // States and changes agree: joining every copy gives the document of every change.
        prop_assert_eq!(join(&join(&server, &a), &join(&b, &c)), replay(&world.history));
    }

    #[test]
    fn concurrent_edits_of_one_field_are_a_conflict_not_an_overwrite(
        (steps, _) in history(),
        field in 0..6usize,
        values in prop::collection::vec(0..3usize, 2..=3),
    ) {
        let mut world = World::new();
        world.run(&steps);
        let writers: Vec<usize> = (1..=values.len()).collect();
        writers.iter().for_each(|&d| world.sync(d));
        // Offline, each device writes the field without seeing the others.
        for (&d, &v) in writers.iter().zip(&values) {
            world.edit(d, Op::Set(field_value(field, v)));
        }
        let written: Vec<Change> = writers.iter().map(|&d| world.outboxes[d][0].clone()).collect();
        for (x, y) in written.iter().zip(written.iter().skip(1)) {
            prop_assert!(!x.context().contains(&y.dot()) && !y.context().contains(&x.dot()));
        }
        writers.iter().for_each(|&d| world.sync(d));

        let server = &world.docs[0];
        let field = field_value(field, 0).field();
        let current: Vec<FieldValue> = server.values(field).iter().map(|v| v.value.clone()).collect();
        for change in &written {
            let Op::Set(value) = change.op() else { unreachable!() };
            prop_assert!(current.contains(value), "{:?} was overwritten", value);
        }
        let distinct = { let mut v = values.clone(); v.sort_unstable(); v.dedup(); v.len() };
        let view = server.view();
        // The history before may have left other fields conflicted; this one is judged alone.
        prop_assert_eq!(view.conflicted_fields.contains(&field), distinct > 1);
        prop_assert_eq!(server.conflicts().iter().any(|c| c.field == field), distinct > 1);
        if distinct > 1 {
            prop_assert!(view.conflict);
        }
        if distinct > 1 {
            // A person's choice ends the conflict on every replica that receives it.
            world.docs[0].resolve(ReplicaId::server(), field_value(field_index(field), 1)).unwrap();
            writers.iter().for_each(|&d| world.sync(d));
            for &d in &writers {
                prop_assert!(!world.docs[d].view().conflicted_fields.contains(&field));
                prop_assert_eq!(world.docs[d].values(field).len(), 1);
            }
        }
    }
}

fn field_index(field: Field) -> usize {
    [
        Field::Title,
        Field::Description,
        Field::Priority,
        Field::AssigneeId,
        Field::DueAt,
        Field::WardId,
    ]
    .iter()
    .position(|f| *f == field)
    .unwrap()
}
