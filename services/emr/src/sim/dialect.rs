//! Where Epic and Cerner differ on the wire (docs/vendors.md, "Endpoints"): the FHIR base, how
//! an MRN and a name are written, how a search pages, what `POST /Task` answers and the shape of
//! a new task's id. Everything else is common FHIR R4 and lives in `fhir`.

use rand::Rng;

use emrlab_seed::Vendor;

use super::config::{CERNER_KNOBS, EPIC_KNOBS};
use emrlab_common::knobs::KnobSpec;

/// One vendor's dialect.
pub struct Dialect {
    pub vendor: Vendor,
    /// The FHIR base path every resource route hangs under.
    pub base: &'static str,
    /// Route templates, so the HTTP metrics label them without allocating.
    pub routes: &'static [(&'static str, &'static str)],
    pub knobs: &'static [KnobSpec],
    pub mrn_system: &'static str,
    /// The query parameter carrying a search's continuation in a `next` link.
    pub page_param: &'static str,
    /// Epic answers a create with the resource; Cerner with an empty body, leaving the caller
    /// the `Location` header.
    pub create_returns_body: bool,
}

macro_rules! fhir_routes {
    ($base:literal) => {
        &[
            ("GET", concat!($base, "/Patient/{id}")),
            ("GET", concat!($base, "/Patient")),
            ("POST", concat!($base, "/Task")),
            ("GET", concat!($base, "/Task/{id}")),
            ("PUT", concat!($base, "/Task/{id}")),
        ]
    };
}

const EPIC: Dialect = Dialect {
    vendor: Vendor::Epic,
    base: "/api/FHIR/R4",
    routes: fhir_routes!("/api/FHIR/R4"),
    knobs: EPIC_KNOBS,
    mrn_system: "urn:oid:1.2.840.114350.1.13.0.1.7.5.737384.14",
    page_param: "sessionID",
    create_returns_body: true,
};

// The path segment after `/r4/` is a tenant id: Cerner serves many hospitals from one host.
const CERNER: Dialect = Dialect {
    vendor: Vendor::Cerner,
    base: "/r4/ec2458f2-1e24-41c8-b71b-0e701af7583d",
    routes: fhir_routes!("/r4/ec2458f2-1e24-41c8-b71b-0e701af7583d"),
    knobs: CERNER_KNOBS,
    mrn_system: "urn:oid:2.16.840.1.113883.6.1000",
    page_param: "-pageContext",
    create_returns_body: false,
};

/// Base64url without padding: the alphabet of Epic's opaque ids.
const EPIC_ID_ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

/// The dialect of `vendor`.
pub fn of(vendor: Vendor) -> &'static Dialect {
    match vendor {
        Vendor::Epic => &EPIC,
        Vendor::Cerner => &CERNER,
    }
}

impl Dialect {
    /// The MRN as this vendor writes it: Epic keeps the platform's `MRN1000001`, Cerner keeps
    /// only the digits.
    pub fn mrn_value(&self, platform_mrn: &str) -> String {
        match self.vendor {
            Vendor::Epic => platform_mrn.to_owned(),
            Vendor::Cerner => platform_mrn.chars().filter(char::is_ascii_digit).collect(),
        }
    }

    /// `name[0].text`: `Given Family` at Epic, `FAMILY, Given` at Cerner.
    pub fn name_text(&self, given: &str, family: &str) -> String {
        match self.vendor {
            Vendor::Epic => format!("{given} {family}"),
            Vendor::Cerner => format!("{}, {given}", family.to_uppercase()),
        }
    }

    /// A fresh id for a task created at run time; the caller retries on a collision.
    pub fn new_task_id(&self, rng: &mut impl Rng) -> String {
        match self.vendor {
            Vendor::Epic => std::iter::once('t')
                .chain((0..24).map(|_| char::from(EPIC_ID_ALPHABET[rng.random_range(0..EPIC_ID_ALPHABET.len())])))
                .collect(),
            // Eleven digits, never a leading zero: the range of the seeded task ids too.
            Vendor::Cerner => rng.random_range(10_000_000_000u64..100_000_000_000).to_string(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_vendor_writes_mrns_and_names_its_own_way() {
        assert_eq!(of(Vendor::Epic).mrn_value("MRN1000001"), "MRN1000001");
        assert_eq!(of(Vendor::Cerner).mrn_value("MRN1000001"), "1000001");
        assert_eq!(of(Vendor::Epic).name_text("Ada", "Lovelace"), "Ada Lovelace");
        assert_eq!(of(Vendor::Cerner).name_text("Ada", "Lovelace"), "LOVELACE, Ada");
    }

    #[test]
    fn new_task_ids_have_the_documented_shapes() {
        let mut rng = rand::rng();
        let epic = of(Vendor::Epic).new_task_id(&mut rng);
        assert!(epic.len() == 25 && epic.starts_with('t'));
        let cerner = of(Vendor::Cerner).new_task_id(&mut rng);
        assert!(cerner.len() == 11 && !cerner.starts_with('0') && cerner.bytes().all(|b| b.is_ascii_digit()));
    }
}
