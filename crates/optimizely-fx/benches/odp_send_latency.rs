//! Per-call latency of `Client::send_odp_event`, as the caller sees it: `Instant` around each
//! call, 200,000 calls per thread after 20,000 warm-up calls, with 1 and 2 calling threads.
//! Prints one JSON line per configuration with p50/p90/p99/p99.9/max in nanoseconds.
//!
//! Run: `cargo bench -p optimizely-fx --bench odp_send_latency`
//!
//! Events are delivered in the background, either to the dev server running in a child
//! process (`dev server` lines; its CPU use is reported as `server_cpu_ms`, since on a 2-core
//! machine it competes with the callers) or to an in-memory endpoint that answers `202` at once
//! (`in-memory` lines: the SDK's own work only, batching and JSON encoding included). The queue
//! capacity is raised to 2^20 so the queue never fills during a measurement; every line reports
//! `dropped` (refusals) to prove it. The event is built before the clock starts, except in the
//! `build+send` configuration. `delivery idle` never cuts a batch during the run (batch size and
//! flush interval out of reach), so no JSON or HTTP work competes with the caller; the worker
//! thread still takes every event off the channel. The `timer overhead` line is the cost of
//! the two `Instant::now()` calls alone, included in every other figure.
//!
//! An argument filters configurations by substring, e.g. `-- "in-memory"`.

mod support;

use std::sync::{Arc, Barrier};
use std::thread;
use std::time::{Duration, Instant};

use optimizely_fx::{Client, ClientBuilder};
use support::{BenchServer, JsonLine, percentile, purchase_event};

const WARM_UP_CALLS: u64 = 20_000;
const TIMED_CALLS: u64 = 200_000;
const QUEUE_CAPACITY: usize = 1 << 20;

/// What is inside the timed region.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Timed {
    /// `send_odp_event` only; the event is built before the clock starts.
    Send,
    /// Building the event (`OdpEvent::new(..).identifier(..).data(..)`) and sending it.
    BuildAndSend,
}

/// Where the events go.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Sink {
    /// The dev server in a child process.
    DevServer,
    /// [`support::AcceptAll`]: no I/O.
    InMemory,
}

/// One measured configuration.
struct Config {
    name: &'static str,
    threads: usize,
    timed: Timed,
    sink: Sink,
    idle_delivery: bool,
}

impl Config {
    const fn new(name: &'static str, threads: usize, timed: Timed, sink: Sink) -> Config {
        Config {
            name,
            threads,
            timed,
            sink,
            idle_delivery: false,
        }
    }

    const fn idle(mut self) -> Config {
        self.idle_delivery = true;
        self
    }
}

const CONFIGS: [Config; 6] = [
    Config::new("send, 1 thread, in-memory", 1, Timed::Send, Sink::InMemory),
    Config::new("send, 2 threads, in-memory", 2, Timed::Send, Sink::InMemory),
    Config::new(
        "send, 1 thread, dev server",
        1,
        Timed::Send,
        Sink::DevServer,
    ),
    Config::new(
        "send, 2 threads, dev server",
        2,
        Timed::Send,
        Sink::DevServer,
    ),
    Config::new(
        "build+send, 1 thread, dev server",
        1,
        Timed::BuildAndSend,
        Sink::DevServer,
    ),
    Config::new(
        "send, 1 thread, delivery idle",
        1,
        Timed::Send,
        Sink::InMemory,
    )
    .idle(),
];

fn main() {
    support::serve_if_child();
    let filter = std::env::args()
        .skip(1)
        .find(|arg| !arg.starts_with("--"))
        .unwrap_or_default();
    let server = BenchServer::start(Duration::ZERO);
    if "timer overhead".contains(filter.as_str()) {
        timer_overhead();
    }
    for config in CONFIGS.iter().filter(|c| c.name.contains(filter.as_str())) {
        measure(&server, config);
    }
}

fn timer_overhead() {
    let mut samples = Vec::with_capacity(TIMED_CALLS as usize);
    for _ in 0..TIMED_CALLS {
        let start = Instant::now();
        samples.push(start.elapsed().as_nanos() as u64);
    }
    summary("timer overhead", 1, &mut samples).print();
}

/// `config.threads` threads each make warm-up then timed calls on one client; prints the
/// merged percentiles.
fn measure(server: &BenchServer, config: &Config) {
    let settings = |builder: ClientBuilder| {
        let builder = builder.odp_event_queue_capacity(QUEUE_CAPACITY);
        if config.idle_delivery {
            builder
                .odp_event_batch_size(QUEUE_CAPACITY)
                .odp_event_flush_interval(Duration::from_secs(3600))
        } else {
            builder
        }
    };
    let client = Arc::new(match config.sink {
        Sink::DevServer => server.client(settings),
        Sink::InMemory => support::in_memory_client(settings),
    });
    let server_cpu_before = server.cpu_time();
    let (threads, timed) = (config.threads, config.timed);
    let barrier = Arc::new(Barrier::new(threads));
    let callers: Vec<_> = (0..threads as u64)
        .map(|thread_index| {
            let (client, barrier) = (client.clone(), barrier.clone());
            thread::spawn(move || {
                barrier.wait();
                let first_id = thread_index * 10_000_000;
                time_calls(&client, first_id, WARM_UP_CALLS, timed);
                barrier.wait();
                time_calls(&client, first_id + WARM_UP_CALLS, TIMED_CALLS, timed)
            })
        })
        .collect();
    let mut samples: Vec<u64> = callers
        .into_iter()
        .flat_map(|caller| caller.join().expect("caller thread"))
        .collect();
    let delivered = config.idle_delivery || client.flush(Duration::from_secs(120));
    let stats = client.odp_stats();
    let server_cpu = server.cpu_time().saturating_sub(server_cpu_before);
    client.close(Duration::from_millis(100));
    let extra = format!(
        r#"{{"queued":{},"sent":{},"dropped":{},"failed":{},"flushed":{}}}"#,
        stats.queued, stats.sent, stats.dropped, stats.failed, delivered
    );
    let mut line = summary(config.name, threads, &mut samples).raw("odp_stats", &extra);
    if config.sink == Sink::DevServer {
        line = line.num("server_cpu_ms", server_cpu.as_millis() as u64);
    }
    line.print();
}

/// Makes `count` calls with user ids from `first_id`; returns each call's duration in ns.
fn time_calls(client: &Client, first_id: u64, count: u64, timed: Timed) -> Vec<u64> {
    let mut samples = Vec::with_capacity(count as usize);
    let mut refused = 0u64;
    for id in first_id..first_id + count {
        let (outcome, nanos) = match timed {
            Timed::Send => {
                let event = purchase_event(id);
                let start = Instant::now();
                let outcome = client.send_odp_event(event);
                (outcome, start.elapsed().as_nanos() as u64)
            }
            Timed::BuildAndSend => {
                let start = Instant::now();
                let outcome = client.send_odp_event(purchase_event(id));
                (outcome, start.elapsed().as_nanos() as u64)
            }
        };
        refused += u64::from(outcome.is_err());
        samples.push(nanos);
    }
    assert_eq!(refused, 0, "send_odp_event refused events during the run");
    samples
}

fn summary(name: &str, threads: usize, samples: &mut [u64]) -> JsonLine {
    samples.sort_unstable();
    let mean = samples.iter().sum::<u64>() as f64 / samples.len().max(1) as f64;
    JsonLine::default()
        .text("bench", "odp_send_latency")
        .text("sdk", "rust")
        .text("config", name)
        .num("threads", threads as u64)
        .num("calls", samples.len() as u64)
        .num("p50_ns", percentile(samples, 50.0))
        .num("p90_ns", percentile(samples, 90.0))
        .num("p99_ns", percentile(samples, 99.0))
        .num("p99_9_ns", percentile(samples, 99.9))
        .num("max_ns", samples.last().copied().unwrap_or(0))
        .num("mean_ns", support::round3(mean))
}
