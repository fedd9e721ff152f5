//! What a simulated vendor holds: every seeded patient (read-only, under the vendor's own ids) and
//! the tasks, seeded copies of the active ones at this vendor plus those pushed at run time. Tasks
//! live in memory only, as docs/vendors.md says: a restarted simulator has only the seeded ones.

use std::{
    collections::{HashMap, hash_map::Entry},
    sync::{Arc, PoisonError, RwLock},
};

use time::{OffsetDateTime, macros::format_description};
use uuid::Uuid;

use emrlab_seed::{Directory, Profile, Vendor};

use super::{
    dialect::Dialect,
    model::{Identifier, PLATFORM_TASK_SYSTEM, Priority, Status, TaskContent, TaskInput, TaskRecord},
    outcome::FhirError,
};

/// `Directory::generate` makes three care organisations (then the platform's own, which has no
/// tasks and no patients).
const CARE_ORGS: usize = 3;

/// A patient as this vendor records it.
#[derive(Debug)]
pub struct PatientRecord {
    pub id: String,
    /// The MRN in this vendor's format.
    pub mrn: String,
    pub name_text: String,
    pub given: &'static str,
    pub family: &'static str,
    pub gender: &'static str,
    /// `YYYY-MM-DD`.
    pub birth_date: String,
    /// The record last changed at admission.
    pub last_updated: OffsetDateTime,
}

/// One vendor's data.
pub struct Store {
    dialect: &'static Dialect,
    /// In seeding order, which is the order a search lists them in.
    patients: Vec<PatientRecord>,
    by_id: HashMap<String, usize>,
    by_mrn: HashMap<String, usize>,
    // Locks are held for a map operation only, never across an await.
    tasks: RwLock<HashMap<String, Arc<TaskRecord>>>,
}

impl Store {
    /// Generates the seed data set and keeps this vendor's part of it. Tens of thousands of
    /// records in the large profile: call it off the async threads.
    pub fn seed(dialect: &'static Dialect, profile: Profile, seed: u64, now: OffsetDateTime) -> Self {
        let dir = Directory::generate(profile, seed, now);
        let birth_date = format_description!("[year]-[month]-[day]");
        let mut vendor_ids = HashMap::with_capacity(dir.patients.len());
        let patients: Vec<PatientRecord> = dir
            .patients
            .iter()
            .map(|p| {
                let id = match dialect.vendor {
                    Vendor::Epic => p.epic_id.clone(),
                    Vendor::Cerner => p.cerner_id.clone(),
                };
                vendor_ids.insert(p.id, id.clone());
                PatientRecord {
                    mrn: dialect.mrn_value(&p.mrn),
                    name_text: dialect.name_text(p.given_name, p.family_name),
                    given: p.given_name,
                    family: p.family_name,
                    gender: p.sex,
                    birth_date: p.birth_date.format(&birth_date).unwrap_or_default(),
                    last_updated: p.admitted_at,
                    id,
                }
            })
            .collect();
        let tasks = seeded_tasks(dialect, &dir, &vendor_ids, seed, now);
        let by_id = patients.iter().enumerate().map(|(i, p)| (p.id.clone(), i)).collect();
        let by_mrn = patients.iter().enumerate().map(|(i, p)| (p.mrn.clone(), i)).collect();
        Self {
            dialect,
            patients,
            by_id,
            by_mrn,
            tasks: RwLock::new(tasks),
        }
    }

    /// Every patient, in search order.
    pub fn patients(&self) -> &[PatientRecord] {
        &self.patients
    }

    /// The patient with this vendor id.
    pub fn patient(&self, id: &str) -> Result<&PatientRecord, FhirError> {
        self.by_id
            .get(id)
            .and_then(|&i| self.patients.get(i))
            .ok_or_else(|| FhirError::NotFound(format!("Patient/{id} is not known here")))
    }

    /// The position of the patient with this MRN (in this vendor's format) in [`Self::patients`].
    pub fn patient_index_by_mrn(&self, mrn: &str) -> Option<usize> {
        self.by_mrn.get(mrn).copied()
    }

    /// How many tasks the vendor holds.
    pub fn task_count(&self) -> usize {
        self.tasks.read().unwrap_or_else(PoisonError::into_inner).len()
    }

    /// The task with this vendor id.
    pub fn task(&self, id: &str) -> Result<Arc<TaskRecord>, FhirError> {
        self.tasks
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .get(id)
            .cloned()
            .ok_or_else(|| task_not_found(id))
    }

    /// Stores a new task under a fresh id (`POST /Task`); the server assigns the id, so one in
    /// the body is ignored, as FHIR says.
    pub fn create_task(&self, input: TaskInput, now: OffsetDateTime) -> Result<Arc<TaskRecord>, FhirError> {
        self.check_patient(&input.content)?;
        let mut rng = rand::rng();
        let mut tasks = self.tasks.write().unwrap_or_else(PoisonError::into_inner);
        loop {
            if let Entry::Vacant(slot) = tasks.entry(self.dialect.new_task_id(&mut rng)) {
                let record = Arc::new(TaskRecord {
                    id: slot.key().clone(),
                    version: 1,
                    authored_on: input.authored_on.unwrap_or(now),
                    last_modified: now,
                    content: input.content,
                });
                slot.insert(record.clone());
                return Ok(record);
            }
        }
    }

    /// Replaces a task's content (`PUT /Task/{id}`), bumping its version. With `expected`
    /// (from `If-Match`), a task at any other version is left alone and the caller told.
    pub fn update_task(
        &self,
        id: &str,
        input: TaskInput,
        expected: Option<u64>,
        now: OffsetDateTime,
    ) -> Result<Arc<TaskRecord>, FhirError> {
        if input.id.as_deref().is_some_and(|body_id| body_id != id) {
            return Err(FhirError::Structure("the body's id is not the id in the path".into()));
        }
        self.check_patient(&input.content)?;
        let mut tasks = self.tasks.write().unwrap_or_else(PoisonError::into_inner);
        let slot = tasks.get_mut(id).ok_or_else(|| task_not_found(id))?;
        if expected.is_some_and(|version| version != slot.version) {
            return Err(FhirError::VersionConflict { current: slot.version });
        }
        let record = Arc::new(TaskRecord {
            id: slot.id.clone(),
            version: slot.version + 1,
            // A full replacement, except that the time of authoring stays when not restated.
            authored_on: input.authored_on.unwrap_or(slot.authored_on),
            last_modified: now,
            content: input.content,
        });
        *slot = record.clone();
        Ok(record)
    }

    fn check_patient(&self, content: &TaskContent) -> Result<(), FhirError> {
        match self.by_id.contains_key(&content.patient_id) {
            true => Ok(()),
            false => Err(FhirError::Invalid(format!(
                "for.reference: Patient/{} is not known here",
                content.patient_id
            ))),
        }
    }
}

/// Copies of the seed's active tasks whose patient's home is this vendor, under the vendor's ids.
fn seeded_tasks(
    dialect: &Dialect,
    dir: &Directory,
    vendor_ids: &HashMap<Uuid, String>,
    seed: u64,
    now: OffsetDateTime,
) -> HashMap<String, Arc<TaskRecord>> {
    let mut tasks = HashMap::new();
    for org in 0..CARE_ORGS {
        // Active tasks come first; the closed ones after them (most of the large profile's
        // million) are never held by a vendor, so generation stops at the first.
        'org: for chunk in dir.tasks(org, seed, now) {
            for task in chunk {
                if !task.is_active() {
                    break 'org;
                }
                if task.vendor != dialect.vendor {
                    continue;
                }
                let (Some(patient_id), Some(status), Some(priority)) = (
                    vendor_ids.get(&task.patient_id),
                    Status::from_platform(task.status),
                    Priority::parse(task.priority),
                ) else {
                    continue;
                };
                let record = TaskRecord {
                    id: dialect.vendor.seeded_task_id(task.id),
                    version: 1,
                    authored_on: task.created_at,
                    last_modified: task.created_at,
                    content: TaskContent {
                        identifiers: vec![Identifier {
                            system: PLATFORM_TASK_SYSTEM.to_owned(),
                            value: task.id.to_string(),
                        }],
                        status,
                        priority,
                        title: task.title.to_owned(),
                        description: task.description.map(str::to_owned),
                        patient_id: patient_id.clone(),
                        due: Some(task.due_at),
                    },
                };
                tasks.insert(record.id.clone(), Arc::new(record));
            }
        }
    }
    tasks
}

fn task_not_found(id: &str) -> FhirError {
    FhirError::NotFound(format!("Task/{id} is not known here"))
}
