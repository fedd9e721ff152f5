//! The opaque keyset cursor of every newest-first list (`created_at DESC, id DESC`): the
//! position after a row, as URL-safe base64 of its creation instant (microseconds) and id.

use base64::{Engine, engine::general_purpose::URL_SAFE_NO_PAD};
use time::OffsetDateTime;
use uuid::Uuid;

use crate::error::ApiError;

/// The cursor for the position after the row created at `at` with `id`.
pub fn encode(at: OffsetDateTime, id: Uuid) -> String {
    let micros = at.unix_timestamp_nanos() / 1_000;
    URL_SAFE_NO_PAD.encode(format!("{micros}.{}", id.simple()))
}

/// The position a cursor names; anything this API did not issue is a 400 `invalid_cursor`.
pub fn decode(cursor: &str) -> Result<(OffsetDateTime, Uuid), ApiError> {
    let bad = || {
        ApiError::bad_request(
            "invalid_cursor",
            "cursor is not one this API issued; start again without it",
        )
    };
    let text = URL_SAFE_NO_PAD
        .decode(cursor)
        .ok()
        .and_then(|b| String::from_utf8(b).ok())
        .ok_or_else(bad)?;
    let (micros, id) = text.split_once('.').ok_or_else(bad)?;
    let micros: i128 = micros.parse().map_err(|_| bad())?;
    let at = OffsetDateTime::from_unix_timestamp_nanos(micros * 1_000).map_err(|_| bad())?;
    Ok((at, Uuid::parse_str(id).map_err(|_| bad())?))
}

/// Ends a newest-first keyset query: rows strictly after `after` (the `(created_at, id)` of the
/// last row shown, its instant already in the backend's representation), newest first, and
/// `limit + 1` of them, so the caller can tell whether another page follows.
pub fn push_page_after<'t, DB, T>(qb: &mut sqlx::QueryBuilder<DB>, after: Option<(T, Uuid)>, limit: u32)
where
    DB: sqlx::Database,
    T: sqlx::Encode<'t, DB> + sqlx::Type<DB>,
    Uuid: sqlx::Encode<'t, DB> + sqlx::Type<DB>,
    i64: sqlx::Encode<'t, DB> + sqlx::Type<DB>,
{
    if let Some((at, id)) = after {
        qb.push(" AND (created_at, id) < (")
            .push_bind(at)
            .push(", ")
            .push_bind(id)
            .push(")");
    }
    qb.push(" ORDER BY created_at DESC, id DESC LIMIT ")
        .push_bind(i64::from(limit) + 1);
}
