//! A one-shot hand-over between two threads: one value, or the news that none will come.
//!
//! The sending half wakes the receiver when it sends and also when it is dropped unsent, so
//! a thread that ends early (or panics) never leaves the other waiting for its deadline.

use std::fmt;
use std::sync::{Arc, Condvar, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

/// A new pair: the sending half and the receiving half.
pub(crate) fn one_shot<T>() -> (Reply<T>, Awaited<T>) {
    let cell = Arc::new(Cell {
        state: Mutex::new(State::Empty),
        changed: Condvar::new(),
    });
    (Reply(Some(cell.clone())), Awaited(cell))
}

struct Cell<T> {
    state: Mutex<State<T>>,
    changed: Condvar,
}

enum State<T> {
    Empty,
    Sent(T),
    /// The sending half was dropped without sending, or the value was already taken.
    Gone,
}

impl<T> Cell<T> {
    fn lock(&self) -> MutexGuard<'_, State<T>> {
        // Every update under this lock is a single assignment.
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn settle(&self, settled: State<T>) {
        let mut state = self.lock();
        if matches!(*state, State::Empty) {
            *state = settled;
        }
        drop(state);
        self.changed.notify_all();
    }
}

/// The sending half of [`one_shot`]. Dropping it unsent tells the receiver nothing will come.
pub(crate) struct Reply<T>(Option<Arc<Cell<T>>>);

impl<T> Reply<T> {
    /// Hands `value` over and wakes the receiver.
    pub(crate) fn send(mut self, value: T) {
        if let Some(cell) = self.0.take() {
            cell.settle(State::Sent(value));
        }
    }
}

impl<T> Drop for Reply<T> {
    fn drop(&mut self) {
        if let Some(cell) = self.0.take() {
            cell.settle(State::Gone);
        }
    }
}

impl<T> fmt::Debug for Reply<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Reply").finish_non_exhaustive()
    }
}

/// Why [`Awaited::wait_until`] returned without a value.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum NoValue {
    /// The deadline passed first.
    TimedOut,
    /// The sending half was dropped unsent (or the value was taken before).
    Gone,
}

/// The receiving half of [`one_shot`].
pub(crate) struct Awaited<T>(Arc<Cell<T>>);

impl<T> Awaited<T> {
    /// Waits until the value arrives, the sending half is dropped, or `timeout` passes.
    pub(crate) fn wait_for(&self, timeout: Duration) -> Result<T, NoValue> {
        let state = self.0.lock();
        let (mut state, _) = self
            .0
            .changed
            .wait_timeout_while(state, timeout, |state| matches!(state, State::Empty))
            .unwrap_or_else(PoisonError::into_inner);
        if matches!(*state, State::Empty) {
            return Err(NoValue::TimedOut);
        }
        match std::mem::replace(&mut *state, State::Gone) {
            State::Sent(value) => Ok(value),
            State::Empty | State::Gone => Err(NoValue::Gone),
        }
    }

    /// [`wait_for`](Self::wait_for) until `deadline`.
    pub(crate) fn wait_until(&self, deadline: Instant) -> Result<T, NoValue> {
        self.wait_for(deadline.saturating_duration_since(Instant::now()))
    }
}

impl<T> fmt::Debug for Awaited<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Awaited").finish_non_exhaustive()
    }
}

/// `now + timeout`, capped far in the future instead of overflowing.
pub(crate) fn deadline_after(now: Instant, timeout: Duration) -> Instant {
    const FAR: Duration = Duration::from_secs(100 * 365 * 24 * 3600);
    now.checked_add(timeout.min(FAR))
        .unwrap_or_else(|| now + Duration::from_secs(24 * 3600))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::thread;

    const LONG: Duration = Duration::from_secs(30);

    #[test]
    fn a_sent_value_arrives_once() {
        let (reply, awaited) = one_shot();
        let sender = thread::spawn(move || reply.send(7));
        assert_eq!(awaited.wait_for(LONG), Ok(7));
        sender.join().unwrap();
        assert_eq!(awaited.wait_for(LONG), Err(NoValue::Gone));
    }

    #[test]
    fn dropping_the_sender_unsent_wakes_the_receiver() {
        let (reply, awaited) = one_shot::<u32>();
        let dropper = thread::spawn(move || drop(reply));
        assert_eq!(awaited.wait_for(LONG), Err(NoValue::Gone));
        dropper.join().unwrap();
    }

    #[test]
    fn a_sender_that_panics_wakes_the_receiver() {
        let (reply, awaited) = one_shot::<u32>();
        let panicking = thread::spawn(move || {
            let _reply = reply;
            panic!("sender failed");
        });
        assert_eq!(awaited.wait_for(LONG), Err(NoValue::Gone));
        assert!(panicking.join().is_err());
    }

    #[test]
    fn waiting_times_out_while_the_sender_holds_on() {
        let (reply, awaited) = one_shot::<u32>();
        assert_eq!(
            awaited.wait_for(Duration::from_millis(20)),
            Err(NoValue::TimedOut)
        );
        reply.send(1);
        assert_eq!(awaited.wait_for(LONG), Ok(1));
    }

    #[test]
    fn huge_timeouts_do_not_overflow() {
        let now = Instant::now();
        assert!(deadline_after(now, Duration::MAX) > now);
    }
}
