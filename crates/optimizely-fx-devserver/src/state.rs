use std::sync::{Mutex, MutexGuard, PoisonError};
use std::time::SystemTime;

use tokio::sync::{Semaphore, watch};

use crate::datafile::DatafileStore;
use crate::fault::{Endpoint, Fault, FaultBook};
use crate::recorder::Recorder;
use crate::segments::SegmentDefinition;
use crate::store::{Database, StoreError};
use crate::time;

/// Most handler calls running or queued on the blocking pool at once; further requests wait
/// for a slot.
pub(crate) const BLOCKING_SLOTS: usize = 64;

/// State shared by the request handlers and the [`DevServerHandle`](crate::DevServerHandle).
pub(crate) struct Shared {
    pub(crate) odp_api_key: String,
    pub(crate) max_body_bytes: usize,
    /// `http://HOST:PORT`, as shown to users.
    pub(crate) base_url: String,
    /// The served datafiles (the database keeps their history). Locked only briefly, as
    /// datafile requests lock it on the async executor threads.
    pub(crate) datafiles: Mutex<DatafileStore>,
    /// Serialises datafile changes, so revisions are stored in the order they are served.
    pub(crate) datafile_changes: Mutex<()>,
    pub(crate) db: Database,
    pub(crate) faults: Mutex<FaultBook>,
    pub(crate) recorder: Recorder,
    /// Bounds the handler work handed to the blocking pool.
    pub(crate) blocking_slots: Semaphore,
    /// Becomes `true` once shutdown starts.
    pub(crate) shutdown: watch::Receiver<bool>,
}

impl Shared {
    /// Resolves once the server is shutting down.
    pub(crate) async fn shutting_down(&self) {
        let mut shutdown = self.shutdown.clone();
        // An error means the sender is gone, which also means shutdown.
        let _ = shutdown.wait_for(|stopping| *stopping).await;
    }

    /// Serves a datafile from now on, stores it as a new revision and returns its new
    /// `Last-Modified` (seconds since the epoch).
    pub(crate) fn set_datafile(&self, sdk_key: String, raw: String) -> u64 {
        let now = SystemTime::now();
        let _change = lock(&self.datafile_changes);
        let last_modified =
            lock(&self.datafiles).set(sdk_key.clone(), raw.clone(), time::unix_seconds(now));
        let stored =
            self.db
                .add_datafile_revision(&sdk_key, &raw, time::unix_millis(now), last_modified);
        log_store_error("store a datafile revision", stored);
        last_modified
    }

    /// Stops serving a datafile; `false` if none was served.
    pub(crate) fn remove_datafile(&self, sdk_key: &str) -> bool {
        let _change = lock(&self.datafile_changes);
        let removed = lock(&self.datafiles).remove(sdk_key);
        if removed {
            log_store_error("remove a datafile", self.db.remove_datafile(sdk_key));
        }
        removed
    }

    /// Queues a fault, or says why it cannot be applied.
    pub(crate) fn inject_fault(&self, endpoint: Endpoint, fault: Fault) -> Result<(), String> {
        if let Some(problem) = fault.problem() {
            return Err(problem);
        }
        lock(&self.faults).push(endpoint, fault);
        Ok(())
    }

    pub(crate) fn set_segments(
        &self,
        user_id: String,
        segments: Vec<String>,
    ) -> Result<(), StoreError> {
        let mut unique: Vec<String> = Vec::with_capacity(segments.len());
        for segment in segments {
            if !unique.contains(&segment) {
                unique.push(segment);
            }
        }
        self.db.set_static_segments(&user_id, &unique)
    }

    /// Adds or replaces a segment definition; `true` when one was replaced.
    pub(crate) fn define_segment(
        &self,
        definition: &SegmentDefinition,
    ) -> Result<bool, StoreError> {
        self.db
            .put_definition(definition, time::unix_millis(SystemTime::now()))
    }

    /// Forgets received ODP events, batches, recorded requests and their counts.
    pub(crate) fn reset(&self) -> Result<(), StoreError> {
        let result = self.db.reset_received();
        self.recorder.reset();
        result
    }
}

/// Logs a failed storage operation that has no caller to report to.
pub(crate) fn log_store_error<T>(what: &str, result: Result<T, StoreError>) -> Option<T> {
    match result {
        Ok(value) => Some(value),
        Err(error) => {
            log::error!("dev server cannot {what}: {error}");
            None
        }
    }
}

/// Locks `mutex`, ignoring poisoning (no handler panics while holding a lock, and the data
/// stays consistent even if one did).
pub(crate) fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}
