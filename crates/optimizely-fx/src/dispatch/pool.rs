//! A small, bounded pool of sender threads: each runs one blocking `send` at a time, so the
//! worker can have up to `max_in_flight` requests in progress without ever blocking itself.

use std::collections::VecDeque;
use std::panic::{self, AssertUnwindSafe};
use std::sync::{Arc, Condvar, Mutex, MutexGuard, PoisonError};
use std::thread;
use std::time::Instant;

use super::mailbox::Mailbox;
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

/// Batches handed to the sender threads, which wait here for work. It holds at most one
/// batch per idle thread: the pool submits only when a thread is free.
struct Jobs<S: BatchSink> {
    state: Mutex<JobsState<S>>,
    ready: Condvar,
}

struct JobsState<S: BatchSink> {
    batches: VecDeque<Batch<S>>,
    /// Cleared when the pool is dropped: idle threads then end.
    open: bool,
}

impl<S: BatchSink> Jobs<S> {
    fn lock(&self) -> MutexGuard<'_, JobsState<S>> {
        // Nothing under this lock can panic half-way through an update.
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn push(&self, batch: Batch<S>) {
        self.lock().batches.push_back(batch);
        self.ready.notify_one();
    }

    /// The next batch; `None` once the pool is gone.
    fn next(&self) -> Option<Batch<S>> {
        let state = self.lock();
        let mut state = self
            .ready
            .wait_while(state, |state| state.batches.is_empty() && state.open)
            .unwrap_or_else(PoisonError::into_inner);
        state.batches.pop_front()
    }

    fn close(&self) {
        let left = {
            let mut state = self.lock();
            state.open = false;
            std::mem::take(&mut state.batches)
        };
        drop(left);
        self.ready.notify_all();
    }
}

pub(super) struct SenderPool<S: BatchSink> {
    sink: Arc<S>,
    thread_name: String,
    jobs: Arc<Jobs<S>>,
    /// Where finished batches go back to the worker.
    mailbox: Arc<Mailbox<S>>,
    max: usize,
    spawned: usize,
    busy: usize,
}

impl<S: BatchSink> SenderPool<S> {
    /// A pool that starts threads lazily, up to `max`, named `thread_name`; they post
    /// finished batches to `mailbox`.
    pub(super) fn new(
        sink: Arc<S>,
        thread_name: String,
        max: usize,
        mailbox: Arc<Mailbox<S>>,
    ) -> Self {
        SenderPool {
            sink,
            thread_name,
            jobs: Arc::new(Jobs {
                state: Mutex::new(JobsState {
                    batches: VecDeque::new(),
                    open: true,
                }),
                ready: Condvar::new(),
            }),
            mailbox,
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
        self.jobs.push(batch);
        self.busy += 1;
        Ok(())
    }

    /// Records that a sender thread delivered a [`Finished`] and is idle again.
    pub(super) fn release(&mut self) {
        self.busy = self.busy.saturating_sub(1);
    }

    fn spawn(&mut self) -> bool {
        let sink = self.sink.clone();
        let jobs = self.jobs.clone();
        let mailbox = self.mailbox.clone();
        let spawned = thread::Builder::new()
            .name(self.thread_name.clone())
            .spawn(move || send_loop(&*sink, &jobs, &mailbox));
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

impl<S: BatchSink> Drop for SenderPool<S> {
    fn drop(&mut self) {
        self.jobs.close();
    }
}

fn send_loop<S: BatchSink>(sink: &S, jobs: &Jobs<S>, mailbox: &Mailbox<S>) {
    while let Some(batch) = jobs.next() {
        let outcome =
            panic::catch_unwind(AssertUnwindSafe(|| sink.send(&batch.target, &batch.items)))
                .unwrap_or_else(|_| SendOutcome::Reject {
                    reason: "the sender panicked".to_owned(),
                });
        mailbox.post_finished(Finished { batch, outcome });
    }
}
