//! `GET /emr/patients/{id}`: the platform's patient read from its vendor, through the
//! read-through cache (`emr.cache`) and single flight (`emr.dedup`).

use std::{sync::Arc, time::Duration};

use axum::{
    extract::State,
    http::{HeaderValue, StatusCode, header},
    response::{IntoResponse, Response},
};
use bytes::Bytes;
use serde::Deserialize;
use serde_json::Value;
use uuid::Uuid;

use emrlab_common::{
    auth::{Caller, OrgId, Role},
    cache::Cache,
    error::ApiError,
    extract::{Path, Query},
    metrics::names::CACHE_REQUESTS,
    telemetry,
};
use emrlab_seed::Vendor;

use crate::{
    AppState, directory,
    error::EmrError,
    names,
    resilience::single_flight::Role as FlightRole,
    vendor::{Answer, Operation, Vendors, adapter, fhir},
};

/// The caller's organisation; the operator runs the platform and sees no clinical data.
pub(crate) fn clinical_org(caller: &Caller) -> Result<OrgId, EmrError> {
    if caller.0.role == Role::Operator {
        return Err(ApiError::forbidden("the operator role has no access to clinical data").into());
    }
    Ok(caller.0.org)
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PatientQuery {
    vendor: Option<String>,
}

fn cache_key(org: OrgId, patient: Uuid, vendor: &str) -> String {
    format!("emr:patient:{}:{patient}:{vendor}", org.0)
}

/// Forgets every cached copy of a patient, after a write that concerns it.
pub(crate) async fn invalidate(cache: Option<Arc<dyn Cache>>, org: OrgId, patient: Uuid) {
    let Some(cache) = cache else { return };
    for vendor in ["home", Vendor::Epic.as_str(), Vendor::Cerner.as_str()] {
        if let Err(error) = cache.delete(&cache_key(org, patient, vendor)).await {
            tracing::warn!(error = %error, "could not evict a cached patient");
        }
    }
}

/// Counts a lookup and says on the request's span how it went: a hit's trace has no vendor span.
fn count(cache: &dyn Cache, result: &'static str) {
    metrics::counter!(CACHE_REQUESTS, "component" => "emr", "cache" => cache.kind(), "result" => result).increment(1);
    telemetry::annotate("emr.cache", result);
}

fn answer(body: Bytes, cache: &'static str) -> Response {
    let mut response = (StatusCode::OK, [(header::CONTENT_TYPE, "application/json")], body).into_response();
    response
        .headers_mut()
        .insert("x-cache", HeaderValue::from_static(cache));
    response
}

/// `GET /emr/patients/{id}[?vendor=epic|cerner]`.
pub async fn read(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<Uuid>,
    Query(query): Query<PatientQuery>,
) -> Result<Response, EmrError> {
    let org = clinical_org(&caller)?;
    let vendor = query
        .vendor
        .as_deref()
        .map(|v| Vendor::parse(v).ok_or_else(|| ApiError::invalid("vendor", "vendor must be epic or cerner")))
        .transpose()?;
    let settings = state.knobs.get();
    let key = cache_key(org, id, vendor.map_or("home", Vendor::as_str));
    let cache = state.cache(settings.emr.cache);
    if cache.is_none() {
        telemetry::annotate("emr.cache", "off");
    }
    if let Some(cache) = &cache {
        match cache.get(&key).await {
            Ok(Some(body)) => {
                count(cache.as_ref(), "hit");
                return Ok(answer(body.into(), "hit"));
            }
            Ok(None) => count(cache.as_ref(), "miss"),
            Err(error) => {
                count(cache.as_ref(), "error");
                tracing::warn!(error = %error, "cache lookup failed; reading from the vendor");
            }
        }
    }
    let load = fetch(
        state.clone(),
        org,
        id,
        vendor,
        key.clone(),
        cache,
        settings.emr.cache_ttl,
    );
    let body = if settings.emr.dedup {
        let (role, result) = state
            .flights
            .run(&key, load, || EmrError::Storage("patient read lost".into()))
            .await;
        if role == FlightRole::Joiner {
            metrics::counter!(names::DEDUP_JOINS, "component" => "emr").increment(1);
            // The vendor call is in the trace of the request that led the flight.
            telemetry::annotate("emr.dedup", "joined");
        }
        result?
    } else {
        load.await?
    };
    Ok(answer(body, "miss"))
}

/// Reads the patient from its vendor and fills the cache; owns everything so a single flight can
/// run it on its own task.
async fn fetch(
    state: AppState,
    org: OrgId,
    id: Uuid,
    vendor: Option<Vendor>,
    key: String,
    cache: Option<Arc<dyn Cache>>,
    ttl: Duration,
) -> Result<Bytes, EmrError> {
    let patient = directory::patient(&state.db, org, id)
        .await?
        .ok_or_else(|| ApiError::not_found(format!("patient {id} not found")))?;
    let vendor = vendor.unwrap_or(patient.home_vendor);
    let vendor_id = vendor_patient_id(&state.vendors, vendor, &patient).await?;
    let url = format!("{}/Patient/{vendor_id}", state.vendors.base_url(vendor));
    let adapter = adapter(vendor);
    let found = state
        .vendors
        .call(
            vendor,
            Operation::PatientRead,
            |http| http.get(&url).header(header::ACCEPT, "application/fhir+json"),
            |answer| match answer.status {
                StatusCode::OK => {
                    let body: Value = serde_json::from_slice(&answer.body).map_err(|_| EmrError::Malformed(vendor))?;
                    fhir::read_patient(adapter, id, &body)
                        .ok_or(EmrError::Malformed(vendor))
                        .map(Some)
                }
                StatusCode::NOT_FOUND => Ok(None),
                other => Err(unexpected(vendor, other)),
            },
        )
        .await?
        .ok_or_else(|| not_at_vendor(vendor, "patient", id))?;
    let body = Bytes::from(serde_json::to_vec(&found).map_err(|e| EmrError::Storage(e.to_string()))?);
    if let Some(cache) = cache
        && let Err(error) = cache.set(&key, body.to_vec(), ttl).await
    {
        tracing::warn!(error = %error, "could not cache a patient");
    }
    Ok(body)
}

pub(crate) fn not_at_vendor(vendor: Vendor, what: &str, id: Uuid) -> EmrError {
    ApiError::new(
        StatusCode::NOT_FOUND,
        "not_at_vendor",
        format!("{vendor} has no record of {what} {id}"),
    )
    .into()
}

/// A vendor answer the adapter has no use for (a 4xx it should not have caused).
pub(crate) fn unexpected(vendor: Vendor, status: StatusCode) -> EmrError {
    tracing::warn!(%vendor, status = status.as_u16(), "unexpected vendor answer");
    EmrError::VendorFailed(vendor, status.as_u16())
}

/// The patient's id at `vendor`: from the cross-reference, else found by MRN.
pub(crate) async fn vendor_patient_id(
    vendors: &Vendors,
    vendor: Vendor,
    patient: &directory::PatientRef,
) -> Result<String, EmrError> {
    if let Some(id) = patient.vendor_id(vendor) {
        return Ok(id.to_owned());
    }
    let adapter = adapter(vendor);
    let identifier = format!("{}|{}", adapter.mrn_system(), adapter.vendor_mrn(&patient.mrn));
    let url = format!("{}/Patient", vendors.base_url(vendor));
    let found = vendors
        .call(
            vendor,
            Operation::PatientSearch,
            |http| http.get(&url).query(&[("identifier", &identifier)]),
            |answer: Answer| {
                if answer.status != StatusCode::OK {
                    return Err(unexpected(vendor, answer.status));
                }
                let bundle: Value = serde_json::from_slice(&answer.body).map_err(|_| EmrError::Malformed(vendor))?;
                if !fhir::is_resource(&bundle, "Bundle") {
                    return Err(EmrError::Malformed(vendor));
                }
                Ok(bundle
                    .get("entry")
                    .and_then(Value::as_array)
                    .and_then(|entries| entries.first())
                    .and_then(|entry| entry.pointer("/resource/id"))
                    .and_then(Value::as_str)
                    .map(str::to_owned))
            },
        )
        .await?;
    found.ok_or_else(|| {
        ApiError::new(
            StatusCode::NOT_FOUND,
            "not_at_vendor",
            format!("{vendor} has no patient with MRN {}", patient.mrn),
        )
        .into()
    })
}
