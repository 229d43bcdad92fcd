//! A small, bounded pool of sender threads: each runs one blocking `send` at a time, so the
//! worker can have up to `max_in_flight` requests in progress without ever blocking itself.

use std::panic::{self, AssertUnwindSafe};
use std::sync::Arc;
use std::thread;
use std::time::Instant;

use crossbeam_channel::{Receiver, Sender};

use super::{BatchSink, SendOutcome};

/// Items cut from the queue to travel in one request, with their queue positions.
pub(super) struct Batch<S: BatchSink> {
    pub(super) target: Arc<S::Target>,
    /// Sequence numbers of `items`, ascending.
    pub(super) seqs: Vec<u64>,
    pub(super) items: Vec<S::Item>,
    /// Attempts made so far in the current flush.
    pub(super) attempts: u32,
    /// When the next attempt may start (meaningful while waiting for a retry).
    pub(super) due: Instant,
}

impl<S: BatchSink> Batch<S> {
    pub(super) fn first_seq(&self) -> u64 {
        self.seqs.first().copied().unwrap_or(u64::MAX)
    }

    pub(super) fn len(&self) -> usize {
        self.items.len()
    }
}

/// A batch back from a sender thread.
pub(super) struct Finished<S: BatchSink> {
    pub(super) batch: Batch<S>,
    pub(super) outcome: SendOutcome,
}

pub(super) struct SenderPool<S: BatchSink> {
    sink: Arc<S>,
    thread_name: String,
    jobs_tx: Sender<Batch<S>>,
    jobs_rx: Receiver<Batch<S>>,
    results_tx: Sender<Finished<S>>,
    pub(super) results_rx: Receiver<Finished<S>>,
    max: usize,
    spawned: usize,
    busy: usize,
}

impl<S: BatchSink> SenderPool<S> {
    /// A pool that starts threads lazily, up to `max`, named `thread_name`.
    pub(super) fn new(sink: Arc<S>, thread_name: String, max: usize) -> Self {
        let (jobs_tx, jobs_rx) = crossbeam_channel::bounded(max);
        let (results_tx, results_rx) = crossbeam_channel::bounded(max);
        SenderPool {
            sink,
            thread_name,
            jobs_tx,
            jobs_rx,
            results_tx,
            results_rx,
            max,
            spawned: 0,
            busy: 0,
        }
    }

    pub(super) fn free_slots(&self) -> usize {
        self.max - self.busy
    }

    /// Hands `batch` to an idle sender thread; gives it back when no thread is available.
    pub(super) fn submit(&mut self, batch: Batch<S>) -> Result<(), Batch<S>> {
        if self.busy == self.max || (self.busy == self.spawned && !self.spawn()) {
            return Err(batch);
        }
        self.jobs_tx
            .try_send(batch)
            .map_err(|err| err.into_inner())?;
        self.busy += 1;
        Ok(())
    }

    /// Records that a sender thread delivered a [`Finished`] and is idle again.
    pub(super) fn release(&mut self) {
        self.busy = self.busy.saturating_sub(1);
    }

    fn spawn(&mut self) -> bool {
        let sink = self.sink.clone();
        let jobs = self.jobs_rx.clone();
        let results = self.results_tx.clone();
        let spawned = thread::Builder::new()
            .name(self.thread_name.clone())
            .spawn(move || send_loop(&*sink, &jobs, &results));
        match spawned {
            Ok(_) => {
                self.spawned += 1;
                true
            }
            Err(err) => {
                log::error!(
                    "could not start sender thread {} ({err}); {} in use",
                    self.thread_name,
                    self.spawned
                );
                self.max = self.spawned.max(self.busy);
                false
            }
        }
    }
}

fn send_loop<S: BatchSink>(sink: &S, jobs: &Receiver<Batch<S>>, results: &Sender<Finished<S>>) {
    for batch in jobs.iter() {
        let outcome =
            panic::catch_unwind(AssertUnwindSafe(|| sink.send(&batch.target, &batch.items)))
                .unwrap_or_else(|_| SendOutcome::Reject {
                    reason: "the sender panicked".to_owned(),
                });
        if results.send(Finished { batch, outcome }).is_err() {
            return;
        }
    }
}
