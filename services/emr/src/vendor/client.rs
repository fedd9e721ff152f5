//! Every vendor call goes through here: bulkhead, circuit breaker, per-call timeout, bounded
//! retry of idempotent calls, and the vendor-call metrics. Each layer reads its knob per call.

use std::{sync::Arc, time::Duration};

use bytes::Bytes;
use http::{HeaderMap, StatusCode};
use tokio::time::Instant;

use emrlab_common::{knobs::KnobCell, telemetry};
use emrlab_seed::Vendor;

use crate::{
    Settings,
    error::EmrError,
    names,
    resilience::{
        breaker::{Admission, Breaker},
        bulkhead::Bulkhead,
        retry,
    },
};

/// What a vendor call does, for metrics and for whether it may be retried.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Operation {
    PatientRead,
    PatientSearch,
    TaskCreate,
    TaskRead,
    TaskUpdate,
}

impl Operation {
    pub(crate) const ALL: [Self; 5] = [
        Self::PatientRead,
        Self::PatientSearch,
        Self::TaskCreate,
        Self::TaskRead,
        Self::TaskUpdate,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::PatientRead => "patient.read",
            Self::PatientSearch => "patient.search",
            Self::TaskCreate => "task.create",
            Self::TaskRead => "task.read",
            Self::TaskUpdate => "task.update",
        }
    }

    /// A create repeated after a lost answer would create twice; the others are safe to repeat.
    pub(crate) fn idempotent(self) -> bool {
        self != Self::TaskCreate
    }
}

/// A vendor's answer that was not a vendor failure: 2xx, or a 4xx other than 429.
#[derive(Debug)]
pub struct Answer {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub body: Bytes,
}

struct Link {
    base_url: String,
    breaker: Breaker,
    bulkhead: Bulkhead,
}

/// The vendors the EMR service calls, over one pooled HTTP client.
pub struct Vendors {
    http: reqwest::Client,
    links: [Link; 2],
    knobs: Arc<KnobCell<Settings>>,
}

impl Vendors {
    /// `epic_url` and `cerner_url` are FHIR bases (`http://host:port/api/FHIR/R4`).
    pub fn new(knobs: Arc<KnobCell<Settings>>, epic_url: String, cerner_url: String) -> Self {
        let cap = knobs.get().emr.max_in_flight.limit();
        let link = |vendor: Vendor, base_url: String| Link {
            base_url: base_url.trim_end_matches('/').to_owned(),
            breaker: Breaker::new(vendor.as_str()),
            bulkhead: Bulkhead::new(cap),
        };
        let http = reqwest::Client::builder()
            .tcp_nodelay(true)
            .pool_max_idle_per_host(1_024)
            .pool_idle_timeout(Duration::from_secs(30))
            .build()
            .unwrap_or_default();
        for vendor in Vendor::ALL {
            metrics::gauge!(names::VENDOR_IN_FLIGHT, "component" => "emr", "vendor" => vendor.as_str()).set(0.0);
        }
        Self {
            http,
            links: [link(Vendor::Epic, epic_url), link(Vendor::Cerner, cerner_url)],
            knobs,
        }
    }

    fn link(&self, vendor: Vendor) -> &Link {
        &self.links[usize::from(vendor == Vendor::Cerner)]
    }

    /// The FHIR base of a vendor, for building request URLs.
    pub fn base_url(&self, vendor: Vendor) -> &str {
        &self.link(vendor).base_url
    }

    /// Follows the knobs: a new bulkhead cap, and a breaker switched off forgets its history.
    pub fn reconfigure(&self, before: &crate::Config, after: &crate::Config) {
        for link in &self.links {
            if before.max_in_flight != after.max_in_flight {
                link.bulkhead.resize(after.max_in_flight.limit());
            }
            if before.breaker != after.breaker {
                link.breaker.reset();
            }
        }
    }

    /// Makes a call with every layer; `request` builds a fresh request for each attempt and
    /// `parse` reads the answer (a failure to read it counts against the vendor).
    pub async fn call<T>(
        &self,
        vendor: Vendor,
        operation: Operation,
        request: impl Fn(&reqwest::Client) -> reqwest::RequestBuilder,
        parse: impl Fn(Answer) -> Result<T, EmrError>,
    ) -> Result<T, EmrError> {
        let mut attempt = 0;
        loop {
            let cfg = self.knobs.get().emr.clone();
            let result = self.attempt(vendor, operation, &cfg, &request, &parse).await;
            match result {
                Err(error) if operation.idempotent() && error.is_retryable() && attempt < cfg.retries => {
                    attempt += 1;
                    let hint = match &error {
                        EmrError::Throttled(_, wait) => *wait,
                        _ => None,
                    };
                    // A vendor asking for longer than a whole call may take is answered as is.
                    if hint.is_some_and(|wait| wait > cfg.timeout) {
                        return Err(error);
                    }
                    metrics::counter!(names::RETRIES, "component" => "emr", "vendor" => vendor.as_str(),
                        "operation" => operation.as_str())
                    .increment(1);
                    telemetry::event("vendor call retried", &[("emr.vendor", vendor.as_str())]);
                    tokio::time::sleep(retry::backoff(attempt, hint)).await;
                }
                other => return other,
            }
        }
    }

    async fn attempt<T>(
        &self,
        vendor: Vendor,
        operation: Operation,
        cfg: &crate::Config,
        request: &impl Fn(&reqwest::Client) -> reqwest::RequestBuilder,
        parse: &impl Fn(Answer) -> Result<T, EmrError>,
    ) -> Result<T, EmrError> {
        let link = self.link(vendor);
        let reject = |reason: &'static str| {
            metrics::counter!(names::REJECTIONS, "component" => "emr", "vendor" => vendor.as_str(), "reason" => reason)
                .increment(1);
            // No vendor span follows a rejection: the trace says here why the vendor was spared.
            telemetry::event(
                "vendor call rejected",
                &[("emr.vendor", vendor.as_str()), ("emr.rejected_by", reason)],
            );
        };
        let _slot = link.bulkhead.enter().map_err(|_| {
            reject("bulkhead");
            EmrError::BulkheadFull(vendor)
        })?;
        let admission = if cfg.breaker.enabled {
            link.breaker.admit(&cfg.breaker).map_err(|refused| {
                reject("breaker");
                EmrError::BreakerOpen(vendor, refused.retry_after)
            })?
        } else {
            Admission::Call
        };
        let in_flight = metrics::gauge!(names::VENDOR_IN_FLIGHT, "component" => "emr", "vendor" => vendor.as_str());
        in_flight.increment(1.0);
        let started = Instant::now();
        let result = match self
            .send(vendor, operation, request(&self.http).timeout(cfg.timeout))
            .await
        {
            Ok(answer) => parse(answer),
            Err(error) => Err(error),
        };
        in_flight.decrement(1.0);
        if cfg.breaker.enabled {
            let failed = result.as_ref().err().is_some_and(EmrError::is_vendor_failure);
            link.breaker.record(&cfg.breaker, admission, failed);
        }
        let outcome = result.as_ref().map_or_else(EmrError::outcome, |_| "ok");
        if result.is_err() {
            telemetry::event(
                "vendor call failed",
                &[("emr.vendor", vendor.as_str()), ("emr.outcome", outcome)],
            );
        }
        metrics::histogram!(names::VENDOR_CALL_DURATION, "component" => "emr", "vendor" => vendor.as_str(),
            "operation" => operation.as_str(), "outcome" => outcome)
        .record(started.elapsed().as_secs_f64());
        result
    }

    async fn send(
        &self,
        vendor: Vendor,
        operation: Operation,
        request: reqwest::RequestBuilder,
    ) -> Result<Answer, EmrError> {
        let classify = |error: reqwest::Error| {
            if error.is_timeout() {
                EmrError::Timeout(vendor)
            } else if error.is_connect() {
                EmrError::Unreachable(vendor)
            } else {
                tracing::warn!(%vendor, error = %error, "vendor answer broken off");
                EmrError::Malformed(vendor)
            }
        };
        let response = emrlab_common::telemetry::send(request, vendor.as_str(), operation.as_str())
            .await
            .map_err(classify)?;
        let status = response.status();
        let headers = response.headers().clone();
        let body = response.bytes().await.map_err(classify)?;
        if status == StatusCode::TOO_MANY_REQUESTS {
            return Err(EmrError::Throttled(vendor, retry::retry_after(&headers)));
        }
        if status.is_server_error() {
            tracing::warn!(%vendor, status = status.as_u16(), "vendor error");
            return Err(EmrError::VendorFailed(vendor, status.as_u16()));
        }
        Ok(Answer { status, headers, body })
    }
}
