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

// After the macro: a `macro_rules!` reaches only the modules declared below it.
mod verification_and_handover;
