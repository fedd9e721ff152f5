//! Writes the generated data set (`emrlab-seed`) with multi-row INSERTs, on either backend, into
//! an empty database, with the links of the active tasks the simulated vendors already hold, and
//! the insurance authorizations.

use emrlab_common::db::AnyDb;
use emrlab_seed::{CHUNK, Directory};
use sqlx::QueryBuilder;
use time::OffsetDateTime;

pub use emrlab_seed::{DEMO_PASSWORD, Profile};

/// What `emrlab seed` did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SeedReport {
    /// The database already had organisations; nothing was written.
    AlreadySeeded,
    /// Rows written.
    Seeded {
        practitioners: usize,
        patients: usize,
        tasks: usize,
    },
}

/// Seeding failed; the database may hold part of the data set.
#[derive(Debug, thiserror::Error)]
#[error("seeding failed: {0}")]
pub struct SeedError(#[from] sqlx::Error);

macro_rules! writer {
    ($name:ident, $db:ty, $conv:path) => {
        async fn $name(
            db: &emrlab_common::db::Db<$db>,
            dir: &Directory,
            profile: Profile,
            seed: u64,
            now: OffsetDateTime,
            password_hash: &str,
        ) -> Result<SeedReport, sqlx::Error> {
            let mut w = db.begin_write().await?;
            let existing: i64 = sqlx::query_scalar("SELECT count(*) FROM organisations").fetch_one(&mut *w.tx).await?;
            if existing > 0 {
                return Ok(SeedReport::AlreadySeeded);
            }
            QueryBuilder::<$db>::new("INSERT INTO organisations (id, name, created_at) ")
                .push_values(&dir.orgs, |mut b, o| {
                    b.push_bind(o.id).push_bind(o.name.clone()).push_bind($conv(now));
                })
                .build()
                .execute(&mut *w.tx)
                .await?;
            QueryBuilder::<$db>::new("INSERT INTO wards (id, org_id, name) ")
                .push_values(&dir.wards, |mut b, x| {
                    b.push_bind(x.id).push_bind(x.org_id).push_bind(x.name.clone());
                })
                .build()
                .execute(&mut *w.tx)
                .await?;
            for chunk in dir.practitioners.chunks(CHUNK) {
                QueryBuilder::<$db>::new(
                    "INSERT INTO practitioners (id, org_id, username, display_name, role, ward_id, password_hash, created_at) ",
                )
                .push_values(chunk, |mut b, p| {
                    b.push_bind(p.id)
                        .push_bind(p.org_id)
                        .push_bind(p.username.clone())
                        .push_bind(p.display_name.clone())
                        .push_bind(p.role)
                        .push_bind(p.ward_id)
                        .push_bind(password_hash.to_owned())
                        .push_bind($conv(now));
                })
                .build()
                .execute(&mut *w.tx)
                .await?;
            }
            for chunk in dir.patients.chunks(CHUNK) {
                QueryBuilder::<$db>::new(
                    "INSERT INTO patients (id, org_id, mrn, given_name, family_name, birth_date, sex, ward_id, bed, admitted_at, \
                     created_at, home_vendor, epic_id, cerner_id) ",
                )
                .push_values(chunk, |mut b, p| {
                    b.push_bind(p.id)
                        .push_bind(p.org_id)
                        .push_bind(p.mrn.clone())
                        .push_bind(p.given_name)
                        .push_bind(p.family_name)
                        .push_bind(p.birth_date)
                        .push_bind(p.sex)
                        .push_bind(p.ward_id)
                        .push_bind(p.bed.clone())
                        .push_bind($conv(p.admitted_at))
                        .push_bind($conv(p.admitted_at))
                        .push_bind(p.home_vendor.as_str())
                        .push_bind(p.epic_id.clone())
                        .push_bind(p.cerner_id.clone());
                })
                .build()
                .execute(&mut *w.tx)
                .await?;
            }
            let mut tasks = 0;
            for index in 0..3 {
                for chunk in dir.tasks(index, seed, now) {
                    tasks += chunk.len();
                    QueryBuilder::<$db>::new(
                        "INSERT INTO tasks (id, org_id, patient_id, title, description, status, priority, assignee_id, \
                         ward_id, due_at, created_at, updated_at, version) ",
                    )
                    .push_values(&chunk, |mut b, t| {
                        b.push_bind(t.id)
                            .push_bind(t.org_id)
                            .push_bind(t.patient_id)
                            .push_bind(t.title)
                            .push_bind(t.description)
                            .push_bind(t.status)
                            .push_bind(t.priority)
                            .push_bind(t.assignee_id)
                            .push_bind(t.ward_id)
                            .push_bind($conv(t.due_at))
                            .push_bind($conv(t.created_at))
                            .push_bind($conv(t.created_at))
                            .push_bind(1_i64);
                    })
                    .build()
                    .execute(&mut *w.tx)
                    .await?;
                    let held: Vec<_> = chunk.iter().filter(|t| t.is_active()).collect();
                    if held.is_empty() {
                        continue;
                    }
                    QueryBuilder::<$db>::new(
                        "INSERT INTO emr_task_links (task_id, org_id, vendor, vendor_task_id, pushed_at) ",
                    )
                    .push_values(held, |mut b, t| {
                        b.push_bind(t.id)
                            .push_bind(t.org_id)
                            .push_bind(t.vendor.as_str())
                            .push_bind(t.vendor.seeded_task_id(t.id))
                            .push_bind($conv(t.created_at));
                    })
                    .build()
                    .execute(&mut *w.tx)
                    .await?;
                }
            }
            QueryBuilder::<$db>::new(
                "INSERT INTO authorizations (id, org_id, number, patient_id, service_code, valid_from, valid_until, \
                 total_units, created_at, updated_at) ",
            )
            .push_values(dir.authorizations(seed, now), |mut b, a| {
                b.push_bind(a.id)
                    .push_bind(a.org_id)
                    .push_bind(a.number)
                    .push_bind(a.patient_id)
                    .push_bind(a.service_code)
                    .push_bind($conv(a.valid_from))
                    .push_bind($conv(a.valid_until))
                    .push_bind(a.total_units)
                    .push_bind($conv(a.created_at))
                    .push_bind($conv(a.created_at));
            })
            .build()
            .execute(&mut *w.tx)
            .await?;
            w.tx.commit().await?;
            tracing::info!(?profile, seed, tasks, "seeded");
            Ok(SeedReport::Seeded { practitioners: dir.practitioners.len(), patients: dir.patients.len(), tasks })
        }
    };
}

fn same(t: OffsetDateTime) -> OffsetDateTime {
    t
}

writer!(write_postgres, sqlx::Postgres, same);
writer!(write_sqlite, sqlx::Sqlite, emrlab_common::db::to_micros);

/// Seeds an empty database with `profile` from `seed`, every password set to `password_hash`
/// (hashed once by the caller: a thousand argon2 runs would take minutes for identical results).
pub async fn seed(db: &AnyDb, profile: Profile, seed: u64, password_hash: &str) -> Result<SeedReport, SeedError> {
    let now = emrlab_common::db::now();
    let dir = Directory::generate(profile, seed, now);
    Ok(match db {
        AnyDb::Postgres(db) => write_postgres(db, &dir, profile, seed, now, password_hash).await?,
        AnyDb::Sqlite(db) => write_sqlite(db, &dir, profile, seed, now, password_hash).await?,
    })
}
