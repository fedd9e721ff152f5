//! The storage contract: every behaviour here runs on SQLite always and on PostgreSQL when
//! `TEST_DATABASE_URL` is set, so both backends keep the same semantics.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::Arc;

use emrlab_common::{
    auth::{OrgId, UserId},
    config::DbConfig,
    db::AnyDb,
};
use emrlab_task::{
    error::TaskError,
    internal::{Change, Expected},
    listing::{PageRequest, TaskFilter},
    model::{Actor, NewTask, Priority, Status, TaskChange, TaskId, Verification},
    seed::{Profile, SeedReport, seed},
    storage::{TaskStore, open},
};
use uuid::Uuid;

struct Fixture {
    store: Arc<dyn TaskStore>,
    db: AnyDb,
    actor: Actor,
    patient: Uuid,
    _dir: tempfile::TempDir,
}

async fn first_task_refs(db: &AnyDb) -> (Uuid, Uuid) {
    // nurse.0001's organisation is the first and largest.
    let sql = "SELECT t.org_id, t.patient_id FROM practitioners p JOIN tasks t ON t.org_id = p.org_id \
               WHERE p.username = 'nurse.0001' ORDER BY t.id LIMIT 1";
    match db {
        AnyDb::Postgres(db) => sqlx::query_as(sql).fetch_one(&db.pool()).await.unwrap(),
        AnyDb::Sqlite(db) => sqlx::query_as(sql).fetch_one(&db.pool()).await.unwrap(),
    }
}

async fn fixture(postgres: bool) -> Option<Fixture> {
    let dir = tempfile::tempdir().unwrap();
    let url = if postgres {
        let server = emrlab_common::testing::postgres_url()?;
        emrlab_common::testing::fresh_postgres_database(&server).await.unwrap()
    } else {
        format!("sqlite://{}", dir.path().join("contract.db").display())
    };
    let db = AnyDb::connect(&url, &DbConfig::default(), "test").unwrap();
    db.migrate().await.unwrap();
    assert!(matches!(
        seed(&db, Profile::Small, 7, "not-a-real-hash").await.unwrap(),
        SeedReport::Seeded { .. }
    ));
    let (org, patient) = first_task_refs(&db).await;
    let actor = Actor {
        org: OrgId(org),
        user: UserId(Uuid::now_v7()),
    };
    Some(Fixture {
        store: open(&db),
        db,
        actor,
        patient,
        _dir: dir,
    })
}

fn new_task(patient: Uuid, title: &str) -> NewTask {
    NewTask {
        patient_id: patient,
        title: title.to_owned(),
        description: Some("contract".into()),
        status: Status::Pending,
        priority: Priority::Urgent,
        assignee_id: None,
        ward_id: None,
        due_at: Some(emrlab_common::db::now()),
    }
}

macro_rules! contract {
    ($name:ident, |$f:ident| $body:block) => {
        mod $name {
            use super::*;
            async fn run($f: Fixture) $body
            #[tokio::test]
            async fn sqlite() {
                run(fixture(false).await.unwrap()).await;
            }
            #[tokio::test]
            async fn postgres() {
                if let Some(f) = fixture(true).await {
                    run(f).await;
                }
            }
        }
    };
}

contract!(an_inserted_task_reads_back_equal, |f| {
    let task = f
        .store
        .insert_task(f.actor, new_task(f.patient, "Round trip"))
        .await
        .unwrap();
    assert_eq!(f.store.fetch_task(f.actor.org, task.id).await.unwrap(), task);
    assert_eq!(
        f.store.audit_actions(f.actor.org, task.id.0).await.unwrap(),
        ["task.create"]
    );
});

contract!(another_organisation_sees_nothing, |f| {
    let task = f
        .store
        .insert_task(f.actor, new_task(f.patient, "Private"))
        .await
        .unwrap();
    let other = OrgId(Uuid::now_v7());
    assert!(matches!(
        f.store.fetch_task(other, task.id).await,
        Err(TaskError::NotFound(_))
    ));
    let (items, _) = f
        .store
        .page_tasks(other, &TaskFilter::default(), PageRequest::Unbounded)
        .await
        .unwrap();
    assert!(items.is_empty());
    let stranger = Actor {
        org: other,
        user: f.actor.user,
    };
    assert!(matches!(
        f.store.insert_task(stranger, new_task(f.patient, "x")).await,
        Err(TaskError::Rejected(_))
    ));
    assert!(matches!(
        f.store
            .update_task(stranger, task.id, None, &TaskChange::complete())
            .await,
        Err(TaskError::NotFound(_))
    ));
});

contract!(a_stale_update_changes_nothing_and_writes_no_audit_row, |f| {
    let task = f.store.insert_task(f.actor, new_task(f.patient, "v1")).await.unwrap();
    let rename = TaskChange {
        title: Some("v2".into()),
        ..TaskChange::default()
    };
    let updated = f.store.update_task(f.actor, task.id, Some(1), &rename).await.unwrap();
    assert_eq!((updated.version, updated.title.as_str()), (2, "v2"));
    let stale = f
        .store
        .update_task(f.actor, task.id, Some(1), &TaskChange::complete())
        .await;
    assert!(matches!(stale, Err(TaskError::StaleVersion { current: 2, .. })));
    assert_eq!(f.store.fetch_task(f.actor.org, task.id).await.unwrap(), updated);
    f.store
        .update_task(f.actor, task.id, Some(2), &TaskChange::complete())
        .await
        .unwrap();
    assert_eq!(
        f.store.audit_actions(f.actor.org, task.id.0).await.unwrap(),
        ["task.create", "task.update", "task.complete"]
    );
});

contract!(of_concurrent_writers_at_one_version_exactly_one_wins, |f| {
    let task = f
        .store
        .insert_task(f.actor, new_task(f.patient, "contended"))
        .await
        .unwrap();
    let attempts = (0..8).map(|n| {
        let (store, actor) = (f.store.clone(), f.actor);
        tokio::spawn(async move {
            let change = TaskChange {
                title: Some(format!("writer {n}")),
                ..TaskChange::default()
            };
            store.update_task(actor, task.id, Some(1), &change).await
        })
    });
    let results = futures::future::join_all(attempts).await;
    let wins = results.iter().filter(|r| matches!(r, Ok(Ok(_)))).count();
    let stale = results
        .iter()
        .filter(|r| matches!(r, Ok(Err(TaskError::StaleVersion { .. }))))
        .count();
    assert_eq!((wins, stale), (1, 7));
    assert_eq!(f.store.fetch_task(f.actor.org, task.id).await.unwrap().version, 2);
});

contract!(cursor_pages_are_newest_first_and_continue_where_they_left, |f| {
    let first = f
        .store
        .page_tasks(
            f.actor.org,
            &TaskFilter::default(),
            PageRequest::Cursor { after: None, limit: 10 },
        )
        .await
        .unwrap()
        .0;
    assert_eq!(first.len(), 11, "one extra row tells the caller that more follow");
    assert!(
        first
            .windows(2)
            .all(|w| (w[0].created_at, w[0].id.0) > (w[1].created_at, w[1].id.0))
    );
    let last = &first[9];
    let next = f
        .store
        .page_tasks(
            f.actor.org,
            &TaskFilter::default(),
            PageRequest::Cursor {
                after: Some((last.created_at, last.id.0)),
                limit: 10,
            },
        )
        .await
        .unwrap()
        .0;
    assert_eq!(next[0], first[10]);
    let (_, total) = f
        .store
        .page_tasks(
            f.actor.org,
            &TaskFilter::default(),
            PageRequest::Offset { offset: 0, limit: 1 },
        )
        .await
        .unwrap();
    assert_eq!(total, Some(800), "the small profile's first organisation has 800 tasks");
});

contract!(seeding_is_deterministic_and_happens_once, |f| {
    assert_eq!(
        seed(&f.db, Profile::Small, 7, "x").await.unwrap(),
        SeedReport::AlreadySeeded
    );
    let again = fixture(false).await.unwrap();
    let page = |fx: &Fixture| {
        let (store, org) = (fx.store.clone(), fx.actor.org);
        async move {
            store
                .page_tasks(
                    org,
                    &TaskFilter::default(),
                    PageRequest::Offset { offset: 0, limit: 200 },
                )
                .await
                .unwrap()
                .0
        }
    };
    let ids = |tasks: Vec<emrlab_task::model::Task>| {
        tasks
            .into_iter()
            .map(|t| (t.id, t.title, t.priority))
            .collect::<Vec<(TaskId, String, Priority)>>()
    };
    let (mut a, mut b) = (ids(page(&f).await), ids(page(&again).await));
    a.sort_by_key(|t| t.0.0);
    b.sort_by_key(|t| t.0.0);
    assert_eq!(a, b);
});

contract!(a_recorded_verification_reads_back_and_is_not_an_edit, |f| {
    let task = f
        .store
        .insert_task(f.actor, new_task(f.patient, "Verify me"))
        .await
        .unwrap();
    assert_eq!((task.verification, task.verified_at), (Verification::Pending, None));
    let at = emrlab_common::db::now();
    let recorded = f
        .store
        .record_verification(f.actor.org, task.id, Verification::Mismatch, at)
        .await
        .unwrap();
    assert_eq!(
        (recorded.verification, recorded.verified_at),
        (Verification::Mismatch, Some(at))
    );
    assert_eq!(
        (recorded.version, recorded.updated_at),
        (task.version, task.updated_at),
        "a verification is not an edit: a client's next PUT must not turn stale"
    );
    assert_eq!(f.store.fetch_task(f.actor.org, task.id).await.unwrap(), recorded);
    let (listed, _) = f
        .store
        .page_tasks(
            f.actor.org,
            &TaskFilter::default(),
            PageRequest::Cursor { after: None, limit: 1 },
        )
        .await
        .unwrap();
    assert_eq!(listed[0], recorded, "the newest task, listed with its verification");
    let renamed = TaskChange {
        title: Some("Verify me, renamed".into()),
        ..TaskChange::default()
    };
    let updated = f.store.update_task(f.actor, task.id, Some(1), &renamed).await.unwrap();
    assert_eq!(
        (updated.verification, updated.verified_at),
        (Verification::Mismatch, Some(at))
    );
    assert_eq!(
        f.store.fetch_task(f.actor.org, task.id).await.unwrap().verification,
        Verification::Mismatch,
        "an update keeps the stored verification"
    );
    assert_eq!(
        f.store.audit_actions(f.actor.org, task.id.0).await.unwrap(),
        ["task.create", "task.update"]
    );
    assert!(matches!(
        f.store
            .record_verification(OrgId(Uuid::now_v7()), task.id, Verification::Failed, at)
            .await,
        Err(TaskError::NotFound(_))
    ));
});

contract!(
    a_locked_task_is_read_in_its_transaction_and_its_outcome_committed,
    |f| {
        let task = f
            .store
            .insert_task(f.actor, new_task(f.patient, "Locked"))
            .await
            .unwrap();
        let locked = f.store.lock_task(f.actor.org, task.id).await.unwrap();
        assert_eq!(locked.task(), &task);
        let at = emrlab_common::db::now();
        let recorded = locked.record_verification(Verification::Verified, at).await.unwrap();
        assert_eq!(
            (recorded.verification, recorded.verified_at),
            (Verification::Verified, Some(at))
        );
        assert_eq!(recorded.version, task.version);
        assert_eq!(f.store.fetch_task(f.actor.org, task.id).await.unwrap(), recorded);
        assert!(matches!(
            f.store.lock_task(OrgId(Uuid::now_v7()), task.id).await,
            Err(TaskError::NotFound(_))
        ));
        assert!(matches!(
            f.store.lock_task(f.actor.org, TaskId(Uuid::now_v7())).await,
            Err(TaskError::NotFound(_))
        ));
    }
);

contract!(a_dropped_lock_stores_nothing_and_lets_the_next_writer_in, |f| {
    let task = f
        .store
        .insert_task(f.actor, new_task(f.patient, "Abandoned"))
        .await
        .unwrap();
    let locked = f.store.lock_task(f.actor.org, task.id).await.unwrap();
    // A writer of the same task waits for the lock: the row's on PostgreSQL, the database's on SQLite.
    let writer = {
        let (store, actor) = (f.store.clone(), f.actor);
        tokio::spawn(async move {
            store
                .update_task(actor, task.id, Some(1), &TaskChange::complete())
                .await
        })
    };
    drop(locked);
    let completed = writer.await.unwrap().unwrap();
    assert_eq!((completed.status, completed.version), (Status::Completed, 2));
    assert_eq!(
        (completed.verification, completed.verified_at),
        (Verification::Pending, None),
        "the abandoned transaction rolled back without recording anything"
    );
});

/// Two practitioners of the organisation (a task's assignee must be one).
async fn two_practitioners(db: &AnyDb, org: OrgId) -> (Uuid, Uuid) {
    let sql = "SELECT id FROM practitioners WHERE org_id = $1 ORDER BY id LIMIT 2";
    let ids: Vec<Uuid> = match db {
        AnyDb::Postgres(db) => sqlx::query_scalar(sql).bind(org.0).fetch_all(&db.pool()).await.unwrap(),
        AnyDb::Sqlite(db) => sqlx::query_scalar(sql).bind(org.0).fetch_all(&db.pool()).await.unwrap(),
    };
    (ids[0], ids[1])
}

contract!(a_reassignment_is_all_or_nothing_and_a_retry_finds_its_own_work, |f| {
    let (giver, receiver) = two_practitioners(&f.db, f.actor.org).await;
    let mut new = new_task(f.patient, "Handed over");
    new.assignee_id = Some(giver);
    let kept = f.store.insert_task(f.actor, new.clone()).await.unwrap();
    let moved = f.store.insert_task(f.actor, new).await.unwrap();
    let unassign = TaskChange {
        assignee_id: Some(None),
        ..TaskChange::default()
    };
    // Now at version 2, with nobody.
    let moved = f.store.update_task(f.actor, moved.id, None, &unassign).await.unwrap();
    let expect = |task: &emrlab_task::model::Task, assignee| Expected {
        id: task.id,
        expected_assignee_id: assignee,
    };
    let stale = [expect(&kept, Some(giver)), expect(&moved, Some(giver))];
    match f.store.reassign_tasks(f.actor, Uuid::now_v7(), receiver, &stale).await {
        Err(TaskError::TasksChanged(changes)) => assert_eq!(
            changes,
            [Change {
                task_id: moved.id,
                expected_assignee_id: Some(giver),
                current_assignee_id: None,
            }]
        ),
        other => panic!("expected tasks_changed, got {other:?}"),
    }
    assert_eq!(
        f.store.fetch_task(f.actor.org, kept.id).await.unwrap(),
        kept,
        "nothing written"
    );
    assert_eq!(
        f.store.audit_actions(f.actor.org, kept.id.0).await.unwrap(),
        ["task.create"]
    );

    let current = [expect(&kept, Some(giver)), expect(&moved, None)];
    let done = f
        .store
        .reassign_tasks(f.actor, Uuid::now_v7(), receiver, &current)
        .await
        .unwrap();
    assert_eq!(done.tasks.len(), 2);
    for task in [&kept, &moved] {
        let now = f.store.fetch_task(f.actor.org, task.id).await.unwrap();
        assert_eq!((now.assignee_id, now.version), (Some(receiver), task.version + 1));
        let actions = f.store.audit_actions(f.actor.org, task.id.0).await.unwrap();
        assert_eq!(actions.last().map(String::as_str), Some("task.reassigned"));
    }
    let again = f
        .store
        .reassign_tasks(f.actor, Uuid::now_v7(), receiver, &current)
        .await
        .unwrap();
    assert!(again.tasks.is_empty());
    assert_eq!(again.unchanged, [kept.id, moved.id]);
    assert_eq!(f.store.fetch_task(f.actor.org, kept.id).await.unwrap().version, 2);
});
