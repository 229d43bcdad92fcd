//! Storage in SQLite: datafile revisions, received ODP events (with stitched identities),
//! impression/conversion batches, static segment memberships and segment definitions.
//!
//! One connection behind a mutex. A file database is opened in exclusive locking mode and
//! written to at start, so a second server on the same file fails at start instead of both
//! writing to it.

mod batches;
mod datafiles;
mod odp;
mod schema;
mod segments;

use std::path::Path;
use std::sync::Mutex;
use std::time::Duration;

use rusqlite::{Connection, ErrorCode, OptionalExtension, Transaction, params};

use crate::error::{DatabaseProblem, DevServerError};
use crate::state::lock;

pub(crate) use batches::StoredBatch;
pub(crate) use datafiles::DatafileHistory;
pub(crate) use odp::StoredOdpEvent;

/// The location shown for an in-memory database.
pub(crate) const IN_MEMORY: &str = ":memory:";
/// How long to wait for another connection's lock while opening before giving up.
const OPEN_BUSY_TIMEOUT: Duration = Duration::from_secs(1);
/// How long a statement waits for a lock once running (only this server uses the file then).
const BUSY_TIMEOUT: Duration = Duration::from_secs(5);

const ODP_EVENTS_RECEIVED: &str = "odp_events_received";
const BATCHES_RECEIVED: &str = "batches_received";

/// A failed storage operation after start.
#[derive(Debug, thiserror::Error)]
pub(crate) enum StoreError {
    #[error("database error: {0}")]
    Sql(#[from] rusqlite::Error),
    #[error("the database is closed")]
    Closed,
}

/// The server's database.
pub(crate) struct Database {
    connection: Mutex<Option<Connection>>,
}

impl Database {
    /// Opens (creating if needed) the database at `path`, or an in-memory one for `None`.
    pub(crate) fn open(path: Option<&Path>) -> Result<Database, DevServerError> {
        let location = path.map_or_else(|| IN_MEMORY.to_owned(), |p| p.display().to_string());
        let failure = |problem| DevServerError::Database {
            location: location.clone(),
            problem,
        };
        let mut connection = match path {
            None => Connection::open_in_memory(),
            Some(path) => Connection::open(path),
        }
        .map_err(|error| failure(problem_of(&error)))?;
        let prepared = connection
            .busy_timeout(OPEN_BUSY_TIMEOUT)
            .map_err(|error| problem_of(&error))
            .and_then(|()| schema::prepare(&mut connection, path.is_some()))
            .and_then(|()| {
                connection
                    .busy_timeout(BUSY_TIMEOUT)
                    .map_err(|error| problem_of(&error))
            });
        prepared.map_err(failure)?;
        Ok(Database {
            connection: Mutex::new(Some(connection)),
        })
    }

    /// Runs `work` on the connection.
    pub(crate) fn with<T>(
        &self,
        work: impl FnOnce(&mut Connection) -> Result<T, StoreError>,
    ) -> Result<T, StoreError> {
        let mut guard = lock(&self.connection);
        let connection = guard.as_mut().ok_or(StoreError::Closed)?;
        work(connection)
    }

    /// Runs `work` in one transaction, committed when it succeeds.
    pub(crate) fn transaction<T>(
        &self,
        work: impl FnOnce(&Transaction<'_>) -> Result<T, StoreError>,
    ) -> Result<T, StoreError> {
        self.with(|connection| {
            let transaction = connection.transaction()?;
            let result = work(&transaction)?;
            transaction.commit()?;
            Ok(result)
        })
    }

    /// Closes the connection (releasing the file's lock); later operations fail with
    /// [`StoreError::Closed`].
    pub(crate) fn close(&self) {
        if let Some(connection) = lock(&self.connection).take()
            && let Err((_, error)) = connection.close()
        {
            log::warn!("dev server database did not close cleanly: {error}");
        }
    }

    /// How many ODP events were accepted since the last reset.
    pub(crate) fn odp_events_received(&self) -> Result<u64, StoreError> {
        self.with(|connection| Ok(counter(connection, ODP_EVENTS_RECEIVED)?))
    }

    /// How many `/v1/events` batches were accepted since the last reset.
    pub(crate) fn batches_received(&self) -> Result<u64, StoreError> {
        self.with(|connection| Ok(counter(connection, BATCHES_RECEIVED)?))
    }

    /// Forgets received ODP events (and the users stitched from them) and batches, with
    /// their counts. Datafiles and segments stay.
    pub(crate) fn reset_received(&self) -> Result<(), StoreError> {
        self.transaction(|transaction| {
            transaction.execute_batch(
                "DELETE FROM odp_events; DELETE FROM identifiers; DELETE FROM log_batches;",
            )?;
            transaction.execute(
                "DELETE FROM counters WHERE name IN (?1, ?2)",
                params![ODP_EVENTS_RECEIVED, BATCHES_RECEIVED],
            )?;
            Ok(())
        })
    }
}

fn counter(connection: &Connection, name: &str) -> rusqlite::Result<u64> {
    let value: Option<i64> = connection
        .query_row(
            "SELECT value FROM counters WHERE name = ?1",
            params![name],
            |row| row.get(0),
        )
        .optional()?;
    Ok(value.and_then(|v| u64::try_from(v).ok()).unwrap_or(0))
}

/// Adds `by` to a counter and returns its new value.
fn add_to_counter(connection: &Connection, name: &str, by: usize) -> rusqlite::Result<u64> {
    let by = i64::try_from(by).unwrap_or(i64::MAX);
    connection.execute(
        "INSERT INTO counters (name, value) VALUES (?1, ?2)
         ON CONFLICT (name) DO UPDATE SET value = value + excluded.value",
        params![name, by],
    )?;
    counter(connection, name)
}

/// Deletes the oldest rows of `table` (by `id`) beyond the most recent `keep`.
fn keep_most_recent(
    connection: &Connection,
    table: &'static str,
    keep: i64,
) -> rusqlite::Result<()> {
    connection.execute(
        &format!("DELETE FROM {table} WHERE id <= (SELECT MAX(id) FROM {table}) - ?1"),
        params![keep],
    )?;
    Ok(())
}

/// A stored count or number as `u64` (negative values, which are never written, as 0).
fn non_negative(value: i64) -> u64 {
    u64::try_from(value).unwrap_or(0)
}

/// What an open or prepare error means for the user.
fn problem_of(error: &rusqlite::Error) -> DatabaseProblem {
    let detail = error.to_string();
    match error.sqlite_error_code() {
        Some(ErrorCode::NotADatabase | ErrorCode::DatabaseCorrupt) => {
            DatabaseProblem::Corrupt { detail }
        }
        Some(ErrorCode::DatabaseBusy | ErrorCode::DatabaseLocked) => DatabaseProblem::Locked,
        _ => DatabaseProblem::Io { detail },
    }
}
