//! Delivery counters shared by a dispatcher's caller side and its worker.

use std::sync::atomic::{AtomicU64, Ordering};

/// Counters of a background event queue (ODP events, impression and conversion events).
///
/// Every accepted item is, at any moment, counted exactly once in `queued`, `sent` or
/// `failed`; `dropped` counts items that were never accepted.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub struct DeliveryStats {
    /// Items accepted and not yet delivered or given up: waiting, in flight, or kept at the
    /// head of the queue after a batch exhausted its attempts. A gauge, not a total.
    pub queued: u64,
    /// Items the server accepted (2xx).
    pub sent: u64,
    /// Item send failures that were retried: each time a retryable failure (network error,
    /// 5xx, 429) leaves items for another attempt — after a backoff, or on the next flush
    /// once a batch has used all its attempts — their number is added here.
    pub retried: u64,
    /// Items given up: rejected by the server (a 4xx other than 429, or a request that could
    /// not be built), or still undelivered when the queue was closed.
    pub failed: u64,
    /// Items refused because the queue was full. They were never queued.
    pub dropped: u64,
}

/// What closing a background event queue left behind.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub struct QueueReport {
    /// Items not confirmed delivered when the queue stopped: never sent, kept after failed
    /// attempts, or still in flight at the deadline (the server may yet receive those).
    /// They are also counted in [`DeliveryStats::failed`].
    pub undelivered: u64,
    /// Whether the deadline passed before everything queued had been delivered or given up.
    pub timed_out: bool,
    /// Counters after closing.
    pub stats: DeliveryStats,
}

/// The atomics behind [`DeliveryStats`].
///
/// `queued` is `accepted - settled`: `accepted` is written only by the holder of the mailbox
/// lock (so an enqueue pays a plain store, not a read-modify-write) and `settled` only by the
/// worker thread. Both only grow.
#[derive(Debug, Default)]
pub(super) struct Counters {
    accepted: AtomicU64,
    settled: AtomicU64,
    sent: AtomicU64,
    retried: AtomicU64,
    failed: AtomicU64,
    dropped: AtomicU64,
}

impl Counters {
    /// Counts one more accepted item unless `capacity` items are queued; `false` when full.
    /// Only the holder of the mailbox lock may call this: it is the only writer of `accepted`.
    pub(super) fn try_accept(&self, capacity: usize) -> bool {
        let accepted = self.accepted.load(Ordering::Relaxed);
        let settled = self.settled.load(Ordering::Acquire);
        if accepted.saturating_sub(settled) >= capacity as u64 {
            return false;
        }
        self.accepted.store(accepted + 1, Ordering::Release);
        true
    }

    pub(super) fn queued(&self) -> u64 {
        // `settled` first: every item it counts was accepted before it is read.
        let settled = self.settled.load(Ordering::Acquire);
        self.accepted
            .load(Ordering::Acquire)
            .saturating_sub(settled)
    }

    /// Called by the worker thread only.
    pub(super) fn delivered(&self, items: usize) {
        self.sent.fetch_add(items as u64, Ordering::Relaxed);
        self.settle(items as u64);
    }

    /// Called by the worker thread only.
    pub(super) fn given_up(&self, items: usize) {
        self.failed.fetch_add(items as u64, Ordering::Relaxed);
        self.settle(items as u64);
    }

    /// Gives up every item still queued; returns how many there were. Called by the worker
    /// thread once the mailbox refuses new items.
    pub(super) fn give_up_all(&self) -> u64 {
        let left = self.queued();
        self.given_up(left as usize);
        left
    }

    fn settle(&self, items: u64) {
        self.settled.fetch_add(items, Ordering::Release);
    }

    pub(super) fn retried(&self, items: usize) {
        self.retried.fetch_add(items as u64, Ordering::Relaxed);
    }

    pub(super) fn dropped(&self) {
        self.dropped.fetch_add(1, Ordering::Relaxed);
    }

    pub(super) fn snapshot(&self) -> DeliveryStats {
        DeliveryStats {
            queued: self.queued(),
            sent: self.sent.load(Ordering::Relaxed),
            retried: self.retried.load(Ordering::Relaxed),
            failed: self.failed.load(Ordering::Relaxed),
            dropped: self.dropped.load(Ordering::Relaxed),
        }
    }
}
