//! `GET /Patient?identifier=…`: the one search the adapters need, with FHIR's token semantics
//! (`system|value`, a bare `value`, `system|` for every identifier in that system, commas for
//! any of several) and paging through each vendor's own continuation parameter.

use std::{collections::HashSet, fmt::Write, sync::Arc};

use axum::{
    extract::{OriginalUri, Query, State, rejection::QueryRejection},
    http::StatusCode,
    response::Response,
};

use super::{Sim, data::Store, fhir, outcome::FhirError};

/// Entries per page when the caller sends no `_count`.
const DEFAULT_COUNT: usize = 50;
/// The largest page a caller may ask for.
const MAX_COUNT: usize = 1_000;

/// A checked search request.
struct PatientSearch {
    identifier: String,
    count: usize,
    offset: usize,
}

impl PatientSearch {
    fn parse(params: Vec<(String, String)>, page_param: &str) -> Result<Self, FhirError> {
        let mut identifier = None;
        let mut count = DEFAULT_COUNT;
        let mut offset = 0;
        for (name, value) in params {
            match name.as_str() {
                "identifier" if identifier.is_some() => {
                    return Err(FhirError::Structure(
                        "give identifier once; separate alternatives with commas".into(),
                    ));
                }
                "identifier" => identifier = Some(value),
                "_count" => {
                    count = value.parse().ok().filter(|count| *count <= MAX_COUNT).ok_or_else(|| {
                        FhirError::Structure(format!("_count must be a number from 0 to {MAX_COUNT}"))
                    })?;
                }
                name if name == page_param => {
                    offset = value
                        .parse()
                        .map_err(|_| FhirError::Structure(format!("{page_param} is not one this server issued")))?;
                }
                // FHIR servers ignore parameters they do not support unless told to be strict.
                _ => {}
            }
        }
        let identifier = identifier
            .filter(|i| !i.is_empty())
            .ok_or_else(|| FhirError::Structure("search patients by identifier (system|value)".into()))?;
        Ok(Self {
            identifier,
            count,
            offset,
        })
    }
}

/// `GET /Patient?identifier={system}|{value}[&_count=n]`: a `searchset` Bundle.
pub async fn search_patients(
    State(sim): State<Arc<Sim>>,
    OriginalUri(uri): OriginalUri,
    query: Result<Query<Vec<(String, String)>>, QueryRejection>,
) -> Result<Response, FhirError> {
    let Query(params) = query.map_err(|_| FhirError::Structure("the query string could not be read".into()))?;
    let search = PatientSearch::parse(params, sim.dialect.page_param)?;
    let found = matching(&sim.store, sim.dialect.mrn_system, &search.identifier);
    let total = found.len();
    let page = found
        .iter()
        .skip(search.offset)
        .take(search.count)
        .filter_map(|&i| sim.store.patients().get(i));
    let base_url = sim.base_url();
    let next_offset = search.offset.saturating_add(search.count);
    let next = (search.count > 0 && next_offset < total).then(|| {
        let mut url = format!("{base_url}/Patient?identifier=");
        encode_into(&mut url, &search.identifier);
        let _ = write!(url, "&_count={}&{}={next_offset}", search.count, sim.dialect.page_param);
        url
    });
    let self_url = format!("{}{uri}", sim.origin);
    let bundle = fhir::searchset(&base_url, sim.dialect.mrn_system, total, page, self_url, next);
    Ok(fhir::json(StatusCode::OK, fhir::body(&bundle)?))
}

/// Positions in [`Store::patients`] of the patients whose MRN matches any of the comma-separated
/// tokens, in the order asked, each once.
fn matching(store: &Store, mrn_system: &str, identifier: &str) -> Vec<usize> {
    let mut found = Vec::new();
    for token in identifier.split(',') {
        match token.split_once('|') {
            Some((system, "")) if system == mrn_system => return (0..store.patients().len()).collect(),
            Some((system, value)) if system == mrn_system => found.extend(store.patient_index_by_mrn(value)),
            // `|value` asks for an identifier without a system, and every MRN here has one;
            // another system is one this vendor does not keep.
            Some(_) => {}
            None => found.extend(store.patient_index_by_mrn(token)),
        }
    }
    let mut seen = HashSet::new();
    found.retain(|i| seen.insert(*i));
    found
}

/// Percent-encodes a query value (RFC 3986: all but the unreserved characters).
fn encode_into(out: &mut String, value: &str) {
    for byte in value.bytes() {
        if byte.is_ascii_alphanumeric() || matches!(byte, b'-' | b'.' | b'_' | b'~') {
            out.push(char::from(byte));
        } else {
            let _ = write!(out, "%{byte:02X}");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn params(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())).collect()
    }

    #[test]
    fn a_search_needs_one_identifier_and_a_sane_count() {
        assert!(PatientSearch::parse(params(&[]), "sessionID").is_err());
        assert!(PatientSearch::parse(params(&[("identifier", "a"), ("identifier", "b")]), "sessionID").is_err());
        assert!(PatientSearch::parse(params(&[("identifier", "a"), ("_count", "-1")]), "sessionID").is_err());
        assert!(PatientSearch::parse(params(&[("identifier", "a"), ("sessionID", "x")]), "sessionID").is_err());
        let search = PatientSearch::parse(
            params(&[
                ("identifier", "a"),
                ("_count", "5"),
                ("sessionID", "10"),
                ("_format", "json"),
            ]),
            "sessionID",
        )
        .unwrap();
        assert_eq!((search.count, search.offset), (5, 10));
    }

    #[test]
    fn query_values_are_percent_encoded() {
        let mut out = String::new();
        encode_into(&mut out, "urn:oid:1.2|MRN 1");
        assert_eq!(out, "urn%3Aoid%3A1.2%7CMRN%201");
    }
}
