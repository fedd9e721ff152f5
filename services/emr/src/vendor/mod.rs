//! Talking to the vendors: one adapter per vendor for where they differ ([`Adapter`]), the FHIR
//! they share ([`fhir`]), and the resilient HTTP client every call goes through ([`client`]).

use emrlab_seed::Vendor;

mod cerner;
pub mod client;
mod epic;
pub mod fhir;

pub use client::{Answer, Operation, Vendors};

/// How one vendor differs from the other.
pub trait Adapter: Send + Sync + 'static {
    fn vendor(&self) -> Vendor;
    /// The identifier system the vendor files MRNs under.
    fn mrn_system(&self) -> &'static str;
    /// The platform's MRN as the vendor writes it, and back.
    fn vendor_mrn(&self, mrn: &str) -> String;
    fn platform_mrn(&self, value: &str) -> String;
    /// Whether `POST /Task` answers with the created Task (else only its `Location`).
    fn created_in_body(&self) -> bool {
        true
    }
}

/// The adapter of a vendor.
pub fn adapter(vendor: Vendor) -> &'static dyn Adapter {
    match vendor {
        Vendor::Epic => &epic::Epic,
        Vendor::Cerner => &cerner::Cerner,
    }
}

/// The vendor's id and version of a created Task, from `Location: …/Task/{id}/_history/{version}`
/// (both vendors send it) or, if the vendor sends one, the body.
pub fn created_task(
    adapter: &dyn Adapter,
    location: Option<&str>,
    body: &serde_json::Value,
) -> Option<(String, String)> {
    if adapter.created_in_body() && fhir::is_resource(body, "Task") {
        let id = body.get("id")?.as_str()?;
        let version = body.pointer("/meta/versionId")?.as_str()?;
        return Some((id.to_owned(), version.to_owned()));
    }
    let path = location?.split("/Task/").nth(1)?;
    let mut parts = path.split("/_history/");
    let id = parts.next().filter(|id| !id.is_empty())?;
    let version = parts.next().unwrap_or("1");
    Some((id.to_owned(), version.to_owned()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn created_tasks_are_read_from_the_body_at_epic_and_the_location_at_cerner() {
        let body = serde_json::json!({"resourceType": "Task", "id": "tAbc", "meta": {"versionId": "1"}});
        assert_eq!(
            created_task(adapter(Vendor::Epic), None, &body),
            Some(("tAbc".into(), "1".into()))
        );
        let location = "http://127.0.0.1:9/r4/x/Task/12345678901/_history/1";
        assert_eq!(
            created_task(adapter(Vendor::Cerner), Some(location), &serde_json::Value::Null),
            Some(("12345678901".into(), "1".into()))
        );
        assert_eq!(
            created_task(adapter(Vendor::Cerner), Some("/Task/"), &serde_json::Value::Null),
            None
        );
    }

    #[test]
    fn mrns_are_written_the_vendors_way() {
        assert_eq!(adapter(Vendor::Cerner).vendor_mrn("MRN1000001"), "1000001");
        assert_eq!(adapter(Vendor::Cerner).platform_mrn("1000001"), "MRN1000001");
        assert_eq!(adapter(Vendor::Epic).vendor_mrn("MRN1000001"), "MRN1000001");
    }
}
