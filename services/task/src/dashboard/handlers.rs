//! `GET /dashboard/stats`, and the count of pending handovers it asks the handover service for.

use std::{sync::Arc, time::Duration};

use axum::{extract::State, response::IntoResponse};
use serde::Deserialize;
use time::OffsetDateTime;
use uuid::Uuid;

use emrlab_common::{
    auth::{Caller, JwtKeys, OrgId},
    extract::Query,
};

use super::{
    Source,
    model::{Dashboard, Stats},
};
use crate::{AppState, error::TaskError, handlers::clinical_actor};

/// How long the dashboard waits for the handover service before answering without its count.
const HANDOVER_TIMEOUT: Duration = Duration::from_secs(2);

/// The handover service, asked how many handovers are pending. Its URL is set once it is known:
/// in one process the handover service binds after this one (it needs this one's URL).
#[derive(Clone)]
pub struct HandoverCounts {
    url: Arc<std::sync::OnceLock<String>>,
    http: reqwest::Client,
    keys: Arc<JwtKeys>,
}

#[derive(Deserialize)]
struct Pending {
    pending: i64,
}

impl HandoverCounts {
    pub fn new(keys: Arc<JwtKeys>) -> Self {
        Self {
            url: Arc::default(),
            http: reqwest::Client::new(),
            keys,
        }
    }

    /// Where the handover service is (e.g. `http://127.0.0.1:41235`); the first call wins.
    pub fn set_url(&self, url: String) {
        let _ = self.url.set(url);
    }

    /// The pending count, or `None` (logged) if the handover service is unknown or did not answer.
    async fn pending(&self, org: OrgId, ward: Option<Uuid>) -> Option<i64> {
        let url = self.url.get()?;
        let token = self.keys.issue_internal("task").ok()?;
        let mut query = vec![("org_id", org.0.to_string())];
        query.extend(ward.map(|w| ("ward_id", w.to_string())));
        let request = self
            .http
            .get(format!("{url}/internal/handovers/pending"))
            .query(&query)
            .bearer_auth(token)
            .timeout(HANDOVER_TIMEOUT);
        let answer = emrlab_common::telemetry::send(request, "handover", "pending")
            .await
            .and_then(reqwest::Response::error_for_status);
        match answer {
            Ok(response) => response.json::<Pending>().await.ok().map(|p| p.pending),
            Err(error) => {
                tracing::warn!(%error, "the handover service did not give the pending count");
                None
            }
        }
    }
}

/// The query string of `GET /dashboard/stats`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StatsQuery {
    ward_id: Option<Uuid>,
}

fn cache_key(org: OrgId, ward: Option<Uuid>) -> String {
    format!(
        "dashboard:{}:{}",
        org.0,
        ward.map_or_else(|| "all".to_owned(), |w| w.to_string())
    )
}

/// The stats from the cache, or computed live and cached; a cache failure is a miss. An entry
/// older than the TTL now in force is a miss too, so shortening `dashboard.cache_ttl` takes
/// effect at once rather than when entries cached under the old one expire.
async fn cached(
    state: &AppState,
    org: OrgId,
    ward: Option<Uuid>,
    ttl: Duration,
) -> Result<(Stats, OffsetDateTime), TaskError> {
    let key = cache_key(org, ward);
    let now = emrlab_common::db::now();
    if let Ok(Some(bytes)) = state.cache.get(&key).await
        && let Ok((stats, micros)) = serde_json::from_slice::<(Stats, i64)>(&bytes)
    {
        let as_of = emrlab_common::db::from_micros(micros);
        if now - as_of <= ttl {
            return Ok((stats, as_of));
        }
    }
    let stats = state.dashboard.live(org, ward, now).await?;
    if let Ok(bytes) = serde_json::to_vec(&(&stats, emrlab_common::db::to_micros(now)))
        && let Err(error) = state.cache.set(&key, bytes, ttl).await
    {
        tracing::warn!(%error, "could not cache the dashboard");
    }
    Ok((stats, now))
}

/// `GET /dashboard/stats[?ward_id=]`: the whole organisation, or one of its wards.
pub async fn stats(
    State(state): State<AppState>,
    caller: Caller,
    Query(query): Query<StatsQuery>,
) -> Result<impl IntoResponse, TaskError> {
    let actor = clinical_actor(&caller)?;
    let (org, ward) = (actor.org, query.ward_id);
    let config = state.knobs.get().dashboard.clone();
    let handovers = state.handover_counts.pending(org, ward);
    let computed = async {
        match config.source {
            Source::Live => {
                let now = emrlab_common::db::now();
                Ok((state.dashboard.live(org, ward, now).await?, now))
            }
            Source::Cached => cached(&state, org, ward, config.cache_ttl).await,
            Source::Materialized => Ok(state.dashboard.materialized(org, ward).await?),
        }
    };
    let (computed, pending_handovers) = tokio::join!(computed, handovers);
    let (stats, as_of) = computed?;
    let staleness = (OffsetDateTime::now_utc() - as_of).as_seconds_f64().max(0.0);
    Ok(axum::Json(Dashboard {
        stats,
        pending_handovers,
        source: config.source.as_str(),
        as_of,
        staleness_seconds: if config.source == Source::Live { 0.0 } else { staleness },
    }))
}
