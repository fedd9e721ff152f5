//! `GET /tasks?include=patient`: each task of the page with `"patient": {"id", "name", "mrn"}`,
//! loaded as `tasks.patient_loading` says. Every mode returns the same page; they differ in the
//! queries they send, which `emrlab_task_patient_queries_total` counts.

use std::collections::HashMap;

use serde::{Deserialize, Serialize};

use crate::{
    AppState,
    error::TaskError,
    listing::{PageRequest, TaskFilter},
    model::{Actor, Task},
    storage::patients::PatientRef,
};

/// Queries sent to load the patients of a list, by mode (for `join`, the one page query).
pub const PATIENT_QUERIES: &str = "emrlab_task_patient_queries_total";

/// How `GET /tasks?include=patient` loads the patients (`tasks.patient_loading`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum PatientLoading {
    /// One query per task: the N+1 bottleneck, kept to show it.
    NPlusOne,
    /// The page joined with the patients, in one query.
    Join,
    /// One `IN` query for the page's patients.
    #[default]
    Batch,
}

impl PatientLoading {
    fn as_str(self) -> &'static str {
        match self {
            Self::NPlusOne => "n_plus_one",
            Self::Join => "join",
            Self::Batch => "batch",
        }
    }
}

/// A task as the list shows it, with its patient when asked for.
#[derive(Debug, Serialize)]
pub struct Listed {
    #[serde(flatten)]
    pub task: Task,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub patient: Option<PatientRef>,
}

fn counted(mode: PatientLoading, queries: u64) {
    ::metrics::counter!(PATIENT_QUERIES, "component" => "task", "mode" => mode.as_str()).increment(queries);
}

/// Describes the series and creates them at zero.
pub fn register() {
    ::metrics::describe_counter!(
        PATIENT_QUERIES,
        "queries sent to load the patients of a task list, by mode"
    );
    for mode in [PatientLoading::NPlusOne, PatientLoading::Join, PatientLoading::Batch] {
        counted(mode, 0);
    }
}

/// The page (as `page_tasks` reads it) with each task's patient.
pub async fn page_with_patients(
    state: &AppState,
    actor: Actor,
    filter: &TaskFilter,
    page: PageRequest,
) -> Result<(Vec<Listed>, Option<i64>), TaskError> {
    let mode = state.knobs.get().tasks.patient_loading;
    if mode == PatientLoading::Join {
        let rows = state.store.page_with_patients(actor.org, filter, page).await?;
        counted(mode, 1);
        // Offset mode's total does not depend on the patients; it costs the plain page's queries.
        let total = match page {
            PageRequest::Offset { .. } => state.store.page_tasks(actor.org, filter, page).await?.1,
            _ => None,
        };
        let listed = rows.into_iter().map(|(task, patient)| Listed {
            task,
            patient: Some(patient),
        });
        return Ok((listed.collect(), total));
    }
    let (tasks, total) = state.store.page_tasks(actor.org, filter, page).await?;
    // A cursor page reads one task more than it shows, to know whether more follow.
    let shown = match page {
        PageRequest::Cursor { limit, .. } => tasks.len().min(limit as usize),
        _ => tasks.len(),
    };
    let mut patients: HashMap<uuid::Uuid, PatientRef> = HashMap::new();
    match mode {
        PatientLoading::NPlusOne => {
            for task in &tasks[..shown] {
                if let Some(patient) = state.store.patient_ref(actor.org, task.patient_id).await? {
                    patients.insert(patient.id, patient);
                }
                counted(mode, 1);
            }
        }
        _ => {
            let mut ids: Vec<_> = tasks[..shown].iter().map(|t| t.patient_id).collect();
            ids.sort_unstable();
            ids.dedup();
            patients.extend(
                state
                    .store
                    .patient_refs(actor.org, &ids)
                    .await?
                    .into_iter()
                    .map(|p| (p.id, p)),
            );
            counted(mode, 1);
        }
    }
    let listed = tasks.into_iter().map(|task| {
        let patient = patients.get(&task.patient_id).cloned();
        Listed { task, patient }
    });
    Ok((listed.collect(), total))
}
