//! The hand-over point between callers and the worker: a short-held mutex around a list of
//! items. A caller's enqueue is one uncontended lock, a move of the item and an unlock; the
//! worker takes everything at once by swapping buffers, so memory is reused instead of
//! allocated per item, and neither side waits on the other for more than a few instructions.
//!
//! The target of the items is recorded once per run of items with the same target (in a
//! short side list of target changes), not once per item, so an enqueue touches no reference
//! count.
//!
//! The mailbox also holds the length at which the worker wants to be woken (`ring_at`), read
//! and written under the same lock as the items, so a caller can never miss a threshold the
//! worker published while going to sleep.

use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use super::{BatchSink, EnqueueError};

/// Spare buffers larger than this many items are shrunk when mostly empty.
const KEEP_CAPACITY: usize = 1024;

/// Items taken out of the mailbox in one go, with the targets they were queued for.
pub(super) struct Taken<S: BatchSink> {
    items: Vec<S::Item>,
    /// `(index of the first item, target)`, ascending; items before the first change keep the
    /// target of the previous take.
    changes: Vec<(usize, Arc<S::Target>)>,
}

impl<S: BatchSink> Taken<S> {
    pub(super) fn new() -> Self {
        Taken {
            items: Vec::new(),
            changes: Vec::new(),
        }
    }

    /// Hands each item to `receive` in order, together with its target change if one starts
    /// at it; leaves the buffers empty, their memory kept (or trimmed when far too large).
    pub(super) fn drain(&mut self, mut receive: impl FnMut(Option<Arc<S::Target>>, S::Item)) {
        let taken = self.items.len();
        let mut changes = self.changes.drain(..).peekable();
        for (index, item) in self.items.drain(..).enumerate() {
            let change = changes
                .next_if(|(first, _)| *first == index)
                .map(|(_, target)| target);
            receive(change, item);
        }
        drop(changes);
        trim(&mut self.items, taken);
    }

    fn is_empty(&self) -> bool {
        self.items.is_empty() && self.changes.is_empty()
    }
}

pub(super) struct Mailbox<S: BatchSink> {
    state: Mutex<State<S>>,
}

struct State<S: BatchSink> {
    queued: Taken<S>,
    /// Target of [`Mailbox::push_current`]; `None` refuses those items.
    current: Option<Arc<S::Target>>,
    /// Target of the latest item pushed (the worker's view after it takes the items).
    last_pushed: Option<Arc<S::Target>>,
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
                last_pushed: None,
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
        state.accept(admit)?;
        state.note_target(target);
        state.queued.items.push(item);
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
            current,
            last_pushed,
            ..
        } = &*state;
        let Some(current) = current else {
            return Err(EnqueueError::NoTarget);
        };
        let new_run = !last_pushed
            .as_ref()
            .is_some_and(|last| Arc::ptr_eq(last, current));
        let current = new_run.then(|| current.clone());
        state.accept(admit)?;
        if let Some(current) = current {
            state.note_target(&current);
        }
        state.queued.items.push(item);
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
            state.last_pushed = None;
            std::mem::replace(&mut state.queued, Taken::new())
        };
        drop(left);
    }
}

impl<S: BatchSink> State<S> {
    fn accept(&self, admit: impl FnOnce() -> bool) -> Result<(), EnqueueError> {
        if !self.open {
            return Err(EnqueueError::Closed);
        }
        if !admit() {
            return Err(EnqueueError::Full);
        }
        Ok(())
    }

    /// Records a target change ahead of the next item when `target` is not the last one.
    fn note_target(&mut self, target: &Arc<S::Target>) {
        let same = self
            .last_pushed
            .as_ref()
            .is_some_and(|last| Arc::ptr_eq(last, target));
        if !same {
            let index = self.queued.items.len();
            self.queued.changes.push((index, Arc::clone(target)));
            self.last_pushed = Some(Arc::clone(target));
        }
    }

    fn take_ring(&mut self) -> Pushed {
        if self.ring_at != 0 && self.queued.items.len() >= self.ring_at {
            self.ring_at = 0;
            return Pushed::Ring;
        }
        Pushed::Quiet
    }
}

/// Gives a drained buffer back its memory when it grew far beyond what arrives now.
fn trim<T>(buffer: &mut Vec<T>, last_taken: usize) {
    let wanted = last_taken.max(KEEP_CAPACITY);
    if buffer.capacity() > 4 * wanted {
        buffer.shrink_to(wanted);
    }
}
