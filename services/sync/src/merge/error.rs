//! The one error of the merge logic. Every variant is the caller's fault (a 4xx): the document is
//! left exactly as it was, so a handler can answer and write nothing.

use crate::{Field, NoteId, ReplicaId};

/// Why a change, clock or value was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SyncError {
    /// Malformed input: a bad replica id, a zero counter, an over-long note, an impossible context.
    #[error("{message}")]
    Invalid { field: &'static str, message: String },
    /// The change skips counters of its replica that this document has not received yet.
    #[error("change {counter} of replica {replica} arrived before change {expected}; send the missing changes first")]
    Gap {
        replica: ReplicaId,
        expected: u64,
        counter: u64,
    },
    /// The writer claims to have seen changes of another replica that this document never received.
    #[error(
        "change {counter} of replica {replica} claims to have seen change {claimed} of replica {of}, \
         but only {known} are known"
    )]
    ClockFromFuture {
        replica: ReplicaId,
        counter: u64,
        of: ReplicaId,
        claimed: u64,
        known: u64,
    },
    /// A note id that is already taken by a note with other content (a client reusing ids).
    #[error("note {0} already exists with other content")]
    NoteIdTaken(NoteId),
    /// A resolution was asked for a field that holds a single value.
    #[error("{0} has no conflicting values to resolve")]
    NoConflict(Field),
}

impl SyncError {
    /// Shorthand for [`SyncError::Invalid`].
    pub(crate) fn invalid(field: &'static str, message: impl Into<String>) -> Self {
        Self::Invalid {
            field,
            message: message.into(),
        }
    }
}
