//! The EMR service: patient reads and task pushes to the simulated Epic and Cerner through a
//! resilience stack whose every layer is a knob, and the simulators themselves ([`sim`]).

pub mod config;
pub mod sim;

pub use config::{CacheMode, Config, KNOBS, Settings};
pub use emrlab_seed::Vendor;
