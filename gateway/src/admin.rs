//! `GET|PUT /api/v1/admin/knobs`, `GET /api/v1/admin/integrity` and the gateway's health,
//! readiness and metrics.
//!
//! A knob change is checked by every owner first (a dry run), then applied by each: a bad value
//! for any knob changes nothing anywhere. Owners are reached over their internal endpoint, the
//! same in one process and in separate containers.

use axum::{
    Extension,
    extract::State,
    http::{StatusCode, header},
    response::{IntoResponse, Response},
};
use serde_json::{Map, Value};

use emrlab_common::{
    auth::{Claims, Role},
    error::ApiError,
    extract::Json,
    internal::knob_error,
    knobs::{KnobInfo, merge_lists},
};

use crate::{AppState, config::Upstream};

fn upstream_failed(upstream: &Upstream, error: &dyn std::fmt::Display) -> Response {
    tracing::warn!(service = upstream.name, error = %error, "admin call failed");
    ApiError::new(
        StatusCode::BAD_GATEWAY,
        "upstream_unavailable",
        format!("the {} service did not answer the admin call", upstream.name),
    )
    .into_response()
}

async fn call(
    state: &AppState,
    upstream: &Upstream,
    changes: Option<(&Map<String, Value>, bool)>,
) -> Result<Vec<KnobInfo>, Response> {
    let token = state
        .keys
        .issue_internal("gateway")
        .map_err(|e| ApiError::internal(&e).into_response())?;
    let url = format!("{}/internal/knobs", upstream.url);
    let request = match changes {
        None => state.http.get(url),
        Some((changes, dry_run)) => state.http.put(url).query(&[("dry_run", dry_run)]).json(changes),
    };
    let response = emrlab_common::telemetry::send(request.bearer_auth(token), upstream.name, "knobs")
        .await
        .map_err(|e| upstream_failed(upstream, &e))?;
    let status = response.status();
    if status == StatusCode::UNPROCESSABLE_ENTITY {
        // The owner's own 422 names the knob; pass it on unchanged.
        let body = response.bytes().await.map_err(|e| upstream_failed(upstream, &e))?;
        return Err((status, [(header::CONTENT_TYPE, "application/json")], body).into_response());
    }
    if !status.is_success() {
        return Err(upstream_failed(upstream, &status));
    }
    response.json().await.map_err(|e| upstream_failed(upstream, &e))
}

async fn catalogue(state: &AppState) -> Result<Vec<KnobInfo>, Response> {
    let mut lists = vec![state.knobs.list()];
    for upstream in state.upstreams.values() {
        lists.push(call(state, upstream, None).await?);
    }
    Ok(merge_lists(lists))
}

/// `GET /api/v1/admin/knobs`: every knob with value, default, allowed values and owners.
/// Organisation admins may look; only the operator may change.
pub async fn list_knobs(State(state): State<AppState>, Extension(claims): Extension<Claims>) -> Response {
    if !matches!(claims.role, Role::Admin | Role::Operator) {
        return ApiError::forbidden("only an admin or the operator may read knobs").into_response();
    }
    match catalogue(&state).await {
        Ok(list) => axum::Json(list).into_response(),
        Err(response) => response,
    }
}

/// `PUT /api/v1/admin/knobs` `{"name": value, …}`: all or nothing, answered with the new list.
pub async fn change_knobs(
    State(state): State<AppState>,
    Extension(claims): Extension<Claims>,
    Json(changes): Json<Map<String, Value>>,
) -> Response {
    if claims.role != Role::Operator {
        return ApiError::forbidden("only the operator may change knobs: they are platform-wide").into_response();
    }
    match change(&state, &changes).await {
        Ok(list) => axum::Json(list).into_response(),
        Err(response) => response,
    }
}

async fn change(state: &AppState, changes: &Map<String, Value>) -> Result<Vec<KnobInfo>, Response> {
    let known = catalogue(state).await?;
    if let Some(unknown) = changes.keys().find(|name| !known.iter().any(|k| &k.name == *name)) {
        return Err(knob_error(emrlab_common::knobs::KnobError::Unknown(unknown.clone())).into_response());
    }
    let share = |owner: &str| -> Map<String, Value> {
        changes
            .iter()
            .filter(|(name, _)| {
                known
                    .iter()
                    .any(|k| &k.name == *name && k.owners.iter().any(|o| o == owner))
            })
            .map(|(n, v)| (n.clone(), v.clone()))
            .collect()
    };
    let mine = share("gateway");
    state.knobs.validate(&mine).map_err(|e| knob_error(e).into_response())?;
    let theirs: Vec<(&Upstream, Map<String, Value>)> = state
        .upstreams
        .values()
        .map(|u| (u, share(u.name)))
        .filter(|(_, c)| !c.is_empty())
        .collect();
    for (upstream, share) in &theirs {
        call(state, upstream, Some((share, true))).await?;
    }
    let mut lists = vec![state.knobs.apply(&mine).map_err(|e| knob_error(e).into_response())?];
    for (upstream, share) in &theirs {
        lists.push(call(state, upstream, Some((share, false))).await?);
    }
    for upstream in state
        .upstreams
        .values()
        .filter(|u| !theirs.iter().any(|(t, _)| t.name == u.name))
    {
        lists.push(call(state, upstream, None).await?);
    }
    Ok(merge_lists(lists))
}

/// `GET /ready`: the database and every service answer.
pub async fn ready(State(state): State<AppState>) -> Response {
    let mut checks = Map::new();
    let mut ok = true;
    let db = state.db.ping().await.is_ok();
    ok &= db;
    checks.insert("database".into(), Value::from(if db { "ok" } else { "unreachable" }));
    for upstream in state.upstreams.values().filter(|u| u.service) {
        let up = state
            .http
            .get(format!("{}/ready", upstream.url))
            .send()
            .await
            .is_ok_and(|r| r.status().is_success());
        ok &= up;
        checks.insert(upstream.name.into(), Value::from(if up { "ok" } else { "unreachable" }));
    }
    let status = if ok {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    (
        status,
        axum::Json(serde_json::json!({ "status": if ok { "ready" } else { "not_ready" }, "checks": checks })),
    )
        .into_response()
}

/// `GET /api/v1/admin/integrity`: the task service's check of every insurance authorization
/// (used + scheduled <= total, counters equal to their reservations), for the operator only, as
/// it spans organisations. 200 with `ok` true or false; a load scenario can end with it.
pub async fn integrity(State(state): State<AppState>, Extension(claims): Extension<Claims>) -> Response {
    if claims.role != Role::Operator {
        return ApiError::forbidden("only the operator may run the integrity check: it spans organisations")
            .into_response();
    }
    let Some(task) = state.upstreams.get("task") else {
        return ApiError::internal(&"no task service upstream").into_response();
    };
    let token = match state.keys.issue_internal("gateway") {
        Ok(token) => token,
        Err(e) => return ApiError::internal(&e).into_response(),
    };
    let url = format!("{}/internal/authorizations/integrity", task.url);
    let request = state.http.get(url).bearer_auth(token);
    let response = match emrlab_common::telemetry::send(request, task.name, "integrity").await {
        Ok(response) if response.status().is_success() => response,
        Ok(response) => return upstream_failed(task, &response.status()),
        Err(e) => return upstream_failed(task, &e),
    };
    match response.bytes().await {
        Ok(body) => (StatusCode::OK, [(header::CONTENT_TYPE, "application/json")], body).into_response(),
        Err(e) => upstream_failed(task, &e),
    }
}
