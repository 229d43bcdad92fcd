//! What the handle returns about stored datafiles and users.

use std::time::SystemTime;

use serde_json::{Value, json};

use crate::time;

/// One stored revision of a datafile (see
/// [`DevServerHandle::datafile_revisions`](crate::DevServerHandle::datafile_revisions)).
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct DatafileRevision {
    /// 1 for the first datafile stored under the SDK key, then counting up.
    pub number: u64,
    /// The datafile as it was given (before the ODP host rewrite).
    pub body: String,
    /// When it was stored.
    pub stored_at: SystemTime,
    /// The `Last-Modified` it was served with.
    pub last_modified: SystemTime,
    /// Whether this is the revision served now.
    pub current: bool,
}

/// One identifier of a user.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct UserIdentifier {
    /// `fs_user_id`, `vuid`, `email`, ... as received in ODP events; `None` for an id only
    /// known from [`set_segments`](crate::DevServerHandle::set_segments) or a segment's
    /// members, which matches an identifier of any kind.
    pub kind: Option<String>,
    /// The identifier's value.
    pub value: String,
}

/// A user as the dev server sees it: stitched identifiers, received events and the segments
/// it qualifies for now.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct UserSummary {
    /// Number of the stitched user (changes when two users are found to be one); `None` for
    /// users only known from static segment memberships.
    pub id: Option<u64>,
    /// Every identifier of the user.
    pub identifiers: Vec<UserIdentifier>,
    /// Segments the user qualifies for now, as GraphQL would answer.
    pub segments: Vec<String>,
    /// How many stored ODP events belong to the user.
    pub events: u64,
    /// When the most recent of them was received.
    pub last_event_at: Option<SystemTime>,
}

impl UserSummary {
    /// The JSON form of the control API.
    pub(crate) fn to_json(&self) -> Value {
        let identifiers: Vec<Value> = self
            .identifiers
            .iter()
            .map(|identifier| json!({ "kind": identifier.kind, "value": identifier.value }))
            .collect();
        json!({
            "id": self.id,
            "identifiers": identifiers,
            "segments": self.segments,
            "events": self.events,
            "last_event_at": self.last_event_at.map(time::rfc3339_utc),
        })
    }
}
