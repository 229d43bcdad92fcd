//! The hand-over point between callers and the worker: a short-held mutex around a list of
//! items. A caller's enqueue is one uncontended lock, a move of the item and an unlock; the
//! worker takes everything at once by swapping buffers, so memory is reused instead of
//! allocated per item, and neither side waits on the other for more than a few instructions.
//!
//! The target of the items is recorded once per run of items with the same target, not once
//! per item, so an enqueue touches no reference count.
//!
//! The mailbox is the worker's whole inbox: besides items it takes flush and close requests
//! and the batches the sender threads finished, and the worker sleeps on its condition
//! variable. The length at which the worker wants to be woken for items (`ring_at`) is read
//! and written under the same lock as the items, so a caller can never miss a threshold the
//! worker published while going to sleep.

use std::sync::{Arc, Condvar, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use super::pool::Finished;
use super::{BatchSink, Control, EnqueueError};

/// Flush (with a reply) and close requests the mailbox holds at most; they are few and the
/// worker takes them at once.
const CONTROL_CAPACITY: usize = 64;

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

    #[inline]
    fn push(&mut self, target: &Arc<S::Target>, item: S::Item) {
        match self.runs.last_mut() {
            Some((last, count)) if Arc::ptr_eq(last, target) => *count += 1,
            _ => self.runs.push((Arc::clone(target), 1)),
        }
        self.items.push(item);
    }
}

/// What the worker is told besides items, taken in one go.
pub(super) struct Messages<S: BatchSink> {
    pub(super) controls: Vec<Control>,
    pub(super) finished: Vec<Finished<S>>,
    /// A flush without a reply was asked for (any number of such requests make one).
    pub(super) flush_requested: bool,
    /// The dispatcher handle was dropped.
    pub(super) hung_up: bool,
}

impl<S: BatchSink> Messages<S> {
    pub(super) fn new() -> Self {
        Messages {
            controls: Vec::new(),
            finished: Vec::new(),
            flush_requested: false,
            hung_up: false,
        }
    }

    fn is_empty(&self) -> bool {
        self.controls.is_empty()
            && self.finished.is_empty()
            && !self.flush_requested
            && !self.hung_up
    }

    /// Moves everything from `from` into `self` (which must be empty).
    fn take_from(&mut self, from: &mut Self) {
        std::mem::swap(&mut self.controls, &mut from.controls);
        std::mem::swap(&mut self.finished, &mut from.finished);
        self.flush_requested = std::mem::take(&mut from.flush_requested);
        self.hung_up = std::mem::take(&mut from.hung_up);
    }
}

pub(super) struct Mailbox<S: BatchSink> {
    state: Mutex<State<S>>,
    /// Where the worker sleeps.
    wake: Condvar,
}

struct State<S: BatchSink> {
    queued: Taken<S>,
    messages: Messages<S>,
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
    /// Wake the worker with [`Mailbox::ring`]: it sleeps until the queue reaches this
    /// length.
    Ring,
}

impl<S: BatchSink> Mailbox<S> {
    pub(super) fn new() -> Self {
        Mailbox {
            state: Mutex::new(State {
                queued: Taken::new(),
                messages: Messages::new(),
                current: None,
                ring_at: 0,
                open: true,
            }),
            wake: Condvar::new(),
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

    /// Wakes the worker after a push answered [`Pushed::Ring`].
    pub(super) fn ring(&self) {
        self.wake.notify_one();
    }

    /// Hands the worker a flush or close request; `false` (the request dropped, which
    /// answers it "gone") when the worker has stopped or [`CONTROL_CAPACITY`] requests are
    /// already waiting.
    pub(super) fn post_control(&self, control: Control) -> bool {
        self.post(|messages| {
            let room = messages.controls.len() < CONTROL_CAPACITY;
            if room {
                messages.controls.push(control);
            }
            room
        })
        .unwrap_or(false)
    }

    /// Asks the worker for a flush without a reply.
    pub(super) fn request_flush(&self) {
        let _ = self.post(|messages| messages.flush_requested = true);
    }

    /// Hands the worker a batch a sender thread is done with.
    pub(super) fn post_finished(&self, finished: Finished<S>) {
        let _ = self.post(|messages| messages.finished.push(finished));
    }

    /// Tells the worker the dispatcher handle is gone.
    pub(super) fn hang_up(&self) {
        let _ = self.post(|messages| messages.hung_up = true);
    }

    /// Applies `update` to the messages and wakes the worker; `None` (with `update` not
    /// run) once the worker has stopped.
    fn post<T>(&self, update: impl FnOnce(&mut Messages<S>) -> T) -> Option<T> {
        let mut state = self.lock();
        if !state.open {
            return None;
        }
        let result = update(&mut state.messages);
        drop(state);
        self.wake.notify_one();
        Some(result)
    }

    /// Sleeps until there are messages, `ring_at` items (0: items never wake the worker) or
    /// `timeout` passed, then moves the messages into `into` (which must be empty).
    pub(super) fn wait(&self, ring_at: usize, timeout: Duration, into: &mut Messages<S>) {
        debug_assert!(into.is_empty());
        let mut state = self.lock();
        state.ring_at = ring_at;
        let items_due = |state: &State<S>| ring_at != 0 && state.queued.items.len() >= ring_at;
        let (mut state, _) = self
            .wake
            .wait_timeout_while(state, timeout, |state| {
                !items_due(state) && state.messages.is_empty()
            })
            .unwrap_or_else(PoisonError::into_inner);
        state.ring_at = 0;
        into.take_from(&mut state.messages);
    }

    /// Refuses later pushes and messages, and drops what is still in the mailbox (a
    /// request still waiting is answered "gone" that way).
    pub(super) fn shut(&self) {
        let left = {
            let mut state = self.lock();
            state.open = false;
            state.current = None;
            let queued = std::mem::replace(&mut state.queued, Taken::new());
            let messages = std::mem::replace(&mut state.messages, Messages::new());
            (queued, messages)
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
