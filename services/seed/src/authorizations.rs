//! The insurance authorizations of the seed reservation platform (reference 002): 55
//! authorizations (10 of 50 units for contention, 20 of 200, 25 of 1,000 for throughput) for 20
//! patients of the three organisations (10, 5 and 5), over the five service codes. The first
//! organisation, `nurse.0001`'s, holds at least half of each kind. Periods run from a month before
//! the seeding to half a year after it, so the authorizations are valid whenever the stack runs.

use rand::{SeedableRng, rngs::StdRng};
use time::{Duration, OffsetDateTime};
use uuid::Uuid;

use crate::{Directory, id};

/// The service codes the migration defines (CPT adaptive behaviour treatment).
pub const SERVICE_CODES: [&str; 5] = ["97151", "97153", "97155", "97156", "97157"];

/// Patients with authorizations, per organisation.
const PATIENTS: [usize; 3] = [10, 5, 5];
/// Authorizations of 50, 200 and 1,000 units, per organisation: 10, 20 and 25 in all.
const KINDS: [(i64, [usize; 3]); 3] = [(50, [5, 3, 2]), (200, [10, 5, 5]), (1_000, [13, 6, 6])];

pub struct SeedAuthorization {
    pub id: Uuid,
    pub org_id: Uuid,
    pub number: String,
    pub patient_id: Uuid,
    pub service_code: &'static str,
    pub valid_from: OffsetDateTime,
    pub valid_until: OffsetDateTime,
    pub total_units: i64,
    pub created_at: OffsetDateTime,
}

impl Directory {
    /// The seeded authorizations, the same for the same seed (ids included).
    pub fn authorizations(&self, seed: u64, now: OffsetDateTime) -> Vec<SeedAuthorization> {
        let mut rng = StdRng::seed_from_u64(seed ^ 0xA07A_0000);
        let valid_from = now - Duration::days(30);
        let valid_until = now + Duration::days(182);
        let mut out = Vec::new();
        for (index, org) in self.orgs.iter().take(PATIENTS.len()).enumerate() {
            let patients: Vec<Uuid> = self
                .patients
                .iter()
                .filter(|p| p.org_id == org.id)
                .take(PATIENTS[index])
                .map(|p| p.id)
                .collect();
            if patients.is_empty() {
                continue;
            }
            let kinds = KINDS
                .iter()
                .flat_map(|(units, counts)| std::iter::repeat_n(*units, counts[index]));
            for (n, total_units) in kinds.enumerate() {
                out.push(SeedAuthorization {
                    id: id(&mut rng),
                    org_id: org.id,
                    number: format!("AUTH{}-{:04}", index + 1, n + 1),
                    patient_id: patients[n % patients.len()],
                    service_code: SERVICE_CODES[n % SERVICE_CODES.len()],
                    valid_from,
                    valid_until,
                    total_units,
                    // A second apart, in number order: the list (newest first) is stable.
                    created_at: valid_from + Duration::seconds(n as i64),
                });
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Profile;

    #[test]
    fn every_profile_has_the_seed_platforms_55_with_half_of_each_kind_in_the_first_organisation() {
        let now = OffsetDateTime::now_utc();
        for profile in [Profile::Small, Profile::Default, Profile::Large] {
            let dir = Directory::generate(profile, 7, now);
            let auths = dir.authorizations(7, now);
            assert_eq!(auths.len(), 55, "{profile:?}");
            for (units, total) in [(50, 10), (200, 20), (1_000, 25)] {
                let kind: Vec<_> = auths.iter().filter(|a| a.total_units == units).collect();
                let first = kind.iter().filter(|a| a.org_id == dir.orgs[0].id).count();
                assert_eq!(kind.len(), total, "{profile:?} {units}");
                assert!(
                    2 * first >= total && first >= 5,
                    "{profile:?} {units}: {first} in the first organisation"
                );
            }
            let patients: std::collections::HashSet<_> = auths.iter().map(|a| a.patient_id).collect();
            assert_eq!(patients.len(), 20);
            assert!(auths.iter().all(|a| a.valid_from < now && now < a.valid_until));
        }
    }
}
