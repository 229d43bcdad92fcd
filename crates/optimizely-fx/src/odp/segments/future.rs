//! The async fetch: a hand-written future, completed by a short-lived named worker thread that
//! does the blocking request. It needs no async runtime and never blocks the polling thread.
//!
//! At most [`MAX_THREADS`] workers run at once per client; further fetches wait, oldest first,
//! for one to finish (the waiting is done by the futures themselves, so nothing queues inside
//! the SDK beyond the futures the caller holds).

use std::any::Any;
use std::collections::BTreeMap;
use std::fmt;
use std::future::Future;
use std::panic::{self, AssertUnwindSafe};
use std::pin::Pin;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::task::{Context, Poll, Waker};
use std::thread;

use super::{FetchSegmentsError, SegmentsManager};

/// Most worker threads of one client's async fetches at once.
const MAX_THREADS: usize = 16;
const THREAD_NAME: &str = "optimizely-fx-segments";

type FetchResult = Result<Arc<[String]>, FetchSegmentsError>;
/// The blocking part of an async fetch.
pub(super) type Job = Box<dyn FnOnce() -> FetchResult + Send>;
type Outcome = Result<FetchResult, Box<dyn Any + Send>>;

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    // Every critical section here only moves values in and out; the state stays consistent.
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

/// Counts running worker threads and hands freed slots to waiting futures in arrival order.
pub(super) struct FetchThreads {
    max: usize,
    state: Mutex<SlotsState>,
}

#[derive(Default)]
struct SlotsState {
    running: usize,
    next_ticket: u64,
    /// Futures waiting for a slot, by ticket (so oldest first). A `granted` waiter already owns
    /// a slot (counted in `running`) and takes it on its next poll.
    waiting: BTreeMap<u64, Waiter>,
}

struct Waiter {
    waker: Option<Waker>,
    granted: bool,
}

impl FetchThreads {
    pub(super) fn new() -> Self {
        Self::with_max(MAX_THREADS)
    }

    fn with_max(max: usize) -> Self {
        FetchThreads {
            max,
            state: Mutex::new(SlotsState::default()),
        }
    }

    /// Takes a slot for the future holding `ticket`, or registers it to be woken when one is
    /// granted to it. `ticket` is `None` once the future holds no place in the line.
    fn claim(&self, ticket: &mut Option<u64>, waker: &Waker) -> bool {
        let mut state = lock(&self.state);
        if let Some(id) = *ticket
            && let Some(waiter) = state.waiting.get_mut(&id)
        {
            if !waiter.granted {
                waiter.waker = Some(waker.clone());
                return false;
            }
            state.waiting.remove(&id);
            *ticket = None;
            return true;
        }
        if state.running < self.max {
            state.running += 1;
            return true;
        }
        let id = state.next_ticket;
        state.next_ticket += 1;
        state.waiting.insert(
            id,
            Waiter {
                waker: Some(waker.clone()),
                granted: false,
            },
        );
        *ticket = Some(id);
        false
    }

    /// Frees a slot: it goes to the oldest waiting future, if any.
    fn release(&self) {
        let mut state = lock(&self.state);
        let next = state.waiting.values_mut().find(|waiter| !waiter.granted);
        let Some(waiter) = next else {
            state.running = state.running.saturating_sub(1);
            return;
        };
        waiter.granted = true;
        let waker = waiter.waker.take();
        drop(state);
        if let Some(waker) = waker {
            waker.wake();
        }
    }

    /// A waiting future went away; a slot already granted to it passes on.
    fn cancel(&self, ticket: u64) {
        let removed = lock(&self.state).waiting.remove(&ticket);
        if removed.is_some_and(|waiter| waiter.granted) {
            self.release();
        }
    }

    #[cfg(test)]
    fn running(&self) -> usize {
        lock(&self.state).running
    }
}

/// Future returned by
/// [`Client::fetch_qualified_segments_async`](crate::Client::fetch_qualified_segments_async).
///
/// Works with any executor (or none) and never blocks the thread that polls it. Answers that
/// need no request (errors, no segments to check, a hit in the built-in cache) are ready at
/// once; otherwise the blocking fetch runs on a worker thread (`optimizely-fx-segments`,
/// started when the future is first polled, ending with the fetch). Dropping the future
/// abandons the answer; a request already sent still ends within its timeout.
#[must_use = "futures do nothing unless polled"]
pub struct FetchSegmentsFuture {
    state: State,
}

enum State {
    Ready(FetchResult),
    Queued(QueuedJob),
    Running(Arc<Completion>),
    Done,
}

struct QueuedJob {
    place: Place,
    job: Job,
}

/// A future's place in the line for a worker slot; leaving the line (dropping the future)
/// gives up the place.
struct Place {
    manager: Arc<SegmentsManager>,
    ticket: Option<u64>,
}

impl Place {
    fn claim(&mut self, waker: &Waker) -> bool {
        self.manager.threads.claim(&mut self.ticket, waker)
    }
}

impl Drop for Place {
    fn drop(&mut self) {
        if let Some(ticket) = self.ticket.take() {
            self.manager.threads.cancel(ticket);
        }
    }
}

/// Where a worker leaves its outcome for the future.
#[derive(Default)]
struct Completion {
    state: Mutex<CompletionState>,
}

#[derive(Default)]
struct CompletionState {
    outcome: Option<Outcome>,
    waker: Option<Waker>,
}

impl Completion {
    fn complete(&self, outcome: Outcome) {
        let mut state = lock(&self.state);
        state.outcome = Some(outcome);
        let waker = state.waker.take();
        drop(state);
        if let Some(waker) = waker {
            waker.wake();
        }
    }

    fn take_or_wait(&self, waker: &Waker) -> Option<Outcome> {
        let mut state = lock(&self.state);
        let outcome = state.outcome.take();
        if outcome.is_none() {
            state.waker = Some(waker.clone());
        }
        outcome
    }
}

/// Gives the worker's slot back when the worker ends, however it ends.
struct SlotGuard(Arc<SegmentsManager>);

impl Drop for SlotGuard {
    fn drop(&mut self) {
        self.0.threads.release();
    }
}

impl FetchSegmentsFuture {
    pub(super) fn ready(result: FetchResult) -> Self {
        FetchSegmentsFuture {
            state: State::Ready(result),
        }
    }

    pub(super) fn queued(manager: &Arc<SegmentsManager>, job: Job) -> Self {
        FetchSegmentsFuture {
            state: State::Queued(QueuedJob {
                place: Place {
                    manager: Arc::clone(manager),
                    ticket: None,
                },
                job,
            }),
        }
    }

    /// Starts the worker of a job whose future holds a slot.
    fn start(queued: QueuedJob) -> State {
        let QueuedJob { place, job } = queued;
        let slot = SlotGuard(Arc::clone(&place.manager));
        drop(place);
        let completion = Arc::new(Completion::default());
        let done = Arc::clone(&completion);
        let spawned = thread::Builder::new()
            .name(THREAD_NAME.to_owned())
            .spawn(move || {
                let _slot = slot;
                done.complete(panic::catch_unwind(AssertUnwindSafe(job)));
            });
        match spawned {
            Ok(_) => State::Running(completion),
            // The closure, and with it the slot guard, was dropped: the slot is free again.
            Err(error) => {
                log::error!("Cannot start a segments fetch thread: {error}");
                State::Ready(Err(FetchSegmentsError::SpawnFailed(error.to_string())))
            }
        }
    }
}

impl Future for FetchSegmentsFuture {
    type Output = Result<Vec<String>, FetchSegmentsError>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.get_mut();
        loop {
            match std::mem::replace(&mut this.state, State::Done) {
                State::Ready(result) => return Poll::Ready(result.map(|s| s.to_vec())),
                State::Queued(mut queued) => {
                    if !queued.place.claim(cx.waker()) {
                        this.state = State::Queued(queued);
                        return Poll::Pending;
                    }
                    this.state = Self::start(queued);
                }
                State::Running(completion) => match completion.take_or_wait(cx.waker()) {
                    Some(Ok(result)) => return Poll::Ready(result.map(|s| s.to_vec())),
                    Some(Err(panic)) => panic::resume_unwind(panic),
                    None => {
                        this.state = State::Running(completion);
                        return Poll::Pending;
                    }
                },
                State::Done => panic!("FetchSegmentsFuture polled after completion"),
            }
        }
    }
}

impl fmt::Debug for FetchSegmentsFuture {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let state = match &self.state {
            State::Ready(_) => "ready",
            State::Queued(_) => "waiting for a worker thread",
            State::Running(_) => "running",
            State::Done => "done",
        };
        f.debug_struct("FetchSegmentsFuture")
            .field("state", &state)
            .finish()
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

    fn waker() -> (Arc<CountingWaker>, Waker) {
        let counter = Arc::new(CountingWaker(AtomicUsize::new(0)));
        (Arc::clone(&counter), Waker::from(counter))
    }

    #[test]
    fn slots_go_to_waiters_oldest_first() {
        let threads = FetchThreads::with_max(1);
        let (_, w) = waker();
        let (first_count, first_waker) = waker();
        let mut holder = None;
        assert!(threads.claim(&mut holder, &w));
        let (mut first, mut second) = (None, None);
        assert!(!threads.claim(&mut first, &first_waker));
        assert!(!threads.claim(&mut second, &w));
        threads.release();
        assert_eq!(first_count.0.load(Ordering::SeqCst), 1);
        assert!(!threads.claim(&mut second, &w), "the slot is first's");
        assert!(threads.claim(&mut first, &first_waker));
        assert_eq!(first, None);
        assert_eq!(threads.running(), 1);
        threads.release();
        assert!(threads.claim(&mut second, &w));
        threads.release();
        assert_eq!(threads.running(), 0);
    }

    #[test]
    fn a_cancelled_waiter_passes_its_granted_slot_on() {
        let threads = FetchThreads::with_max(1);
        let (_, w) = waker();
        let (mut holder, mut first, mut second) = (None, None, None);
        assert!(threads.claim(&mut holder, &w));
        assert!(!threads.claim(&mut first, &w));
        assert!(!threads.claim(&mut second, &w));
        threads.release();
        threads.cancel(first.unwrap());
        assert!(threads.claim(&mut second, &w));
        threads.release();
        assert_eq!(threads.running(), 0);
        assert!(lock(&threads.state).waiting.is_empty());
    }

    #[test]
    fn a_cancelled_waiting_future_frees_nothing_it_did_not_have() {
        let threads = FetchThreads::with_max(1);
        let (_, w) = waker();
        let (mut holder, mut waiting) = (None, None);
        assert!(threads.claim(&mut holder, &w));
        assert!(!threads.claim(&mut waiting, &w));
        threads.cancel(waiting.unwrap());
        assert_eq!(threads.running(), 1);
        threads.release();
        assert_eq!(threads.running(), 0);
    }
}
