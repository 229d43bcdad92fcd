//! The dispatcher's worker thread: owns the queue, cuts batches, schedules retries and answers
//! flush and close requests. It never blocks on I/O; sending happens on the sender pool.
//!
//! Items get ascending sequence numbers as the worker receives them. A *round* is a flush in
//! progress: every queued item up to the round's `mark` is sent regardless of batch size. A
//! round fails when a batch exhausts its attempts; its remaining items are then given up for
//! this flush (they stay queued for the next one). A flush waiter with mark `m` is answered
//! once no item with a sequence number `<= m` is in flight, waiting for a retry, or waiting in
//! the queue under a round that has not failed.

use std::collections::VecDeque;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use super::mailbox::{Mailbox, Messages, Taken};
use super::pool::{Batch, Finished, SenderPool};
use super::{BatchSink, Control, DispatchSettings, QueueReport, SendOutcome, Shared};
use crate::one_shot::Reply;

/// Poll period of the mailbox while items stream in (a batch or more per look).
const STREAM_POLL: Duration = Duration::from_millis(1);
/// Sleep bound when nothing is scheduled (any message wakes the worker earlier).
const IDLE_WAKE: Duration = Duration::from_secs(3600);
/// How long a dispatcher dropped without `close` keeps trying to deliver what is queued.
const DROP_CLOSE_BUDGET: Duration = Duration::from_secs(2);

struct Queued<S: BatchSink> {
    seq: u64,
    target: Arc<S::Target>,
    item: S::Item,
}

struct Round {
    mark: u64,
    failed: bool,
}

struct Waiter {
    mark: u64,
    deadline: Instant,
    reply: Reply<()>,
}

struct Closing {
    deadline: Instant,
    replies: Vec<Reply<QueueReport>>,
}

pub(super) struct Worker<S: BatchSink> {
    settings: DispatchSettings,
    shared: Arc<Shared>,
    /// Items, flush and close requests, finished batches; the worker sleeps on it.
    mailbox: Arc<Mailbox<S>>,
    pool: SenderPool<S>,
    /// Buffers swapped with the mailbox's on every take.
    spare: Taken<S>,
    messages: Messages<S>,
    queue: VecDeque<Queued<S>>,
    last_seq: u64,
    /// First sequence number of each batch in flight.
    in_flight: Vec<u64>,
    retries: Vec<Batch<S>>,
    round: Option<Round>,
    interval_due: Option<Instant>,
    /// Set when a batch exhausted its attempts: no batch-size cuts until the next round.
    paused: bool,
    /// Whether items arrive at a batch or more per [`STREAM_POLL`]: the worker then polls
    /// every [`STREAM_POLL`] and callers never ring.
    streaming: bool,
    /// Items taken in since `window_start`, for the arrival rate.
    arrivals: usize,
    window_start: Instant,
    /// Whether the current outage was already logged at WARN.
    outage_logged: bool,
    waiters: Vec<Waiter>,
    closing: Option<Closing>,
}

impl<S: BatchSink> Worker<S> {
    pub(super) fn new(
        settings: DispatchSettings,
        shared: Arc<Shared>,
        mailbox: Arc<Mailbox<S>>,
        sink: Arc<S>,
        sender_thread_name: String,
    ) -> Self {
        let pool = SenderPool::new(
            sink,
            sender_thread_name,
            settings.max_in_flight,
            mailbox.clone(),
        );
        Worker {
            settings,
            shared,
            mailbox,
            pool,
            spare: Taken::new(),
            messages: Messages::new(),
            queue: VecDeque::new(),
            last_seq: 0,
            in_flight: Vec::new(),
            retries: Vec::new(),
            round: None,
            interval_due: None,
            paused: false,
            streaming: false,
            arrivals: 0,
            window_start: Instant::now(),
            outage_logged: false,
            waiters: Vec::new(),
            closing: None,
        }
    }

    pub(super) fn run(mut self) {
        loop {
            let now = Instant::now();
            self.on_timers(now);
            self.pump(now);
            self.settle();
            if let Some(timed_out) = self.close_finished(now) {
                self.finish(timed_out);
                return;
            }
            self.sleep(now);
            self.handle_messages();
        }
    }

    /// Sleeps until a message (a request or a finished send), enough items, or the next
    /// timer. Callers wake the worker only at the mailbox length it publishes here, so a
    /// steady stream of items costs them no system call.
    fn sleep(&mut self, now: Instant) {
        let mut timeout = self
            .next_wake()
            .map_or(IDLE_WAKE, |wake| wake.saturating_duration_since(now));
        if self.streaming {
            timeout = timeout.min(STREAM_POLL);
        }
        self.mailbox
            .wait(self.ring_threshold(), timeout, &mut self.messages);
    }

    /// The mailbox length at which the worker wants to be woken: 1 when nothing is
    /// waiting (the first item starts the flush interval), the rest of a batch when one can
    /// be cut, and 0 (no ring) while streaming (the worker polls) or when no batch could go
    /// out anyway (paused after a failure, or every request slot busy): a timer or a
    /// finished send wakes the worker then.
    fn ring_threshold(&self) -> usize {
        if self.streaming {
            return 0;
        }
        if self.queue.is_empty() {
            return 1;
        }
        if self.paused || self.pool.free_slots() == 0 || self.closing.is_some() {
            return 0;
        }
        self.settings
            .batch_size
            .saturating_sub(self.queue.len())
            .max(1)
    }

    /// Handles what [`sleep`](Self::sleep) took from the mailbox, then takes in the items.
    fn handle_messages(&mut self) {
        let now = Instant::now();
        let mut finished = std::mem::take(&mut self.messages.finished);
        for batch in finished.drain(..) {
            self.on_finished(batch, now);
        }
        self.messages.finished = finished;
        let mut controls = std::mem::take(&mut self.messages.controls);
        for control in controls.drain(..) {
            self.on_control(control, now);
        }
        self.messages.controls = controls;
        if std::mem::take(&mut self.messages.flush_requested) {
            self.on_control(Control::Flush { reply: None }, now);
        }
        // Posted once, by the handle's drop.
        if std::mem::take(&mut self.messages.hung_up) {
            self.begin_close(now + DROP_CLOSE_BUDGET, None, now);
        }
        let taken = self.drain(now);
        self.note_arrivals(taken, now);
    }

    /// Items stream in when they arrive at a batch or more per [`STREAM_POLL`]; the worker
    /// then polls instead of having callers ring for every batch.
    fn note_arrivals(&mut self, taken: usize, now: Instant) {
        self.arrivals += taken;
        let batch = self.settings.batch_size;
        let elapsed = now.saturating_duration_since(self.window_start);
        if elapsed < STREAM_POLL {
            self.streaming |= self.arrivals >= batch;
            return;
        }
        self.streaming =
            self.arrivals as u128 * STREAM_POLL.as_nanos() >= batch as u128 * elapsed.as_nanos();
        self.arrivals = 0;
        self.window_start = now;
    }

    fn next_wake(&self) -> Option<Instant> {
        let retry_due = if self.pool.free_slots() > 0 {
            self.retries.iter().map(|batch| batch.due).min()
        } else {
            None
        };
        let waiter_due = self.waiters.iter().map(|waiter| waiter.deadline).min();
        let close_due = self.closing.as_ref().map(|closing| closing.deadline);
        [self.interval_due, retry_due, waiter_due, close_due]
            .into_iter()
            .flatten()
            .min()
    }

    // ---- receiving ----

    /// Takes in everything in the mailbox (all items enqueued before now); returns how many
    /// items there were.
    fn drain(&mut self, now: Instant) -> usize {
        let mut taken = std::mem::replace(&mut self.spare, Taken::new());
        self.mailbox.take_all(&mut taken);
        let mut count = 0;
        taken.drain(|target, item| {
            count += 1;
            self.receive(target, item, now);
        });
        self.spare = taken;
        count
    }

    fn receive(&mut self, target: &Arc<S::Target>, item: S::Item, now: Instant) {
        self.last_seq += 1;
        if let Some(tail) = self.queue.back()
            && !same_target::<S>(&tail.target, target)
        {
            // Items ahead of a target change go out now, to their own target.
            let mark = tail.seq;
            self.start_round(mark);
        }
        self.queue.push_back(Queued {
            seq: self.last_seq,
            target: Arc::clone(target),
            item,
        });
        if self.interval_due.is_none() {
            self.interval_due = Some(now + self.settings.flush_interval);
        }
    }

    // ---- control ----

    fn on_control(&mut self, message: Control, now: Instant) {
        match message {
            Control::Flush { reply } => {
                self.drain(now);
                let mark = self.last_seq;
                self.start_round(mark);
                if let Some((reply, deadline)) = reply {
                    self.waiters.push(Waiter {
                        mark,
                        deadline,
                        reply,
                    });
                }
            }
            Control::Close { deadline, reply } => self.begin_close(deadline, Some(reply), now),
        }
    }

    fn begin_close(&mut self, deadline: Instant, reply: Option<Reply<QueueReport>>, now: Instant) {
        self.drain(now);
        let mark = self.last_seq;
        self.start_round(mark);
        let closing = self.closing.get_or_insert_with(|| Closing {
            deadline,
            replies: Vec::new(),
        });
        closing.deadline = closing.deadline.min(deadline);
        closing.replies.extend(reply);
    }

    fn start_round(&mut self, mark: u64) {
        let mark = self
            .round
            .as_ref()
            .map_or(mark, |round| round.mark.max(mark));
        self.round = Some(Round {
            mark,
            failed: false,
        });
        self.paused = false;
    }

    fn on_timers(&mut self, now: Instant) {
        if self.interval_due.is_some_and(|due| due <= now) {
            self.interval_due = None;
            if let Some(last) = self.queue.back().map(|queued| queued.seq) {
                self.start_round(last);
            }
        }
        self.waiters.retain(|waiter| waiter.deadline > now);
    }

    // ---- sending ----

    fn pump(&mut self, now: Instant) {
        if self
            .closing
            .as_ref()
            .is_some_and(|closing| closing.deadline <= now)
        {
            return;
        }
        while self.pool.free_slots() > 0 {
            let Some(batch) = self.take_due_retry(now).or_else(|| self.cut_next(now)) else {
                return;
            };
            if !self.dispatch(batch) {
                return;
            }
        }
    }

    fn take_due_retry(&mut self, now: Instant) -> Option<Batch<S>> {
        let (index, _) = self
            .retries
            .iter()
            .enumerate()
            .filter(|(_, batch)| batch.due <= now)
            .min_by_key(|(_, batch)| batch.due)?;
        Some(self.retries.swap_remove(index))
    }

    fn cut_next(&mut self, now: Instant) -> Option<Batch<S>> {
        let front = self.queue.front()?;
        let (front_seq, target) = (front.seq, front.target.clone());
        let in_round = self
            .round
            .as_ref()
            .is_some_and(|round| !round.failed && front_seq <= round.mark);
        let run = self.front_run_len(self.request_size());
        if !in_round && (self.paused || run < self.settings.batch_size) {
            return None;
        }
        Some(self.take_front(target, run, now))
    }

    /// Items per request: `batch_size`, or up to `max_per_request` when more is waiting than
    /// the free slots can carry at `batch_size`.
    fn request_size(&self) -> usize {
        let carried = self.pool.free_slots() * self.settings.batch_size;
        if self.queue.len() > carried {
            self.settings.max_per_request
        } else {
            self.settings.batch_size
        }
    }

    /// Length of the run of same-target items at the front, counted up to `limit`.
    fn front_run_len(&self, limit: usize) -> usize {
        let Some(front) = self.queue.front() else {
            return 0;
        };
        self.queue
            .iter()
            .take(limit)
            .take_while(|queued| same_target::<S>(&queued.target, &front.target))
            .count()
    }

    /// Takes the first `count` items, all of which have `target`.
    fn take_front(&mut self, target: Arc<S::Target>, count: usize, now: Instant) -> Batch<S> {
        let mut seqs = Vec::with_capacity(count);
        let mut items = Vec::with_capacity(count);
        for queued in self.queue.drain(..count) {
            seqs.push(queued.seq);
            items.push(queued.item);
        }
        Batch {
            target,
            seqs,
            items,
            attempts: 0,
            due: now,
        }
    }

    /// Hands `batch` to a sender thread; `false` (batch re-queued) when none is available.
    fn dispatch(&mut self, mut batch: Batch<S>) -> bool {
        batch.attempts += 1;
        let first = batch.first_seq();
        match self.pool.submit(batch) {
            Ok(()) => {
                self.in_flight.push(first);
                true
            }
            Err(mut batch) => {
                batch.attempts -= 1;
                self.requeue(batch);
                false
            }
        }
    }

    // ---- outcomes ----

    fn on_finished(&mut self, finished: Finished<S>, now: Instant) {
        self.pool.release();
        let Finished { batch, outcome } = finished;
        if let Some(index) = self
            .in_flight
            .iter()
            .position(|&seq| seq == batch.first_seq())
        {
            self.in_flight.swap_remove(index);
        }
        match outcome {
            SendOutcome::Delivered => {
                log::debug!("{} batch of {} delivered", self.shared.kind, batch.len());
                self.shared.counters.delivered(batch.len());
                self.outage_logged = false;
            }
            SendOutcome::Reject { reason } => {
                log::error!(
                    "{} send failed ({reason}); {} dropped",
                    self.shared.kind,
                    batch.len()
                );
                self.shared.counters.given_up(batch.len());
            }
            SendOutcome::Retry {
                reason,
                retry_after,
            } => self.on_retryable_failure(batch, &reason, retry_after, now),
        }
    }

    fn on_retryable_failure(
        &mut self,
        mut batch: Batch<S>,
        reason: &str,
        retry_after: Option<Duration>,
        now: Instant,
    ) {
        if batch.attempts >= self.settings.max_attempts {
            return self.keep_for_next_flush(batch, reason, now);
        }
        let delay = self.settings.retry_delay(batch.attempts, retry_after);
        let due = now + delay;
        if self
            .closing
            .as_ref()
            .is_some_and(|closing| due >= closing.deadline)
        {
            return self.keep_for_next_flush(batch, reason, now);
        }
        log::debug!(
            "{} send failed ({reason}); retrying {} in {delay:?}",
            self.shared.kind,
            batch.len()
        );
        self.shared.counters.retried(batch.len());
        batch.due = due;
        self.retries.push(batch);
    }

    /// The batch used up its attempts: back to the head of the queue until the next flush.
    fn keep_for_next_flush(&mut self, batch: Batch<S>, reason: &str, now: Instant) {
        let kind = &self.shared.kind;
        let count = batch.len();
        if self.closing.is_some() {
            log::debug!("{kind} send failed ({reason}); {count} left for the close report");
        } else {
            self.shared.counters.retried(count);
            if self.outage_logged {
                log::debug!("{kind} send failed ({reason}); {count} kept for the next flush");
            } else {
                log::warn!(
                    "{kind} send failed ({reason}) after {} attempts; {count} kept for the next flush",
                    batch.attempts
                );
                self.outage_logged = true;
            }
            let pause = self.settings.flush_interval.max(self.settings.backoff_max);
            self.interval_due = Some(now + pause);
        }
        if let Some(round) = &mut self.round {
            round.failed = true;
        }
        self.paused = true;
        self.requeue(batch);
    }

    /// Puts a batch's items back in sequence order (they are older than most of the queue).
    fn requeue(&mut self, batch: Batch<S>) {
        let Batch {
            target,
            seqs,
            items,
            ..
        } = batch;
        for (seq, item) in seqs.into_iter().zip(items) {
            let index = self.queue.partition_point(|queued| queued.seq < seq);
            self.queue.insert(
                index,
                Queued {
                    seq,
                    target: target.clone(),
                    item,
                },
            );
        }
    }

    // ---- settling flushes and close ----

    fn settle(&mut self) {
        if self.queue.is_empty() {
            self.interval_due = None;
        }
        if let Some(round) = &self.round {
            let waiting = !round.failed
                && self
                    .queue
                    .front()
                    .is_some_and(|front| front.seq <= round.mark);
            if !waiting && !self.busy_up_to(round.mark) {
                self.round = None;
            }
        }
        let lowest = self.lowest_unsettled_seq();
        for waiter in self.waiters.extract_if(.., |waiter| waiter.mark < lowest) {
            waiter.reply.send(());
        }
    }

    fn busy_up_to(&self, mark: u64) -> bool {
        self.in_flight.iter().any(|&seq| seq <= mark)
            || self.retries.iter().any(|batch| batch.first_seq() <= mark)
    }

    fn lowest_unsettled_seq(&self) -> u64 {
        let in_round = match &self.round {
            Some(round) if !round.failed => self.queue.front().map(|front| front.seq),
            _ => None,
        };
        let in_flight = self.in_flight.iter().copied().min();
        let retrying = self.retries.iter().map(Batch::first_seq).min();
        [in_round, in_flight, retrying]
            .into_iter()
            .flatten()
            .min()
            .unwrap_or(u64::MAX)
    }

    /// `Some(timed_out)` once a close has nothing left to wait for, or its deadline passed.
    fn close_finished(&self, now: Instant) -> Option<bool> {
        let closing = self.closing.as_ref()?;
        if self.round.is_none() {
            return Some(false);
        }
        (closing.deadline <= now).then_some(true)
    }

    fn finish(mut self, timed_out: bool) {
        self.shared.closed.store(true, Ordering::Release);
        // Shut before counting: a push that still got in is counted below, later ones are
        // refused.
        self.mailbox.shut();
        let undelivered = self.shared.counters.give_up_all();
        let kind = &self.shared.kind;
        if undelivered > 0 {
            log::warn!("{kind} queue closed with {undelivered} undelivered");
        } else {
            log::debug!("{kind} queue closed; everything delivered");
        }
        let report = QueueReport {
            undelivered,
            timed_out,
            stats: self.shared.counters.snapshot(),
        };
        for reply in self
            .closing
            .take()
            .into_iter()
            .flat_map(|closing| closing.replies)
        {
            reply.send(report);
        }
    }
}

fn same_target<S: BatchSink>(a: &Arc<S::Target>, b: &Arc<S::Target>) -> bool {
    Arc::ptr_eq(a, b) || **a == **b
}
