//! Caller cost of queueing an item on the background dispatcher (`try_enqueue`), with a sink
//! that discards every batch, from one and from two producer threads.
//!
//! Run: `cargo bench -p optimizely-fx --bench dispatch`
//!
//! The dispatcher is crate-private, so its source is compiled into this bench directly.
//! Reported time is caller time per call: with two producers, the sum of both threads' time
//! spent enqueueing divided by the number of calls.

// `cargo check/clippy --all-targets` build this bench with `cfg(test)`, which pulls in the
// module's unit-test files without their `#[test]` functions.
#![cfg_attr(test, allow(unused_imports))]

#[allow(dead_code)]
#[path = "../src/dispatch/mod.rs"]
mod dispatch;

use std::hint::black_box;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Barrier};
use std::thread;
use std::time::{Duration, Instant};

use criterion::{Criterion, criterion_group, criterion_main};
use dispatch::{BatchSink, DispatchSettings, Dispatcher, SendOutcome};

struct Discard;

impl BatchSink for Discard {
    type Item = u64;
    type Target = String;

    fn kind(&self) -> &str {
        "bench item"
    }

    fn send(&self, _: &String, items: &[u64]) -> SendOutcome {
        black_box(items);
        SendOutcome::Delivered
    }
}

const CAPACITY: usize = 1 << 20;
/// Items enqueued between two (untimed) flushes, so the queue never fills up.
const CHUNK: u64 = 200_000;

fn dispatcher() -> Dispatcher<Discard> {
    let settings = DispatchSettings {
        queue_capacity: CAPACITY,
        ..DispatchSettings::default()
    };
    Dispatcher::start("bench-dispatch", settings, Discard).unwrap()
}

/// Enqueues `count` items and returns the time spent in `try_enqueue`.
fn enqueue_timed(
    dispatcher: &Dispatcher<Discard>,
    target: &Arc<String>,
    count: u64,
    refused: &AtomicU64,
) -> Duration {
    let start = Instant::now();
    for n in 0..count {
        if dispatcher.try_enqueue(target.clone(), n).is_err() {
            refused.fetch_add(1, Ordering::Relaxed);
        }
    }
    start.elapsed()
}

/// `threads` producers enqueue `per_thread` items each; returns their summed enqueue time.
fn produce_once(
    dispatcher: &Arc<Dispatcher<Discard>>,
    threads: u64,
    per_thread: u64,
    refused: &Arc<AtomicU64>,
) -> Duration {
    let barrier = Arc::new(Barrier::new(threads as usize));
    let workers: Vec<_> = (0..threads)
        .map(|_| {
            let (dispatcher, barrier, refused) =
                (dispatcher.clone(), barrier.clone(), refused.clone());
            thread::spawn(move || {
                let target = Arc::new("https://api.zaius.com".to_owned());
                barrier.wait();
                enqueue_timed(&dispatcher, &target, per_thread, &refused)
            })
        })
        .collect();
    workers
        .into_iter()
        .map(|worker| worker.join().unwrap())
        .sum()
}

fn producers(
    dispatcher: &Arc<Dispatcher<Discard>>,
    threads: u64,
    iters: u64,
    refused: &Arc<AtomicU64>,
) -> Duration {
    let mut spent = Duration::ZERO;
    let mut remaining = iters;
    while remaining > 0 {
        let chunk = remaining.min(CHUNK);
        spent += produce_once(dispatcher, threads, chunk.div_ceil(threads), refused);
        remaining -= chunk;
        // Let the worker catch up outside the measured time.
        dispatcher.flush(Duration::from_secs(60));
    }
    spent
}

fn bench_try_enqueue(c: &mut Criterion) {
    let mut group = c.benchmark_group("dispatch/try_enqueue");
    group.measurement_time(Duration::from_secs(3));
    for threads in [1u64, 2] {
        let dispatcher = Arc::new(dispatcher());
        let refused = Arc::new(AtomicU64::new(0));
        group.bench_function(format!("{threads}_producer"), |b| {
            b.iter_custom(|iters| producers(&dispatcher, threads, iters, &refused));
        });
        let refused = refused.load(Ordering::Relaxed);
        if refused > 0 {
            eprintln!("note: {refused} items were refused (queue full) with {threads} producer(s)");
        }
        dispatcher.close(Duration::from_secs(10));
    }
    group.finish();
}

criterion_group!(benches, bench_try_enqueue);
criterion_main!(benches);
