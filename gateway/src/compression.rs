//! `http.compression`: gzip for the API's answers of 1 KB or more (the seed guide's setting), on
//! or off at run time. tower-http compresses; the knob is one more condition of its predicate, so
//! a change applies to the next answer. Only the proxied API is compressed, never the WebSocket
//! upgrade.

use std::sync::Arc;

use serde::{Deserialize, Serialize};
use tower_http::compression::{
    CompressionLayer,
    predicate::{NotForContentType, Predicate, SizeAbove},
};

use emrlab_common::knobs::{KnobCell, KnobKind, KnobSpec};

use crate::Settings;

/// Answers smaller than this go as they are: gzip would save little and cost CPU.
const MIN_BYTES: u16 = 1024;

/// Whether answers are compressed (`http.compression`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum Compression {
    #[default]
    Off,
    /// gzip, when the client accepts it and the answer is 1 KB or more.
    Gzip,
}

/// The `[http]` section of the configuration.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct HttpConfig {
    pub compression: Compression,
}

pub const KNOB: KnobSpec = KnobSpec {
    name: "http.compression",
    kind: KnobKind::OneOf(&["off", "gzip"]),
    help: "gzip the API's answers of 1 KB or more for clients that accept it (the seed guide's setting), or off",
};

/// The knob as a compression predicate.
#[derive(Clone)]
struct WhenOn(Arc<KnobCell<Settings>>);

impl Predicate for WhenOn {
    fn should_compress<B: http_body::Body>(&self, _response: &http::Response<B>) -> bool {
        self.0.get().http.compression == Compression::Gzip
    }
}

/// The layer for the API's routes.
pub fn layer(knobs: Arc<KnobCell<Settings>>) -> CompressionLayer<impl Predicate> {
    let when = SizeAbove::new(MIN_BYTES)
        .and(NotForContentType::GRPC)
        .and(NotForContentType::SSE)
        .and(WhenOn(knobs));
    CompressionLayer::new().gzip(true).compress_when(when)
}
