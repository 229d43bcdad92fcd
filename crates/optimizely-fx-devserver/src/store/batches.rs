//! Impression and conversion batches received on `/v1/events`.

use rusqlite::params;
use serde_json::Value;

use super::odp::limit_param;
use super::{BATCHES_RECEIVED, Database, StoreError, add_to_counter, keep_most_recent};

/// Most recent batches kept.
pub(crate) const MAX_STORED_BATCHES: i64 = 100_000;

/// One stored batch with its arrival time.
pub(crate) struct StoredBatch {
    pub(crate) received_ms: i64,
    pub(crate) batch: Value,
}

impl Database {
    /// Stores a validated batch and returns the new count of received batches.
    pub(crate) fn add_batch(&self, batch: &Value, received_ms: i64) -> Result<u64, StoreError> {
        self.transaction(|transaction| {
            transaction.execute(
                "INSERT INTO log_batches (received_ms, batch) VALUES (?1, ?2)",
                params![received_ms, batch.to_string()],
            )?;
            keep_most_recent(transaction, "log_batches", MAX_STORED_BATCHES)?;
            Ok(add_to_counter(transaction, BATCHES_RECEIVED, 1)?)
        })
    }

    /// Every kept batch, oldest first.
    pub(crate) fn batches(&self) -> Result<Vec<Value>, StoreError> {
        Ok(self
            .recent_batches(usize::MAX)?
            .into_iter()
            .rev()
            .map(|stored| stored.batch)
            .collect())
    }

    /// The `limit` most recent batches, newest first.
    pub(crate) fn recent_batches(&self, limit: usize) -> Result<Vec<StoredBatch>, StoreError> {
        self.with(|connection| {
            let mut statement = connection
                .prepare("SELECT received_ms, batch FROM log_batches ORDER BY id DESC LIMIT ?1")?;
            let rows: Vec<(i64, String)> = statement
                .query_map(params![limit_param(limit)], |row| {
                    Ok((row.get(0)?, row.get(1)?))
                })?
                .collect::<Result<_, _>>()?;
            Ok(rows
                .into_iter()
                .filter_map(|(received_ms, text)| {
                    let batch = serde_json::from_str(&text).ok()?;
                    Some(StoredBatch { received_ms, batch })
                })
                .collect())
        })
    }
}
