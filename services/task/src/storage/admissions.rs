//! Patients: search, a patient with its open tasks, admission and discharge, each change with its
//! audit row in the same transaction. [`sql_patient_store!`] is expanded next to
//! `sql_task_store!`, whose `task_from_row` and `insert_audit_row` it uses.

use async_trait::async_trait;
use time::OffsetDateTime;
use uuid::Uuid;

use emrlab_common::auth::OrgId;

use crate::{
    error::TaskError,
    model::Actor,
    patients::model::{Admission, Patient, PatientDetail, PatientFilter},
};

#[async_trait]
pub trait PatientStore: Send + Sync + 'static {
    /// Matching patients, newest first, strictly after `after`; up to `limit + 1` rows so the
    /// caller can tell whether more follow.
    async fn search_patients(
        &self,
        org: OrgId,
        filter: &PatientFilter,
        after: Option<(OffsetDateTime, Uuid)>,
        limit: u32,
    ) -> Result<Vec<Patient>, TaskError>;
    /// One patient of the organisation with its pending and in-progress tasks.
    async fn patient_detail(&self, org: OrgId, id: Uuid) -> Result<Option<PatientDetail>, TaskError>;
    /// Registers and admits a new patient; the ward and the admitting practitioner must be the
    /// organisation's (422 naming the field) and the MRN new to it (409 `mrn_exists`).
    async fn admit(&self, actor: Actor, admission: Admission) -> Result<Patient, TaskError>;
    /// Discharges an admitted patient: 404 if unknown, 409 `not_admitted` if not in a bed.
    async fn discharge(&self, actor: Actor, id: Uuid) -> Result<Patient, TaskError>;
}

/// The error of an id that is not one of the organisation's patients.
pub fn patient_not_found(id: Uuid) -> TaskError {
    emrlab_common::error::ApiError::not_found(format!("patient {id} not found")).into()
}

macro_rules! sql_patient_store {
    ($store:ident, $db:ty, instant: $instant:ty, to_db: $to_db:path, from_db: $from_db:path,
     like: $like:literal, lock: $lock:literal) => {
        const PATIENT_COLUMNS: &str = "id, mrn, given_name, family_name, birth_date, sex, ward_id, bed, \
             admitted_at, discharged_at, admitting_practitioner_id, created_at";

        fn patient_from_row(
            row: &<$db as sqlx::Database>::Row,
        ) -> Result<crate::patients::model::Patient, sqlx::Error> {
            use sqlx::Row;
            let (given_name, family_name): (String, String) = (row.try_get(2)?, row.try_get(3)?);
            let admitted_at = row.try_get::<Option<$instant>, _>(8)?.map($from_db);
            let discharged_at = row.try_get::<Option<$instant>, _>(9)?.map($from_db);
            Ok(crate::patients::model::Patient {
                id: row.try_get(0)?,
                mrn: row.try_get(1)?,
                name: format!("{given_name} {family_name}"),
                given_name,
                family_name,
                birth_date: row.try_get(4)?,
                sex: row.try_get(5)?,
                ward_id: row.try_get(6)?,
                bed: row.try_get(7)?,
                status: crate::patients::model::Patient::status_of(admitted_at, discharged_at),
                admitted_at,
                discharged_at,
                admitting_practitioner_id: row.try_get(10)?,
                created_at: $from_db(row.try_get::<$instant, _>(11)?),
            })
        }

        /// `GET /patients`: the search, newest first, up to `limit + 1` rows, appended to `qb`.
        pub(crate) fn push_patient_search(
            qb: &mut sqlx::QueryBuilder<$db>,
            org: emrlab_common::auth::OrgId,
            filter: &crate::patients::model::PatientFilter,
            after: Option<(time::OffsetDateTime, uuid::Uuid)>,
            limit: u32,
        ) {
            qb.push(format!("SELECT {PATIENT_COLUMNS} FROM patients WHERE org_id = "));
            qb.push_bind(org.0);
            if let Some(ward) = filter.ward_id {
                qb.push(" AND ward_id = ").push_bind(ward);
            }
            match filter.admitted {
                Some(true) => qb.push(" AND admitted_at IS NOT NULL AND discharged_at IS NULL"),
                Some(false) => qb.push(" AND discharged_at IS NOT NULL"),
                None => qb,
            };
            if let Some(q) = &filter.q {
                let prefix = crate::listing::like_pattern(q);
                qb.push(concat!(" AND (mrn ", $like, " "))
                    .push_bind(prefix[1..].to_owned())
                    .push(" ESCAPE '\\' OR (1 = 1");
                for term in filter.terms() {
                    let pattern = crate::listing::like_pattern(term);
                    qb.push(concat!(" AND (given_name ", $like, " "))
                        .push_bind(pattern.clone());
                    qb.push(concat!(" ESCAPE '\\' OR family_name ", $like, " "))
                        .push_bind(pattern)
                        .push(" ESCAPE '\\')");
                }
                qb.push("))");
            }
            emrlab_common::cursor::push_page_after(qb, after.map(|(at, id)| ($to_db(at), id)), limit);
        }

        async fn read_patient(
            conn: &mut <$db as sqlx::Database>::Connection,
            org: emrlab_common::auth::OrgId,
            id: uuid::Uuid,
            lock: bool,
        ) -> Result<Option<crate::patients::model::Patient>, sqlx::Error> {
            let mut qb =
                sqlx::QueryBuilder::<$db>::new(format!("SELECT {PATIENT_COLUMNS} FROM patients WHERE org_id = "));
            qb.push_bind(org.0).push(" AND id = ").push_bind(id);
            if lock {
                qb.push($lock);
            }
            qb.build()
                .fetch_optional(conn)
                .await?
                .as_ref()
                .map(patient_from_row)
                .transpose()
        }

        #[async_trait::async_trait]
        impl crate::storage::admissions::PatientStore for $store {
            async fn search_patients(
                &self,
                org: emrlab_common::auth::OrgId,
                filter: &crate::patients::model::PatientFilter,
                after: Option<(time::OffsetDateTime, uuid::Uuid)>,
                limit: u32,
            ) -> Result<Vec<crate::patients::model::Patient>, crate::error::TaskError> {
                let mut qb = sqlx::QueryBuilder::<$db>::new("");
                push_patient_search(&mut qb, org, filter, after, limit);
                let rows = qb.build().fetch_all(&mut *self.db.acquire().await?).await?;
                Ok(rows.iter().map(patient_from_row).collect::<Result<_, _>>()?)
            }

            async fn patient_detail(
                &self,
                org: emrlab_common::auth::OrgId,
                id: uuid::Uuid,
            ) -> Result<Option<crate::patients::model::PatientDetail>, crate::error::TaskError> {
                let mut conn = self.db.acquire().await?;
                let Some(patient) = read_patient(&mut conn, org, id, false).await? else {
                    return Ok(None);
                };
                let rows = sqlx::query(concat!(
                    "SELECT ",
                    crate::storage::statements::task_row_columns!(),
                    " FROM tasks WHERE org_id = $1 AND patient_id = $2 AND status IN ('pending', 'in_progress') \
                     ORDER BY created_at DESC, id DESC LIMIT $3"
                ))
                .bind(org.0)
                .bind(id)
                .bind(i64::from(crate::listing::MAX_LIMIT))
                .fetch_all(&mut *conn)
                .await?;
                let active_tasks = rows.iter().map(task_from_row).collect::<Result<_, _>>()?;
                Ok(Some(crate::patients::model::PatientDetail {
                    patient,
                    active_tasks,
                }))
            }

            async fn admit(
                &self,
                actor: crate::model::Actor,
                a: crate::patients::model::Admission,
            ) -> Result<crate::patients::model::Patient, crate::error::TaskError> {
                use emrlab_common::error::ApiError;
                let now = emrlab_common::db::now();
                let id = uuid::Uuid::now_v7();
                let mut w = self.db.begin_write().await?;
                // One statement proves the ward and the practitioner are the organisation's: SQLite
                // cannot add the practitioner's composite foreign key to an existing table.
                let inserted = sqlx::query(
                    "INSERT INTO patients (id, org_id, mrn, given_name, family_name, birth_date, sex, ward_id, bed, \
                     admitted_at, admitting_practitioner_id, created_at) \
                     SELECT $1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $10 \
                     WHERE EXISTS (SELECT 1 FROM wards WHERE org_id = $2 AND id = $8) \
                       AND EXISTS (SELECT 1 FROM practitioners WHERE org_id = $2 AND id = $11)",
                )
                .bind(id)
                .bind(actor.org.0)
                .bind(&a.mrn)
                .bind(&a.given_name)
                .bind(&a.family_name)
                .bind(a.birth_date)
                .bind(a.sex)
                .bind(a.ward_id)
                .bind(&a.bed)
                .bind($to_db(now))
                .bind(a.admitting_practitioner_id)
                .execute(&mut *w.tx)
                .await;
                match inserted {
                    Err(sqlx::Error::Database(e)) if e.is_unique_violation() => {
                        return Err(ApiError::new(
                            axum::http::StatusCode::CONFLICT,
                            "mrn_exists",
                            format!("your organisation already has a patient with MRN {}", a.mrn),
                        )
                        .field("mrn")
                        .into());
                    }
                    Ok(done) if done.rows_affected() == 0 => {
                        drop(w);
                        let ward: i64 = sqlx::query_scalar("SELECT count(*) FROM wards WHERE org_id = $1 AND id = $2")
                            .bind(actor.org.0)
                            .bind(a.ward_id)
                            .fetch_one(&mut *self.db.acquire().await?)
                            .await?;
                        return Err(if ward == 0 {
                            ApiError::invalid("ward_id", "no such ward in your organisation")
                        } else {
                            ApiError::invalid(
                                "admitting_practitioner_id",
                                "no such practitioner in your organisation",
                            )
                        }
                        .into());
                    }
                    other => other?,
                };
                let patient = read_patient(&mut *w.tx, actor.org, id, false)
                    .await?
                    .ok_or(sqlx::Error::RowNotFound)?;
                insert_audit_row(
                    &mut *w.tx,
                    actor,
                    "patient.admit",
                    "patient",
                    id,
                    None,
                    &patient,
                    now,
                )
                .await?;
                w.tx.commit().await?;
                Ok(patient)
            }

            async fn discharge(
                &self,
                actor: crate::model::Actor,
                id: uuid::Uuid,
            ) -> Result<crate::patients::model::Patient, crate::error::TaskError> {
                let now = emrlab_common::db::now();
                let mut w = self.db.begin_write().await?;
                let before = read_patient(&mut *w.tx, actor.org, id, true)
                    .await?
                    .ok_or_else(|| crate::storage::admissions::patient_not_found(id))?;
                if before.status != "admitted" {
                    return Err(emrlab_common::error::ApiError::new(
                        axum::http::StatusCode::CONFLICT,
                        "not_admitted",
                        format!("patient {id} is {}, not admitted", before.status),
                    )
                    .into());
                }
                sqlx::query("UPDATE patients SET discharged_at = $1 WHERE org_id = $2 AND id = $3")
                    .bind($to_db(now))
                    .bind(actor.org.0)
                    .bind(id)
                    .execute(&mut *w.tx)
                    .await?;
                let after = crate::patients::model::Patient {
                    discharged_at: Some(now),
                    status: crate::patients::model::Patient::status_of(before.admitted_at, Some(now)),
                    ..before.clone()
                };
                insert_audit_row(
                    &mut *w.tx,
                    actor,
                    "patient.discharge",
                    "patient",
                    id,
                    Some(&before),
                    &after,
                    now,
                )
                .await?;
                w.tx.commit().await?;
                Ok(after)
            }
        }
    };
}
pub(crate) use sql_patient_store;
