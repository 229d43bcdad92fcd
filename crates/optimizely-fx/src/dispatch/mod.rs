//! Background batching and delivery: the one mechanism behind ODP events and impression /
//! conversion events.
//!
//! A [`Dispatcher`] owns a named worker thread fed by a mailbox bounded by an atomic count of
//! accepted items (callers never block on the worker and do no I/O). Flush and close requests
//! travel in the same mailbox outside that bound, so they never wait behind a full data
//! queue. The worker groups items into batches (only items with an equal target, in order)
//! and hands batches to a fixed-size pool of sender threads that call [`BatchSink::send`];
//! they hand each finished batch back through the mailbox.
//!
//! Callers wake the worker only when it asked for it: for the first item into an empty queue
//! and for the item that completes a batch. While items stream in at a batch or more per
//! millisecond the worker polls instead, so a busy caller makes no system call at all.
//!
//! Delivery policy:
//! - A batch is cut when `batch_size` items of one target are waiting, when `flush_interval`
//!   has passed since the first waiting item, on [`Dispatcher::flush`] /
//!   [`Dispatcher::request_flush`], when an item with a different target arrives (the items
//!   ahead of it go first, with their own target) and on [`Dispatcher::close`]. When more is
//!   waiting than the free request slots carry at `batch_size`, requests carry up to
//!   `max_per_request` items.
//! - [`SendOutcome::Retry`] is retried with exponential backoff and jitter (honouring a
//!   clamped `Retry-After`) up to `max_attempts` per flush. A batch that exhausts its attempts
//!   goes back to the head of the queue and waits for the next flush (interval tick, explicit
//!   flush, target change, close); until then no more batches are cut on batch size, so an
//!   outage costs one probe per interval rather than a retry storm. Nothing is lost while the
//!   queue has room.
//! - [`SendOutcome::Reject`] drops the batch, counts it as failed and logs the reason.
//! - A full queue refuses the item ([`EnqueueError::Full`]), counts it as dropped, and logs a
//!   warning for the first drop of each run of drops.

mod http_outcome;
mod mailbox;
mod pool;
mod settings;
mod stats;
mod worker;

#[cfg(test)]
pub(crate) mod test_log;
#[cfg(test)]
mod tests;

use std::io;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

use crate::one_shot::{Reply, deadline_after, one_shot};

pub(crate) use http_outcome::send_outcome;
use mailbox::{Mailbox, Pushed};
pub(crate) use settings::DispatchSettings;
use stats::Counters;
pub use stats::{DeliveryStats, QueueReport};
use worker::Worker;

/// Where batches go and how one is sent. Implementations block in [`send`](Self::send) (on
/// HTTP, with a request timeout); they run on the dispatcher's sender threads.
pub(crate) trait BatchSink: Send + Sync + 'static {
    /// One queued thing (an event).
    type Item: Send + 'static;
    /// Where a batch goes. Items are batched only with items of an equal target.
    type Target: Send + Sync + PartialEq + 'static;

    /// What an item is called in log lines, e.g. `"ODP event"`.
    fn kind(&self) -> &str;

    /// Sends one batch (never empty) to `target`.
    fn send(&self, target: &Self::Target, items: &[Self::Item]) -> SendOutcome;
}

/// The result of [`BatchSink::send`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum SendOutcome {
    /// The server took the batch.
    Delivered,
    /// A transient failure (network error, 5xx, 429): try again later.
    Retry {
        /// Why, for the log (never a secret).
        reason: String,
        /// How long the server asked us to wait, if it did.
        retry_after: Option<Duration>,
    },
    /// The server refused the batch for good: drop it.
    Reject {
        /// Why, for the log (never a secret).
        reason: String,
    },
}

/// Why [`Dispatcher::try_enqueue`] refused an item.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub(crate) enum EnqueueError {
    /// The queue is at capacity; the item was dropped and counted.
    #[error("the queue is full")]
    Full,
    /// The dispatcher is closed.
    #[error("the queue is closed")]
    Closed,
    /// There is no destination for the item (for ODP: the datafile has no ODP integration).
    #[error("no destination is configured")]
    NoTarget,
}

/// Requests to the worker besides items.
enum Control {
    /// Flush everything received so far; reply (if asked) once it is settled.
    Flush { reply: Option<(Reply<()>, Instant)> },
    /// Flush everything, stop by `deadline`, reply with the report.
    Close {
        deadline: Instant,
        reply: Reply<QueueReport>,
    },
}

/// State shared by the caller-side handle and the worker.
struct Shared {
    counters: Counters,
    capacity: usize,
    closed: AtomicBool,
    /// Set by the first drop of a run of drops; cleared by the next accepted item.
    dropping: AtomicBool,
    kind: String,
}

impl Shared {
    fn note_drop(&self) {
        self.counters.dropped();
        if !self.dropping.swap(true, Ordering::AcqRel) {
            log::warn!(
                "{} queue is full ({} queued); dropping new ones until there is room",
                self.kind,
                self.capacity
            );
        }
    }

    fn note_accepted(&self) {
        if self.dropping.load(Ordering::Relaxed) {
            self.dropping.store(false, Ordering::Release);
        }
    }
}

/// Handle to a running dispatcher. Dropping it without [`close`](Self::close) lets the
/// worker make a last bounded attempt to deliver what is queued, in the background.
pub(crate) struct Dispatcher<S: BatchSink> {
    mailbox: Arc<Mailbox<S>>,
    shared: Arc<Shared>,
    worker: Mutex<Option<JoinHandle<()>>>,
}

impl<S: BatchSink> Dispatcher<S> {
    /// Starts the worker thread `name` (sender threads are named `{name}-send` and started
    /// when first needed).
    pub(crate) fn start(name: &str, settings: DispatchSettings, sink: S) -> io::Result<Self> {
        let settings = settings.normalized();
        let mailbox = Arc::new(Mailbox::new());
        let shared = Arc::new(Shared {
            counters: Counters::default(),
            capacity: settings.queue_capacity,
            closed: AtomicBool::new(false),
            dropping: AtomicBool::new(false),
            kind: sink.kind().to_owned(),
        });
        let worker = Worker::new(
            settings,
            shared.clone(),
            mailbox.clone(),
            Arc::new(sink),
            format!("{name}-send"),
        );
        let handle = thread::Builder::new()
            .name(name.to_owned())
            .spawn(move || worker.run())?;
        Ok(Dispatcher {
            mailbox,
            shared,
            worker: Mutex::new(Some(handle)),
        })
    }

    /// Queues `item` for `target`. Never blocks on the worker and does no I/O.
    #[inline]
    pub(crate) fn try_enqueue(
        &self,
        target: &Arc<S::Target>,
        item: S::Item,
    ) -> Result<(), EnqueueError> {
        self.check_open()?;
        let pushed = self.mailbox.push(target, item, || self.admit());
        self.after_push(pushed)
    }

    /// Queues `item` for the target set with [`set_target`](Self::set_target);
    /// [`EnqueueError::NoTarget`] while there is none.
    #[inline]
    pub(crate) fn try_enqueue_current(&self, item: S::Item) -> Result<(), EnqueueError> {
        self.check_open()?;
        let pushed = self.mailbox.push_current(item, || self.admit());
        self.after_push(pushed)
    }

    /// Sets the target of [`try_enqueue_current`](Self::try_enqueue_current). Items queued
    /// before keep their target; the worker sends them first.
    pub(crate) fn set_target(&self, target: Option<Arc<S::Target>>) {
        self.mailbox.set_current(target);
    }

    /// The target of [`try_enqueue_current`](Self::try_enqueue_current).
    pub(crate) fn target(&self) -> Option<Arc<S::Target>> {
        self.mailbox.current()
    }

    fn check_open(&self) -> Result<(), EnqueueError> {
        if self.shared.closed.load(Ordering::Acquire) {
            return Err(EnqueueError::Closed);
        }
        Ok(())
    }

    fn admit(&self) -> bool {
        self.shared.counters.try_accept(self.shared.capacity)
    }

    fn after_push(&self, pushed: Result<Pushed, EnqueueError>) -> Result<(), EnqueueError> {
        match pushed {
            Ok(pushed) => {
                self.shared.note_accepted();
                if pushed == Pushed::Ring {
                    self.mailbox.ring();
                }
                Ok(())
            }
            Err(EnqueueError::Full) => {
                self.shared.note_drop();
                Err(EnqueueError::Full)
            }
            Err(error) => Err(error),
        }
    }

    /// Asks the worker to flush everything queued so far, without waiting.
    pub(crate) fn request_flush(&self) {
        self.mailbox.request_flush();
    }

    /// Flushes everything queued before the call and waits, at most `timeout`, until each of
    /// those items is delivered, rejected, or kept for the next flush after exhausting its
    /// attempts. Returns `false` if the timeout passed first.
    pub(crate) fn flush(&self, timeout: Duration) -> bool {
        let deadline = deadline_after(Instant::now(), timeout);
        let (reply, settled) = one_shot();
        let request = Control::Flush {
            reply: Some((reply, deadline)),
        };
        if !self.mailbox.post_control(request) {
            return self.shared.counters.queued() == 0;
        }
        settled.wait_until(deadline).is_ok()
    }

    /// Stops accepting items, flushes at once, and waits at most `timeout` for delivery before
    /// stopping the worker. Sender threads still waiting on a server are not waited for; they
    /// end with their request timeout. Safe to call more than once.
    pub(crate) fn close(&self, timeout: Duration) -> QueueReport {
        let now = Instant::now();
        let deadline = deadline_after(now, timeout);
        // The worker stops a little earlier so its report reaches us before our deadline.
        let worker_deadline = deadline_after(now, timeout - timeout / 10);
        self.shared.closed.store(true, Ordering::Release);
        let (reply, report) = one_shot();
        let request = Control::Close {
            deadline: worker_deadline,
            reply,
        };
        let report = if self.mailbox.post_control(request) {
            report.wait_until(deadline).ok()
        } else {
            None
        };
        match report {
            Some(report) => {
                self.join_worker();
                report
            }
            None => self.report_without_worker(),
        }
    }

    /// Current counters (a few atomic loads).
    pub(crate) fn stats(&self) -> DeliveryStats {
        self.shared.counters.snapshot()
    }

    fn join_worker(&self) {
        let handle = self.worker.lock().ok().and_then(|mut worker| worker.take());
        if let Some(handle) = handle {
            // The worker has replied and is returning; a panic there has nothing left to undo.
            let _ = handle.join();
        }
    }

    fn report_without_worker(&self) -> QueueReport {
        let stats = self.stats();
        QueueReport {
            undelivered: stats.queued,
            timed_out: stats.queued > 0,
            stats,
        }
    }
}

impl<S: BatchSink> Drop for Dispatcher<S> {
    fn drop(&mut self) {
        // Without `close`, the worker makes a last bounded attempt to deliver what is queued.
        self.mailbox.hang_up();
    }
}
