//! `GET /tasks`: filters, the three pagination modes (`tasks.pagination`) and the list envelope.

use serde::{Deserialize, Serialize};
use time::{OffsetDateTime, format_description::well_known::Rfc3339};
use uuid::Uuid;

use emrlab_common::error::ApiError;

use crate::model::{Priority, Status, Task};

/// Page size when `limit` is absent, and the largest accepted (the seed platform's fix: 50 / 200).
pub const DEFAULT_LIMIT: u32 = 50;
pub const MAX_LIMIT: u32 = 200;
const MAX_TERMS: usize = 10;
const MAX_TERM_CHARS: usize = 100;

/// A keyset-paged list in the envelope every list uses, newest first.
#[derive(Debug, Serialize)]
pub struct KeysetPage<T> {
    pub items: Vec<T>,
    pub next_cursor: Option<String>,
}

impl<T> KeysetPage<T> {
    /// The page of `rows`, read with `limit + 1` so that an extra row says more follow; the
    /// cursor is the last item's `key` (its creation instant and id).
    pub fn new(mut rows: Vec<T>, limit: u32, key: impl Fn(&T) -> (OffsetDateTime, Uuid)) -> Self {
        let next_cursor = if rows.len() > limit as usize {
            rows.truncate(limit as usize);
            rows.last().map(|row| {
                let (at, id) = key(row);
                emrlab_common::cursor::encode(at, id)
            })
        } else {
            None
        };
        Self {
            items: rows,
            next_cursor,
        }
    }
}

/// A list's page size: `limit` if given and from 1 to [`MAX_LIMIT`], else a 422; default
/// [`DEFAULT_LIMIT`]. Every list of the task service pages alike.
pub fn page_limit(limit: Option<u32>) -> Result<u32, ApiError> {
    match limit {
        None => Ok(DEFAULT_LIMIT),
        Some(l) if (1..=MAX_LIMIT).contains(&l) => Ok(l),
        Some(_) => Err(ApiError::invalid(
            "limit",
            format!("limit must be from 1 to {MAX_LIMIT}"),
        )),
    }
}

/// How `GET /tasks` pages (`tasks.pagination`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum Pagination {
    /// Everything that matches, in one response: the seed platform's bottleneck, kept to show it.
    Unbounded,
    /// `offset` + `limit`, with a `total` count.
    Offset,
    /// Keyset on (created_at, id), newest first; stable while tasks are being added.
    #[default]
    Cursor,
}

/// The query string of `GET /tasks`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ListQuery {
    status: Option<String>,
    priority: Option<String>,
    #[serde(alias = "assignee")]
    assignee_id: Option<Uuid>,
    patient_id: Option<Uuid>,
    #[serde(alias = "ward")]
    ward_id: Option<Uuid>,
    created_after: Option<String>,
    created_before: Option<String>,
    q: Option<String>,
    limit: Option<u32>,
    offset: Option<u64>,
    cursor: Option<String>,
    include: Option<String>,
}

/// Validated filters; every one narrows the result (they combine with AND).
#[derive(Debug, Clone, Default)]
pub struct TaskFilter {
    pub status: Option<Status>,
    pub priority: Option<Priority>,
    pub assignee_id: Option<Uuid>,
    pub patient_id: Option<Uuid>,
    pub ward_id: Option<Uuid>,
    pub created_after: Option<OffsetDateTime>,
    pub created_before: Option<OffsetDateTime>,
    /// Each term must occur in the title or the description, ignoring case (see docs/api.md).
    pub terms: Vec<String>,
}

/// Which page to read.
#[derive(Debug, Clone, Copy)]
pub enum PageRequest {
    Unbounded,
    Offset {
        offset: u64,
        limit: u32,
    },
    /// Tasks strictly after this (created_at, id) position in newest-first order.
    Cursor {
        after: Option<(OffsetDateTime, Uuid)>,
        limit: u32,
    },
}

/// The list envelope every list in the API uses.
#[derive(Debug, Serialize)]
pub struct Page {
    pub items: Vec<crate::include::Listed>,
    pub next_cursor: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub total: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub offset: Option<u64>,
}

fn instant(field: &'static str, value: Option<String>) -> Result<Option<OffsetDateTime>, ApiError> {
    value
        .map(|v| {
            OffsetDateTime::parse(&v, &Rfc3339).map_err(|_| {
                ApiError::invalid(
                    field,
                    format!("{field} must be an RFC 3339 time such as 2026-11-23T08:00:00Z"),
                )
            })
        })
        .transpose()
}

impl ListQuery {
    /// Whether `include=patient` asks for each task's patient (the only inclusion there is).
    pub fn include_patient(&self) -> Result<bool, ApiError> {
        match self.include.as_deref() {
            None => Ok(false),
            Some("patient") => Ok(true),
            Some(_) => Err(ApiError::invalid("include", "include must be patient")),
        }
    }

    /// Validates the query against the pagination mode in force.
    pub fn parse(self, mode: Pagination) -> Result<(TaskFilter, PageRequest), ApiError> {
        let filter = TaskFilter {
            status: self
                .status
                .map(|s| Status::parse_field("status", Some(&s)))
                .transpose()?,
            priority: self
                .priority
                .map(|p| Priority::parse_field("priority", Some(&p)))
                .transpose()?,
            assignee_id: self.assignee_id,
            patient_id: self.patient_id,
            ward_id: self.ward_id,
            created_after: instant("created_after", self.created_after)?,
            created_before: instant("created_before", self.created_before)?,
            terms: terms(self.q)?,
        };
        let limit = page_limit(self.limit)?;
        let page = match mode {
            Pagination::Unbounded => PageRequest::Unbounded,
            Pagination::Offset => {
                if self.cursor.is_some() {
                    return Err(ApiError::invalid(
                        "cursor",
                        "tasks.pagination is offset: page with offset and limit",
                    ));
                }
                PageRequest::Offset {
                    offset: self.offset.unwrap_or(0),
                    limit,
                }
            }
            Pagination::Cursor => {
                if self.offset.is_some() {
                    return Err(ApiError::invalid(
                        "offset",
                        "tasks.pagination is cursor: page with the next_cursor of the previous page",
                    ));
                }
                PageRequest::Cursor {
                    after: self.cursor.as_deref().map(decode_cursor).transpose()?,
                    limit,
                }
            }
        };
        Ok((filter, page))
    }
}

fn terms(q: Option<String>) -> Result<Vec<String>, ApiError> {
    let terms: Vec<String> = q.iter().flat_map(|q| q.split_whitespace()).map(str::to_owned).collect();
    if terms.len() > MAX_TERMS || terms.iter().any(|t| t.chars().count() > MAX_TERM_CHARS) {
        return Err(ApiError::invalid(
            "q",
            format!("q takes at most {MAX_TERMS} words of at most {MAX_TERM_CHARS} characters"),
        ));
    }
    Ok(terms)
}

/// A `LIKE` pattern matching `term` anywhere, with `\` escaping the wildcards.
pub fn like_pattern(term: &str) -> String {
    let mut pattern = String::with_capacity(term.len() + 2);
    pattern.push('%');
    for c in term.chars() {
        if matches!(c, '%' | '_' | '\\') {
            pattern.push('\\');
        }
        pattern.push(c);
    }
    pattern.push('%');
    pattern
}

/// The opaque cursor for the position after `task`.
pub fn encode_cursor(task: &Task) -> String {
    emrlab_common::cursor::encode(task.created_at, task.id.0)
}

fn decode_cursor(cursor: &str) -> Result<(OffsetDateTime, Uuid), ApiError> {
    emrlab_common::cursor::decode(cursor)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wildcards_in_a_search_term_match_literally() {
        assert_eq!(like_pattern("50%_a\\b"), "%50\\%\\_a\\\\b%");
    }

    #[test]
    fn a_tampered_cursor_is_a_400() {
        let err = decode_cursor("bm90LWEtY3Vyc29y").unwrap_err();
        assert_eq!(err.status, axum::http::StatusCode::BAD_REQUEST);
    }
}
