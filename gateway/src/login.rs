//! `POST /auth/login` and `POST /auth/refresh`.
//!
//! Password hashing is the expensive part of a login (argon2id, tens of milliseconds and
//! `auth.kdf_cost` KiB each), so it runs on blocking threads behind a semaphore of
//! `auth.max_concurrent_hashes` permits: a login storm queues instead of exhausting memory.

use std::{
    sync::{Arc, OnceLock},
    time::{Duration, Instant},
};

use arc_swap::ArcSwap;
use axum::{
    Json as JsonResponse,
    extract::{ConnectInfo, State},
    http::StatusCode,
};
use base64::{Engine, engine::general_purpose::URL_SAFE_NO_PAD};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use tokio::sync::Semaphore;

use emrlab_common::{
    auth::{self, hash_cost, hash_password, verify_password},
    error::ApiError,
    extract::Json,
    metrics::names,
    server::ClientAddr,
};

use crate::{AppState, credentials::Credentials, guard::retry_after};

/// Longest a login waits for a hashing slot before a 503: a queue, not an unbounded backlog.
const HASH_QUEUE_TIMEOUT: Duration = Duration::from_secs(10);
const MAX_USERNAME: usize = 100;
/// Argon2 takes any length; a cap keeps a megabyte "password" from being an attack.
const MAX_PASSWORD: usize = 1_024;

/// The hashing slots; replaced whole when `auth.max_concurrent_hashes` changes.
pub struct Hashing(ArcSwap<Semaphore>);

impl Hashing {
    pub fn new(permits: u32) -> Self {
        Self(ArcSwap::from_pointee(Semaphore::new(permits as usize)))
    }

    pub fn resize(&self, permits: u32) {
        self.0.store(Arc::new(Semaphore::new(permits as usize)));
    }

    /// Runs CPU-heavy password work on a blocking thread once a slot is free.
    async fn run<T: Send + 'static>(&self, work: impl FnOnce() -> T + Send + 'static) -> Result<T, ApiError> {
        let semaphore = self.0.load_full();
        let waiting = metrics::gauge!(names::HASHES_WAITING, "component" => "gateway");
        waiting.increment(1.0);
        let permit = tokio::time::timeout(HASH_QUEUE_TIMEOUT, semaphore.acquire_owned()).await;
        waiting.decrement(1.0);
        let Ok(Ok(permit)) = permit else {
            return Err(ApiError::unavailable("too many logins at once; retry shortly"));
        };
        let started = Instant::now();
        let result = tokio::task::spawn_blocking(move || {
            let _permit = permit;
            work()
        })
        .await
        .map_err(|e| ApiError::internal(&e))?;
        metrics::histogram!(names::HASH_DURATION, "component" => "gateway").record(started.elapsed());
        Ok(result)
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LoginBody {
    username: String,
    password: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RefreshBody {
    refresh_token: String,
}

/// The answer to a login or refresh.
#[derive(Serialize)]
pub struct TokenPair {
    access_token: String,
    token_type: &'static str,
    expires_in: u64,
    refresh_token: String,
}

fn digest(token: &str) -> String {
    URL_SAFE_NO_PAD.encode(Sha256::digest(token.as_bytes()))
}

fn bad_credentials() -> ApiError {
    metrics::counter!(names::LOGINS, "component" => "gateway", "result" => "refused").increment(1);
    ApiError::unauthorized("wrong username or password")
}

fn storage(e: sqlx::Error) -> ApiError {
    ApiError::storage(e)
}

/// A hash to verify against when the username is unknown, so both failures take as long.
fn decoy_hash(cost: u32) -> String {
    static DECOY: OnceLock<String> = OnceLock::new();
    DECOY
        .get_or_init(|| hash_password("decoy password", cost).unwrap_or_default())
        .clone()
}

async fn issue(state: &AppState, who: &Credentials) -> Result<TokenPair, ApiError> {
    let settings = state.knobs.get();
    let access_token = state
        .keys
        .issue(who.id, who.org, who.role, settings.auth.token_ttl)
        .map_err(|e| ApiError::internal(&e))?;
    let refresh_token = URL_SAFE_NO_PAD.encode(rand::random::<[u8; 32]>());
    let expires = emrlab_common::db::now() + settings.auth.refresh_ttl;
    state
        .credentials
        .insert_refresh(&digest(&refresh_token), who.id, expires)
        .await
        .map_err(storage)?;
    Ok(TokenPair {
        access_token,
        token_type: "Bearer",
        expires_in: settings.auth.token_ttl.as_secs(),
        refresh_token,
    })
}

/// Login and refresh share a per-address limit: both mint tokens, and login is the costly one.
fn limit_logins(state: &AppState, client: ClientAddr) -> Result<(), ApiError> {
    state
        .limits
        .logins
        .load()
        .check(&client.0.ip().to_string())
        .map_err(|wait| {
            metrics::counter!(names::RATE_LIMITED, "component" => "gateway", "limiter" => "login").increment(1);
            ApiError::new(
                StatusCode::TOO_MANY_REQUESTS,
                "rate_limited",
                "too many logins from this address; retry later",
            )
            .retry_after(retry_after(wait))
        })
}

/// `POST /api/v1/auth/login` `{username, password}` → a token pair, or 401 without saying which was wrong.
pub async fn login(
    State(state): State<AppState>,
    ConnectInfo(client): ConnectInfo<ClientAddr>,
    Json(body): Json<LoginBody>,
) -> Result<JsonResponse<TokenPair>, ApiError> {
    limit_logins(&state, client)?;
    if body.username.is_empty() || body.username.len() > MAX_USERNAME {
        return Err(ApiError::invalid(
            "username",
            format!("username must be 1 to {MAX_USERNAME} bytes"),
        ));
    }
    if body.password.is_empty() || body.password.len() > MAX_PASSWORD {
        return Err(ApiError::invalid(
            "password",
            format!("password must be 1 to {MAX_PASSWORD} bytes"),
        ));
    }
    let found = state
        .credentials
        .find_by_username(&body.username)
        .await
        .map_err(storage)?;
    let cost = state.knobs.get().auth.kdf_cost;
    let stored = found.as_ref().map(|c| c.password_hash.clone());
    let password = body.password;
    let (valid, rehashed) = state
        .hashing
        .run(move || {
            let stored = stored.unwrap_or_else(|| decoy_hash(cost));
            let valid = verify_password(&password, &stored);
            // The cost knob changed since this hash was made: upgrade it while we hold the password.
            let rehashed = (valid && hash_cost(&stored) != Some(cost))
                .then(|| hash_password(&password, cost).ok())
                .flatten();
            (valid, rehashed)
        })
        .await?;
    // An unknown user was checked against the decoy only for timing; it never logs in.
    let who = match found {
        Some(who) if valid => who,
        _ => return Err(bad_credentials()),
    };
    if let Some(hash) = rehashed {
        state.credentials.update_hash(who.id, &hash).await.map_err(storage)?;
        tracing::info!(user = %who.id, cost, "password rehashed at the new kdf cost");
    }
    metrics::counter!(names::LOGINS, "component" => "gateway", "result" => "ok").increment(1);
    issue(&state, &who).await.map(JsonResponse)
}

/// `POST /api/v1/auth/refresh` `{refresh_token}` → a new pair; the old refresh token is spent.
pub async fn refresh(
    State(state): State<AppState>,
    ConnectInfo(client): ConnectInfo<ClientAddr>,
    Json(body): Json<RefreshBody>,
) -> Result<JsonResponse<TokenPair>, ApiError> {
    limit_logins(&state, client)?;
    let who = state
        .credentials
        .spend_refresh(&digest(&body.refresh_token), emrlab_common::db::now())
        .await
        .map_err(storage)?
        .ok_or_else(|| auth::token_rejection("the refresh token is unknown, expired or already used"))?;
    issue(&state, &who).await.map(JsonResponse)
}
