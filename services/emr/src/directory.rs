//! What the EMR service reads from the platform's database: which vendor holds a patient and
//! under which id, and which vendor id a pushed task has. Every query is scoped by organisation.
//! The statements are the same on both backends (`$n` placeholders work on SQLite too).

use emrlab_common::{auth::OrgId, db::AnyDb};
use emrlab_seed::Vendor;
use uuid::Uuid;

use crate::error::EmrError;

/// A patient as the integration knows it.
#[derive(Debug, Clone)]
pub struct PatientRef {
    pub mrn: String,
    pub home_vendor: Vendor,
    pub epic_id: Option<String>,
    pub cerner_id: Option<String>,
}

impl PatientRef {
    pub fn vendor_id(&self, vendor: Vendor) -> Option<&str> {
        match vendor {
            Vendor::Epic => self.epic_id.as_deref(),
            Vendor::Cerner => self.cerner_id.as_deref(),
        }
    }
}

/// A task of the organisation and, if it was pushed, where.
#[derive(Debug, Clone)]
pub struct TaskRef {
    pub patient_id: Uuid,
    pub link: Option<(Vendor, String)>,
}

const PATIENT: &str = "SELECT mrn, home_vendor, epic_id, cerner_id FROM patients WHERE org_id = $1 AND id = $2";
const TASK: &str = "SELECT t.patient_id, l.vendor, l.vendor_task_id FROM tasks t \
                    LEFT JOIN emr_task_links l ON l.task_id = t.id WHERE t.org_id = $1 AND t.id = $2";
const LINK: &str = "INSERT INTO emr_task_links (task_id, org_id, vendor, vendor_task_id, pushed_at) \
                    VALUES ($1, $2, $3, $4, $5)";

type PatientRow = (String, String, Option<String>, Option<String>);
type TaskRow = (Uuid, Option<String>, Option<String>);

fn vendor(text: &str) -> Result<Vendor, EmrError> {
    Vendor::parse(text).ok_or_else(|| EmrError::Storage(format!("unknown vendor {text:?} in the database")))
}

/// A patient of `org`, or `None`.
pub async fn patient(db: &AnyDb, org: OrgId, id: Uuid) -> Result<Option<PatientRef>, EmrError> {
    let row: Option<PatientRow> = match db {
        AnyDb::Postgres(db) => {
            sqlx::query_as(PATIENT)
                .bind(org.0)
                .bind(id)
                .fetch_optional(&db.pool())
                .await?
        }
        AnyDb::Sqlite(db) => {
            sqlx::query_as(PATIENT)
                .bind(org.0)
                .bind(id)
                .fetch_optional(&db.pool())
                .await?
        }
    };
    row.map(|(mrn, home, epic_id, cerner_id)| {
        Ok(PatientRef {
            mrn,
            home_vendor: vendor(&home)?,
            epic_id,
            cerner_id,
        })
    })
    .transpose()
}

/// A task of `org` and its link, or `None`.
pub async fn task(db: &AnyDb, org: OrgId, id: Uuid) -> Result<Option<TaskRef>, EmrError> {
    let row: Option<TaskRow> = match db {
        AnyDb::Postgres(db) => {
            sqlx::query_as(TASK)
                .bind(org.0)
                .bind(id)
                .fetch_optional(&db.pool())
                .await?
        }
        AnyDb::Sqlite(db) => {
            sqlx::query_as(TASK)
                .bind(org.0)
                .bind(id)
                .fetch_optional(&db.pool())
                .await?
        }
    };
    row.map(|(patient_id, vendor_name, vendor_task_id)| {
        let link = match (vendor_name, vendor_task_id) {
            (Some(name), Some(vendor_id)) => Some((vendor(&name)?, vendor_id)),
            _ => None,
        };
        Ok(TaskRef { patient_id, link })
    })
    .transpose()
}

/// Inserts a link in a write transaction of `$db`, binding the instant with `$instant`.
macro_rules! insert_link {
    ($db:expr, $instant:expr, $task:expr, $org:expr, $vendor:expr, $vendor_task_id:expr) => {{
        let mut w = $db.begin_write().await?;
        let done = sqlx::query(LINK)
            .bind($task)
            .bind($org.0)
            .bind($vendor.as_str())
            .bind($vendor_task_id)
            .bind($instant)
            .execute(&mut *w.tx)
            .await;
        if done.is_ok() {
            w.tx.commit().await?;
        }
        done.map(|_| ())
    }};
}

/// Records that `task` now lives at `vendor` as `vendor_task_id`; `false` if it already had a link.
pub async fn link(db: &AnyDb, org: OrgId, task: Uuid, vendor: Vendor, vendor_task_id: &str) -> Result<bool, EmrError> {
    let now = emrlab_common::db::now();
    let result = match db {
        AnyDb::Postgres(db) => insert_link!(db, now, task, org, vendor, vendor_task_id),
        AnyDb::Sqlite(db) => insert_link!(db, emrlab_common::db::to_micros(now), task, org, vendor, vendor_task_id),
    };
    match result {
        Ok(()) => Ok(true),
        Err(sqlx::Error::Database(e)) if e.is_unique_violation() => Ok(false),
        Err(e) => Err(e.into()),
    }
}
