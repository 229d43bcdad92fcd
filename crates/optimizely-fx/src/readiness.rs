//! Readiness of a client: whether it has a config yet, blocking and async ways to wait for
//! that, and the reason the last datafile fetch failed.
//!
//! The async wait is a hand-written future over the shared state, so it works on any executor
//! (or none). Ready and closed transitions wake stored wakers directly; the timeout is served
//! by a small helper thread per waiting future that sleeps on the same condition variable, so it
//! ends as soon as the client becomes ready or closed, or the future is dropped.

use std::collections::HashMap;
use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Condvar, Mutex, MutexGuard, PoisonError};
use std::task::{Context, Poll, Waker};
use std::time::{Duration, Instant};

use crate::error::{FetchError, ReadyError};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    Waiting,
    Ready,
    Closed,
}

#[derive(Debug)]
struct State {
    phase: Phase,
    last_failure: Option<FetchError>,
    last_waiter_id: u64,
    /// Wakers of pending [`ReadyFuture`]s, by waiter id. An entry lives as long as its future.
    wakers: HashMap<u64, Option<Waker>>,
}

/// Shared readiness state of one client.
#[derive(Debug)]
pub(crate) struct Readiness {
    state: Mutex<State>,
    changed: Condvar,
}

impl Readiness {
    pub(crate) fn new() -> Self {
        Readiness {
            state: Mutex::new(State {
                phase: Phase::Waiting,
                last_failure: None,
                last_waiter_id: 0,
                wakers: HashMap::new(),
            }),
            changed: Condvar::new(),
        }
    }

    fn state(&self) -> MutexGuard<'_, State> {
        // No code panics while holding this lock except through a poisoned waker; the state
        // itself is always consistent.
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    pub(crate) fn is_ready(&self) -> bool {
        self.state().phase == Phase::Ready
    }

    /// Marks the client ready. Once ready, a client stays ready (even after close).
    pub(crate) fn mark_ready(&self) {
        self.transition(Phase::Ready);
    }

    /// Marks the client closed; waiters that are still waiting get [`ReadyError::Closed`].
    pub(crate) fn mark_closed(&self) {
        self.transition(Phase::Closed);
    }

    fn transition(&self, to: Phase) {
        let mut state = self.state();
        if state.phase != Phase::Waiting {
            return;
        }
        state.phase = to;
        if to == Phase::Ready {
            state.last_failure = None;
        }
        let wakers: Vec<Waker> = state.wakers.values().flatten().cloned().collect();
        drop(state);
        self.changed.notify_all();
        // Woken outside the lock, in case a waker polls its future right away.
        wakers.iter().for_each(Waker::wake_by_ref);
    }

    pub(crate) fn record_failure(&self, failure: FetchError) {
        self.state().last_failure = Some(failure);
    }

    pub(crate) fn wait(&self, timeout: Duration) -> Result<(), ReadyError> {
        let deadline = Instant::now().checked_add(timeout);
        let mut state = self.state();
        loop {
            if let Some(outcome) = outcome_of(&state, deadline, timeout) {
                return outcome;
            }
            state = match deadline {
                Some(deadline) => {
                    let remaining = deadline.saturating_duration_since(Instant::now());
                    self.changed
                        .wait_timeout(state, remaining)
                        .unwrap_or_else(PoisonError::into_inner)
                        .0
                }
                None => self
                    .changed
                    .wait(state)
                    .unwrap_or_else(PoisonError::into_inner),
            };
        }
    }

    pub(crate) fn wait_async(self: &Arc<Self>, timeout: Duration) -> ReadyFuture {
        let mut state = self.state();
        state.last_waiter_id += 1;
        let id = state.last_waiter_id;
        state.wakers.insert(id, None);
        drop(state);
        ReadyFuture {
            readiness: Arc::clone(self),
            id,
            timeout,
            deadline: Instant::now().checked_add(timeout),
            timer_started: false,
        }
    }

    /// Body of the timer thread of waiter `id`: waits until the deadline, a phase change or the
    /// waiter's removal, then wakes the waiter so its future re-checks the state.
    fn run_timer(&self, id: u64, deadline: Instant) {
        let mut state = self.state();
        while state.phase == Phase::Waiting && state.wakers.contains_key(&id) {
            let remaining = deadline.saturating_duration_since(Instant::now());
            if remaining.is_zero() {
                break;
            }
            state = self
                .changed
                .wait_timeout(state, remaining)
                .unwrap_or_else(PoisonError::into_inner)
                .0;
        }
        let waker = state.wakers.get(&id).cloned().flatten();
        drop(state);
        if let Some(waker) = waker {
            waker.wake();
        }
    }
}

fn outcome_of(
    state: &State,
    deadline: Option<Instant>,
    timeout: Duration,
) -> Option<Result<(), ReadyError>> {
    match state.phase {
        Phase::Ready => Some(Ok(())),
        Phase::Closed => Some(Err(ReadyError::Closed {
            last_failure: state.last_failure.clone(),
        })),
        Phase::Waiting if deadline.is_some_and(|deadline| Instant::now() >= deadline) => {
            Some(Err(ReadyError::Timeout {
                timeout,
                last_failure: state.last_failure.clone(),
            }))
        }
        Phase::Waiting => None,
    }
}

/// Future returned by [`Client::ready`](crate::Client::ready): resolves when the client has a
/// config, was closed, or the timeout expired.
///
/// It needs no particular async runtime and never blocks the thread that polls it. While it is
/// pending it keeps one small helper thread sleeping until its deadline (none when the timeout
/// is too large to represent, i.e. "wait forever").
#[derive(Debug)]
#[must_use = "futures do nothing unless polled"]
pub struct ReadyFuture {
    readiness: Arc<Readiness>,
    id: u64,
    timeout: Duration,
    deadline: Option<Instant>,
    timer_started: bool,
}

impl ReadyFuture {
    fn start_timer(&mut self) {
        let Some(deadline) = self.deadline else {
            self.timer_started = true;
            return;
        };
        let readiness = Arc::clone(&self.readiness);
        let id = self.id;
        let spawned = std::thread::Builder::new()
            .name("optimizely-fx-ready-timer".to_owned())
            .spawn(move || readiness.run_timer(id, deadline));
        match spawned {
            Ok(_) => self.timer_started = true,
            Err(error) => {
                // Retried on the next poll; meanwhile ready/close still wake this future.
                log::error!("Cannot start the readiness timer thread: {error}");
            }
        }
    }
}

impl Future for ReadyFuture {
    type Output = Result<(), ReadyError>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = &mut *self;
        let mut state = this.readiness.state();
        if let Some(outcome) = outcome_of(&state, this.deadline, this.timeout) {
            return Poll::Ready(outcome);
        }
        match state.wakers.get_mut(&this.id) {
            Some(Some(waker)) if waker.will_wake(cx.waker()) => {}
            Some(slot) => *slot = Some(cx.waker().clone()),
            None => {
                state.wakers.insert(this.id, Some(cx.waker().clone()));
            }
        }
        drop(state);
        if !this.timer_started {
            this.start_timer();
        }
        Poll::Pending
    }
}

impl Drop for ReadyFuture {
    fn drop(&mut self) {
        let removed = self.readiness.state().wakers.remove(&self.id).is_some();
        if removed && self.timer_started {
            // Lets this future's timer thread see that nobody is waiting any more.
            self.readiness.changed.notify_all();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::task::Wake;

    struct CountingWaker(AtomicUsize);

    impl Wake for CountingWaker {
        fn wake(self: Arc<Self>) {
            self.0.fetch_add(1, Ordering::SeqCst);
        }
    }

    fn poll(future: &mut ReadyFuture, waker: &Arc<CountingWaker>) -> Poll<Result<(), ReadyError>> {
        let waker = Waker::from(Arc::clone(waker));
        Pin::new(future).poll(&mut Context::from_waker(&waker))
    }

    #[test]
    fn a_pending_future_is_woken_when_ready() {
        let readiness = Arc::new(Readiness::new());
        let waker = Arc::new(CountingWaker(AtomicUsize::new(0)));
        let mut future = readiness.wait_async(Duration::from_secs(3600));
        assert!(poll(&mut future, &waker).is_pending());
        readiness.mark_ready();
        assert!(waker.0.load(Ordering::SeqCst) >= 1);
        assert!(matches!(poll(&mut future, &waker), Poll::Ready(Ok(()))));
    }

    #[test]
    fn close_before_ready_resolves_closed_with_the_last_failure() {
        let readiness = Arc::new(Readiness::new());
        readiness.record_failure(FetchError::Status { status: 404 });
        let waker = Arc::new(CountingWaker(AtomicUsize::new(0)));
        let mut future = readiness.wait_async(Duration::MAX);
        assert!(poll(&mut future, &waker).is_pending());
        readiness.mark_closed();
        readiness.mark_ready();
        let Poll::Ready(Err(error)) = poll(&mut future, &waker) else {
            panic!("expected a closed error");
        };
        assert!(matches!(
            error.last_failure(),
            Some(FetchError::Status { status: 404 })
        ));
        assert!(!readiness.is_ready());
        assert!(readiness.wait(Duration::ZERO).is_err());
    }

    #[test]
    fn the_timer_wakes_a_pending_future_at_its_deadline() {
        let readiness = Arc::new(Readiness::new());
        let waker = Arc::new(CountingWaker(AtomicUsize::new(0)));
        let mut future = readiness.wait_async(Duration::from_millis(20));
        if poll(&mut future, &waker).is_pending() {
            let give_up = Instant::now() + Duration::from_secs(30);
            while waker.0.load(Ordering::SeqCst) == 0 && Instant::now() < give_up {
                std::thread::sleep(Duration::from_millis(5));
            }
        }
        assert!(matches!(
            poll(&mut future, &waker),
            Poll::Ready(Err(ReadyError::Timeout {
                last_failure: None,
                ..
            }))
        ));
    }

    #[test]
    fn a_dropped_future_leaves_no_waker_behind() {
        let readiness = Arc::new(Readiness::new());
        let waker = Arc::new(CountingWaker(AtomicUsize::new(0)));
        let mut future = readiness.wait_async(Duration::from_secs(3600));
        assert!(poll(&mut future, &waker).is_pending());
        drop(future);
        assert!(readiness.state().wakers.is_empty());
    }
}
