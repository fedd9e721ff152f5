//! Authorizations, reservations and their balances as the API shows them, the validated input of
//! a reservation, and the checks every concurrency mode applies before it books units.

use serde::{Deserialize, Serialize};
use time::OffsetDateTime;
use uuid::Uuid;

use emrlab_common::error::ApiError;

/// Units one reservation may book: a day of 15-minute units is 96; this leaves room for a
/// season booked at once without letting a typo exhaust an authorization.
pub const MAX_UNITS: i64 = 10_000;
/// The longest `Idempotency-Key` accepted (a UUID is 36).
pub const MAX_KEY_CHARS: usize = 255;

/// How a reservation guards the read-check-write of a balance (`authorizations.concurrency`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum Concurrency {
    /// Read, check, write in separate statements, unprotected: overbooks under contention.
    Naive,
    /// One SERIALIZABLE transaction, retried on serialization failure (SQLSTATE 40001).
    Serializable,
    /// `SELECT … FOR UPDATE` on the authorization, then check and write.
    RowLock,
    /// One conditional `UPDATE … WHERE used + scheduled + n <= total`.
    #[default]
    Atomic,
}

impl Concurrency {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Naive => "naive",
            Self::Serializable => "serializable",
            Self::RowLock => "row_lock",
            Self::Atomic => "atomic",
        }
    }

    pub const ALL: [Self; 4] = [Self::Naive, Self::Serializable, Self::RowLock, Self::Atomic];
}

/// The units of an authorization; `available_units` is negative only if it was overbooked.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq)]
pub struct Balance {
    pub total_units: i64,
    pub used_units: i64,
    pub scheduled_units: i64,
    pub available_units: i64,
}

impl Balance {
    pub fn new(total_units: i64, used_units: i64, scheduled_units: i64) -> Self {
        Self {
            total_units,
            used_units,
            scheduled_units,
            available_units: total_units - used_units - scheduled_units,
        }
    }
}

/// A payer's budget of units for one patient and service code over a period.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Authorization {
    pub id: Uuid,
    pub number: String,
    pub patient_id: Uuid,
    pub service_code: String,
    #[serde(with = "time::serde::rfc3339")]
    pub valid_from: OffsetDateTime,
    #[serde(with = "time::serde::rfc3339")]
    pub valid_until: OffsetDateTime,
    #[serde(flatten)]
    pub balance: Balance,
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
    #[serde(with = "time::serde::rfc3339")]
    pub updated_at: OffsetDateTime,
}

/// Where a reservation's units are: booked, used by the session, or given back.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ReservationState {
    Scheduled,
    Consumed,
    Released,
}

impl ReservationState {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Scheduled => "scheduled",
            Self::Consumed => "consumed",
            Self::Released => "released",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "scheduled" => Some(Self::Scheduled),
            "consumed" => Some(Self::Consumed),
            "released" => Some(Self::Released),
            _ => None,
        }
    }
}

/// Units booked against an authorization for one session.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Reservation {
    pub id: Uuid,
    pub authorization_id: Uuid,
    pub units: i64,
    #[serde(with = "time::serde::rfc3339")]
    pub scheduled_for: OffsetDateTime,
    pub state: ReservationState,
    pub created_by: Uuid,
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
    #[serde(with = "time::serde::rfc3339::option")]
    pub settled_at: Option<OffsetDateTime>,
    /// The authorization's balance just after this reservation was booked or settled.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub balance: Option<Balance>,
}

/// The body of `POST /authorizations/{id}/reservations`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ReservationBody {
    units: i64,
    #[serde(with = "time::serde::rfc3339")]
    scheduled_for: OffsetDateTime,
    service_code: Option<String>,
}

/// A validated reservation request.
#[derive(Debug, Clone)]
pub struct NewReservation {
    pub authorization_id: Uuid,
    pub units: i64,
    pub scheduled_for: OffsetDateTime,
    pub service_code: Option<String>,
    pub idempotency_key: Option<String>,
}

impl NewReservation {
    pub fn parse(authorization_id: Uuid, body: ReservationBody, key: Option<String>) -> Result<Self, ApiError> {
        if !(1..=MAX_UNITS).contains(&body.units) {
            return Err(ApiError::invalid(
                "units",
                format!("units must be from 1 to {MAX_UNITS}"),
            ));
        }
        if let Some(code) = &body.service_code
            && (code.is_empty() || code.len() > 16)
        {
            return Err(ApiError::invalid(
                "service_code",
                "service_code must be a code such as 97153",
            ));
        }
        Ok(Self {
            authorization_id,
            units: body.units,
            scheduled_for: body.scheduled_for,
            service_code: body.service_code,
            idempotency_key: key,
        })
    }

    /// Whether a stored reservation is what this request asked for: a retry with the same
    /// `Idempotency-Key` must be the same request.
    pub fn same_as(&self, stored: &Reservation) -> bool {
        stored.authorization_id == self.authorization_id
            && stored.units == self.units
            && stored.scheduled_for == self.scheduled_for
    }
}

/// Why a reservation cannot be booked on this authorization, whatever its balance.
pub fn refusal(auth: &Authorization, new: &NewReservation, now: OffsetDateTime) -> Option<ApiError> {
    let unprocessable =
        |code, message: String| ApiError::new(axum::http::StatusCode::UNPROCESSABLE_ENTITY, code, message);
    if let Some(code) = &new.service_code
        && *code != auth.service_code
    {
        return Some(
            unprocessable(
                "service_code_mismatch",
                format!(
                    "authorization {} covers service code {}, not {code}",
                    auth.number, auth.service_code
                ),
            )
            .field("service_code"),
        );
    }
    if now > auth.valid_until {
        return Some(unprocessable(
            "authorization_expired",
            format!("authorization {} expired", auth.number),
        ));
    }
    if now < auth.valid_from {
        return Some(unprocessable(
            "authorization_not_yet_valid",
            format!("authorization {} is not valid yet", auth.number),
        ));
    }
    if new.scheduled_for < auth.valid_from || new.scheduled_for > auth.valid_until {
        return Some(
            unprocessable(
                "outside_authorization_period",
                format!("the session is outside the period of authorization {}", auth.number),
            )
            .field("scheduled_for"),
        );
    }
    None
}

/// The 409 of a reservation the balance cannot cover, with the balance in `details`.
pub fn insufficient(balance: Balance, units: i64) -> ApiError {
    ApiError::new(
        axum::http::StatusCode::CONFLICT,
        "insufficient_units",
        format!("{units} units requested, {} available", balance.available_units.max(0)),
    )
    .field("units")
    .details(serde_json::json!({ "balance": balance, "requested": units }))
}

/// The `Idempotency-Key` header, if sent: 1 to 255 visible ASCII characters.
pub fn idempotency_key(headers: &axum::http::HeaderMap) -> Result<Option<String>, ApiError> {
    let Some(value) = headers.get("idempotency-key") else {
        return Ok(None);
    };
    let bad = || {
        ApiError::bad_request(
            "invalid_idempotency_key",
            format!("Idempotency-Key must be 1 to {MAX_KEY_CHARS} visible ASCII characters"),
        )
    };
    let key = value.to_str().map_err(|_| bad())?;
    if key.is_empty() || key.len() > MAX_KEY_CHARS || !key.bytes().all(|b| b.is_ascii_graphic()) {
        return Err(bad());
    }
    Ok(Some(key.to_owned()))
}
