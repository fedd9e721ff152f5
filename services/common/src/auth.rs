//! Who is calling: token claims, their signing and pinned verification, and password hashing.
//!
//! The gateway issues tokens; every service verifies them itself with the same key, algorithm,
//! issuer and audience, so an identity header forged past the gateway buys nothing.

use std::{sync::Arc, time::Duration};

use axum::extract::{FromRef, FromRequestParts};

use argon2::{
    Algorithm as KdfAlgorithm, Argon2, Params, PasswordHash, PasswordHasher, PasswordVerifier, Version,
    password_hash::SaltString,
};
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation, errors::ErrorKind};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::error::ApiError;

/// The one signing algorithm; anything else in a token header is refused.
const ALGORITHM: Algorithm = Algorithm::HS256;
/// Audience of tokens for internal endpoints; a user token never carries it.
pub const INTERNAL_AUDIENCE: &str = "emrlab-internal";
/// Argon2id passes over memory; OWASP pairs 2 with its 19 MiB baseline.
const KDF_TIME_COST: u32 = 2;

/// An organisation: the tenant every row belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, sqlx::Type)]
#[serde(transparent)]
#[sqlx(transparent)]
pub struct OrgId(pub Uuid);

/// A practitioner (a user of the platform).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, sqlx::Type)]
#[serde(transparent)]
#[sqlx(transparent)]
pub struct UserId(pub Uuid);

impl std::fmt::Display for OrgId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.0.fmt(f)
    }
}

impl std::fmt::Display for UserId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.0.fmt(f)
    }
}

/// What a practitioner may do. `Operator` runs the platform and belongs to no care organisation.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    Nurse,
    Doctor,
    ChargeNurse,
    Admin,
    Operator,
}

impl Role {
    /// The spelling stored in the database and in tokens.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Nurse => "nurse",
            Self::Doctor => "doctor",
            Self::ChargeNurse => "charge_nurse",
            Self::Admin => "admin",
            Self::Operator => "operator",
        }
    }

    /// Parses the stored spelling.
    pub fn parse(s: &str) -> Option<Self> {
        serde_json::from_value(serde_json::Value::String(s.to_owned())).ok()
    }
}

/// Claims of a user's access token.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Claims {
    pub sub: UserId,
    pub org: OrgId,
    pub role: Role,
    pub iss: String,
    pub aud: String,
    pub iat: i64,
    pub exp: i64,
    /// Unique per token, so the rate limiter can key on a token without storing it.
    pub jti: Uuid,
}

/// Claims of a short-lived token one component presents to another's internal endpoint.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct InternalClaims {
    sub: String,
    iss: String,
    aud: String,
    iat: i64,
    exp: i64,
}

/// Why a token was refused; the message is safe to return to the caller.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum TokenError {
    #[error("the token has expired; log in again or refresh it")]
    Expired,
    #[error("the token is not valid for this API")]
    Invalid,
}

/// The pinned signing and verification keys.
#[derive(Clone)]
pub struct JwtKeys {
    encoding: EncodingKey,
    decoding: DecodingKey,
    issuer: String,
    audience: String,
    /// The checks of a user token and of an internal one, built once: a `Validation` is a few
    /// sets and strings, and every request to every component checks a token.
    user_checks: Validation,
    internal_checks: Validation,
}

fn now() -> i64 {
    time::OffsetDateTime::now_utc().unix_timestamp()
}

impl JwtKeys {
    /// Keys from a shared secret, issuer and user audience.
    pub fn new(secret: &[u8], issuer: &str, audience: &str) -> Self {
        Self {
            encoding: EncodingKey::from_secret(secret),
            decoding: DecodingKey::from_secret(secret),
            issuer: issuer.to_owned(),
            audience: audience.to_owned(),
            user_checks: Self::validation(issuer, audience),
            internal_checks: Self::validation(issuer, INTERNAL_AUDIENCE),
        }
    }

    fn validation(issuer: &str, audience: &str) -> Validation {
        let mut v = Validation::new(ALGORITHM);
        v.set_audience(&[audience]);
        v.set_issuer(&[issuer]);
        v.set_required_spec_claims(&["exp", "iat", "iss", "aud", "sub"]);
        // Every component runs on one clock here; tokens expire when they say they do.
        v.leeway = 0;
        v
    }

    /// Signs a user token valid for `ttl`.
    pub fn issue(
        &self,
        sub: UserId,
        org: OrgId,
        role: Role,
        ttl: Duration,
    ) -> Result<String, jsonwebtoken::errors::Error> {
        let iat = now();
        let claims = Claims {
            sub,
            org,
            role,
            iss: self.issuer.clone(),
            aud: self.audience.clone(),
            iat,
            exp: iat + ttl.as_secs() as i64,
            jti: Uuid::now_v7(),
        };
        jsonwebtoken::encode(&Header::new(ALGORITHM), &claims, &self.encoding)
    }

    /// Verifies a user token: algorithm, signature, issuer, audience and expiry.
    pub fn verify(&self, token: &str) -> Result<Claims, TokenError> {
        jsonwebtoken::decode::<Claims>(token, &self.decoding, &self.user_checks)
            .map(|data| data.claims)
            .map_err(|e| match e.kind() {
                ErrorKind::ExpiredSignature => TokenError::Expired,
                _ => TokenError::Invalid,
            })
    }

    /// Signs a one-minute token for an internal endpoint.
    pub fn issue_internal(&self, caller: &str) -> Result<String, jsonwebtoken::errors::Error> {
        let iat = now();
        let claims = InternalClaims {
            sub: caller.to_owned(),
            iss: self.issuer.clone(),
            aud: INTERNAL_AUDIENCE.to_owned(),
            iat,
            exp: iat + 60,
        };
        jsonwebtoken::encode(&Header::new(ALGORITHM), &claims, &self.encoding)
    }

    /// Verifies an internal token; returns the calling component.
    pub fn verify_internal(&self, token: &str) -> Result<String, TokenError> {
        jsonwebtoken::decode::<InternalClaims>(token, &self.decoding, &self.internal_checks)
            .map(|data| data.claims.sub)
            .map_err(|_| TokenError::Invalid)
    }
}

/// Hashes a password with argon2id at `memory_kib`. CPU-heavy: call it off the async threads.
pub fn hash_password(password: &str, memory_kib: u32) -> Result<String, argon2::password_hash::Error> {
    let params = Params::new(memory_kib, KDF_TIME_COST, 1, None)?;
    let salt = SaltString::encode_b64(&rand::random::<[u8; 16]>())?;
    Ok(Argon2::new(KdfAlgorithm::Argon2id, Version::V0x13, params)
        .hash_password(password.as_bytes(), &salt)?
        .to_string())
}

/// Checks a password against a stored hash (with the parameters recorded in that hash).
pub fn verify_password(password: &str, stored: &str) -> bool {
    PasswordHash::new(stored).is_ok_and(|hash| Argon2::default().verify_password(password.as_bytes(), &hash).is_ok())
}

/// The memory cost a stored hash was made with, to rehash when `auth.kdf_cost` changed.
pub fn hash_cost(stored: &str) -> Option<u32> {
    let hash = PasswordHash::new(stored).ok()?;
    hash.params.get_decimal("m")
}

/// The verified caller of a user-facing route.
pub struct Caller(pub Claims);

impl Caller {
    /// The caller's claims if its role may see clinical data (403 otherwise): the operator runs
    /// the platform, and clinical data is for the organisation's own staff.
    pub fn clinical(&self) -> Result<&Claims, ApiError> {
        if self.0.role == Role::Operator {
            return Err(ApiError::forbidden("the operator role has no access to clinical data"));
        }
        Ok(&self.0)
    }
}

/// The token from `Authorization: Bearer …`, if any.
pub fn bearer(headers: &http::HeaderMap) -> Option<&str> {
    let value = headers.get(http::header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, token) = value.split_once(' ')?;
    scheme.eq_ignore_ascii_case("bearer").then(|| token.trim())
}

/// The 401 for a missing or refused token, with `WWW-Authenticate` as RFC 6750 asks.
pub fn token_rejection(reason: &str) -> ApiError {
    let mut error = ApiError::unauthorized(reason.to_owned());
    error.challenge = Some(format!("Bearer error=\"invalid_token\", error_description=\"{reason}\"").into_boxed_str());
    error
}

/// The platform's keys and the request's bearer token, or the 401 for a missing token.
fn keys_and_token<'a, S>(
    parts: &'a http::request::Parts,
    state: &S,
    missing: &str,
) -> Result<(Arc<JwtKeys>, &'a str), ApiError>
where
    Arc<JwtKeys>: FromRef<S>,
{
    let token = bearer(&parts.headers).ok_or_else(|| token_rejection(missing))?;
    Ok((Arc::<JwtKeys>::from_ref(state), token))
}

impl<S> FromRequestParts<S> for Caller
where
    Arc<JwtKeys>: FromRef<S>,
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut http::request::Parts, state: &S) -> Result<Self, ApiError> {
        let (keys, token) = keys_and_token(parts, state, "missing bearer token")?;
        keys.verify(token)
            .map(Caller)
            .map_err(|e| token_rejection(&e.to_string()))
    }
}

/// Another component calling an internal endpoint.
pub struct Internal(pub String);

impl<S> FromRequestParts<S> for Internal
where
    Arc<JwtKeys>: FromRef<S>,
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut http::request::Parts, state: &S) -> Result<Self, ApiError> {
        let (keys, token) = keys_and_token(parts, state, "missing internal credential")?;
        keys.verify_internal(token)
            .map(Internal)
            .map_err(|_| token_rejection("invalid internal credential"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn keys() -> JwtKeys {
        JwtKeys::new(b"test-secret-test-secret-test-secret", "emrlab", "emrlab-api")
    }

    #[test]
    fn an_issued_token_verifies_and_carries_its_claims() {
        let (user, org) = (UserId(Uuid::now_v7()), OrgId(Uuid::now_v7()));
        let token = keys().issue(user, org, Role::Nurse, Duration::from_secs(60)).unwrap();
        let claims = keys().verify(&token).unwrap();
        assert_eq!((claims.sub, claims.org, claims.role), (user, org, Role::Nurse));
    }

    #[test]
    fn tokens_for_another_key_or_audience_are_refused() {
        let token = keys()
            .issue(
                UserId(Uuid::nil()),
                OrgId(Uuid::nil()),
                Role::Admin,
                Duration::from_secs(60),
            )
            .unwrap();
        let other_key = JwtKeys::new(b"another-secret-another-secret-xx", "emrlab", "emrlab-api");
        let other_aud = JwtKeys::new(b"test-secret-test-secret-test-secret", "emrlab", "elsewhere");
        assert_eq!(other_key.verify(&token), Err(TokenError::Invalid));
        assert_eq!(other_aud.verify(&token), Err(TokenError::Invalid));
    }

    #[test]
    fn internal_and_user_tokens_do_not_stand_in_for_each_other() {
        let internal = keys().issue_internal("gateway").unwrap();
        assert_eq!(keys().verify(&internal), Err(TokenError::Invalid));
        let user = keys()
            .issue(
                UserId(Uuid::nil()),
                OrgId(Uuid::nil()),
                Role::Operator,
                Duration::from_secs(60),
            )
            .unwrap();
        assert_eq!(keys().verify_internal(&user), Err(TokenError::Invalid));
        assert_eq!(keys().verify_internal(&internal).unwrap(), "gateway");
    }

    #[test]
    fn passwords_verify_and_report_their_cost() {
        let hash = hash_password("emrlab", 64).unwrap();
        assert!(verify_password("emrlab", &hash));
        assert!(!verify_password("emrlab2", &hash));
        assert_eq!(hash_cost(&hash), Some(64));
    }
}
