//! The simulated Epic and Cerner: real HTTP servers speaking a FHIR R4 subset (docs/vendors.md).

pub mod config;

pub use config::{CERNER_KNOBS, EPIC_KNOBS, SimSettings, VendorConfig, VendorsConfig};
