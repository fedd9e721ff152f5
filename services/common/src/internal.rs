//! Internal endpoints every component offers to the gateway (never routed from outside):
//! `GET /internal/knobs` and `PUT /internal/knobs[?dry_run=true]`.

use std::sync::Arc;

use axum::{
    Router,
    extract::{FromRef, State},
    http::StatusCode,
    routing::get,
};
use serde::{Deserialize, Serialize, de::DeserializeOwned};
use serde_json::{Map, Value};

use crate::{
    auth::{Internal, JwtKeys},
    error::ApiError,
    extract::{Json, Query},
    knobs::{KnobCell, KnobError, KnobInfo},
};

/// The internal routes' state.
pub struct KnobState<T> {
    pub cell: Arc<KnobCell<T>>,
    pub keys: Arc<JwtKeys>,
}

impl<T> Clone for KnobState<T> {
    fn clone(&self) -> Self {
        Self {
            cell: self.cell.clone(),
            keys: self.keys.clone(),
        }
    }
}

impl<T> FromRef<KnobState<T>> for Arc<JwtKeys> {
    fn from_ref(state: &KnobState<T>) -> Self {
        state.keys.clone()
    }
}

#[derive(Deserialize)]
struct DryRun {
    #[serde(default)]
    dry_run: bool,
}

/// The routes, ready to merge into a component's router.
pub fn knob_router<T>(cell: Arc<KnobCell<T>>, keys: Arc<JwtKeys>) -> Router
where
    T: Serialize + DeserializeOwned + Default + Send + Sync + 'static,
{
    Router::new()
        .route("/internal/knobs", get(list_knobs::<T>).put(change_knobs::<T>))
        .with_state(KnobState { cell, keys })
}

async fn list_knobs<T>(State(state): State<KnobState<T>>, _caller: Internal) -> axum::Json<Vec<KnobInfo>>
where
    T: Serialize + DeserializeOwned + Default + Send + Sync + 'static,
{
    axum::Json(state.cell.list())
}

async fn change_knobs<T>(
    State(state): State<KnobState<T>>,
    _caller: Internal,
    Query(query): Query<DryRun>,
    Json(changes): Json<Map<String, Value>>,
) -> Result<axum::Json<Vec<KnobInfo>>, ApiError>
where
    T: Serialize + DeserializeOwned + Default + Send + Sync + 'static,
{
    let result = if query.dry_run {
        state.cell.validate(&changes).map(|_| state.cell.list())
    } else {
        state.cell.apply(&changes)
    };
    result.map(axum::Json).map_err(knob_error)
}

/// A refused knob change as a 422 naming the knob.
pub fn knob_error(error: KnobError) -> ApiError {
    let code = match error {
        KnobError::Unknown(_) => "unknown_knob",
        KnobError::BadValue { .. } => "invalid_knob_value",
    };
    ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, code, error.to_string()).field(error.knob().to_owned())
}
