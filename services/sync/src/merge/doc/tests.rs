//! One test per rule of the document; the properties over many histories are in
//! `tests/merge_properties.rs`.

use serde_json::json;
use time::OffsetDateTime;
use uuid::Uuid;

use crate::*;

fn id(s: &str) -> ReplicaId {
    ReplicaId::parse(s).unwrap()
}

fn title(s: &str) -> FieldValue {
    FieldValue::Title(Title::parse(s).unwrap())
}

fn note(n: u128, text: &str) -> Note {
    Note {
        id: NoteId(Uuid::from_u128(n)),
        text: NoteText::parse(text).unwrap(),
        author: Uuid::from_u128(7),
        at: OffsetDateTime::UNIX_EPOCH,
    }
}

fn clock(entries: &[(&str, u64)]) -> VersionVector {
    let mut v = VersionVector::default();
    for &(r, c) in entries {
        v.observe(&Dot {
            replica: id(r),
            counter: c,
        });
    }
    v
}

/// A server copy with a title, and two devices that synced it and then went offline.
fn synced() -> (TaskDoc, TaskDoc, TaskDoc) {
    let mut server = TaskDoc::default();
    server.change(ReplicaId::server(), Op::Set(title("Obs round"))).unwrap();
    (server.clone(), server.clone(), server)
}

#[test]
fn a_rest_edit_is_a_change_of_the_server_replica_with_its_own_clock() {
    let (mut server, ..) = synced();
    let change = server
        .change(ReplicaId::server(), Op::SetStatus(Status::InProgress))
        .unwrap();
    assert_eq!(
        change.dot(),
        Dot {
            replica: ReplicaId::server(),
            counter: 2
        }
    );
    assert_eq!(server.clock(), &clock(&[("server", 2)]));
    assert_eq!(server.view().status, Status::InProgress);
}

#[test]
fn a_resent_or_older_change_changes_nothing() {
    let (mut server, mut device, _) = synced();
    let first = device.change(id("tablet"), Op::Set(title("first"))).unwrap();
    let second = device.change(id("tablet"), Op::Set(title("second"))).unwrap();
    assert_eq!(server.apply_batch(&[first.clone(), second.clone()]).unwrap().applied, 2);
    let before = server.clone();
    assert_eq!(server.apply(&second).unwrap(), Applied::Duplicate);
    assert_eq!(server.apply(&first).unwrap(), Applied::Duplicate);
    assert_eq!(server, before);
    assert_eq!(server.view().title, Some(Title::parse("second").unwrap()));
}

#[test]
fn a_change_that_skips_a_counter_is_refused_until_the_missing_one_arrives() {
    let (mut server, mut device, _) = synced();
    let first = device.change(id("tablet"), Op::Set(title("first"))).unwrap();
    let second = device.change(id("tablet"), Op::Set(title("second"))).unwrap();
    let before = server.clone();
    let err = server.apply(&second).unwrap_err();
    assert_eq!(
        err,
        SyncError::Gap {
            replica: id("tablet"),
            expected: 1,
            counter: 2
        }
    );
    assert_eq!(server, before);
    server.apply(&first).unwrap();
    assert_eq!(server.apply(&second).unwrap(), Applied::New);
}

#[test]
fn a_clock_from_the_future_of_another_device_is_refused_and_writes_nothing() {
    let (mut server, ..) = synced();
    let forged = Change::new(
        id("tablet"),
        1,
        clock(&[("server", 1), ("phone", 5)]),
        Op::Set(title("x")),
    )
    .unwrap();
    let before = server.clone();
    let err = server.apply(&forged).unwrap_err();
    assert_eq!(
        err,
        SyncError::ClockFromFuture {
            replica: id("tablet"),
            counter: 1,
            of: id("phone"),
            claimed: 5,
            known: 0
        }
    );
    assert_eq!(server, before);
    let ahead_of_server = Change::new(id("tablet"), 1, clock(&[("server", 2)]), Op::Set(title("x"))).unwrap();
    assert!(matches!(
        server.apply(&ahead_of_server),
        Err(SyncError::ClockFromFuture { .. })
    ));
}

#[test]
fn concurrent_edits_are_a_conflict_shown_by_the_greatest_dot_until_resolved() {
    let (mut server, mut a, mut b) = synced();
    let from_a = a.change(id("a"), Op::Set(title("Obs round, bay 2"))).unwrap();
    let from_b = b.change(id("b"), Op::Set(title("Obs round, bay 3"))).unwrap();
    server.apply_batch(&[from_a, from_b]).unwrap();

    let view = server.view();
    assert!(view.conflict);
    assert_eq!(view.conflicted_fields, [Field::Title]);
    // Both dots have counter 1; "b" > "a" breaks the tie.
    assert_eq!(view.title, Some(Title::parse("Obs round, bay 3").unwrap()));
    let conflicts = server.conflicts();
    assert_eq!(conflicts.len(), 1);
    let values: Vec<_> = conflicts[0].values.iter().map(|v| v.value.clone()).collect();
    assert_eq!(values, [title("Obs round, bay 2"), title("Obs round, bay 3")]);

    let resolution = server
        .resolve(ReplicaId::server(), title("Obs round, bays 2 and 3"))
        .unwrap();
    assert!(!server.view().conflict && server.conflicts().is_empty());
    // The device that only had its own value takes the resolution too once it has the other.
    a.merge(&b);
    assert!(a.view().conflict);
    a.apply(&resolution).unwrap();
    assert_eq!(a.view(), server.view());
}

#[test]
fn resolving_a_field_without_a_conflict_is_refused() {
    let (mut server, ..) = synced();
    let err = server.resolve(ReplicaId::server(), title("x")).unwrap_err();
    assert_eq!(err, SyncError::NoConflict(Field::Title));
    assert_eq!(server.clock(), &clock(&[("server", 1)]));
}

#[test]
fn completed_beats_a_concurrent_cancel_in_either_order() {
    let (_, mut a, mut b) = synced();
    a.change(id("a"), Op::SetStatus(Status::Completed)).unwrap();
    b.change(id("b"), Op::SetStatus(Status::Cancelled)).unwrap();
    let (mut ab, mut ba) = (a.clone(), b.clone());
    ab.merge(&b);
    ba.merge(&a);
    assert_eq!(ab, ba);
    assert_eq!(ab.view().status, Status::Completed);
}

#[test]
fn an_offline_device_cannot_move_a_task_back_concurrently() {
    let (mut server, mut device, _) = synced();
    server
        .change(ReplicaId::server(), Op::SetStatus(Status::InProgress))
        .unwrap();
    let stale = device.change(id("tablet"), Op::SetStatus(Status::Pending)).unwrap();
    server.apply(&stale).unwrap();
    assert_eq!(server.view().status, Status::InProgress);
}

#[test]
fn a_status_set_after_seeing_another_replaces_it_unless_that_one_is_final() {
    let (mut server, ..) = synced();
    let by = ReplicaId::server;
    server.change(by(), Op::SetStatus(Status::InProgress)).unwrap();
    server.change(by(), Op::SetStatus(Status::Pending)).unwrap();
    assert_eq!(server.view().status, Status::Pending);
    server.change(by(), Op::SetStatus(Status::Cancelled)).unwrap();
    server.change(by(), Op::SetStatus(Status::InProgress)).unwrap();
    assert_eq!(server.view().status, Status::Cancelled);
    server.change(by(), Op::SetStatus(Status::Completed)).unwrap();
    server.change(by(), Op::SetStatus(Status::Cancelled)).unwrap();
    assert_eq!(server.view().status, Status::Completed);
}

#[test]
fn notes_only_grow_and_an_id_cannot_be_reused_for_other_text() {
    let (mut server, mut a, mut b) = synced();
    let from_a = a.change(id("a"), Op::AddNote(note(1, "BP 120/80"))).unwrap();
    let from_b = b.change(id("b"), Op::AddNote(note(2, "Pain 3/10"))).unwrap();
    server.apply_batch(&[from_b, from_a]).unwrap();
    assert_eq!(server.view().notes, [note(1, "BP 120/80"), note(2, "Pain 3/10")]);

    let reuse = Change::new(id("c"), 1, server.clock().clone(), Op::AddNote(note(1, "other"))).unwrap();
    let before = server.clone();
    assert_eq!(
        server.apply(&reuse).unwrap_err(),
        SyncError::NoteIdTaken(NoteId(Uuid::from_u128(1)))
    );
    assert_eq!(server, before);
}

#[test]
fn a_batch_in_any_order_applies_and_a_bad_batch_writes_nothing() {
    let (mut server, mut device, _) = synced();
    let changes: Vec<Change> = (1..=5)
        .map(|n| device.change(id("tablet"), Op::Set(title(&n.to_string()))).unwrap())
        .collect();
    let mut reversed = changes.clone();
    reversed.reverse();
    let report = server.apply_batch(&reversed).unwrap();
    assert_eq!(
        report,
        BatchReport {
            applied: 5,
            duplicates: 0
        }
    );
    assert_eq!(server.view().title, Some(Title::parse("5").unwrap()));
    assert_eq!(
        server.apply_batch(&changes).unwrap(),
        BatchReport {
            applied: 0,
            duplicates: 5
        }
    );

    let mut fresh = synced().0;
    let before = fresh.clone();
    assert!(matches!(
        fresh.apply_batch(&changes[..2].iter().chain(&changes[3..]).cloned().collect::<Vec<_>>()),
        Err(SyncError::Gap {
            expected: 3,
            counter: 4,
            ..
        })
    ));
    assert_eq!(fresh, before);
}

#[test]
fn a_document_survives_a_json_round_trip() {
    let (mut server, mut a, mut b) = synced();
    server
        .apply(
            &a.change(id("a"), Op::Set(FieldValue::AssigneeId(Some(Uuid::from_u128(3)))))
                .unwrap(),
        )
        .unwrap();
    server
        .apply(&b.change(id("b"), Op::Set(FieldValue::AssigneeId(None))).unwrap())
        .unwrap();
    server
        .apply(&b.change(id("b"), Op::AddNote(note(4, "Seen by doctor"))).unwrap())
        .unwrap();
    let json = serde_json::to_value(&server).unwrap();
    assert_eq!(json["clock"], json!({"a": 1, "b": 2, "server": 1}));
    assert_eq!(serde_json::from_value::<TaskDoc>(json).unwrap(), server);
}

#[test]
fn a_stored_document_with_uncounted_or_misfiled_values_is_refused() {
    let (server, ..) = synced();
    let mut json = serde_json::to_value(&server).unwrap();
    json["clock"] = json!({});
    assert!(serde_json::from_value::<TaskDoc>(json).is_err());
    let mut json = serde_json::to_value(&server).unwrap();
    json["fields"] = json!({"ward_id": json["fields"]["title"].clone()});
    assert!(serde_json::from_value::<TaskDoc>(json).is_err());
}
