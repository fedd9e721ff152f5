//! The simulated Epic and Cerner over real HTTP: the wire contract of docs/vendors.md (ids, MRNs,
//! names, search, Task create/read/update) and every behaviour knob, each felt by a client.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod behaviour;
mod contract;
mod harness;
