//! Merging a device's batch: read the documents and the rows they mirror, fold in edits made
//! through the task API, apply the batch, write the changed rows through the task service in one
//! transaction, then store the documents. Nothing is written unless the whole batch is accepted.

use std::collections::HashMap;

use uuid::Uuid;

use emrlab_common::{
    auth::{OrgId, UserId},
    error::ApiError,
    events::{Event, EventPublisher},
};

use crate::{
    FieldValue, ReplicaId, TaskDoc,
    doc_cache::DocStore,
    error::ServiceError,
    reconcile::{reconcile, row_write},
    storage::{DocWrite, StoredDoc},
    tasks::{TaskClient, TaskRow, Written},
    wire::{Batch, MergeReport, refused},
};

/// Attempts before a merge that keeps losing races gives up with a 503: another writer moved a
/// row (a REST edit) or stored a document (another sync instance) between our read and write.
const ATTEMPTS: usize = 5;

/// Lock stripes: merges of one task queue in this process; merges of different tasks mostly not.
const STRIPES: usize = 64;

/// The merge machinery, shared by the inline handler and the async workers.
pub struct Engine {
    pub docs: DocStore,
    pub tasks: TaskClient,
    /// Where `sync.conflict` goes when a merge puts a task in conflict.
    events: EventPublisher,
    stripes: Vec<tokio::sync::Mutex<()>>,
}

/// A document read for a merge, with the row it mirrors.
struct Loaded {
    stored: Option<StoredDoc>,
    doc: TaskDoc,
    row: TaskRow,
    dirty: bool,
}

impl Engine {
    /// An engine over a document store and the task service.
    pub fn new(docs: DocStore, tasks: TaskClient, events: EventPublisher) -> Self {
        Self {
            docs,
            tasks,
            events,
            stripes: (0..STRIPES).map(|_| tokio::sync::Mutex::new(())).collect(),
        }
    }

    /// Locks the stripes of `ids` in index order, so two merges cannot wait on each other.
    async fn lock(&self, ids: &[Uuid]) -> Vec<tokio::sync::MutexGuard<'_, ()>> {
        let mut stripes: Vec<usize> = ids.iter().map(|id| (id.as_u128() % STRIPES as u128) as usize).collect();
        stripes.sort_unstable();
        stripes.dedup();
        let mut guards = Vec::with_capacity(stripes.len());
        for i in stripes {
            guards.push(self.stripes[i].lock().await);
        }
        guards
    }

    /// Reads the documents of `ids` and their rows, with edits made through the task API folded
    /// in. A task that is not the organisation's is a 422 naming it.
    async fn load(&self, org: OrgId, ids: &[Uuid]) -> Result<HashMap<Uuid, Loaded>, ServiceError> {
        let (stored, rows) = tokio::try_join!(self.docs.load(org, ids), self.tasks.rows(org, ids))?;
        let mut stored: HashMap<Uuid, StoredDoc> = stored.into_iter().map(|d| (d.task_id, d)).collect();
        let mut loaded = HashMap::with_capacity(ids.len());
        for row in rows {
            let stored = stored.remove(&row.id);
            let (doc, dirty) = reconcile(stored.as_ref(), &row).map_err(|e| refused(&e))?;
            loaded.insert(
                row.id,
                Loaded {
                    stored,
                    doc,
                    row,
                    dirty,
                },
            );
        }
        if let Some(missing) = ids.iter().find(|id| !loaded.contains_key(id)) {
            return Err(ApiError::invalid("task_id", format!("no task {missing} in your organisation")).into());
        }
        Ok(loaded)
    }

    /// Merges a batch for `actor` (whose practitioner id goes in the task rows' audit).
    #[tracing::instrument(skip_all, fields(tasks = batch.tasks.len(), changes = batch.len))]
    pub async fn merge(&self, org: OrgId, actor: Uuid, batch: &Batch) -> Result<MergeReport, ServiceError> {
        let ids: Vec<Uuid> = batch.tasks.keys().copied().collect();
        let _guards = self.lock(&ids).await;
        for _ in 0..ATTEMPTS {
            let mut loaded = self.load(org, &ids).await?;
            let mut report = MergeReport::default();
            let before: Vec<Uuid> = loaded
                .iter()
                .filter(|(_, l)| l.doc.view().conflict)
                .map(|(id, _)| *id)
                .collect();
            for (id, changes) in &batch.tasks {
                let entry = loaded
                    .get_mut(id)
                    .ok_or_else(|| ServiceError::Tasks(format!("task {id} not loaded")))?;
                let applied = entry
                    .doc
                    .apply_batch(changes)
                    .map_err(|e| refused(&e).field("changes"))?;
                report.applied += applied.applied;
                report.duplicates += applied.duplicates;
                entry.dirty |= applied.applied > 0;
            }
            match self.write_back(org, actor, &mut loaded).await? {
                Some(position) => {
                    report.position = position;
                    for (id, entry) in &loaded {
                        if entry.doc.view().conflict {
                            report.conflicted_tasks.push(*id);
                            if !before.contains(id) {
                                report.new_conflicts.push(*id);
                                self.announce_conflict(org, &batch.device, entry);
                            }
                        }
                        report.clocks.insert(*id, entry.doc.clock().clone());
                    }
                    report.conflicted_tasks.sort_unstable();
                    report.new_conflicts.sort_unstable();
                    return Ok(report);
                }
                None => continue,
            }
        }
        Err(ApiError::unavailable("the tasks kept changing while merging; send the batch again").into())
    }

    /// `sync.conflict`: the task, its conflicted fields and the device whose batch made it, to
    /// the task's ward and assignee, so someone resolves it.
    fn announce_conflict(&self, org: OrgId, device: &ReplicaId, entry: &Loaded) {
        let view = entry.doc.view();
        let payload = serde_json::json!({
            "task_id": entry.row.id,
            "conflicted_fields": view.conflicted_fields,
            "device_id": device,
        });
        let event = Event::new("sync.conflict", org, payload)
            .ward(entry.row.ward_id)
            .for_users(entry.row.assignee_id.map(UserId));
        self.events.publish(event);
    }

    /// Brings documents up to date with their rows and stores them without device changes: the
    /// snapshot of `POST /sync/init`, and reads through the sync API.
    pub async fn refresh(&self, org: OrgId, actor: Uuid, ids: &[Uuid]) -> Result<Vec<StoredDoc>, ServiceError> {
        let _guards = self.lock(ids).await;
        for _ in 0..ATTEMPTS {
            let mut loaded = self.load(org, ids).await?;
            if self.write_back(org, actor, &mut loaded).await?.is_some() {
                let mut docs: Vec<StoredDoc> = loaded.into_values().filter_map(|l| l.stored).collect();
                docs.sort_by_key(|d| d.position);
                return Ok(docs);
            }
        }
        Err(ApiError::unavailable("the tasks kept changing; try again").into())
    }

    /// A person's choice for a conflicted field, made as a server change and written through.
    pub async fn resolve(
        &self,
        org: OrgId,
        actor: Uuid,
        task: Uuid,
        value: FieldValue,
    ) -> Result<StoredDoc, ServiceError> {
        let ids = [task];
        let _guards = self.lock(&ids).await;
        for _ in 0..ATTEMPTS {
            if self.docs.load(org, &ids).await?.is_empty() {
                return Err(
                    ApiError::not_found(format!("task {task} has never been synced, so it has no conflicts")).into(),
                );
            }
            let mut loaded = self.load(org, &ids).await?;
            let entry = loaded
                .get_mut(&task)
                .ok_or_else(|| ApiError::not_found(format!("no task {task}")))?;
            entry
                .doc
                .resolve(ReplicaId::server(), value.clone())
                .map_err(|e| refused(&e))?;
            entry.dirty = true;
            if self.write_back(org, actor, &mut loaded).await?.is_some() {
                return loaded
                    .remove(&task)
                    .and_then(|l| l.stored)
                    .ok_or_else(|| ServiceError::Tasks(format!("task {task} not stored")));
            }
        }
        Err(ApiError::unavailable("the task kept changing; try again").into())
    }

    /// Writes the rows whose view changed, then stores the changed documents. `None` when
    /// another writer got in between and the caller must start again; else the organisation's
    /// position after the store.
    async fn write_back(
        &self,
        org: OrgId,
        actor: Uuid,
        loaded: &mut HashMap<Uuid, Loaded>,
    ) -> Result<Option<i64>, ServiceError> {
        let writes: Vec<_> = loaded
            .iter()
            .filter_map(|(id, l)| row_write(*id, &l.doc, &l.row))
            .collect();
        if !writes.is_empty() {
            match self.tasks.write(org, actor, &writes).await? {
                Written::Stale => return Ok(None),
                Written::Rows(rows) => {
                    for row in rows {
                        if let Some(entry) = loaded.get_mut(&row.id) {
                            entry.row = row;
                            entry.dirty = true;
                        }
                    }
                }
            }
        }
        let docs: Vec<DocWrite> = loaded
            .values()
            .filter(|l| l.dirty)
            .map(|l| DocWrite {
                task_id: l.row.id,
                doc: l.doc.clone(),
                row_version: l.row.version,
                expected_doc_version: l.stored.as_ref().map(|s| s.doc_version),
            })
            .collect();
        // Nothing new: every document is stored as it stands (a new one would be dirty).
        if docs.is_empty() {
            return self.docs.position(org).await.map(Some);
        }
        match self.docs.save(org, &docs).await? {
            Err(_raced) => Ok(None),
            Ok(stored) => {
                let position = stored.iter().map(|d| d.position).max().unwrap_or_default();
                for doc in stored {
                    if let Some(entry) = loaded.get_mut(&doc.task_id) {
                        entry.stored = Some(doc);
                    }
                }
                Ok(Some(position))
            }
        }
    }
}
