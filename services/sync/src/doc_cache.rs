//! Where documents are read from: the database, or (`sync.clock_store = cached`) the cache,
//! written through on every store. The database stays the source of truth: a store is committed
//! there first, a cache failure is a miss, and a lost race drops the cached copies, so a restart
//! or a flushed cache loses nothing.

use std::{sync::Arc, time::Duration};

use futures::future::join_all;
use uuid::Uuid;

use emrlab_common::{auth::OrgId, cache::Cache, knobs::KnobCell};

use crate::{
    ClockStore, Settings, TaskDoc,
    error::ServiceError,
    metrics,
    storage::{DocWrite, Raced, StoredDoc, SyncStore},
};

/// Cached documents expire after this long untouched, so idle tasks do not hold memory.
const TTL: Duration = Duration::from_secs(3_600);

/// A document as cached: everything [`StoredDoc`] holds.
#[derive(serde::Serialize, serde::Deserialize)]
struct Cached {
    doc: TaskDoc,
    row_version: i64,
    doc_version: i64,
    position: i64,
}

/// The documents, read through the cache when the knob says so.
#[derive(Clone)]
pub struct DocStore {
    pub store: Arc<dyn SyncStore>,
    cache: Arc<dyn Cache>,
    knobs: Arc<KnobCell<Settings>>,
}

fn key(org: OrgId, task: Uuid) -> String {
    format!("sync:doc:{}:{task}", org.0)
}

impl DocStore {
    /// Documents in `store`, cached in `cache` when `sync.clock_store = cached`.
    pub fn new(store: Arc<dyn SyncStore>, cache: Arc<dyn Cache>, knobs: Arc<KnobCell<Settings>>) -> Self {
        Self { store, cache, knobs }
    }

    fn cached(&self) -> bool {
        self.knobs.get().sync.clock_store == ClockStore::Cached
    }

    /// The stored documents among `ids`.
    pub async fn load(&self, org: OrgId, ids: &[Uuid]) -> Result<Vec<StoredDoc>, ServiceError> {
        if !self.cached() {
            return self.store.load_docs(org, ids).await;
        }
        let hits = join_all(ids.iter().map(|id| self.cache.get_doc(org, *id))).await;
        let mut docs = Vec::with_capacity(ids.len());
        let mut missed = Vec::new();
        for (id, hit) in ids.iter().zip(hits) {
            match hit {
                Some(doc) => docs.push(doc),
                None => missed.push(*id),
            }
        }
        metrics::cache(ids.len() - missed.len(), missed.len());
        if !missed.is_empty() {
            let loaded = self.store.load_docs(org, &missed).await?;
            join_all(loaded.iter().map(|d| self.cache.put_doc(org, d))).await;
            docs.extend(loaded);
        }
        Ok(docs)
    }

    /// Stores documents (all or none) and, when cached, writes them through.
    pub async fn save(&self, org: OrgId, docs: &[DocWrite]) -> Result<Result<Vec<StoredDoc>, Raced>, ServiceError> {
        let saved = self.store.save_docs(org, docs).await?;
        if self.cached() {
            match &saved {
                Ok(stored) => {
                    join_all(stored.iter().map(|d| self.cache.put_doc(org, d))).await;
                }
                // Someone else stored first: our copies may be stale, so read the database next.
                Err(Raced) => {
                    let keys: Vec<String> = docs.iter().map(|d| key(org, d.task_id)).collect();
                    join_all(keys.iter().map(|k| self.cache.delete(k))).await;
                }
            }
        }
        Ok(saved)
    }

    /// The organisation's position.
    pub async fn position(&self, org: OrgId) -> Result<i64, ServiceError> {
        self.store.position(org).await
    }
}

/// Reading and writing one cached document; every failure is a miss.
#[async_trait::async_trait]
trait DocCacheExt {
    async fn get_doc(&self, org: OrgId, task: Uuid) -> Option<StoredDoc>;
    async fn put_doc(&self, org: OrgId, doc: &StoredDoc);
}

#[async_trait::async_trait]
impl DocCacheExt for Arc<dyn Cache> {
    async fn get_doc(&self, org: OrgId, task: Uuid) -> Option<StoredDoc> {
        let bytes = self.get(&key(org, task)).await.ok().flatten()?;
        let cached: Cached = serde_json::from_slice(&bytes).ok()?;
        Some(StoredDoc {
            task_id: task,
            doc: cached.doc,
            row_version: cached.row_version,
            doc_version: cached.doc_version,
            position: cached.position,
        })
    }

    async fn put_doc(&self, org: OrgId, doc: &StoredDoc) {
        let cached = Cached {
            doc: doc.doc.clone(),
            row_version: doc.row_version,
            doc_version: doc.doc_version,
            position: doc.position,
        };
        if let Ok(bytes) = serde_json::to_vec(&cached) {
            let _ = self.set(&key(org, doc.task_id), bytes, TTL).await;
        }
    }
}
