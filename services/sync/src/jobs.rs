//! Async mode (`sync.mode = async`), the seed platform's fix for conflict resolution under load:
//! a batch is checked, recorded and queued, the device gets 202 and a job id at once, and a few
//! workers merge queued batches. The queue is bounded by `sync.queue_capacity` (503 with
//! Retry-After when full, so devices back off instead of piling up), and recorded in the
//! database, so a 202 survives a restart: queued jobs are queued again at start-up.
//!
//! Each worker has its own queue, and a device's batches always go to the same one: a device's
//! changes must be merged in the order it sent them (its counters run on from one batch to the
//! next), and two workers racing for one device's batches would refuse the later as a gap.

use std::{
    sync::{
        Arc,
        atomic::{AtomicUsize, Ordering},
    },
    time::Instant,
};

use tokio::sync::mpsc;
use uuid::Uuid;

use emrlab_common::{auth::OrgId, error::ApiError, knobs::KnobCell};

use crate::{
    Settings,
    engine::Engine,
    error::ServiceError,
    metrics,
    storage::QueuedJob,
    wire::{Batch, ChangesRequest},
};

/// The channel's own bound: the largest `sync.queue_capacity` allowed. The knob is the limit
/// that counts; this only keeps the channel bounded whatever the knob says.
const CHANNEL_BOUND: usize = 100_000;

/// A queued batch.
struct Job {
    id: Uuid,
    org: OrgId,
    actor: Uuid,
    batch: Batch,
}

/// The queues and their workers.
#[derive(Clone)]
pub struct Jobs {
    queues: Arc<[mpsc::Sender<Job>]>,
    depth: Arc<AtomicUsize>,
    knobs: Arc<KnobCell<Settings>>,
}

impl Jobs {
    /// Starts `workers` workers merging with `engine`, and queues again what a previous run left.
    pub fn start(engine: Arc<Engine>, knobs: Arc<KnobCell<Settings>>, workers: u32) -> Self {
        let depth = Arc::new(AtomicUsize::new(0));
        let queues: Arc<[mpsc::Sender<Job>]> = (0..workers.max(1))
            .map(|_| {
                let (tx, rx) = mpsc::channel(CHANNEL_BOUND);
                tokio::spawn(work(engine.clone(), rx, depth.clone()));
                tx
            })
            .collect();
        let jobs = Self { queues, depth, knobs };
        tokio::spawn(jobs.clone().requeue(engine));
        jobs
    }

    /// Records and queues a checked batch; its job id, or 503 when the queue is full.
    pub async fn submit(
        &self,
        engine: &Engine,
        org: OrgId,
        actor: Uuid,
        request: &ChangesRequest,
        batch: Batch,
    ) -> Result<Uuid, ServiceError> {
        let capacity = self.knobs.get().sync.queue_capacity as usize;
        if self.depth.load(Ordering::Relaxed) >= capacity {
            metrics::queue_rejected();
            return Err(ApiError::new(
                http::StatusCode::SERVICE_UNAVAILABLE,
                "sync_queue_full",
                format!("{capacity} batches are waiting to be merged (sync.queue_capacity); retry shortly"),
            )
            .retry_after(1)
            .into());
        }
        let id = Uuid::now_v7();
        let text = serde_json::to_string(request).map_err(|e| ServiceError::Tasks(e.to_string()))?;
        let job = QueuedJob {
            id,
            org,
            device: batch.device.to_string(),
            actor,
            request: text,
        };
        engine.docs.store.insert_job(&job).await?;
        self.push(Job { id, org, actor, batch })?;
        Ok(id)
    }

    fn push(&self, job: Job) -> Result<(), ServiceError> {
        let depth = self.depth.fetch_add(1, Ordering::Relaxed) + 1;
        metrics::queue_depth(depth);
        // The device's queue, so its batches keep their order (see the module docs).
        let mut hasher = std::hash::DefaultHasher::new();
        std::hash::Hash::hash(&(job.org.0, job.batch.device.as_str()), &mut hasher);
        let index = std::hash::Hasher::finish(&hasher) as usize % self.queues.len();
        self.queues[index].try_send(job).map_err(|_| {
            self.depth.fetch_sub(1, Ordering::Relaxed);
            ServiceError::Rejected(ApiError::unavailable("the sync queue is full; retry shortly"))
        })
    }

    /// Queues the jobs a previous run accepted but did not merge.
    async fn requeue(self, engine: Arc<Engine>) {
        let queued = match engine.docs.store.queued_jobs(CHANNEL_BOUND as u32).await {
            Ok(queued) => queued,
            Err(error) => {
                tracing::error!(?error, "reading queued sync jobs");
                return;
            }
        };
        for job in queued {
            let parsed = serde_json::from_str::<ChangesRequest>(&job.request)
                .map_err(|e| e.to_string())
                .and_then(|r| r.parse(usize::MAX).map_err(|e| e.body.message));
            match parsed {
                Ok(batch) => {
                    let _ = self.push(Job {
                        id: job.id,
                        org: job.org,
                        actor: job.actor,
                        batch,
                    });
                }
                Err(message) => {
                    let outcome = serde_json::json!({ "error": "invalid_job", "message": message });
                    let _ = engine.docs.store.finish_job(job.id, true, &outcome).await;
                }
            }
        }
    }
}

/// One worker: merges its queue's batches, in order, until the service stops.
async fn work(engine: Arc<Engine>, mut rx: mpsc::Receiver<Job>, depth: Arc<AtomicUsize>) {
    loop {
        let Some(job) = rx.recv().await else {
            return;
        };
        metrics::queue_depth(depth.fetch_sub(1, Ordering::Relaxed).saturating_sub(1));
        let started = Instant::now();
        let (failed, outcome) = match engine.merge(job.org, job.actor, &job.batch).await {
            Ok(report) => {
                let conflicted = report.new_conflicts.len();
                metrics::merged(
                    "async",
                    started.elapsed(),
                    report.applied,
                    report.duplicates,
                    conflicted,
                );
                (false, serde_json::to_value(&report).unwrap_or_default())
            }
            Err(error) => {
                let error = error.into_api_error();
                let status = error.status.as_u16();
                let body = serde_json::to_value(&error.body).unwrap_or_default();
                (true, serde_json::json!({ "status": status, "error": body }))
            }
        };
        if let Err(error) = engine.docs.store.finish_job(job.id, failed, &outcome).await {
            tracing::error!(?error, job_id = %job.id, "recording a sync job's outcome");
        }
    }
}
