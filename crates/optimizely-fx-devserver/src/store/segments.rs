//! Static segment memberships and segment definitions.

use rusqlite::{Connection, OptionalExtension, params};

use super::{Database, StoreError};
use crate::segments::SegmentDefinition;

impl Database {
    /// Sets the static segments of an id (replacing earlier ones).
    pub(crate) fn set_static_segments(
        &self,
        user_id: &str,
        segments: &[String],
    ) -> Result<(), StoreError> {
        let segments = serde_json::to_string(segments).unwrap_or_else(|_| "[]".to_owned());
        self.with(|connection| {
            connection.execute(
                "INSERT INTO static_segments (user_id, segments) VALUES (?1, ?2)
                 ON CONFLICT (user_id) DO UPDATE SET segments = excluded.segments",
                params![user_id, segments],
            )?;
            Ok(())
        })
    }

    /// Forgets the static segments of an id; `false` if it had none.
    pub(crate) fn remove_static_segments(&self, user_id: &str) -> Result<bool, StoreError> {
        self.with(|connection| {
            let removed = connection.execute(
                "DELETE FROM static_segments WHERE user_id = ?1",
                params![user_id],
            )?;
            Ok(removed > 0)
        })
    }

    /// Adds or replaces a definition; `true` when one of that name was replaced.
    pub(crate) fn put_definition(
        &self,
        definition: &SegmentDefinition,
        now_ms: i64,
    ) -> Result<bool, StoreError> {
        let json = definition.to_json().to_string();
        self.transaction(|transaction| {
            let existed = definition_of(transaction, definition.name())?.is_some();
            transaction.execute(
                "INSERT INTO segment_definitions (name, definition, updated_ms) VALUES (?1, ?2, ?3)
                 ON CONFLICT (name) DO UPDATE SET
                   definition = excluded.definition, updated_ms = excluded.updated_ms",
                params![definition.name(), json, now_ms],
            )?;
            Ok(existed)
        })
    }

    /// Removes a definition; `false` if there was none.
    pub(crate) fn remove_definition(&self, name: &str) -> Result<bool, StoreError> {
        self.with(|connection| {
            let removed = connection.execute(
                "DELETE FROM segment_definitions WHERE name = ?1",
                params![name],
            )?;
            Ok(removed > 0)
        })
    }

    /// Every definition, by name.
    pub(crate) fn definitions(&self) -> Result<Vec<SegmentDefinition>, StoreError> {
        self.with(|connection| definitions(connection))
    }

    /// The definition called `name`, if any.
    pub(crate) fn definition(&self, name: &str) -> Result<Option<SegmentDefinition>, StoreError> {
        self.with(|connection| definition_of(connection, name))
    }
}

pub(super) fn definitions(connection: &Connection) -> Result<Vec<SegmentDefinition>, StoreError> {
    let mut statement =
        connection.prepare_cached("SELECT definition FROM segment_definitions ORDER BY name")?;
    let texts: Vec<String> = statement
        .query_map([], |row| row.get(0))?
        .collect::<Result<_, _>>()?;
    Ok(texts
        .iter()
        .filter_map(|text| parse_definition(text))
        .collect())
}

fn definition_of(
    connection: &Connection,
    name: &str,
) -> Result<Option<SegmentDefinition>, StoreError> {
    let text: Option<String> = connection
        .query_row(
            "SELECT definition FROM segment_definitions WHERE name = ?1",
            params![name],
            |row| row.get(0),
        )
        .optional()?;
    Ok(text.as_deref().and_then(parse_definition))
}

/// The static segments of an id, `None` if it has none set.
pub(super) fn static_segments_of(
    connection: &Connection,
    user_id: &str,
) -> Result<Option<Vec<String>>, StoreError> {
    let text: Option<String> = connection
        .prepare_cached("SELECT segments FROM static_segments WHERE user_id = ?1")?
        .query_row(params![user_id], |row| row.get(0))
        .optional()?;
    Ok(text.map(|text| serde_json::from_str(&text).unwrap_or_default()))
}

fn parse_definition(text: &str) -> Option<SegmentDefinition> {
    let parsed = serde_json::from_str(text)
        .map_err(|error| error.to_string())
        .and_then(|value| SegmentDefinition::from_json(value).map_err(|error| error.to_string()));
    match parsed {
        Ok(definition) => Some(definition),
        Err(error) => {
            log::warn!("dev server skips a stored segment definition it cannot read: {error}");
            None
        }
    }
}
