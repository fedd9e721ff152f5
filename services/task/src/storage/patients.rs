//! The patients of a page of tasks, as `GET /tasks?include=patient` loads them in each
//! `tasks.patient_loading` mode: one query per task (`n_plus_one`, the bottleneck reproduced), one
//! `IN` query for the page (`batch`), or the page itself joined with them (`join`).
//! [`sql_patient_refs!`] is expanded next to `sql_task_store!`, whose `push_page` and
//! `task_from_row` it uses.

use async_trait::async_trait;
use serde::Serialize;
use uuid::Uuid;

use emrlab_common::auth::OrgId;

use crate::{
    error::TaskError,
    listing::{PageRequest, TaskFilter},
    model::Task,
};

/// A task's patient as the list shows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PatientRef {
    pub id: Uuid,
    pub name: String,
    pub mrn: String,
}

#[async_trait]
pub trait PatientRefs: Send + Sync + 'static {
    /// One patient of the organisation (`n_plus_one` asks once per task).
    async fn patient_ref(&self, org: OrgId, id: Uuid) -> Result<Option<PatientRef>, TaskError>;
    /// The organisation's patients among `ids`, in one query (`batch`).
    async fn patient_refs(&self, org: OrgId, ids: &[Uuid]) -> Result<Vec<PatientRef>, TaskError>;
    /// A page as `page_tasks` reads it, each task with its patient, in one query (`join`).
    async fn page_with_patients(
        &self,
        org: OrgId,
        filter: &TaskFilter,
        page: PageRequest,
    ) -> Result<Vec<(Task, PatientRef)>, TaskError>;
}

/// One patient of an organisation as the list shows it: $1 org, $2 patient id.
pub(crate) const PATIENT_REF: &str =
    "SELECT id, given_name, family_name, mrn FROM patients WHERE org_id = $1 AND id = $2";

macro_rules! sql_patient_refs {
    ($store:ident, $db:ty) => {
        fn patient_ref_from(
            row: &<$db as sqlx::Database>::Row,
            at: usize,
        ) -> Result<crate::storage::patients::PatientRef, sqlx::Error> {
            use sqlx::Row;
            let (given, family): (String, String) = (row.try_get(at + 1)?, row.try_get(at + 2)?);
            Ok(crate::storage::patients::PatientRef {
                id: row.try_get(at)?,
                name: format!("{given} {family}"),
                mrn: row.try_get(at + 3)?,
            })
        }

        #[async_trait::async_trait]
        impl crate::storage::patients::PatientRefs for $store {
            async fn patient_ref(
                &self,
                org: emrlab_common::auth::OrgId,
                id: uuid::Uuid,
            ) -> Result<Option<crate::storage::patients::PatientRef>, crate::error::TaskError> {
                let row = sqlx::query(crate::storage::patients::PATIENT_REF)
                    .bind(org.0)
                    .bind(id)
                    .fetch_optional(&mut *self.db.acquire().await?)
                    .await?;
                Ok(row.map(|r| patient_ref_from(&r, 0)).transpose()?)
            }

            async fn patient_refs(
                &self,
                org: emrlab_common::auth::OrgId,
                ids: &[uuid::Uuid],
            ) -> Result<Vec<crate::storage::patients::PatientRef>, crate::error::TaskError> {
                if ids.is_empty() {
                    return Ok(Vec::new());
                }
                let mut qb = sqlx::QueryBuilder::<$db>::new(
                    "SELECT id, given_name, family_name, mrn FROM patients WHERE org_id = ",
                );
                qb.push_bind(org.0).push(" AND id IN (");
                let mut list = qb.separated(", ");
                for id in ids {
                    list.push_bind(*id);
                }
                qb.push(")");
                let rows = qb.build().fetch_all(&mut *self.db.acquire().await?).await?;
                Ok(rows
                    .iter()
                    .map(|r| patient_ref_from(r, 0))
                    .collect::<Result<_, _>>()?)
            }

            async fn page_with_patients(
                &self,
                org: emrlab_common::auth::OrgId,
                filter: &crate::listing::TaskFilter,
                page: crate::listing::PageRequest,
            ) -> Result<Vec<(crate::model::Task, crate::storage::patients::PatientRef)>, crate::error::TaskError> {
                // The page is the same query as `page_tasks`, as a derived table; the join then
                // adds each task's patient (the same organisation's: the key is composite).
                let mut qb =
                    sqlx::QueryBuilder::<$db>::new("SELECT t.*, p.id, p.given_name, p.family_name, p.mrn FROM (");
                push_page(&mut qb, org, filter, page);
                qb.push(") t JOIN patients p ON p.org_id = ").push_bind(org.0);
                qb.push(" AND p.id = t.patient_id ORDER BY t.created_at DESC, t.id DESC");
                let rows = qb.build().fetch_all(&mut *self.db.acquire().await?).await?;
                Ok(rows
                    .iter()
                    .map(|r| Ok((task_from_row(r)?, patient_ref_from(r, 15)?)))
                    .collect::<Result<_, sqlx::Error>>()?)
            }
        }
    };
}
pub(crate) use sql_patient_refs;
