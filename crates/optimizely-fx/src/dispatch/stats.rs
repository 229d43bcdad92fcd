//! Delivery counters shared by a dispatcher's caller side and its worker.

use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};

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

/// The atomics behind [`DeliveryStats`]. `queued` doubles as the capacity gate.
#[derive(Debug, Default)]
pub(super) struct Counters {
    queued: AtomicUsize,
    sent: AtomicU64,
    retried: AtomicU64,
    failed: AtomicU64,
    dropped: AtomicU64,
}

impl Counters {
    /// Reserves room for one item; `false` (and nothing reserved) when `capacity` is reached.
    pub(super) fn try_reserve(&self, capacity: usize) -> bool {
        if self.queued.fetch_add(1, Ordering::AcqRel) < capacity {
            return true;
        }
        self.queued.fetch_sub(1, Ordering::AcqRel);
        false
    }

    /// Gives back a reservation whose item never entered the queue.
    pub(super) fn unreserve(&self) {
        // Saturating: a reservation racing with `give_up_all` may already have been written off.
        let _ = self
            .queued
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |n| {
                Some(n.saturating_sub(1))
            });
    }

    pub(super) fn queued(&self) -> u64 {
        self.queued.load(Ordering::Acquire) as u64
    }

    pub(super) fn delivered(&self, items: usize) {
        self.sent.fetch_add(items as u64, Ordering::Relaxed);
        self.queued.fetch_sub(items, Ordering::AcqRel);
    }

    pub(super) fn given_up(&self, items: usize) {
        self.failed.fetch_add(items as u64, Ordering::Relaxed);
        self.queued.fetch_sub(items, Ordering::AcqRel);
    }

    /// Gives up every item still queued; returns how many there were.
    pub(super) fn give_up_all(&self) -> u64 {
        let left = self.queued.swap(0, Ordering::AcqRel);
        self.failed.fetch_add(left as u64, Ordering::Relaxed);
        left as u64
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
