//! What the server keeps in memory about stored ODP events and identifiers: which user each
//! identifier belongs to, each user's identifiers and events (id, time, action, type) and the
//! counters. It mirrors the `identifiers` and `odp_events` tables, so storing an event looks
//! nothing up in SQLite and rules are evaluated without scanning the events table. It is
//! built from the database at open, and again whenever a write to them fails.

use std::collections::VecDeque;
use std::sync::Arc;

use rusqlite::Connection;
use rustc_hash::FxHashMap as HashMap;

use super::{ODP_EVENTS_RECEIVED, counter};

pub(super) const NEXT_USER_ID: &str = "next_user_id";

/// The number of a name (an identifier kind, event action or type) in [`Names`].
pub(super) type NameId = u32;

/// Names that repeat across identifiers and events, each stored once.
#[derive(Default)]
struct Names {
    list: Vec<Arc<str>>,
    ids: HashMap<Arc<str>, NameId>,
}

impl Names {
    fn id(&self, name: &str) -> Option<NameId> {
        self.ids.get(name).copied()
    }

    fn intern(&mut self, name: &str) -> NameId {
        if let Some(id) = self.id(name) {
            return id;
        }
        let id = NameId::try_from(self.list.len()).unwrap_or(NameId::MAX);
        let name: Arc<str> = Arc::from(name);
        self.list.push(Arc::clone(&name));
        self.ids.insert(name, id);
        id
    }

    fn name(&self, id: NameId) -> &str {
        usize::try_from(id)
            .ok()
            .and_then(|at| self.list.get(at))
            .map_or("", |name| name)
    }
}

/// One stored event of a user.
#[derive(Clone)]
pub(super) struct EventEntry {
    pub(super) id: i64,
    pub(super) received_ms: i64,
    pub(super) action: NameId,
    pub(super) event_type: NameId,
}

/// One stored identifier of a user.
#[derive(Clone)]
pub(super) struct IdentifierEntry {
    /// Its row in the `identifiers` table.
    pub(super) row: i64,
    kind: NameId,
    value: Arc<str>,
}

/// A stitched user: its identifiers and its stored events (by id).
pub(super) struct UserEntry {
    pub(super) identifiers: Vec<IdentifierEntry>,
    pub(super) events: VecDeque<EventEntry>,
}

impl Default for UserEntry {
    /// A user with room for one identifier and one event (many users have no more).
    fn default() -> Self {
        UserEntry {
            identifiers: Vec::with_capacity(1),
            events: VecDeque::with_capacity(1),
        }
    }
}

impl UserEntry {
    /// The distinct values of the user's identifiers, sorted.
    pub(super) fn sorted_values(&self) -> Vec<String> {
        let mut values: Vec<String> = self
            .identifiers
            .iter()
            .map(|identifier| identifier.value.to_string())
            .collect();
        values.sort_unstable();
        values.dedup();
        values
    }

    pub(super) fn last_event_id(&self) -> Option<i64> {
        self.events.back().map(|event| event.id)
    }

    pub(super) fn last_received_ms(&self) -> Option<i64> {
        self.events.iter().map(|event| event.received_ms).max()
    }
}

/// The in-memory mirror described in the module docs.
#[derive(Default)]
pub(super) struct OdpIndex {
    /// kind → value → user.
    identities: HashMap<NameId, HashMap<Arc<str>, i64>>,
    users: HashMap<i64, UserEntry>,
    /// Every stored event's id and user, by id.
    events: VecDeque<(i64, Option<i64>)>,
    names: Names,
    /// The last user number handed out (the `next_user_id` counter).
    pub(super) last_user: i64,
    /// Accepted events since the last reset (the `odp_events_received` counter).
    pub(super) received: u64,
}

impl OdpIndex {
    /// Reads the mirror from the database.
    pub(super) fn load(connection: &Connection) -> rusqlite::Result<OdpIndex> {
        let mut index = OdpIndex {
            last_user: i64::try_from(counter(connection, NEXT_USER_ID)?).unwrap_or(i64::MAX),
            received: counter(connection, ODP_EVENTS_RECEIVED)?,
            ..OdpIndex::default()
        };
        let mut identifiers = connection
            .prepare("SELECT rowid, kind, value, user_id FROM identifiers ORDER BY rowid")?;
        let mut rows = identifiers.query([])?;
        while let Some(row) = rows.next()? {
            let (kind, value) = (row.get_ref(1)?.as_str()?, row.get_ref(2)?.as_str()?);
            index.add_identifier(row.get(0)?, kind, value, row.get(3)?);
        }
        let mut events = connection
            .prepare("SELECT id, received_ms, user_id, action, type FROM odp_events ORDER BY id")?;
        let mut rows = events.query([])?;
        while let Some(row) = rows.next()? {
            let (id, received_ms, user) = (row.get(0)?, row.get(1)?, row.get(2)?);
            let (action, event_type) = (row.get_ref(3)?.as_str()?, row.get_ref(4)?.as_str()?);
            index.add_event(id, user, received_ms, action, event_type);
        }
        Ok(index)
    }

    /// Forgets events and identifiers (the user counter stays).
    pub(super) fn clear_received(&mut self) {
        *self = OdpIndex {
            last_user: self.last_user,
            ..OdpIndex::default()
        };
    }

    pub(super) fn user_of(&self, kind: &str, value: &str) -> Option<i64> {
        let kind = self.names.id(kind)?;
        self.identities.get(&kind)?.get(value).copied()
    }

    /// The number of a kind, action or type seen in a stored identifier or event.
    pub(super) fn name_id(&self, name: &str) -> Option<NameId> {
        self.names.id(name)
    }

    /// The user's `(kind, value)` identifiers sorted by kind, then value.
    pub(super) fn sorted_identifiers<'s>(&'s self, user: &'s UserEntry) -> Vec<(&'s str, &'s str)> {
        let mut identifiers: Vec<(&str, &str)> = user
            .identifiers
            .iter()
            .map(|identifier| (self.names.name(identifier.kind), &*identifier.value))
            .collect();
        identifiers.sort_unstable();
        identifiers
    }

    pub(super) fn user(&self, user: i64) -> Option<&UserEntry> {
        self.users.get(&user)
    }

    pub(super) fn users(&self) -> impl Iterator<Item = (i64, &UserEntry)> {
        self.users.iter().map(|(user, entry)| (*user, entry))
    }

    /// Whether any identifier, of any kind, has this value.
    pub(super) fn has_value(&self, value: &str) -> bool {
        self.identities
            .values()
            .any(|values| values.contains_key(value))
    }

    /// A new user number.
    pub(super) fn new_user(&mut self) -> i64 {
        self.last_user = self.last_user.saturating_add(1);
        self.last_user
    }

    /// Records identifier `(kind, value)`, stored in row `row`, as the user's.
    pub(super) fn add_identifier(&mut self, row: i64, kind: &str, value: &str, user: i64) {
        let kind = self.names.intern(kind);
        let value: Arc<str> = Arc::from(value);
        let values = self.identities.entry(kind).or_default();
        values.insert(Arc::clone(&value), user);
        let identifier = IdentifierEntry { row, kind, value };
        let entry = self.users.entry(user).or_default();
        entry.identifiers.push(identifier);
    }

    /// Records a stored event; its id is larger than every stored one.
    pub(super) fn add_event(
        &mut self,
        id: i64,
        user: Option<i64>,
        received_ms: i64,
        action: &str,
        event_type: &str,
    ) {
        self.events.push_back((id, user));
        let Some(user) = user else {
            return;
        };
        // Only a user with identifiers exists (an event row naming another is ignored).
        if !self.users.contains_key(&user) {
            return;
        }
        let entry = EventEntry {
            id,
            received_ms,
            action: self.names.intern(action),
            event_type: self.names.intern(event_type),
        };
        if let Some(user) = self.users.get_mut(&user) {
            user.events.push_back(entry);
        }
    }

    /// Moves everything of user `merged` to user `target`; returns the moved identifiers
    /// and event ids, whose stored rows must be relabelled too.
    pub(super) fn merge(&mut self, merged: i64, target: i64) -> UserEntry {
        let moved = self.users.remove(&merged).unwrap_or_default();
        for identifier in &moved.identifiers {
            if let Some(user) = self
                .identities
                .get_mut(&identifier.kind)
                .and_then(|values| values.get_mut(&identifier.value))
            {
                *user = target;
            }
        }
        for event in &moved.events {
            if let Ok(at) = self.events.binary_search_by_key(&event.id, |(id, _)| *id) {
                self.events[at].1 = Some(target);
            }
        }
        let entry = self.users.entry(target).or_default();
        entry.identifiers.extend(moved.identifiers.iter().cloned());
        merge_by_id(&mut entry.events, &moved.events);
        moved
    }

    /// The id at or below which events must be deleted to keep the most recent `keep`.
    pub(super) fn trim_cutoff(&self, keep: i64) -> Option<i64> {
        let (oldest, _) = self.events.front()?;
        let (newest, _) = self.events.back()?;
        let cutoff = newest.saturating_sub(keep);
        (*oldest <= cutoff).then_some(cutoff)
    }

    /// Forgets events with ids up to `cutoff`.
    pub(super) fn trim(&mut self, cutoff: i64) {
        while let Some(&(id, user)) = self.events.front() {
            if id > cutoff {
                break;
            }
            self.events.pop_front();
            let Some(entry) = user.and_then(|user| self.users.get_mut(&user)) else {
                continue;
            };
            if entry.events.front().is_some_and(|event| event.id == id) {
                entry.events.pop_front();
            } else {
                entry.events.retain(|event| event.id != id);
            }
        }
    }
}

/// Adds `more` to `events`, both sorted by id, keeping them sorted. A few events are inserted
/// where they belong, so merging a small user into a large one costs little.
fn merge_by_id(events: &mut VecDeque<EventEntry>, more: &VecDeque<EventEntry>) {
    if more.len().saturating_mul(8) < events.len() {
        for event in more {
            let at = events.partition_point(|kept| kept.id < event.id);
            events.insert(at, event.clone());
        }
        return;
    }
    let mut merged = VecDeque::with_capacity(events.len() + more.len());
    let mut more = more.iter().peekable();
    for kept in events.drain(..) {
        while let Some(event) = more.next_if(|event| event.id < kept.id) {
            merged.push_back(event.clone());
        }
        merged.push_back(kept);
    }
    merged.extend(more.cloned());
    *events = merged;
}

#[cfg(test)]
mod tests {
    use super::*;

    fn index_with_two_users() -> OdpIndex {
        let mut index = OdpIndex::default();
        let (first, second) = (index.new_user(), index.new_user());
        index.add_identifier(1, "vuid", "v", first);
        index.add_identifier(2, "fs_user_id", "u", second);
        index.add_event(1, Some(first), 10, "a", "t");
        index.add_event(2, Some(second), 20, "b", "t");
        index.add_event(3, None, 30, "c", "t");
        index.add_event(4, Some(first), 40, "a", "t");
        index
    }

    #[test]
    fn merging_moves_identifiers_and_events() {
        let mut index = index_with_two_users();
        let moved = index.merge(2, 1);
        assert_eq!(moved.identifiers.len(), 1);
        assert_eq!(index.user_of("fs_user_id", "u"), Some(1));
        assert!(index.user(2).is_none());
        let user = index.user(1).expect("merged user");
        let ids: Vec<i64> = user.events.iter().map(|e| e.id).collect();
        assert_eq!(ids, [1, 2, 4]);
        assert_eq!(user.sorted_values(), ["u", "v"]);
        assert_eq!(index.events[1], (2, Some(1)));
    }

    #[test]
    fn merged_events_stay_sorted_by_id() {
        let entries = |ids: &[i64]| -> VecDeque<EventEntry> {
            ids.iter()
                .map(|&id| EventEntry {
                    id,
                    received_ms: id,
                    action: 0,
                    event_type: 1,
                })
                .collect()
        };
        let ids = |events: &VecDeque<EventEntry>| -> Vec<i64> {
            events.iter().map(|event| event.id).collect()
        };
        let odd: Vec<i64> = (1..40).step_by(2).collect();
        let mut large = entries(&odd);
        merge_by_id(&mut large, &entries(&[0, 4, 50]));
        let mut expected = odd.clone();
        expected.extend([0, 4, 50]);
        expected.sort_unstable();
        assert_eq!(ids(&large), expected);
        let mut small = entries(&[3, 9]);
        merge_by_id(&mut small, &entries(&[1, 4, 5, 10, 12]));
        assert_eq!(ids(&small), [1, 3, 4, 5, 9, 10, 12]);
    }

    #[test]
    fn trimming_forgets_the_oldest_events() {
        let mut index = index_with_two_users();
        assert_eq!(index.trim_cutoff(3), Some(1));
        assert_eq!(index.trim_cutoff(4), None);
        index.trim(2);
        let ids = |user| -> Vec<i64> {
            index
                .user(user)
                .unwrap()
                .events
                .iter()
                .map(|e| e.id)
                .collect()
        };
        assert_eq!(ids(1), [4]);
        assert!(ids(2).is_empty());
        assert_eq!(index.events.len(), 2);
        assert!(index.has_value("u") && !index.has_value("x"));
    }
}
