//! The replicated task document and its merge rules: pure data types, no I/O.
//!
//! # The document
//!
//! Each task is a [`TaskDoc`] replicated on the server and on nurses' devices. Replicas edit
//! their copy while offline and exchange [`Change`]s (one edit each, identified by a [`Dot`]:
//! the writer's [`ReplicaId`] and its counter) or whole states ([`TaskDoc::merge`]). Every
//! change carries its `context`, the [`VersionVector`] of the writer's copy when it wrote, so a
//! receiver knows which values the writer replaced and which it never saw. Edits made through
//! the task REST API are changes of [`ReplicaId::server`] with its own counter
//! ([`TaskDoc::change`]). Nothing is decided by wall-clock time: device clocks drift, and
//! "last writer wins" would silently discard one of two nurses' edits.
//!
//! # Merge rules
//!
//! - **Fields** (title, description, priority, assignee, due time, ward) are multi-value
//!   registers ([`MvRegister`]): a write replaces the values its writer had seen; values written
//!   concurrently stay side by side, and a field with two different values is a [`Conflict`]
//!   until a person picks one ([`TaskDoc::resolve`], a write that has seen them all).
//! - **View rule**: meanwhile [`TaskDoc::view`] shows the value with the greatest dot, ordered by
//!   counter and then replica id, and sets `conflict`. Every replica picks the same value; which
//!   one is arbitrary on purpose, since the flag, not the pick, tells the person to look.
//! - **Notes** are a grow-only set keyed by their UUID: never edited, never removed, so a note
//!   written offline always survives. Reusing an id for other content is refused.
//! - **Status** is ordered pending < in_progress < cancelled < completed; cancelled and
//!   completed are final. Concurrent statuses merge to the greatest, so a device that was
//!   offline cannot move a task back, and completed beats cancelled: "completed" records care
//!   that was given (a drug administered), which must stay visible even if the order was
//!   cancelled at the same time, while "cancelled" only stops work not yet done. A status set
//!   after seeing another replaces it (a nurse may put an in-progress task back to pending, as
//!   the REST API allows), except that a final status yields only to a greater one: completed
//!   may follow cancelled (the work was done after all), nothing leaves completed.
//!
//! # Accepting changes
//!
//! [`TaskDoc::apply`] is idempotent: a change already held (counter at most the clock's count for
//! its replica) is a no-op, so duplicated and reordered batches change nothing. A replica's
//! changes are taken in counter order, because the clock can then stay a plain version vector;
//! a change that skips one is refused ([`SyncError::Gap`]) and the device resends from the
//! missing one. A change whose context counts changes of another replica beyond this
//! document's clock claims to have seen what never reached it: [`SyncError::ClockFromFuture`].
//! Every refusal leaves the document unchanged, and [`TaskDoc::apply_batch`] is all or nothing,
//! so a handler can answer 4xx and write nothing.

mod change;
mod clock;
mod doc;
mod error;
mod register;
mod value;
mod view;

pub use change::{Change, Op};
pub use clock::{Causality, Dot, ReplicaId, VersionVector};
pub use doc::{Applied, BatchReport, Conflict, TaskDoc};
pub use error::SyncError;
pub use register::{MvRegister, Versioned};
pub use value::{Description, Field, FieldValue, Note, NoteId, NoteText, Priority, Status, Title};
pub use view::TaskView;
