//! Datafile revisions.

use rusqlite::{Connection, OptionalExtension, params};
use serde_json::Value;

use super::{Database, StoreError, non_negative};
use crate::records::DatafileRevision;
use crate::time;

/// Revisions kept per SDK key (older ones are deleted).
pub(crate) const MAX_REVISIONS_PER_KEY: i64 = 100;

/// What is served for an SDK key after a restart.
pub(crate) struct DatafileHead {
    pub(crate) sdk_key: String,
    /// `None` when the datafile was removed.
    pub(crate) body: Option<String>,
    pub(crate) last_modified: u64,
}

/// One revision without its body.
pub(crate) struct RevisionInfo {
    pub(crate) number: u64,
    /// The datafile's own `revision` field, when it has one.
    pub(crate) label: Option<String>,
    pub(crate) bytes: u64,
    pub(crate) stored_ms: i64,
    pub(crate) last_modified: u64,
}

/// The history of one SDK key, newest revision first.
pub(crate) struct DatafileHistory {
    pub(crate) sdk_key: String,
    pub(crate) current: Option<u64>,
    pub(crate) last_modified: u64,
    pub(crate) revisions: Vec<RevisionInfo>,
}

impl Database {
    /// Every SDK key with what it serves.
    pub(crate) fn datafile_heads(&self) -> Result<Vec<DatafileHead>, StoreError> {
        self.with(|connection| {
            let mut statement = connection.prepare(
                "SELECT d.sdk_key, r.body, d.last_modified FROM datafiles d
                 LEFT JOIN datafile_revisions r
                   ON r.sdk_key = d.sdk_key AND r.revision = d.current_revision
                 ORDER BY d.sdk_key",
            )?;
            let heads = statement
                .query_map([], |row| {
                    Ok(DatafileHead {
                        sdk_key: row.get(0)?,
                        body: row.get(1)?,
                        last_modified: non_negative(row.get(2)?),
                    })
                })?
                .collect::<Result<_, _>>()?;
            Ok(heads)
        })
    }

    /// The datafile text served for `sdk_key` now, if any.
    pub(crate) fn current_datafile_body(
        &self,
        sdk_key: &str,
    ) -> Result<Option<String>, StoreError> {
        self.with(|connection| Ok(revision_body(connection, sdk_key, None)?))
    }

    /// The stored text of revision `number` of `sdk_key` (the current one for `None`).
    pub(crate) fn datafile_revision_body(
        &self,
        sdk_key: &str,
        number: Option<u64>,
    ) -> Result<Option<String>, StoreError> {
        self.with(|connection| Ok(revision_body(connection, sdk_key, number)?))
    }

    /// Stores a new current revision and returns its number.
    pub(crate) fn add_datafile_revision(
        &self,
        sdk_key: &str,
        body: &str,
        stored_ms: i64,
        last_modified: u64,
    ) -> Result<u64, StoreError> {
        let last_modified = i64::try_from(last_modified).unwrap_or(i64::MAX);
        self.transaction(|transaction| {
            let number: i64 = transaction.query_row(
                "SELECT COALESCE(MAX(revision), 0) + 1 FROM datafile_revisions WHERE sdk_key = ?1",
                params![sdk_key],
                |row| row.get(0),
            )?;
            transaction.execute(
                "INSERT INTO datafile_revisions
                   (sdk_key, revision, body, label, stored_ms, last_modified)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
                params![
                    sdk_key,
                    number,
                    body,
                    label_of(body),
                    stored_ms,
                    last_modified
                ],
            )?;
            transaction.execute(
                "INSERT INTO datafiles (sdk_key, current_revision, last_modified)
                 VALUES (?1, ?2, ?3)
                 ON CONFLICT (sdk_key) DO UPDATE SET
                   current_revision = excluded.current_revision,
                   last_modified = excluded.last_modified",
                params![sdk_key, number, last_modified],
            )?;
            transaction.execute(
                "DELETE FROM datafile_revisions WHERE sdk_key = ?1 AND revision <= ?2",
                params![sdk_key, number - MAX_REVISIONS_PER_KEY],
            )?;
            Ok(u64::try_from(number).unwrap_or(0))
        })
    }

    /// Stops serving `sdk_key` (its history stays).
    pub(crate) fn remove_datafile(&self, sdk_key: &str) -> Result<(), StoreError> {
        self.with(|connection| {
            connection.execute(
                "UPDATE datafiles SET current_revision = NULL WHERE sdk_key = ?1",
                params![sdk_key],
            )?;
            Ok(())
        })
    }

    /// Every kept revision of `sdk_key`, oldest first, with bodies.
    pub(crate) fn datafile_revisions(
        &self,
        sdk_key: &str,
    ) -> Result<Vec<DatafileRevision>, StoreError> {
        self.with(|connection| {
            let mut statement = connection.prepare(
                "SELECT r.revision, r.body, r.stored_ms, r.last_modified,
                        r.revision IS d.current_revision
                 FROM datafile_revisions r JOIN datafiles d ON d.sdk_key = r.sdk_key
                 WHERE r.sdk_key = ?1 ORDER BY r.revision",
            )?;
            let revisions = statement
                .query_map(params![sdk_key], |row| {
                    Ok(DatafileRevision {
                        number: non_negative(row.get(0)?),
                        body: row.get(1)?,
                        stored_at: time::from_unix_millis(row.get(2)?),
                        last_modified: time::from_unix_seconds(non_negative(row.get(3)?)),
                        current: row.get(4)?,
                    })
                })?
                .collect::<Result<_, _>>()?;
            Ok(revisions)
        })
    }

    /// The history of every SDK key (without bodies), newest revision first.
    pub(crate) fn datafile_histories(&self) -> Result<Vec<DatafileHistory>, StoreError> {
        self.with(|connection| {
            let mut statement = connection.prepare(
                "SELECT sdk_key, current_revision, last_modified FROM datafiles ORDER BY sdk_key",
            )?;
            let keys: Vec<(String, Option<i64>, i64)> = statement
                .query_map([], |row| Ok((row.get(0)?, row.get(1)?, row.get(2)?)))?
                .collect::<Result<_, _>>()?;
            keys.into_iter()
                .map(|(sdk_key, current, last_modified)| {
                    Ok(DatafileHistory {
                        revisions: revision_infos(connection, &sdk_key)?,
                        sdk_key,
                        current: current.map(non_negative),
                        last_modified: non_negative(last_modified),
                    })
                })
                .collect()
        })
    }
}

fn revision_infos(connection: &Connection, sdk_key: &str) -> Result<Vec<RevisionInfo>, StoreError> {
    let mut statement = connection.prepare_cached(
        "SELECT revision, label, LENGTH(CAST(body AS BLOB)), stored_ms, last_modified
         FROM datafile_revisions WHERE sdk_key = ?1 ORDER BY revision DESC",
    )?;
    let infos = statement
        .query_map(params![sdk_key], |row| {
            Ok(RevisionInfo {
                number: non_negative(row.get(0)?),
                label: row.get(1)?,
                bytes: non_negative(row.get(2)?),
                stored_ms: row.get(3)?,
                last_modified: non_negative(row.get(4)?),
            })
        })?
        .collect::<Result<_, _>>()?;
    Ok(infos)
}

fn revision_body(
    connection: &Connection,
    sdk_key: &str,
    number: Option<u64>,
) -> rusqlite::Result<Option<String>> {
    match number {
        None => connection
            .query_row(
                "SELECT r.body FROM datafiles d JOIN datafile_revisions r
                   ON r.sdk_key = d.sdk_key AND r.revision = d.current_revision
                 WHERE d.sdk_key = ?1",
                params![sdk_key],
                |row| row.get(0),
            )
            .optional(),
        Some(number) => connection
            .query_row(
                "SELECT body FROM datafile_revisions WHERE sdk_key = ?1 AND revision = ?2",
                params![sdk_key, i64::try_from(number).unwrap_or(i64::MAX)],
                |row| row.get(0),
            )
            .optional(),
    }
}

/// The datafile's own `revision` field, if it is a JSON object with a string one.
fn label_of(body: &str) -> Option<String> {
    let datafile: Value = serde_json::from_str(body).ok()?;
    datafile.get("revision")?.as_str().map(str::to_owned)
}
