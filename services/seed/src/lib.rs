//! The deterministic demo data set: the same seed number gives the same organisations, people,
//! patients and tasks (ids included). The task service writes it to the database; the simulated
//! Epic and Cerner serve the same patients and active tasks under their own identifiers
//! ([`vendor`]). Instants are offsets from the moment of seeding, so "the last 24 hours" always
//! has admissions in it; birth dates are fixed, so a vendor started on another day agrees.
//!
//! Usernames: `nurse.0001`…, `doctor.0001`…, `charge.0001`… numbered across organisations in
//! order (the first organisation has the lowest numbers), `admin` for the first organisation and
//! `admin.0002`, `admin.0003` for the others, and the platform's `operator`. Every password is
//! `emrlab` (demo data only).

use rand::{Rng, SeedableRng, rngs::StdRng};
use serde::{Deserialize, Serialize};
use time::{Date, Duration, OffsetDateTime};
use uuid::Uuid;

pub mod authorizations;
mod names;
mod tasks;
pub mod vendor;

pub use tasks::{CHUNK, TaskChunks};
pub use vendor::Vendor;

/// Birth dates are counted back from this day rather than from today, so that the platform and a
/// vendor simulator started on different days serve the same patient.
const BIRTH_DATES_BEFORE: Date = time::macros::date!(2026 - 01 - 01);

/// The password of every seeded practitioner.
pub const DEMO_PASSWORD: &str = "emrlab";

/// How much data to seed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum Profile {
    /// About 1,000 tasks: for tests.
    Small,
    /// 10,000 active tasks in the first organisation, over 1,000 practitioners to log in as.
    #[default]
    Default,
    /// About 1,000,000 tasks: for PostgreSQL benchmarks.
    Large,
}

impl std::str::FromStr for Profile {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        serde_json::from_value(serde_json::Value::String(s.to_owned()))
            .map_err(|_| format!("unknown seed profile {s:?}: use small, default or large"))
    }
}

/// One organisation's size.
#[derive(Debug, Clone, Copy)]
struct OrgSize {
    wards: usize,
    nurses: usize,
    doctors: usize,
    charge_nurses: usize,
    patients: usize,
    active_tasks: usize,
    closed_tasks: usize,
}

impl Profile {
    fn sizes(self) -> [OrgSize; 3] {
        let (first, other) = match self {
            Self::Small => (
                OrgSize {
                    wards: 4,
                    nurses: 40,
                    doctors: 10,
                    charge_nurses: 4,
                    patients: 120,
                    active_tasks: 800,
                    closed_tasks: 0,
                },
                OrgSize {
                    wards: 2,
                    nurses: 10,
                    doctors: 4,
                    charge_nurses: 2,
                    patients: 40,
                    active_tasks: 70,
                    closed_tasks: 30,
                },
            ),
            Self::Default => (
                OrgSize {
                    wards: 8,
                    nurses: 800,
                    doctors: 150,
                    charge_nurses: 50,
                    patients: 2_000,
                    active_tasks: 10_000,
                    closed_tasks: 0,
                },
                OrgSize {
                    wards: 3,
                    nurses: 100,
                    doctors: 30,
                    charge_nurses: 10,
                    patients: 400,
                    active_tasks: 800,
                    closed_tasks: 400,
                },
            ),
            Self::Large => (
                OrgSize {
                    wards: 12,
                    nurses: 800,
                    doctors: 150,
                    charge_nurses: 50,
                    patients: 20_000,
                    active_tasks: 10_000,
                    closed_tasks: 890_000,
                },
                OrgSize {
                    wards: 4,
                    nurses: 100,
                    doctors: 30,
                    charge_nurses: 10,
                    patients: 2_000,
                    active_tasks: 2_000,
                    closed_tasks: 48_000,
                },
            ),
        };
        [first, other, other]
    }
}

pub struct Org {
    pub id: Uuid,
    pub name: String,
}

pub struct Ward {
    pub id: Uuid,
    pub org_id: Uuid,
    pub name: String,
}

pub struct Practitioner {
    pub id: Uuid,
    pub org_id: Uuid,
    pub username: String,
    pub display_name: String,
    pub role: &'static str,
    pub ward_id: Option<Uuid>,
}

pub struct Patient {
    pub id: Uuid,
    pub org_id: Uuid,
    pub mrn: String,
    pub given_name: &'static str,
    pub family_name: &'static str,
    pub birth_date: Date,
    pub sex: &'static str,
    pub ward_id: Uuid,
    pub bed: String,
    pub admitted_at: OffsetDateTime,
    /// The vendor whose record is used when a request names none.
    pub home_vendor: Vendor,
    /// The patient's id at Epic and at Cerner.
    pub epic_id: String,
    pub cerner_id: String,
}

pub struct SeedTask {
    pub id: Uuid,
    pub org_id: Uuid,
    pub patient_id: Uuid,
    pub title: &'static str,
    pub description: Option<&'static str>,
    pub status: &'static str,
    pub priority: &'static str,
    pub assignee_id: Option<Uuid>,
    pub ward_id: Uuid,
    pub due_at: OffsetDateTime,
    pub created_at: OffsetDateTime,
    /// The patient's home vendor, which holds a copy of the task while it is active.
    pub vendor: Vendor,
}

impl SeedTask {
    /// Pending or in progress: the tasks the vendors hold copies of.
    pub fn is_active(&self) -> bool {
        matches!(self.status, "pending" | "in_progress")
    }
}

/// Everything but the tasks, which are generated in chunks (the large profile has a million).
pub struct Directory {
    pub orgs: Vec<Org>,
    pub wards: Vec<Ward>,
    pub practitioners: Vec<Practitioner>,
    pub patients: Vec<Patient>,
    sizes: [OrgSize; 3],
}

fn id(rng: &mut StdRng) -> Uuid {
    uuid::Builder::from_random_bytes(rng.random()).into_uuid()
}

fn pick<T: Copy>(rng: &mut StdRng, items: &[T]) -> T {
    items[rng.random_range(0..items.len())]
}

impl Directory {
    pub fn generate(profile: Profile, seed: u64, now: OffsetDateTime) -> Self {
        let mut rng = StdRng::seed_from_u64(seed);
        let sizes = profile.sizes();
        let mut dir = Directory {
            orgs: vec![],
            wards: vec![],
            practitioners: vec![],
            patients: vec![],
            sizes,
        };
        let mut counters = [0usize; 4];
        let platform = Org {
            id: id(&mut rng),
            name: "emrlab platform operations".into(),
        };
        dir.practitioners.push(Practitioner {
            id: id(&mut rng),
            org_id: platform.id,
            username: "operator".into(),
            display_name: "Platform Operator".into(),
            role: "operator",
            ward_id: None,
        });
        for (index, size) in sizes.iter().enumerate() {
            let org = Org {
                id: id(&mut rng),
                name: names::ORGS[index].into(),
            };
            let ward_ids: Vec<Uuid> = (0..size.wards)
                .map(|w| {
                    let ward = Ward {
                        id: id(&mut rng),
                        org_id: org.id,
                        name: names::WARDS[w % names::WARDS.len()].into(),
                    };
                    let ward_id = ward.id;
                    dir.wards.push(ward);
                    ward_id
                })
                .collect();
            let admin = if index == 0 {
                "admin".to_owned()
            } else {
                format!("admin.{:04}", index + 1)
            };
            let staff = [
                ("nurse", "nurse", size.nurses),
                ("doctor", "doctor", size.doctors),
                ("charge", "charge_nurse", size.charge_nurses),
            ];
            for (slot, (prefix, role, count)) in staff.into_iter().enumerate() {
                for _ in 0..count {
                    counters[slot] += 1;
                    let (given, family) = (pick(&mut rng, names::GIVEN), pick(&mut rng, names::FAMILY));
                    let ward = ward_ids[counters[slot] % ward_ids.len()];
                    dir.practitioners.push(Practitioner {
                        id: id(&mut rng),
                        org_id: org.id,
                        username: format!("{prefix}.{:04}", counters[slot]),
                        display_name: format!("{given} {family}"),
                        role,
                        ward_id: Some(ward),
                    });
                }
            }
            dir.practitioners.push(Practitioner {
                id: id(&mut rng),
                org_id: org.id,
                username: admin,
                display_name: format!("{} Administrator", names::ORGS[index]),
                role: "admin",
                ward_id: None,
            });
            for p in 0..size.patients {
                let ward_id = ward_ids[p % ward_ids.len()];
                let sex = if rng.random_bool(0.5) { "female" } else { "male" };
                let age_days = rng.random_range(18 * 365..95 * 365);
                let patient_id = id(&mut rng);
                dir.patients.push(Patient {
                    id: patient_id,
                    org_id: org.id,
                    mrn: format!("MRN{}{:07}", index + 1, p + 1),
                    given_name: pick(&mut rng, names::GIVEN),
                    family_name: pick(&mut rng, names::FAMILY),
                    birth_date: BIRTH_DATES_BEFORE - Duration::days(age_days),
                    sex,
                    ward_id,
                    bed: format!("{}-{:02}", (b'A' + (p / 24 % 6) as u8) as char, p % 24 + 1),
                    admitted_at: now - Duration::minutes(rng.random_range(10..14 * 24 * 60)),
                    home_vendor: Vendor::home_of(p),
                    epic_id: vendor::epic_patient_id(patient_id),
                    cerner_id: vendor::cerner_patient_id(dir.patients.len()),
                });
            }
            dir.orgs.push(org);
        }
        dir.orgs.push(platform);
        dir
    }
}
