//! The layers between the EMR service and a vendor, each switchable by a knob: bulkhead, circuit
//! breaker, retry with backoff, and single flight for identical reads.

pub mod breaker;
pub mod bulkhead;
pub mod retry;
pub mod single_flight;
