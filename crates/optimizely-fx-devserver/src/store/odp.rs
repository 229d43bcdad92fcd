//! Received ODP events, identity stitching and segment qualification.
//!
//! Every non-empty identifier `(kind, value)` of an event belongs to exactly one user. An
//! event whose identifiers belong to several users merges them into the one with the lowest
//! number (a union-find whose sets are relabelled on union), so every event of a stitched
//! user carries the same `user_id`.

use std::collections::BTreeSet;

use rusqlite::{Connection, OptionalExtension, Transaction, params};
use serde_json::{Map, Value};

use super::segments::{definitions, static_segments_of};
use super::{
    Database, ODP_EVENTS_RECEIVED, StoreError, add_to_counter, keep_most_recent, non_negative,
};
use crate::records::{UserIdentifier, UserSummary};
use crate::segments::{EventRule, SegmentDefinition};
use crate::time;

/// Most recent ODP events kept (older ones are deleted and no longer count for rules).
pub(crate) const MAX_STORED_ODP_EVENTS: i64 = 100_000;

const NEXT_USER_ID: &str = "next_user_id";

/// One stored event with what the server knows about it.
pub(crate) struct StoredOdpEvent {
    pub(crate) received_ms: i64,
    pub(crate) user: Option<u64>,
    pub(crate) event: Value,
}

/// The identifier values of a looked-up user and its stitched user number, if it has one.
struct Person {
    user: Option<i64>,
    values: Vec<String>,
}

impl Database {
    /// Stores validated events (in order) and returns the new count of received events.
    pub(crate) fn add_odp_events(
        &self,
        events: &[Value],
        received_ms: i64,
    ) -> Result<u64, StoreError> {
        self.transaction(|transaction| {
            for event in events {
                insert_event(transaction, event, received_ms)?;
            }
            keep_most_recent(transaction, "odp_events", MAX_STORED_ODP_EVENTS)?;
            Ok(add_to_counter(
                transaction,
                ODP_EVENTS_RECEIVED,
                events.len(),
            )?)
        })
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
        self.with(|connection| {
            let user: Option<i64> = connection
                .query_row(
                    "SELECT user_id FROM identifiers WHERE kind = ?1 AND value = ?2",
                    params![kind, value],
                    |row| row.get(0),
                )
                .optional()?;
            let values = match user {
                Some(user) => identifier_values(connection, user)?,
                None => vec![value.to_owned()],
            };
            let person = Person { user, values };
            let definitions = definitions(connection)?;
            let (known, segments) = qualify(connection, &person, &definitions, now_ms)?;
            Ok(known.then_some(segments))
        })
    }

    /// Up to `limit` users, most recently active first, then users only known from static
    /// memberships.
    pub(crate) fn users(&self, limit: usize, now_ms: i64) -> Result<Vec<UserSummary>, StoreError> {
        self.with(|connection| {
            let definitions = definitions(connection)?;
            let mut users = stitched_users(connection, limit, &definitions, now_ms)?;
            let room = limit.saturating_sub(users.len());
            users.extend(bare_users(connection, room, &definitions, now_ms)?);
            Ok(users)
        })
    }
}

fn insert_event(
    transaction: &Transaction<'_>,
    event: &Value,
    received_ms: i64,
) -> Result<(), StoreError> {
    let identifiers = identifiers_of(event);
    let user = stitch(transaction, &identifiers)?;
    let text = |name: &str| event.get(name).and_then(Value::as_str).unwrap_or_default();
    let data = event
        .get("data")
        .cloned()
        .unwrap_or_else(|| Value::Object(Map::new()));
    transaction.execute(
        "INSERT INTO odp_events (received_ms, user_id, type, action, data, event)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
        params![
            received_ms,
            user,
            text("type"),
            text("action"),
            data.to_string(),
            event.to_string()
        ],
    )?;
    Ok(())
}

/// The event's identifiers with non-empty string values (empty values identify nobody).
fn identifiers_of(event: &Value) -> Vec<(String, String)> {
    event
        .get("identifiers")
        .and_then(Value::as_object)
        .into_iter()
        .flatten()
        .filter_map(|(kind, value)| {
            let value = value.as_str().filter(|value| !value.is_empty())?;
            Some((kind.clone(), value.to_owned()))
        })
        .collect()
}

/// The user the identifiers belong to, merging users they link; `None` without identifiers.
fn stitch(
    transaction: &Transaction<'_>,
    identifiers: &[(String, String)],
) -> Result<Option<i64>, StoreError> {
    if identifiers.is_empty() {
        return Ok(None);
    }
    let mut users = BTreeSet::new();
    for (kind, value) in identifiers {
        let user: Option<i64> = transaction
            .query_row(
                "SELECT user_id FROM identifiers WHERE kind = ?1 AND value = ?2",
                params![kind, value],
                |row| row.get(0),
            )
            .optional()?;
        users.extend(user);
    }
    let target = match users.first() {
        Some(user) => *user,
        None => i64::try_from(add_to_counter(transaction, NEXT_USER_ID, 1)?).unwrap_or(i64::MAX),
    };
    for merged in users.iter().skip(1) {
        transaction.execute(
            "UPDATE identifiers SET user_id = ?1 WHERE user_id = ?2",
            params![target, merged],
        )?;
        transaction.execute(
            "UPDATE odp_events SET user_id = ?1 WHERE user_id = ?2",
            params![target, merged],
        )?;
    }
    for (kind, value) in identifiers {
        transaction.execute(
            "INSERT OR IGNORE INTO identifiers (kind, value, user_id) VALUES (?1, ?2, ?3)",
            params![kind, value, target],
        )?;
    }
    Ok(Some(target))
}

fn identifier_values(connection: &Connection, user: i64) -> rusqlite::Result<Vec<String>> {
    let mut statement = connection.prepare_cached(
        "SELECT DISTINCT value FROM identifiers WHERE user_id = ?1 ORDER BY value",
    )?;
    statement
        .query_map(params![user], |row| row.get(0))?
        .collect()
}

fn identifiers(connection: &Connection, user: i64) -> rusqlite::Result<Vec<UserIdentifier>> {
    let mut statement = connection.prepare_cached(
        "SELECT kind, value FROM identifiers WHERE user_id = ?1 ORDER BY kind, value",
    )?;
    statement
        .query_map(params![user], |row| {
            Ok(UserIdentifier {
                kind: Some(row.get(0)?),
                value: row.get(1)?,
            })
        })?
        .collect()
}

/// Whether the person is known, and the segments it qualifies for: its static segments (in
/// the order they were set), then defined segments it is a member of or whose rule holds.
fn qualify(
    connection: &Connection,
    person: &Person,
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
        if let Some(assigned) = static_segments_of(connection, value)? {
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
            (Some(user), Some(rule)) => rule_holds(connection, user, rule, now_ms)?,
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
    connection: &Connection,
    user: i64,
    rule: &EventRule,
    now_ms: i64,
) -> Result<bool, StoreError> {
    let since = rule.window().map_or(i64::MIN, |window| {
        let millis = i64::try_from(window.duration().as_millis()).unwrap_or(i64::MAX);
        now_ms.saturating_sub(millis)
    });
    let needed = u64::from(rule.min_count().get());
    let filter = "FROM odp_events WHERE user_id = ?1 AND action = ?2
                  AND (?3 IS NULL OR type = ?3) AND received_ms >= ?4";
    let arguments = params![user, rule.action(), rule.event_type(), since];
    if rule.data().is_empty() {
        let count: i64 = connection
            .prepare_cached(&format!("SELECT COUNT(*) {filter}"))?
            .query_row(arguments, |row| row.get(0))?;
        return Ok(non_negative(count) >= needed);
    }
    let mut statement = connection.prepare_cached(&format!("SELECT data {filter}"))?;
    let mut rows = statement.query(arguments)?;
    let mut matching = 0;
    while let Some(row) = rows.next()? {
        let data: String = row.get(0)?;
        if let Ok(Value::Object(data)) = serde_json::from_str(&data)
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
    connection: &Connection,
    limit: usize,
    definitions: &[SegmentDefinition],
    now_ms: i64,
) -> Result<Vec<UserSummary>, StoreError> {
    let mut statement = connection.prepare(
        "SELECT u.user_id, COUNT(e.id), MAX(e.received_ms)
         FROM (SELECT DISTINCT user_id FROM identifiers) u
         LEFT JOIN odp_events e ON e.user_id = u.user_id
         GROUP BY u.user_id
         ORDER BY MAX(e.id) IS NULL, MAX(e.id) DESC, u.user_id DESC
         LIMIT ?1",
    )?;
    let rows: Vec<(i64, i64, Option<i64>)> = statement
        .query_map(params![limit_param(limit)], |row| {
            Ok((row.get(0)?, row.get(1)?, row.get(2)?))
        })?
        .collect::<Result<_, _>>()?;
    rows.into_iter()
        .map(|(user, events, last_ms)| {
            let identifiers = identifiers(connection, user)?;
            let values = identifiers.iter().map(|i| i.value.clone()).collect();
            let person = Person {
                user: Some(user),
                values,
            };
            let (_, segments) = qualify(connection, &person, definitions, now_ms)?;
            Ok(UserSummary {
                id: Some(non_negative(user)),
                identifiers,
                segments,
                events: non_negative(events),
                last_event_at: last_ms.map(time::from_unix_millis),
            })
        })
        .collect()
}

/// Ids only known from `set_segments` or segment members (not seen in any event).
fn bare_users(
    connection: &Connection,
    limit: usize,
    definitions: &[SegmentDefinition],
    now_ms: i64,
) -> Result<Vec<UserSummary>, StoreError> {
    let mut candidates: Vec<String> = connection
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
        if !seen.insert(value.clone()) || is_event_identifier(connection, &value)? {
            continue;
        }
        let person = Person {
            user: None,
            values: vec![value.clone()],
        };
        let (_, segments) = qualify(connection, &person, definitions, now_ms)?;
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

fn is_event_identifier(connection: &Connection, value: &str) -> rusqlite::Result<bool> {
    connection
        .prepare_cached("SELECT 1 FROM identifiers WHERE value = ?1 LIMIT 1")?
        .query_row(params![value], |_| Ok(()))
        .optional()
        .map(|found| found.is_some())
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
