//! Received ODP events, identity stitching and segment qualification.
//!
//! Every non-empty identifier `(kind, value)` of an event belongs to exactly one user. An
//! event whose identifiers belong to several users merges them into the one with the lowest
//! number (a union-find whose sets are relabelled on union), so every event of a stitched
//! user carries the same `user_id`.
//!
//! Which identifier belongs to which user, and each user's events, are looked up in the
//! in-memory mirror ([`OdpIndex`]); the database keeps the rows, written in the same
//! transaction as the mirror changes.

use std::borrow::Cow;
use std::collections::BTreeSet;

use rusqlite::{CachedStatement, Connection, OptionalExtension, params};
use serde_json::{Map, Value};

use super::odp_index::{NEXT_USER_ID, OdpIndex, UserEntry};
use super::segments::{definitions, static_segments_of};
use super::{
    Database, ODP_EVENTS_RECEIVED, Store, StoreError, in_transaction, non_negative, set_counter,
};
use crate::odp_wire::ReceivedEvent;
use crate::records::{UserIdentifier, UserSummary};
use crate::segments::{EventRule, SegmentDefinition};
use crate::time;

/// Most recent ODP events kept (older ones are deleted and no longer count for rules).
pub(crate) const MAX_STORED_ODP_EVENTS: i64 = 100_000;

/// One stored event with what the server knows about it.
pub(crate) struct StoredOdpEvent {
    pub(crate) received_ms: i64,
    pub(crate) user: Option<u64>,
    pub(crate) event: Value,
}

/// The `data` of a stored event (empty when it has none).
#[derive(serde::Deserialize)]
struct EventData {
    #[serde(default)]
    data: Map<String, Value>,
}

/// The identifier values of a looked-up user and its stitched user, if it has one.
struct Person<'a> {
    user: Option<&'a UserEntry>,
    values: Vec<String>,
}

impl Database {
    /// Stores validated events (in order) and returns the new count of received events.
    pub(crate) fn add_odp_events(
        &self,
        events: &[ReceivedEvent<'_>],
        received_ms: i64,
    ) -> Result<u64, StoreError> {
        self.with_store(|store| store_odp_events(store, events, received_ms))
    }

    /// [`add_odp_events`](Self::add_odp_events) if the database is free right now; `None`
    /// (nothing stored) if another operation holds it.
    pub(crate) fn try_add_odp_events(
        &self,
        events: &[ReceivedEvent<'_>],
        received_ms: i64,
    ) -> Option<Result<u64, StoreError>> {
        self.try_with_store(|store| store_odp_events(store, events, received_ms))
    }

    /// Every kept event, oldest first, as received.
    pub(crate) fn odp_events(&self) -> Result<Vec<Value>, StoreError> {
        self.with(|connection| {
            let mut statement = connection.prepare("SELECT event FROM odp_events ORDER BY id")?;
            let events = statement
                .query_map([], |row| row.get::<_, String>(0))?
                .filter_map(|text| text.map(|text| parse_stored(&text)).transpose())
                .collect::<Result<_, _>>()?;
            Ok(events)
        })
    }

    /// The `limit` most recent events, newest first.
    pub(crate) fn recent_odp_events(
        &self,
        limit: usize,
    ) -> Result<Vec<StoredOdpEvent>, StoreError> {
        self.with(|connection| {
            let mut statement = connection.prepare(
                "SELECT received_ms, user_id, event FROM odp_events ORDER BY id DESC LIMIT ?1",
            )?;
            let rows: Vec<(i64, Option<i64>, String)> = statement
                .query_map(params![limit_param(limit)], |row| {
                    Ok((row.get(0)?, row.get(1)?, row.get(2)?))
                })?
                .collect::<Result<_, _>>()?;
            Ok(rows
                .into_iter()
                .filter_map(|(received_ms, user, text)| {
                    Some(StoredOdpEvent {
                        received_ms,
                        user: user.map(non_negative),
                        event: parse_stored(&text)?,
                    })
                })
                .collect())
        })
    }

    /// The segments the user with identifier `kind` = `value` qualifies for at `now_ms`, or
    /// `None` for a user the server does not know.
    pub(crate) fn qualified_segments(
        &self,
        kind: &str,
        value: &str,
        now_ms: i64,
    ) -> Result<Option<Vec<String>>, StoreError> {
        self.with_store(|store| {
            let user = store
                .odp
                .user_of(kind, value)
                .and_then(|user| store.odp.user(user));
            let values = match user {
                Some(user) => user.sorted_values(),
                None => vec![value.to_owned()],
            };
            let person = Person { user, values };
            let definitions = definitions(&store.connection)?;
            let (known, segments) = qualify(store, &person, &definitions, now_ms)?;
            Ok(known.then_some(segments))
        })
    }

    /// Up to `limit` users, most recently active first, then users only known from static
    /// memberships.
    pub(crate) fn users(&self, limit: usize, now_ms: i64) -> Result<Vec<UserSummary>, StoreError> {
        self.with_store(|store| {
            let definitions = definitions(&store.connection)?;
            let mut users = stitched_users(store, limit, &definitions, now_ms)?;
            let room = limit.saturating_sub(users.len());
            users.extend(bare_users(store, room, &definitions, now_ms)?);
            Ok(users)
        })
    }
}

/// Stores validated events (in order) in one transaction and returns the new count of
/// received events. The mirror is read again from the database if the transaction fails.
fn store_odp_events(
    store: &mut Store,
    events: &[ReceivedEvent<'_>],
    received_ms: i64,
) -> Result<u64, StoreError> {
    let Store { connection, odp } = store;
    let stored = in_transaction(connection, |connection| {
        let mut writer = EventWriter::new(connection, odp)?;
        for event in events {
            writer.insert(event, received_ms)?;
        }
        writer.finish(events.len())
    });
    if stored.is_err() {
        match OdpIndex::load(connection) {
            Ok(reloaded) => *odp = reloaded,
            Err(error) => log::error!("dev server cannot read its ODP events again: {error}"),
        }
    }
    stored
}

/// Writes the events of one request inside its transaction and updates the mirror as it
/// goes. Statements are prepared once per connection.
struct EventWriter<'t> {
    connection: &'t Connection,
    odp: &'t mut OdpIndex,
    add_identifier: CachedStatement<'t>,
    add_event: CachedStatement<'t>,
    first_user: i64,
}

impl<'t> EventWriter<'t> {
    fn new(connection: &'t Connection, odp: &'t mut OdpIndex) -> rusqlite::Result<Self> {
        Ok(EventWriter {
            connection,
            add_identifier: connection.prepare_cached(
                "INSERT INTO identifiers (kind, value, user_id) VALUES (?1, ?2, ?3)",
            )?,
            add_event: connection.prepare_cached(
                "INSERT INTO odp_events (received_ms, user_id, type, action, event)
                 VALUES (?1, ?2, ?3, ?4, ?5)",
            )?,
            first_user: odp.last_user,
            odp,
        })
    }

    fn insert(&mut self, event: &ReceivedEvent<'_>, received_ms: i64) -> Result<(), StoreError> {
        let user = self.stitch(&event.identifiers)?;
        self.add_event.execute(params![
            received_ms,
            user,
            event.event_type,
            event.action,
            event.event_json
        ])?;
        let id = self.connection.last_insert_rowid();
        self.odp
            .add_event(id, user, received_ms, &event.action, &event.event_type);
        Ok(())
    }

    /// The user the identifiers belong to, merging users they link; `None` without
    /// identifiers. Identifiers with empty values identify nobody.
    fn stitch(
        &mut self,
        identifiers: &[(Cow<'_, str>, Cow<'_, str>)],
    ) -> Result<Option<i64>, StoreError> {
        let identifying: Vec<(&str, &str)> = identifiers
            .iter()
            .filter(|(_, value)| !value.is_empty())
            .map(|(kind, value)| (kind.as_ref(), value.as_ref()))
            .collect();
        if identifying.is_empty() {
            return Ok(None);
        }
        let mut users: Vec<i64> = identifying
            .iter()
            .filter_map(|(kind, value)| self.odp.user_of(kind, value))
            .collect();
        users.sort_unstable();
        users.dedup();
        let target = match users.first() {
            Some(user) => *user,
            None => self.odp.new_user(),
        };
        for merged in users.iter().skip(1) {
            self.merge_user(*merged, target)?;
        }
        for (kind, value) in identifying {
            if self.odp.user_of(kind, value).is_none() {
                self.add_identifier.execute(params![kind, value, target])?;
                let row = self.connection.last_insert_rowid();
                self.odp.add_identifier(row, kind, value, target);
            }
        }
        Ok(Some(target))
    }

    /// Moves the identifiers and events of user `merged` to user `target`.
    fn merge_user(&mut self, merged: i64, target: i64) -> rusqlite::Result<()> {
        let moved = self.odp.merge(merged, target);
        let mut relabel_identifier = self
            .connection
            .prepare_cached("UPDATE identifiers SET user_id = ?1 WHERE rowid = ?2")?;
        for identifier in &moved.identifiers {
            relabel_identifier.execute(params![target, identifier.row])?;
        }
        let mut relabel_event = self
            .connection
            .prepare_cached("UPDATE odp_events SET user_id = ?1 WHERE id = ?2")?;
        for event in &moved.events {
            relabel_event.execute(params![target, event.id])?;
        }
        Ok(())
    }

    /// Writes back the counters, deletes events beyond the most recent
    /// [`MAX_STORED_ODP_EVENTS`] and returns the new count of received events.
    fn finish(self, stored: usize) -> Result<u64, StoreError> {
        if self.odp.last_user != self.first_user {
            set_counter(self.connection, NEXT_USER_ID, self.odp.last_user)?;
        }
        if let Some(cutoff) = self.odp.trim_cutoff(MAX_STORED_ODP_EVENTS) {
            self.connection
                .prepare_cached("DELETE FROM odp_events WHERE id <= ?1")?
                .execute(params![cutoff])?;
            self.odp.trim(cutoff);
        }
        let received = self
            .odp
            .received
            .saturating_add(u64::try_from(stored).unwrap_or(u64::MAX));
        set_counter(
            self.connection,
            ODP_EVENTS_RECEIVED,
            i64::try_from(received).unwrap_or(i64::MAX),
        )?;
        self.odp.received = received;
        Ok(received)
    }
}

/// Whether the person is known, and the segments it qualifies for: its static segments (in
/// the order they were set), then defined segments it is a member of or whose rule holds.
fn qualify(
    store: &Store,
    person: &Person<'_>,
    definitions: &[SegmentDefinition],
    now_ms: i64,
) -> Result<(bool, Vec<String>), StoreError> {
    let mut known = person.user.is_some();
    let mut segments: Vec<String> = Vec::new();
    let add = |segment: &str, segments: &mut Vec<String>| {
        if !segments.iter().any(|s| s == segment) {
            segments.push(segment.to_owned());
        }
    };
    for value in &person.values {
        if let Some(assigned) = static_segments_of(&store.connection, value)? {
            known = true;
            assigned
                .iter()
                .for_each(|segment| add(segment, &mut segments));
        }
    }
    for definition in definitions {
        let member = definition
            .members()
            .iter()
            .any(|member| person.values.contains(member));
        known |= member;
        let by_rule = match (person.user, definition.rule()) {
            (Some(user), Some(rule)) => rule_holds(store, user, rule, now_ms)?,
            _ => false,
        };
        if member || by_rule {
            add(definition.name(), &mut segments);
        }
    }
    Ok((known, segments))
}

/// Whether enough of the user's events match the rule at `now_ms`.
fn rule_holds(
    store: &Store,
    user: &UserEntry,
    rule: &EventRule,
    now_ms: i64,
) -> Result<bool, StoreError> {
    // Names never seen in an event match no event.
    let Some(action) = store.odp.name_id(rule.action()) else {
        return Ok(false);
    };
    let event_type = match rule.event_type() {
        Some(event_type) => match store.odp.name_id(event_type) {
            Some(id) => Some(id),
            None => return Ok(false),
        },
        None => None,
    };
    let since = rule.window().map_or(i64::MIN, |window| {
        let millis = i64::try_from(window.duration().as_millis()).unwrap_or(i64::MAX);
        now_ms.saturating_sub(millis)
    });
    let needed = usize::try_from(rule.min_count().get()).unwrap_or(usize::MAX);
    let candidates = user.events.iter().filter(|event| {
        event.action == action
            && event_type.is_none_or(|event_type| event.event_type == event_type)
            && event.received_ms >= since
    });
    if rule.data().is_empty() {
        return Ok(candidates.take(needed).count() >= needed);
    }
    let mut event_of = store
        .connection
        .prepare_cached("SELECT event FROM odp_events WHERE id = ?1")?;
    let mut matching = 0;
    for event in candidates {
        let text: Option<String> = event_of
            .query_row(params![event.id], |row| row.get(0))
            .optional()?;
        let data = text.and_then(|text| serde_json::from_str::<EventData>(&text).ok());
        if let Some(EventData { data }) = data
            && rule.data_matches(&data)
        {
            matching += 1;
            if matching >= needed {
                return Ok(true);
            }
        }
    }
    Ok(false)
}

fn stitched_users(
    store: &Store,
    limit: usize,
    definitions: &[SegmentDefinition],
    now_ms: i64,
) -> Result<Vec<UserSummary>, StoreError> {
    let mut users: Vec<(i64, &UserEntry)> = store.odp.users().collect();
    // Most recent event first; users without events last; then by number, highest first.
    users.sort_unstable_by_key(|(user, entry)| {
        let last = entry.last_event_id();
        (
            last.is_none(),
            std::cmp::Reverse(last),
            std::cmp::Reverse(*user),
        )
    });
    users
        .into_iter()
        .take(limit)
        .map(|(user, entry)| {
            let identifiers: Vec<UserIdentifier> = store
                .odp
                .sorted_identifiers(entry)
                .into_iter()
                .map(|(kind, value)| UserIdentifier {
                    kind: Some(kind.to_owned()),
                    value: value.to_owned(),
                })
                .collect();
            let values = identifiers.iter().map(|i| i.value.clone()).collect();
            let person = Person {
                user: Some(entry),
                values,
            };
            let (_, segments) = qualify(store, &person, definitions, now_ms)?;
            Ok(UserSummary {
                id: Some(non_negative(user)),
                identifiers,
                segments,
                events: u64::try_from(entry.events.len()).unwrap_or(u64::MAX),
                last_event_at: entry.last_received_ms().map(time::from_unix_millis),
            })
        })
        .collect()
}

/// Ids only known from `set_segments` or segment members (not seen in any event).
fn bare_users(
    store: &Store,
    limit: usize,
    definitions: &[SegmentDefinition],
    now_ms: i64,
) -> Result<Vec<UserSummary>, StoreError> {
    let mut candidates: Vec<String> = store
        .connection
        .prepare("SELECT user_id FROM static_segments ORDER BY rowid")?
        .query_map([], |row| row.get(0))?
        .collect::<Result<_, _>>()?;
    for definition in definitions {
        candidates.extend(definition.members().iter().cloned());
    }
    let mut seen = BTreeSet::new();
    let mut users = Vec::new();
    for value in candidates {
        if users.len() >= limit {
            break;
        }
        if !seen.insert(value.clone()) || store.odp.has_value(&value) {
            continue;
        }
        let person = Person {
            user: None,
            values: vec![value.clone()],
        };
        let (_, segments) = qualify(store, &person, definitions, now_ms)?;
        users.push(UserSummary {
            id: None,
            identifiers: vec![UserIdentifier { kind: None, value }],
            segments,
            events: 0,
            last_event_at: None,
        });
    }
    Ok(users)
}

/// A stored event as JSON; a row that does not parse (never written so) is skipped.
fn parse_stored(text: &str) -> Option<Value> {
    match serde_json::from_str(text) {
        Ok(value) => Some(value),
        Err(error) => {
            log::warn!("dev server skips a stored event that is not JSON: {error}");
            None
        }
    }
}

pub(super) fn limit_param(limit: usize) -> i64 {
    i64::try_from(limit).unwrap_or(i64::MAX)
}
