//! Caller cost of `Client::send_odp_event` (throughput style: mean time per call), from one and
//! from two calling threads, with the event built before the clock starts (`send`) or inside
//! the timed loop (`build+send`).
//!
//! Run: `cargo bench -p optimizely-fx --bench odp_send`
//!
//! Criterion makes millions of calls, more than a real server on this machine takes in the
//! time budget, so the client's ODP requests go to an in-memory endpoint that answers `202` at
//! once (batching, JSON encoding and the delivery threads still run). Calls are made in chunks
//! of 50,000 per thread; between chunks, outside the measured time, the client is flushed so
//! the queue (capacity 2^20) never fills. Refusals are counted and reported.
//! With two threads the reported time is the sum of both threads' time in the calls divided
//! by the number of calls (caller time per call, not wall time).
//!
//! The per-call latency distribution (p50/p99) is printed by the `odp_send_latency` bench.

mod support;

use std::hint::black_box;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Barrier};
use std::thread;
use std::time::{Duration, Instant};

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use optimizely_fx::{Client, OdpEvent};
use support::purchase_event;

const QUEUE_CAPACITY: usize = 1 << 20;
/// Calls per thread between two (untimed) flushes.
const CHUNK: u64 = 50_000;

/// What is inside the timed region.
#[derive(Clone, Copy)]
enum Timed {
    Send,
    BuildAndSend,
}

/// Makes `count` calls and returns the time spent in them.
fn calls(
    client: &Client,
    first_id: u64,
    count: u64,
    timed: Timed,
    refused: &AtomicU64,
) -> Duration {
    let mut failures = 0;
    let spent = match timed {
        Timed::Send => {
            let events: Vec<OdpEvent> = (first_id..first_id + count).map(purchase_event).collect();
            let start = Instant::now();
            for event in events {
                failures += u64::from(client.send_odp_event(black_box(event)).is_err());
            }
            start.elapsed()
        }
        Timed::BuildAndSend => {
            let start = Instant::now();
            for id in first_id..first_id + count {
                failures += u64::from(
                    client
                        .send_odp_event(purchase_event(black_box(id)))
                        .is_err(),
                );
            }
            start.elapsed()
        }
    };
    refused.fetch_add(failures, Ordering::Relaxed);
    spent
}

/// `iters` calls spread over `threads` threads, in chunks; returns the summed caller time.
fn run(
    client: &Client,
    threads: u64,
    iters: u64,
    timed: Timed,
    refused: &Arc<AtomicU64>,
) -> Duration {
    let mut spent = Duration::ZERO;
    let mut done = 0;
    while done < iters {
        let chunk = (iters - done).min(CHUNK * threads);
        let per_thread = chunk.div_ceil(threads);
        let barrier = Arc::new(Barrier::new(threads as usize));
        let callers: Vec<_> = (0..threads)
            .map(|index| {
                let (client, barrier, refused) = (client.clone(), barrier.clone(), refused.clone());
                let first_id = done + index * per_thread;
                thread::spawn(move || {
                    barrier.wait();
                    calls(&client, first_id, per_thread, timed, &refused)
                })
            })
            .collect();
        spent += callers
            .into_iter()
            .map(|c| c.join().expect("caller"))
            .sum::<Duration>();
        done += chunk;
        client.flush(Duration::from_secs(60));
    }
    spent
}

fn bench_send_odp_event(c: &mut Criterion) {
    let mut group = c.benchmark_group("send_odp_event");
    group.throughput(Throughput::Elements(1));
    group.sample_size(30);
    group.measurement_time(Duration::from_secs(5));
    let configs = [
        ("send/1_thread", 1, Timed::Send),
        ("send/2_threads", 2, Timed::Send),
        ("build+send/1_thread", 1, Timed::BuildAndSend),
    ];
    for (name, threads, timed) in configs {
        let client = support::in_memory_client(|b| b.odp_event_queue_capacity(QUEUE_CAPACITY));
        let refused = Arc::new(AtomicU64::new(0));
        group.bench_function(name, |b| {
            b.iter_custom(|iters| run(&client, threads, iters, timed, &refused));
        });
        let refused = refused.load(Ordering::Relaxed);
        let stats = client.odp_stats();
        if refused > 0 || stats.dropped > 0 {
            eprintln!(
                "{name}: {refused} calls refused ({} dropped)",
                stats.dropped
            );
        }
        client.close(Duration::from_secs(10));
    }
    group.finish();
}

criterion_group!(benches, bench_send_odp_event);
criterion_main!(benches);
