use std::collections::HashMap;
use std::sync::{Mutex, MutexGuard, PoisonError};

use std::time::SystemTime;

use tokio::sync::watch;

use crate::datafile::DatafileStore;
use crate::fault::{Endpoint, Fault, FaultBook};
use crate::recorder::Recorder;
use crate::time;

/// State shared by the request handlers and the [`DevServerHandle`](crate::DevServerHandle).
pub(crate) struct Shared {
    pub(crate) odp_api_key: String,
    pub(crate) max_body_bytes: usize,
    pub(crate) datafiles: Mutex<DatafileStore>,
    /// Qualified segments per ODP user id (`fs_user_id` or `vuid` value).
    pub(crate) segments: Mutex<HashMap<String, Vec<String>>>,
    pub(crate) faults: Mutex<FaultBook>,
    pub(crate) recorder: Recorder,
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

    /// Stores a datafile and returns its new `Last-Modified` (seconds since the epoch).
    pub(crate) fn set_datafile(&self, sdk_key: String, raw: String) -> u64 {
        let now = time::unix_seconds(SystemTime::now());
        lock(&self.datafiles).set(sdk_key, raw, now)
    }

    /// Queues a fault, or says why it cannot be applied.
    pub(crate) fn inject_fault(&self, endpoint: Endpoint, fault: Fault) -> Result<(), String> {
        if let Some(problem) = fault.problem() {
            return Err(problem);
        }
        lock(&self.faults).push(endpoint, fault);
        Ok(())
    }

    pub(crate) fn set_segments(&self, user_id: String, segments: Vec<String>) {
        let mut unique: Vec<String> = Vec::with_capacity(segments.len());
        for segment in segments {
            if !unique.contains(&segment) {
                unique.push(segment);
            }
        }
        lock(&self.segments).insert(user_id, unique);
    }
}

/// Locks `mutex`, ignoring poisoning (no handler panics while holding a lock, and the data
/// stays consistent even if one did).
pub(crate) fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}
