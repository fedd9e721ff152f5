//! The sync service's metrics: changes merged, merge time, conflicts, the async queue's depth
//! and the document cache's hits.

use std::time::Duration;

/// Metric names of the sync service.
pub mod names {
    pub const CHANGES: &str = "emrlab_sync_changes_total";
    pub const MERGE_DURATION: &str = "emrlab_sync_merge_duration_seconds";
    pub const CONFLICTED_TASKS: &str = "emrlab_sync_conflicted_tasks_total";
    pub const QUEUE_DEPTH: &str = "emrlab_sync_queue_depth";
    pub const QUEUE_REJECTIONS: &str = "emrlab_sync_queue_rejections_total";
    pub const DOC_CACHE: &str = "emrlab_sync_doc_cache_requests_total";
}

/// Describes the metrics once, so `/metrics` lists them before the first sync.
pub fn register() {
    metrics::describe_counter!(names::CHANGES, "changes received, by result (applied, duplicate)");
    metrics::describe_histogram!(
        names::MERGE_DURATION,
        metrics::Unit::Seconds,
        "time to merge one batch, by mode (inline, async)"
    );
    metrics::describe_counter!(
        names::CONFLICTED_TASKS,
        "tasks a merge put in conflict (they had none before)"
    );
    metrics::describe_gauge!(names::QUEUE_DEPTH, "async mode: batches waiting for a worker");
    metrics::describe_counter!(
        names::QUEUE_REJECTIONS,
        "async mode: batches refused with 503, queue full"
    );
    metrics::describe_counter!(names::DOC_CACHE, "document reads from the cache, by result (hit, miss)");
    metrics::gauge!(names::QUEUE_DEPTH).set(0.0);
    cache(0, 0);
}

/// Records one merged batch.
pub fn merged(mode: &'static str, took: Duration, applied: usize, duplicates: usize, conflicted: usize) {
    metrics::histogram!(names::MERGE_DURATION, "mode" => mode).record(took.as_secs_f64());
    metrics::counter!(names::CHANGES, "result" => "applied").increment(applied as u64);
    metrics::counter!(names::CHANGES, "result" => "duplicate").increment(duplicates as u64);
    metrics::counter!(names::CONFLICTED_TASKS).increment(conflicted as u64);
}

/// Records document cache lookups.
pub fn cache(hits: usize, misses: usize) {
    metrics::counter!(names::DOC_CACHE, "result" => "hit").increment(hits as u64);
    metrics::counter!(names::DOC_CACHE, "result" => "miss").increment(misses as u64);
}

/// Sets the async queue's depth.
pub fn queue_depth(depth: usize) {
    metrics::gauge!(names::QUEUE_DEPTH).set(depth as f64);
}

/// Counts a batch refused because the queue was full.
pub fn queue_rejected() {
    metrics::counter!(names::QUEUE_REJECTIONS).increment(1);
}
