//! Cerner: numeric ids, the MRN's digits only under Cerner's OID, and created Tasks known only by
//! their `Location`.

use emrlab_seed::Vendor;

use super::Adapter;

pub struct Cerner;

/// The platform's MRNs are `MRN` followed by digits; Cerner keeps the digits.
const MRN_PREFIX: &str = "MRN";

impl Adapter for Cerner {
    fn vendor(&self) -> Vendor {
        Vendor::Cerner
    }
    fn mrn_system(&self) -> &'static str {
        "urn:oid:2.16.840.1.113883.6.1000"
    }
    fn vendor_mrn(&self, mrn: &str) -> String {
        mrn.strip_prefix(MRN_PREFIX).unwrap_or(mrn).to_owned()
    }
    fn platform_mrn(&self, value: &str) -> String {
        format!("{MRN_PREFIX}{value}")
    }
    fn created_in_body(&self) -> bool {
        false
    }
}
