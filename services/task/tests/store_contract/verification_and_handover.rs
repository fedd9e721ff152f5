//! The contract of the writes that hold a task across a call: a verification's lock and outcome,
//! and a handover's all-or-nothing reassignment.

use super::*;

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
