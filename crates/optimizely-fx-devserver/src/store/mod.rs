//! Storage in SQLite: datafile revisions, received ODP events (with stitched identities),
//! impression/conversion batches, static segment memberships and segment definitions.
//!
//! One connection behind a mutex, with an in-memory mirror of the ODP tables (see
//! [`odp_index`]) under the same lock. A file database is opened in exclusive locking mode and
//! written to at start, so a second server on the same file fails at start instead of both
//! writing to it.

mod batches;
mod datafiles;
mod odp;
mod odp_index;
mod schema;
mod segments;

use std::path::Path;
use std::sync::{Mutex, MutexGuard, TryLockError};
use std::time::Duration;

use rusqlite::{Connection, ErrorCode, OptionalExtension, params};

use crate::error::{DatabaseProblem, DevServerError};
use crate::state::lock;

pub(crate) use batches::StoredBatch;
pub(crate) use datafiles::DatafileHistory;
pub(crate) use odp::StoredOdpEvent;
use odp_index::OdpIndex;

/// The location shown for an in-memory database.
pub(crate) const IN_MEMORY: &str = ":memory:";
/// How long to wait for another connection's lock while opening before giving up.
const OPEN_BUSY_TIMEOUT: Duration = Duration::from_secs(1);
/// How long a statement waits for a lock once running (only this server uses the file then).
const BUSY_TIMEOUT: Duration = Duration::from_secs(5);

/// Prepared statements kept per connection: more than the server uses, so none is ever
/// compiled twice.
const STATEMENT_CACHE_CAPACITY: usize = 64;

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
    store: Mutex<Option<Store>>,
    /// Whether the database is in memory, so no operation waits for the disk.
    in_memory: bool,
}

/// The connection, and what is mirrored in memory (kept consistent with it under the lock).
struct Store {
    connection: Connection,
    odp: OdpIndex,
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
        connection.set_prepared_statement_cache_capacity(STATEMENT_CACHE_CAPACITY);
        let odp = OdpIndex::load(&connection).map_err(|error| failure(problem_of(&error)))?;
        Ok(Database {
            store: Mutex::new(Some(Store { connection, odp })),
            in_memory: path.is_none(),
        })
    }

    /// Runs `work` on the connection.
    pub(crate) fn with<T>(
        &self,
        work: impl FnOnce(&mut Connection) -> Result<T, StoreError>,
    ) -> Result<T, StoreError> {
        self.with_store(|store| work(&mut store.connection))
    }

    /// Runs `work` on the connection and the in-memory mirror of the ODP tables.
    fn with_store<T>(
        &self,
        work: impl FnOnce(&mut Store) -> Result<T, StoreError>,
    ) -> Result<T, StoreError> {
        let mut guard = match self.store.lock() {
            Ok(guard) => guard,
            Err(poisoned) => self.recovered(poisoned.into_inner()),
        };
        let store = guard.as_mut().ok_or(StoreError::Closed)?;
        work(store)
    }

    /// [`with_store`](Self::with_store) if it cannot block: the database is in memory and
    /// nothing else uses it right now; `None` (`work` not run) otherwise.
    fn try_with_store<T>(
        &self,
        work: impl FnOnce(&mut Store) -> Result<T, StoreError>,
    ) -> Option<Result<T, StoreError>> {
        if !self.in_memory {
            return None;
        }
        let mut guard = match self.store.try_lock() {
            Ok(guard) => guard,
            Err(TryLockError::Poisoned(poisoned)) => self.recovered(poisoned.into_inner()),
            Err(TryLockError::WouldBlock) => return None,
        };
        Some(match guard.as_mut() {
            Some(store) => work(store),
            None => Err(StoreError::Closed),
        })
    }

    /// The store after an operation panicked while holding it: the database rolled the
    /// operation back, so the mirror is read from it again.
    fn recovered<'g>(
        &self,
        mut guard: MutexGuard<'g, Option<Store>>,
    ) -> MutexGuard<'g, Option<Store>> {
        if let Some(store) = guard.as_mut() {
            match OdpIndex::load(&store.connection) {
                Ok(reloaded) => store.odp = reloaded,
                Err(error) => log::error!("dev server cannot read its ODP events again: {error}"),
            }
        }
        self.store.clear_poison();
        guard
    }

    /// Runs `work` in one transaction, committed when it succeeds.
    pub(crate) fn transaction<T>(
        &self,
        work: impl FnOnce(&Connection) -> Result<T, StoreError>,
    ) -> Result<T, StoreError> {
        self.with(|connection| in_transaction(connection, work))
    }

    /// Closes the connection (releasing the file's lock); later operations fail with
    /// [`StoreError::Closed`].
    pub(crate) fn close(&self) {
        if let Some(store) = lock(&self.store).take()
            && let Err((_, error)) = store.connection.close()
        {
            log::warn!("dev server database did not close cleanly: {error}");
        }
    }

    /// How many ODP events were accepted since the last reset.
    pub(crate) fn odp_events_received(&self) -> Result<u64, StoreError> {
        self.with_store(|store| Ok(store.odp.received))
    }

    /// How many `/v1/events` batches were accepted since the last reset.
    pub(crate) fn batches_received(&self) -> Result<u64, StoreError> {
        self.with(|connection| Ok(counter(connection, BATCHES_RECEIVED)?))
    }

    /// Forgets received ODP events (and the users stitched from them) and batches, with
    /// their counts. Datafiles and segments stay.
    pub(crate) fn reset_received(&self) -> Result<(), StoreError> {
        self.with_store(|store| {
            in_transaction(&store.connection, |transaction| {
                transaction.execute_batch(
                    "DELETE FROM odp_events; DELETE FROM identifiers; DELETE FROM log_batches;",
                )?;
                transaction.execute(
                    "DELETE FROM counters WHERE name IN (?1, ?2)",
                    params![ODP_EVENTS_RECEIVED, BATCHES_RECEIVED],
                )?;
                Ok(())
            })?;
            store.odp.clear_received();
            Ok(())
        })
    }
}

fn in_transaction<T>(
    connection: &Connection,
    work: impl FnOnce(&Connection) -> Result<T, StoreError>,
) -> Result<T, StoreError> {
    let transaction = OpenTransaction::begin(connection)?;
    let result = work(connection)?;
    transaction.commit()?;
    Ok(result)
}

/// A transaction begun and ended with cached statements; rolled back unless committed (also
/// when the work panics).
struct OpenTransaction<'c> {
    connection: &'c Connection,
    open: bool,
}

impl<'c> OpenTransaction<'c> {
    fn begin(connection: &'c Connection) -> rusqlite::Result<Self> {
        connection.prepare_cached("BEGIN")?.execute([])?;
        Ok(OpenTransaction {
            connection,
            open: true,
        })
    }

    fn commit(mut self) -> rusqlite::Result<()> {
        self.connection.prepare_cached("COMMIT")?.execute([])?;
        self.open = false;
        Ok(())
    }
}

impl Drop for OpenTransaction<'_> {
    fn drop(&mut self) {
        if self.open && !self.connection.is_autocommit() {
            let rolled_back = self
                .connection
                .prepare_cached("ROLLBACK")
                .and_then(|mut statement| statement.execute([]));
            if let Err(error) = rolled_back {
                log::error!("dev server cannot roll a database transaction back: {error}");
            }
        }
    }
}

fn counter(connection: &Connection, name: &str) -> rusqlite::Result<u64> {
    let value: Option<i64> = connection
        .prepare_cached("SELECT value FROM counters WHERE name = ?1")?
        .query_row(params![name], |row| row.get(0))
        .optional()?;
    Ok(value.and_then(|v| u64::try_from(v).ok()).unwrap_or(0))
}

/// Adds `by` to a counter and returns its new value.
fn add_to_counter(connection: &Connection, name: &str, by: usize) -> rusqlite::Result<u64> {
    let by = i64::try_from(by).unwrap_or(i64::MAX);
    let value = i64::try_from(counter(connection, name)?)
        .unwrap_or(i64::MAX)
        .saturating_add(by);
    set_counter(connection, name, value)?;
    Ok(non_negative(value))
}

/// Sets a counter to `value`.
fn set_counter(connection: &Connection, name: &str, value: i64) -> rusqlite::Result<()> {
    let updated = connection
        .prepare_cached("UPDATE counters SET value = ?2 WHERE name = ?1")?
        .execute(params![name, value])?;
    if updated == 0 {
        connection
            .prepare_cached("INSERT INTO counters (name, value) VALUES (?1, ?2)")?
            .execute(params![name, value])?;
    }
    Ok(())
}

/// Deletes the oldest rows of `table` (by `id`) beyond the most recent `keep`.
fn keep_most_recent(
    connection: &Connection,
    table: &'static str,
    keep: i64,
) -> rusqlite::Result<()> {
    connection
        .prepare_cached(&format!(
            "DELETE FROM {table} WHERE id <= (SELECT MAX(id) FROM {table}) - ?1"
        ))?
        .execute(params![keep])?;
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
