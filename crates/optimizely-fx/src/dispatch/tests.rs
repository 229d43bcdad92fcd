//! Batching, retry, flush and close behaviour of the dispatcher with an in-memory sink.
//! No timing assertions: waits are "eventually" with a generous upper bound.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};

use crossbeam_channel::{Receiver, Sender};

use super::test_log::{capture_logs, logged};
use super::*;

const EVENTUALLY: Duration = Duration::from_secs(60);

type Script = Box<dyn Fn(usize, &str, &[u32]) -> SendOutcome + Send + Sync>;

/// Records every batch it is given; `script(call_index, target, items)` decides the outcome.
/// With a `gate`, every send (after recording) waits for a message or disconnection.
struct RecordingSink {
    kind: String,
    calls: Mutex<Vec<Call>>,
    script: Script,
    gate: Option<Receiver<()>>,
}

#[derive(Debug, Clone, PartialEq)]
struct Call {
    target: String,
    items: Vec<u32>,
    thread: Option<String>,
}

impl BatchSink for Arc<RecordingSink> {
    type Item = u32;
    type Target = String;

    fn kind(&self) -> &str {
        &self.kind
    }

    fn send(&self, target: &String, items: &[u32]) -> SendOutcome {
        let index = {
            let mut calls = self.calls.lock().unwrap();
            calls.push(Call {
                target: target.clone(),
                items: items.to_vec(),
                thread: thread::current().name().map(str::to_owned),
            });
            calls.len() - 1
        };
        if let Some(gate) = &self.gate {
            let _ = gate.recv();
        }
        (self.script)(index, target, items)
    }
}

fn sink(
    kind: &str,
    script: impl Fn(usize, &str, &[u32]) -> SendOutcome + Send + Sync + 'static,
) -> Arc<RecordingSink> {
    Arc::new(RecordingSink {
        kind: kind.to_owned(),
        calls: Mutex::new(Vec::new()),
        script: Box::new(script),
        gate: None,
    })
}

fn delivering(kind: &str) -> Arc<RecordingSink> {
    sink(kind, |_, _, _| SendOutcome::Delivered)
}

/// A delivering sink whose sends block until the returned sender sends or is dropped.
fn gated(kind: &str) -> (Arc<RecordingSink>, Sender<()>) {
    let (open, gate) = crossbeam_channel::unbounded();
    let sink = Arc::new(RecordingSink {
        kind: kind.to_owned(),
        calls: Mutex::new(Vec::new()),
        script: Box::new(|_, _, _| SendOutcome::Delivered),
        gate: Some(gate),
    });
    (sink, open)
}

fn retry(reason: &str) -> SendOutcome {
    SendOutcome::Retry {
        reason: reason.to_owned(),
        retry_after: None,
    }
}

fn calls(sink: &Arc<RecordingSink>) -> Vec<Call> {
    sink.calls.lock().unwrap().clone()
}

fn batches(sink: &Arc<RecordingSink>) -> Vec<Vec<u32>> {
    calls(sink).into_iter().map(|call| call.items).collect()
}

/// Settings that never flush on their own (no interval within a test's life) and retry fast.
fn settings() -> DispatchSettings {
    DispatchSettings {
        flush_interval: Duration::from_secs(3600),
        backoff_initial: Duration::from_millis(1),
        backoff_max: Duration::from_millis(4),
        ..DispatchSettings::default()
    }
}

fn start(settings: DispatchSettings, sink: &Arc<RecordingSink>) -> Dispatcher<Arc<RecordingSink>> {
    Dispatcher::start("fx-test-worker", settings, sink.clone()).unwrap()
}

fn target(name: &str) -> Arc<String> {
    Arc::new(name.to_owned())
}

fn enqueue_all(
    dispatcher: &Dispatcher<Arc<RecordingSink>>,
    target: &Arc<String>,
    items: impl IntoIterator<Item = u32>,
) {
    for item in items {
        dispatcher.try_enqueue(target, item).unwrap();
    }
}

fn batches_per_target(sink: &Arc<RecordingSink>) -> Vec<(String, Vec<u32>)> {
    calls(sink)
        .into_iter()
        .map(|call| (call.target, call.items))
        .collect()
}

fn eventually(what: &str, mut condition: impl FnMut() -> bool) {
    let deadline = Instant::now() + EVENTUALLY;
    while !condition() {
        assert!(Instant::now() < deadline, "never happened: {what}");
        thread::sleep(Duration::from_millis(2));
    }
}

// ---- batching ----

#[test]
fn full_batches_go_at_once_and_the_rest_waits_for_a_flush() {
    let sink = delivering("batching");
    let dispatcher = start(settings(), &sink);
    let a = target("a");

    enqueue_all(&dispatcher, &a, 0..25);
    eventually("two full batches sent", || dispatcher.stats().sent == 20);

    let mut sent = batches(&sink);
    sent.sort();
    assert_eq!(sent, vec![(0..10).collect::<Vec<_>>(), (10..20).collect()]);
    assert_eq!(
        dispatcher.stats().queued,
        5,
        "the last 5 wait for interval or flush"
    );

    assert!(dispatcher.flush(EVENTUALLY));
    assert_eq!(
        batches(&sink).last().unwrap(),
        &(20..25).collect::<Vec<_>>()
    );
    let stats = dispatcher.stats();
    assert_eq!(
        (stats.sent, stats.queued, stats.failed, stats.dropped),
        (25, 0, 0, 0)
    );
}

#[test]
fn flush_covers_everything_enqueued_before_it() {
    let sink = delivering("flush-covers");
    let dispatcher = start(settings(), &sink);
    let a = target("a");
    enqueue_all(&dispatcher, &a, 0..7);

    assert!(dispatcher.flush(EVENTUALLY));

    // No waiting: flush returned only after those 7 were delivered.
    assert_eq!(batches(&sink), vec![(0..7).collect::<Vec<_>>()]);
    assert_eq!(dispatcher.stats().sent, 7);
}

#[test]
fn flush_with_nothing_queued_returns_true() {
    let sink = delivering("flush-empty");
    let dispatcher = start(settings(), &sink);
    assert!(dispatcher.flush(EVENTUALLY));
    assert!(calls(&sink).is_empty());
}

#[test]
fn the_interval_sends_a_partial_batch_without_a_flush() {
    let sink = delivering("interval");
    let dispatcher = start(
        DispatchSettings {
            flush_interval: Duration::from_millis(20),
            ..settings()
        },
        &sink,
    );
    enqueue_all(&dispatcher, &target("a"), 0..3);

    eventually("interval flush", || dispatcher.stats().sent == 3);
    assert_eq!(batches(&sink), vec![vec![0, 1, 2]]);
}

#[test]
fn a_zero_interval_sends_each_item_at_once() {
    let sink = delivering("zero-interval");
    let dispatcher = start(
        DispatchSettings {
            flush_interval: Duration::ZERO,
            batch_size: 100,
            ..settings()
        },
        &sink,
    );
    dispatcher.try_enqueue(&target("a"), 1).unwrap();
    eventually("first item sent", || dispatcher.stats().sent == 1);
    dispatcher.try_enqueue(&target("a"), 2).unwrap();
    eventually("second item sent", || dispatcher.stats().sent == 2);
    assert_eq!(batches(&sink), vec![vec![1], vec![2]]);
}

#[test]
fn a_backlog_goes_out_in_larger_requests() {
    let (sink, open) = gated("backlog");
    let dispatcher = start(
        DispatchSettings {
            max_in_flight: 1,
            max_per_request: 100,
            ..settings()
        },
        &sink,
    );
    let a = target("a");
    enqueue_all(&dispatcher, &a, 0..10);
    eventually("first batch held by the only sender", || {
        calls(&sink).len() == 1
    });
    enqueue_all(&dispatcher, &a, 10..260);
    drop(open);

    eventually("backlog delivered", || dispatcher.stats().sent == 260);
    let sizes: Vec<usize> = batches(&sink).iter().map(Vec::len).collect();
    assert_eq!(sizes, vec![10, 100, 100, 50]);
    let all: Vec<u32> = batches(&sink).concat();
    assert_eq!(all, (0..260).collect::<Vec<_>>(), "in order, each once");
}

#[test]
fn items_ahead_of_a_target_change_go_first_to_their_own_target() {
    let sink = delivering("target-change");
    let dispatcher = start(settings(), &sink);
    let (old, new) = (target("old-host"), target("new-host"));

    enqueue_all(&dispatcher, &old, 0..3);
    enqueue_all(&dispatcher, &new, 3..5);
    // The change alone flushes the 3 old items (batch size 10, no interval in sight).
    eventually("old items flushed", || dispatcher.stats().sent == 3);
    assert!(dispatcher.flush(EVENTUALLY));

    assert_eq!(
        batches_per_target(&sink),
        vec![
            ("old-host".to_owned(), vec![0, 1, 2]),
            ("new-host".to_owned(), vec![3, 4])
        ]
    );
}

#[test]
fn items_for_the_current_target_keep_the_target_they_were_queued_for() {
    let sink = delivering("current-target");
    let dispatcher = start(settings(), &sink);
    assert_eq!(
        dispatcher.try_enqueue_current(0),
        Err(EnqueueError::NoTarget)
    );

    dispatcher.set_target(Some(target("first")));
    for item in 1..3 {
        dispatcher.try_enqueue_current(item).unwrap();
    }
    dispatcher.set_target(Some(target("second")));
    dispatcher.try_enqueue_current(3).unwrap();
    dispatcher.set_target(None);
    assert_eq!(
        dispatcher.try_enqueue_current(4),
        Err(EnqueueError::NoTarget)
    );
    assert!(dispatcher.flush(EVENTUALLY));

    assert_eq!(
        batches_per_target(&sink),
        vec![
            ("first".to_owned(), vec![1, 2]),
            ("second".to_owned(), vec![3])
        ]
    );
    let stats = dispatcher.stats();
    assert_eq!((stats.sent, stats.queued, stats.dropped), (3, 0, 0));
}

#[test]
fn equal_targets_in_different_arcs_batch_together() {
    let sink = delivering("equal-targets");
    let dispatcher = start(settings(), &sink);
    for item in 0..4 {
        dispatcher.try_enqueue(&target("same"), item).unwrap();
    }
    assert!(dispatcher.flush(EVENTUALLY));
    assert_eq!(batches(&sink), vec![vec![0, 1, 2, 3]]);
}

#[test]
fn sends_run_on_named_sender_threads() {
    let sink = delivering("thread-names");
    let dispatcher = Dispatcher::start("fx-named", settings(), sink.clone()).unwrap();
    dispatcher.try_enqueue(&target("a"), 1).unwrap();
    assert!(dispatcher.flush(EVENTUALLY));
    assert_eq!(calls(&sink)[0].thread.as_deref(), Some("fx-named-send"));
}

// ---- retries ----

#[test]
fn a_retryable_failure_is_retried_until_it_succeeds() {
    let sink = sink("retry-ok", |call, _, _| {
        if call < 2 {
            retry("503")
        } else {
            SendOutcome::Delivered
        }
    });
    let dispatcher = start(settings(), &sink);
    enqueue_all(&dispatcher, &target("a"), 0..10);

    eventually("delivered after retries", || dispatcher.stats().sent == 10);

    assert_eq!(
        batches(&sink),
        vec![(0..10).collect::<Vec<_>>(); 3],
        "same batch three times"
    );
    let stats = dispatcher.stats();
    assert_eq!((stats.retried, stats.failed, stats.queued), (20, 0, 0));
}

#[test]
fn a_batch_that_exhausts_its_attempts_is_kept_at_the_head_for_the_next_flush() {
    capture_logs();
    let sink = sink("exhausted-kept", |call, _, _| {
        if call < 3 {
            retry("server down")
        } else {
            SendOutcome::Delivered
        }
    });
    // One request at a time, so the order of requests is the order of the queue.
    let dispatcher = start(
        DispatchSettings {
            max_in_flight: 1,
            ..settings()
        },
        &sink,
    );
    let a = target("a");
    enqueue_all(&dispatcher, &a, 0..10);

    eventually("three attempts made and the batch kept", || {
        dispatcher.stats().retried == 30
    });
    let stats = dispatcher.stats();
    assert_eq!(
        (stats.sent, stats.queued, stats.failed),
        (0, 10, 0),
        "nothing lost"
    );
    assert_eq!(
        calls(&sink).len(),
        3,
        "no further attempt before the next flush"
    );
    assert_eq!(
        logged(log::Level::Warn, "exhausted-kept send failed (server down)").len(),
        1
    );

    enqueue_all(&dispatcher, &a, 10..12);
    assert!(dispatcher.flush(EVENTUALLY));

    let delivered: Vec<Vec<u32>> = batches(&sink).split_off(3);
    assert_eq!(
        delivered,
        vec![(0..12).collect::<Vec<_>>()],
        "kept items first, then the newer ones (a backlog: one larger request)"
    );
    assert_eq!(dispatcher.stats().sent, 12);
}

#[test]
fn retry_after_is_passed_through_and_the_batch_still_delivered() {
    let sink = sink("retry-after", |call, _, _| {
        if call == 0 {
            SendOutcome::Retry {
                reason: "429".to_owned(),
                retry_after: Some(Duration::from_millis(5)),
            }
        } else {
            SendOutcome::Delivered
        }
    });
    let dispatcher = start(
        DispatchSettings {
            retry_after_max: Duration::from_millis(10),
            ..settings()
        },
        &sink,
    );
    enqueue_all(&dispatcher, &target("a"), 0..10);
    eventually("delivered after the requested wait", || {
        dispatcher.stats().sent == 10
    });
    assert_eq!(calls(&sink).len(), 2);
}

#[test]
fn a_rejected_batch_is_dropped_counted_and_logged_once() {
    capture_logs();
    let sink = sink("rejecting", |_, _, _| SendOutcome::Reject {
        reason: "400: invalid event 3".to_owned(),
    });
    let dispatcher = start(settings(), &sink);
    enqueue_all(&dispatcher, &target("a"), 0..10);

    assert!(dispatcher.flush(EVENTUALLY));

    let stats = dispatcher.stats();
    assert_eq!(
        (stats.failed, stats.sent, stats.queued, stats.retried),
        (10, 0, 0, 0)
    );
    assert_eq!(calls(&sink).len(), 1, "never retried");
    let errors = logged(
        log::Level::Error,
        "rejecting send failed (400: invalid event 3)",
    );
    assert_eq!(errors.len(), 1, "{errors:?}");
}

#[test]
fn a_panicking_sink_rejects_the_batch_and_keeps_working() {
    let sink = sink("panicking", |call, _, _| {
        if call == 0 {
            panic!("sink bug");
        }
        SendOutcome::Delivered
    });
    let dispatcher = start(settings(), &sink);
    enqueue_all(&dispatcher, &target("a"), 0..10);
    assert!(dispatcher.flush(EVENTUALLY));
    enqueue_all(&dispatcher, &target("a"), 10..20);
    assert!(dispatcher.flush(EVENTUALLY));
    let stats = dispatcher.stats();
    assert_eq!((stats.failed, stats.sent), (10, 10));
}

// ---- capacity ----

#[test]
fn a_full_queue_drops_counts_and_warns_once_per_run_of_drops() {
    capture_logs();
    let sink = delivering("full-queue-kind");
    let dispatcher = start(
        DispatchSettings {
            queue_capacity: 5,
            ..settings()
        },
        &sink,
    );
    let a = target("a");
    enqueue_all(&dispatcher, &a, 0..5);
    for item in 5..8 {
        assert_eq!(dispatcher.try_enqueue(&a, item), Err(EnqueueError::Full));
    }
    assert_eq!(dispatcher.stats().dropped, 3);
    assert_eq!(
        logged(log::Level::Warn, "full-queue-kind queue is full").len(),
        1
    );

    assert!(dispatcher.flush(EVENTUALLY));
    enqueue_all(&dispatcher, &a, 10..15);
    assert_eq!(dispatcher.try_enqueue(&a, 15), Err(EnqueueError::Full));

    assert_eq!(
        logged(log::Level::Warn, "full-queue-kind queue is full").len(),
        2,
        "warned again after recovering"
    );
    let stats = dispatcher.stats();
    assert_eq!((stats.dropped, stats.sent, stats.queued), (4, 5, 5));
}

#[test]
fn kept_items_count_against_capacity() {
    let sink = sink("kept-capacity", |_, _, _| retry("down"));
    let dispatcher = start(
        DispatchSettings {
            queue_capacity: 10,
            ..settings()
        },
        &sink,
    );
    let a = target("a");
    enqueue_all(&dispatcher, &a, 0..10);
    eventually("batch kept after its attempts", || {
        dispatcher.stats().retried == 30
    });
    assert_eq!(dispatcher.try_enqueue(&a, 10), Err(EnqueueError::Full));
}

// ---- close ----

#[test]
fn close_delivers_what_is_queued() {
    let sink = delivering("close-delivers");
    let dispatcher = start(settings(), &sink);
    enqueue_all(&dispatcher, &target("a"), 0..25);

    let report = dispatcher.close(EVENTUALLY);

    assert_eq!(report.undelivered, 0);
    assert!(!report.timed_out);
    assert_eq!(report.stats.sent, 25);
    assert_eq!(batches(&sink).concat().len(), 25);
}

#[test]
fn close_against_a_sink_that_never_answers_returns_and_reports_undelivered() {
    let (sink, _never_opened) = gated("close-hang");
    let dispatcher = Arc::new(start(settings(), &sink));
    enqueue_all(&dispatcher, &target("a"), 0..25);

    let closing = dispatcher.clone();
    let (done, report) = crossbeam_channel::bounded(1);
    thread::spawn(move || {
        done.send(closing.close(Duration::from_millis(200)))
            .unwrap()
    });
    let report = report.recv_timeout(EVENTUALLY).expect("close returned");

    assert_eq!(report.undelivered, 25);
    assert!(report.timed_out);
    assert_eq!(report.stats.failed, 25);
    assert_eq!(report.stats.queued, 0);
    assert_eq!(
        dispatcher.try_enqueue(&target("a"), 99),
        Err(EnqueueError::Closed)
    );
}

#[test]
fn flush_against_a_sink_that_never_answers_returns_false() {
    let (sink, _never_opened) = gated("flush-hang");
    let dispatcher = start(settings(), &sink);
    enqueue_all(&dispatcher, &target("a"), 0..3);
    assert!(!dispatcher.flush(Duration::from_millis(50)));
}

#[test]
fn close_gives_up_on_kept_items_instead_of_waiting_for_another_flush() {
    let sink = sink("close-kept", |_, _, _| retry("down"));
    let dispatcher = start(settings(), &sink);
    enqueue_all(&dispatcher, &target("a"), 0..4);

    let report = dispatcher.close(EVENTUALLY);

    assert_eq!(report.undelivered, 4);
    assert!(!report.timed_out);
    assert_eq!(
        calls(&sink).len(),
        3,
        "close makes the attempts of one flush"
    );
}

#[test]
fn enqueue_after_close_is_refused_and_close_twice_is_harmless() {
    let sink = delivering("after-close");
    let dispatcher = start(settings(), &sink);
    dispatcher.close(EVENTUALLY);
    assert_eq!(
        dispatcher.try_enqueue(&target("a"), 1),
        Err(EnqueueError::Closed)
    );
    let again = dispatcher.close(Duration::from_millis(10));
    assert_eq!(again.undelivered, 0);
    assert!(
        dispatcher.flush(Duration::from_millis(10)),
        "nothing queued"
    );
}

#[test]
fn dropping_the_handle_still_delivers_what_is_queued() {
    let sink = delivering("dropped-handle");
    let dispatcher = start(settings(), &sink);
    enqueue_all(&dispatcher, &target("a"), 0..3);
    drop(dispatcher);
    eventually("delivered after drop", || {
        batches(&sink).concat().len() == 3
    });
}

/// Threads of this process whose name is `name` (Linux shows the first 15 bytes).
fn threads_named(name: &str) -> usize {
    let Ok(tasks) = std::fs::read_dir("/proc/self/task") else {
        return 0;
    };
    tasks
        .filter_map(|task| std::fs::read_to_string(task.ok()?.path().join("comm")).ok())
        .filter(|comm| comm.trim_end() == name)
        .count()
}

#[test]
fn sender_threads_end_when_the_dispatcher_closes() {
    let sink = delivering("threads-end");
    let dispatcher = Dispatcher::start("fx-ends", settings(), sink.clone()).unwrap();
    enqueue_all(&dispatcher, &target("a"), 0..3);
    assert!(dispatcher.flush(EVENTUALLY));
    if cfg!(target_os = "linux") {
        assert_eq!(threads_named("fx-ends-send"), 1);
    }
    dispatcher.close(EVENTUALLY);
    eventually("sender threads gone", || threads_named("fx-ends-send") == 0);
}

// ---- concurrency ----

#[test]
fn eight_producers_deliver_every_item_exactly_once() {
    const PRODUCERS: u32 = 8;
    const PER_PRODUCER: u32 = 5_000;
    let sink = delivering("concurrent");
    let dispatcher = Arc::new(start(
        DispatchSettings {
            queue_capacity: (PRODUCERS * PER_PRODUCER) as usize,
            flush_interval: Duration::from_millis(5),
            ..settings()
        },
        &sink,
    ));
    let producers: Vec<_> = (0..PRODUCERS)
        .map(|producer| {
            let dispatcher = dispatcher.clone();
            thread::spawn(move || {
                let a = target("a");
                for n in 0..PER_PRODUCER {
                    dispatcher
                        .try_enqueue(&a, producer * PER_PRODUCER + n)
                        .unwrap();
                }
            })
        })
        .collect();
    for producer in producers {
        producer.join().unwrap();
    }
    assert!(dispatcher.flush(EVENTUALLY));

    let mut seen: HashMap<u32, usize> = HashMap::new();
    for item in batches(&sink).concat() {
        *seen.entry(item).or_default() += 1;
    }
    assert_eq!(seen.len(), (PRODUCERS * PER_PRODUCER) as usize);
    assert!(seen.values().all(|&count| count == 1));
    let stats = dispatcher.stats();
    assert_eq!((stats.sent, stats.dropped, stats.queued), (40_000, 0, 0));
    assert!(batches(&sink).iter().all(|batch| batch.len() <= 100));
}

#[test]
fn per_producer_order_is_kept_with_one_request_in_flight() {
    let sink = delivering("ordered");
    let dispatcher = Arc::new(start(
        DispatchSettings {
            max_in_flight: 1,
            ..settings()
        },
        &sink,
    ));
    let producers: Vec<_> = (0..2u32)
        .map(|producer| {
            let dispatcher = dispatcher.clone();
            thread::spawn(move || {
                enqueue_all(
                    &dispatcher,
                    &target("a"),
                    (0..1000).map(|n| producer * 10_000 + n),
                )
            })
        })
        .collect();
    for producer in producers {
        producer.join().unwrap();
    }
    assert!(dispatcher.flush(EVENTUALLY));
    let all = batches(&sink).concat();
    for producer in 0..2u32 {
        let mine: Vec<u32> = all
            .iter()
            .copied()
            .filter(|item| item / 10_000 == producer)
            .collect();
        assert_eq!(
            mine,
            (0..1000).map(|n| producer * 10_000 + n).collect::<Vec<_>>()
        );
    }
}
