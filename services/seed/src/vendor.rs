//! Who holds each patient's record outside the platform, and under which ids. Real vendors assign
//! their own ids; for seeded data the ids are derived here so that the platform's database (which
//! keeps the cross-reference) and the simulators agree without talking to each other.

use base64::{Engine, engine::general_purpose::URL_SAFE_NO_PAD};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use uuid::Uuid;

/// A simulated EMR vendor.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Vendor {
    Epic,
    Cerner,
}

impl Vendor {
    pub const ALL: [Vendor; 2] = [Vendor::Epic, Vendor::Cerner];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Epic => "epic",
            Self::Cerner => "cerner",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "epic" => Some(Self::Epic),
            "cerner" => Some(Self::Cerner),
            _ => None,
        }
    }

    /// Patients alternate between the two vendors within an organisation, so that every journey
    /// over a ward's patients drives both, as the seed platform's EMR suite did.
    pub fn home_of(ordinal_in_org: usize) -> Self {
        if ordinal_in_org.is_multiple_of(2) {
            Self::Epic
        } else {
            Self::Cerner
        }
    }

    /// The vendor's id for a seeded task held there.
    pub fn seeded_task_id(self, task: Uuid) -> String {
        match self {
            Self::Epic => format!("t{}", hashed(b"epic-task", task, 18)),
            Self::Cerner => cerner_number(b"cerner-task", task).to_string(),
        }
    }
}

impl std::fmt::Display for Vendor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Epic's FHIR ids are opaque 24-character strings starting with `e`.
pub fn epic_patient_id(patient: Uuid) -> String {
    format!("e{}", hashed(b"epic-patient", patient, 17))
}

/// Cerner's are sequential numbers from its own Millennium database.
pub fn cerner_patient_id(index: usize) -> String {
    (12_724_066 + index as u64).to_string()
}

fn digest(domain: &[u8], id: Uuid) -> [u8; 32] {
    let mut hasher = Sha256::new();
    hasher.update(domain);
    hasher.update(id.as_bytes());
    hasher.finalize().into()
}

fn hashed(domain: &[u8], id: Uuid, bytes: usize) -> String {
    URL_SAFE_NO_PAD.encode(&digest(domain, id)[..bytes])
}

fn cerner_number(domain: &[u8], id: Uuid) -> u64 {
    let d = digest(domain, id);
    let n = u64::from_be_bytes([d[0], d[1], d[2], d[3], d[4], d[5], d[6], d[7]]);
    // Eleven digits: above every patient number, below what JavaScript clients lose precision on.
    10_000_000_000 + n % 90_000_000_000
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn vendor_ids_have_each_vendors_shape_and_do_not_collide() {
        let ids: Vec<Uuid> = (0..2_000u128).map(Uuid::from_u128).collect();
        let epic: std::collections::HashSet<String> = ids.iter().map(|id| epic_patient_id(*id)).collect();
        assert_eq!(epic.len(), ids.len());
        assert!(epic.iter().all(|id| id.len() == 24 && id.starts_with('e')));
        let tasks: std::collections::HashSet<String> =
            ids.iter().map(|id| Vendor::Cerner.seeded_task_id(*id)).collect();
        assert_eq!(tasks.len(), ids.len());
        assert!(
            tasks
                .iter()
                .all(|id| id.len() == 11 && id.bytes().all(|b| b.is_ascii_digit()))
        );
    }
}
