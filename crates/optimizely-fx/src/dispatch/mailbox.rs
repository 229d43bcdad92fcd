//! The hand-over point between callers and the worker: a short-held mutex around a list of
//! items. A caller's enqueue is one uncontended lock, a move of the item and an unlock; the
//! worker takes everything at once by swapping buffers, so memory is reused instead of
//! allocated per item, and neither side waits on the other for more than a few instructions.
//!
//! The target of the items is recorded once per run of items with the same target, not once
//! per item, so an enqueue touches no reference count.
//!
//! The mailbox also holds the length at which the worker wants to be woken (`ring_at`), read
//! and written under the same lock as the items, so a caller can never miss a threshold the
//! worker published while going to sleep.

use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use super::{BatchSink, EnqueueError};

/// Spare buffers larger than this many items are shrunk when mostly empty.
const KEEP_CAPACITY: usize = 1024;

/// Items taken out of the mailbox in one go, in runs of items with the same target.
pub(super) struct Taken<S: BatchSink> {
    items: Vec<S::Item>,
    /// `(target, number of items)` in order; together they cover `items`.
    runs: Vec<(Arc<S::Target>, usize)>,
}

impl<S: BatchSink> Taken<S> {
    pub(super) fn new() -> Self {
        Taken {
            items: Vec::new(),
            runs: Vec::new(),
        }
    }

    /// Hands each item to `receive` in order, with its target; leaves the buffers empty,
    /// their memory kept (or trimmed when far too large).
    pub(super) fn drain(&mut self, mut receive: impl FnMut(&Arc<S::Target>, S::Item)) {
        let taken = self.items.len();
        let mut items = self.items.drain(..);
        for (target, count) in self.runs.drain(..) {
            for item in items.by_ref().take(count) {
                receive(&target, item);
            }
        }
        drop(items);
        trim(&mut self.items, taken);
    }

    fn is_empty(&self) -> bool {
        self.items.is_empty() && self.runs.is_empty()
    }

    fn push(&mut self, target: &Arc<S::Target>, item: S::Item) {
        match self.runs.last_mut() {
            Some((last, count)) if Arc::ptr_eq(last, target) => *count += 1,
            _ => self.runs.push((Arc::clone(target), 1)),
        }
        self.items.push(item);
    }
}

pub(super) struct Mailbox<S: BatchSink> {
    state: Mutex<State<S>>,
}

struct State<S: BatchSink> {
    queued: Taken<S>,
    /// Target of [`Mailbox::push_current`]; `None` refuses those items.
    current: Option<Arc<S::Target>>,
    /// Number of items at which a push asks the caller to ring; 0 for never.
    ring_at: usize,
    /// Cleared when the worker stops: later pushes are refused.
    open: bool,
}

/// What a successful push asks of the caller.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Pushed {
    /// Nothing: the worker is awake or polling.
    Quiet,
    /// Ring the doorbell: the worker sleeps until the queue reaches this length.
    Ring,
}

impl<S: BatchSink> Mailbox<S> {
    pub(super) fn new() -> Self {
        Mailbox {
            state: Mutex::new(State {
                queued: Taken::new(),
                current: None,
                ring_at: 0,
                open: true,
            }),
        }
    }

    fn lock(&self) -> MutexGuard<'_, State<S>> {
        // Nothing under this lock can panic half-way through an update.
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Sets the target of [`push_current`](Self::push_current); items already pushed keep
    /// theirs.
    pub(super) fn set_current(&self, target: Option<Arc<S::Target>>) {
        self.lock().current = target;
    }

    pub(super) fn current(&self) -> Option<Arc<S::Target>> {
        self.lock().current.clone()
    }

    /// Pushes `item` for `target`. `admit` is called under the lock once the item is known
    /// to be accepted otherwise; returning `false` refuses it as [`EnqueueError::Full`].
    #[inline]
    pub(super) fn push(
        &self,
        target: &Arc<S::Target>,
        item: S::Item,
        admit: impl FnOnce() -> bool,
    ) -> Result<Pushed, EnqueueError> {
        let mut state = self.lock();
        accept(state.open, admit)?;
        state.queued.push(target, item);
        Ok(state.take_ring())
    }

    /// Pushes `item` for the current target ([`EnqueueError::NoTarget`] when there is none).
    #[inline]
    pub(super) fn push_current(
        &self,
        item: S::Item,
        admit: impl FnOnce() -> bool,
    ) -> Result<Pushed, EnqueueError> {
        let mut state = self.lock();
        let State {
            queued,
            current,
            open,
            ..
        } = &mut *state;
        let Some(current) = current.as_ref() else {
            return Err(EnqueueError::NoTarget);
        };
        accept(*open, admit)?;
        queued.push(current, item);
        Ok(state.take_ring())
    }

    /// Moves everything queued into `into` (which must be empty) and clears the ring
    /// threshold.
    pub(super) fn take_all(&self, into: &mut Taken<S>) {
        debug_assert!(into.is_empty());
        let mut state = self.lock();
        state.ring_at = 0;
        std::mem::swap(&mut state.queued, into);
    }

    /// Publishes `ring_at` unless the mailbox already holds that many items; `true` when it
    /// does (the worker should take them in instead of sleeping).
    pub(super) fn sleep_until(&self, ring_at: usize) -> bool {
        let mut state = self.lock();
        if ring_at != 0 && state.queued.items.len() >= ring_at {
            state.ring_at = 0;
            return true;
        }
        state.ring_at = ring_at;
        false
    }

    /// Refuses later pushes and drops what is still in the mailbox.
    pub(super) fn shut(&self) {
        let left = {
            let mut state = self.lock();
            state.open = false;
            state.current = None;
            std::mem::replace(&mut state.queued, Taken::new())
        };
        drop(left);
    }
}

impl<S: BatchSink> State<S> {
    fn take_ring(&mut self) -> Pushed {
        if self.ring_at != 0 && self.queued.items.len() >= self.ring_at {
            self.ring_at = 0;
            return Pushed::Ring;
        }
        Pushed::Quiet
    }
}

/// Whether an item may go in: the mailbox is open and `admit` (the capacity count) agrees.
fn accept(open: bool, admit: impl FnOnce() -> bool) -> Result<(), EnqueueError> {
    if !open {
        return Err(EnqueueError::Closed);
    }
    if !admit() {
        return Err(EnqueueError::Full);
    }
    Ok(())
}

/// Gives a drained buffer back its memory when it grew far beyond what arrives now.
fn trim<T>(buffer: &mut Vec<T>, last_taken: usize) {
    let wanted = last_taken.max(KEEP_CAPACITY);
    if buffer.capacity() > 4 * wanted {
        buffer.shrink_to(wanted);
    }
}
