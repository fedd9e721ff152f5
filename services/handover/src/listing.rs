//! `GET /handovers`: filters, keyset pages (newest first) and the platform's list envelope.

use serde::{Deserialize, Serialize};
use time::OffsetDateTime;
use uuid::Uuid;

use emrlab_common::error::ApiError;

use crate::model::{Handover, Status};

/// Page size when `limit` is absent, and the largest accepted: the task list's.
pub const DEFAULT_LIMIT: u32 = 50;
/// The largest `limit`.
pub const MAX_LIMIT: u32 = 200;

/// The query string of `GET /handovers`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ListQuery {
    #[serde(alias = "ward_id")]
    ward: Option<Uuid>,
    status: Option<String>,
    limit: Option<u32>,
    cursor: Option<String>,
}

/// Validated filters; they combine with AND.
#[derive(Debug, Clone, Copy, Default)]
pub struct HandoverFilter {
    pub ward_id: Option<Uuid>,
    pub status: Option<Status>,
}

/// Which page to read: handovers strictly after `after` in newest-first order, at most `limit`.
#[derive(Debug, Clone, Copy)]
pub struct PageRequest {
    pub after: Option<(OffsetDateTime, Uuid)>,
    pub limit: u32,
}

/// The list envelope every list in the API uses.
#[derive(Debug, Serialize)]
pub struct Page {
    pub items: Vec<Handover>,
    pub next_cursor: Option<String>,
}

impl ListQuery {
    /// Validates the query.
    pub fn parse(self) -> Result<(HandoverFilter, PageRequest), ApiError> {
        let status = self
            .status
            .map(|s| {
                Status::parse(&s).ok_or_else(|| {
                    ApiError::invalid("status", format!("status must be one of {}", Status::ALL.join(", ")))
                })
            })
            .transpose()?;
        let limit = match self.limit {
            None => DEFAULT_LIMIT,
            Some(l) if (1..=MAX_LIMIT).contains(&l) => l,
            Some(_) => {
                return Err(ApiError::invalid(
                    "limit",
                    format!("limit must be from 1 to {MAX_LIMIT}"),
                ));
            }
        };
        let after = self.cursor.as_deref().map(decode_cursor).transpose()?;
        Ok((
            HandoverFilter {
                ward_id: self.ward,
                status,
            },
            PageRequest { after, limit },
        ))
    }
}

/// The opaque cursor for the position after `handover`.
pub fn encode_cursor(handover: &Handover) -> String {
    emrlab_common::cursor::encode(handover.created_at, handover.id.0)
}

fn decode_cursor(cursor: &str) -> Result<(OffsetDateTime, Uuid), ApiError> {
    emrlab_common::cursor::decode(cursor)
}
