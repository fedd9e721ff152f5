//! Epic: opaque ids, the platform's MRN as is under Epic's OID, and created Tasks in the body.

use emrlab_seed::Vendor;

use super::Adapter;

pub struct Epic;

impl Adapter for Epic {
    fn vendor(&self) -> Vendor {
        Vendor::Epic
    }
    fn mrn_system(&self) -> &'static str {
        "urn:oid:1.2.840.114350.1.13.0.1.7.5.737384.14"
    }
    fn vendor_mrn(&self, mrn: &str) -> String {
        mrn.to_owned()
    }
    fn platform_mrn(&self, value: &str) -> String {
        value.to_owned()
    }
}
