//! Creating and checking the database schema.

use rusqlite::{Connection, params};

use super::problem_of;
use crate::error::DatabaseProblem;
use crate::time;

/// `PRAGMA application_id` of a dev server database ("OFXD").
const APPLICATION_ID: i64 = 0x4F46_5844;
/// `PRAGMA user_version` this build writes and understands.
///
/// Version 2 keeps identifiers in a table without a key, events without a separate copy of
/// their `data`, and no index on either table: which identifier belongs to which user, and
/// each user's events, are looked up in memory (see [`super::odp_index`]), so indexes would
/// only slow every stored event down. Version 1 files are migrated when opened.
pub(crate) const SCHEMA_VERSION: i64 = 2;

const SCHEMA: &str = "
CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE counters (name TEXT PRIMARY KEY, value INTEGER NOT NULL);
CREATE TABLE datafiles (
    sdk_key TEXT PRIMARY KEY,
    current_revision INTEGER,
    last_modified INTEGER NOT NULL
);
CREATE TABLE datafile_revisions (
    sdk_key TEXT NOT NULL,
    revision INTEGER NOT NULL,
    body TEXT NOT NULL,
    label TEXT,
    stored_ms INTEGER NOT NULL,
    last_modified INTEGER NOT NULL,
    PRIMARY KEY (sdk_key, revision)
);
CREATE TABLE odp_events (
    id INTEGER PRIMARY KEY,
    received_ms INTEGER NOT NULL,
    user_id INTEGER,
    type TEXT NOT NULL,
    action TEXT NOT NULL,
    event TEXT NOT NULL
);
CREATE TABLE identifiers (kind TEXT NOT NULL, value TEXT NOT NULL, user_id INTEGER NOT NULL);
CREATE TABLE log_batches (id INTEGER PRIMARY KEY, received_ms INTEGER NOT NULL, batch TEXT NOT NULL);
CREATE TABLE static_segments (user_id TEXT PRIMARY KEY, segments TEXT NOT NULL);
CREATE TABLE segment_definitions (
    name TEXT PRIMARY KEY,
    definition TEXT NOT NULL,
    updated_ms INTEGER NOT NULL
);
";

/// From version 1: identifiers lose their primary key (keeping their rowids), the indexes by
/// user and by value go, and so does the events' copy of their `data` (it is in `event`).
const MIGRATE_FROM_1: &str = "
CREATE TABLE identifiers_v2 (kind TEXT NOT NULL, value TEXT NOT NULL, user_id INTEGER NOT NULL);
INSERT INTO identifiers_v2 (rowid, kind, value, user_id)
    SELECT rowid, kind, value, user_id FROM identifiers ORDER BY rowid;
DROP TABLE identifiers;
ALTER TABLE identifiers_v2 RENAME TO identifiers;
DROP INDEX IF EXISTS odp_events_by_user;
ALTER TABLE odp_events DROP COLUMN data;
PRAGMA user_version = 2;
";

/// Sets the connection up, creates the schema in a new database and checks an existing one.
pub(super) fn prepare(connection: &mut Connection, on_disk: bool) -> Result<(), DatabaseProblem> {
    let sql = |error: rusqlite::Error| problem_of(&error);
    if on_disk {
        // Both pragmas answer with a row; the second is the first read of the file.
        connection
            .query_row("PRAGMA locking_mode = EXCLUSIVE", [], |_| Ok(()))
            .map_err(sql)?;
        connection
            .query_row("PRAGMA journal_mode = WAL", [], |_| Ok(()))
            .map_err(sql)?;
        connection
            .execute_batch("PRAGMA synchronous = NORMAL")
            .map_err(sql)?;
    }
    let pragma = |name: &str| -> Result<i64, DatabaseProblem> {
        connection
            .query_row(&format!("PRAGMA {name}"), [], |row| row.get(0))
            .map_err(sql)
    };
    let application_id = pragma("application_id")?;
    let version = pragma("user_version")?;
    let tables: i64 = connection
        .query_row(
            "SELECT COUNT(*) FROM sqlite_schema WHERE type = 'table'",
            [],
            |row| row.get(0),
        )
        .map_err(sql)?;
    match (application_id, tables) {
        (APPLICATION_ID, _) if version > SCHEMA_VERSION => Err(DatabaseProblem::NewerSchema {
            found: version,
            supported: SCHEMA_VERSION,
        }),
        (APPLICATION_ID, _) if version < SCHEMA_VERSION => migrate(connection).map_err(sql),
        (APPLICATION_ID, _) => Ok(()),
        (0, 0) => create(connection).map_err(sql),
        _ => Err(DatabaseProblem::NotADevServerDatabase),
    }?;
    // Writing now takes the exclusive lock of a file database for the server's lifetime.
    connection
        .execute(
            "INSERT INTO meta (key, value) VALUES ('opened_at', ?1)
             ON CONFLICT (key) DO UPDATE SET value = excluded.value",
            params![time::rfc3339_utc(std::time::SystemTime::now())],
        )
        .map_err(sql)?;
    Ok(())
}

fn migrate(connection: &mut Connection) -> rusqlite::Result<()> {
    let transaction = connection.transaction()?;
    transaction.execute_batch(MIGRATE_FROM_1)?;
    transaction.commit()
}

fn create(connection: &mut Connection) -> rusqlite::Result<()> {
    let transaction = connection.transaction()?;
    transaction.execute_batch(SCHEMA)?;
    transaction.execute_batch(&format!(
        "PRAGMA application_id = {APPLICATION_ID}; PRAGMA user_version = {SCHEMA_VERSION};"
    ))?;
    transaction.commit()
}
