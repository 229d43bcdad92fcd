//! ODP event delivery with default settings: delivered events per second and SDK CPU time per
//! delivered event against the dev server with 0 ms and 100 ms of added latency, and the peak
//! memory while 1,000,000 sends hit a slow server with the default queue.
//!
//! Run: `cargo bench -p optimizely-fx --bench odp_delivery` (an argument filters scenarios
//! by substring: `rss`, `0 ms`, `100 ms`). Prints one JSON line per scenario.
//!
//! The dev server runs in a child process (this executable started again), so the CPU time read
//! from `/proc/self/stat` is the SDK's and the sending loop's alone; the server's own CPU time
//! is printed separately (`server_cpu_ms`). CPU times have a resolution of 10 ms.
//!
//! Delivery scenarios: the caller sends `events` events as fast as the default queue (10,000)
//! takes them: when the queue is within 64 of its capacity it waits (sleeping 1 ms at a time)
//! until the queue is down to half, so no event is refused and the figure is the delivery
//! rate, not the refusal rate. The clock and the CPU time start before the first send and stop when `flush`
//! has seen every event delivered (answered `2xx`); the server's count of received events is
//! read afterwards (and waited for briefly: the server answers just before it counts).
//!
//! Memory scenario: every ODP request waits 1 s at the server. The caller sends 1,000,000
//! events in a tight loop; the queue fills and the rest are refused and counted as dropped.
//! Peak RSS (`VmHWM`, reset to the idle figure first where the kernel allows) is compared with
//! the RSS of the idle, ready client.

mod support;

use std::thread;
use std::time::{Duration, Instant};

use optimizely_fx::{Client, DEFAULT_ODP_QUEUE_CAPACITY, DeliveryStats, SendOdpEventError};
use support::{BenchServer, JsonLine, purchase_event, round3};

/// Sends between two looks at the queue length in the delivery scenarios.
const CHECK_EVERY: u64 = 64;
/// Queue length at which a paused sending loop resumes.
const RESUME_AT: u64 = DEFAULT_ODP_QUEUE_CAPACITY as u64 / 2;
const RSS_SENDS: u64 = 1_000_000;
const SLOW_SERVER_LATENCY: Duration = Duration::from_secs(1);

fn main() {
    support::serve_if_child();
    let filter = std::env::args()
        .skip(1)
        .find(|arg| !arg.starts_with("--"))
        .unwrap_or_default();
    // First, so that the peak RSS is not an earlier scenario's.
    if "rss, 1 s latency".contains(filter.as_str()) {
        peak_rss_with_slow_server();
    }
    for (latency_ms, events) in [(0, 200_000), (100, 20_000)] {
        let name = format!("delivery, {latency_ms} ms latency");
        if name.contains(filter.as_str()) {
            delivery(&name, Duration::from_millis(latency_ms), events);
        }
    }
}

fn delivery(name: &str, latency: Duration, events: u64) {
    let server = BenchServer::start(latency);
    let client = server.client(|builder| builder);
    let main_thread = format!("/proc/self/task/{}/stat", std::process::id());
    let (cpu_before, caller_cpu_before) = (support::process_cpu_time(), thread_cpu(&main_thread));
    let server_cpu_before = server.cpu_time();
    let start = Instant::now();
    send_without_refusals(&client, events);
    let all_sent = start.elapsed();
    let flushed = client.flush(Duration::from_secs(300));
    let elapsed = start.elapsed();
    let cpu = support::process_cpu_time().saturating_sub(cpu_before);
    let caller_cpu = thread_cpu(&main_thread).saturating_sub(caller_cpu_before);
    let server_cpu = server.cpu_time().saturating_sub(server_cpu_before);
    let received = wait_for_server(&server, events);
    let stats = client.odp_stats();
    client.close(Duration::from_secs(5));
    let seconds = elapsed.as_secs_f64();
    JsonLine::default()
        .text("bench", "odp_delivery")
        .text("sdk", "rust")
        .text("scenario", name)
        .num("latency_ms", latency.as_millis() as u64)
        .num("events", events)
        .num("received_by_server", received)
        .num("flushed", u64::from(flushed))
        .num("seconds", round3(seconds))
        .num("send_loop_seconds", round3(all_sent.as_secs_f64()))
        .num("delivered_per_s", (received as f64 / seconds).round())
        .num("cpu_ms", cpu.as_millis() as u64)
        .num("cpu_us_per_event", round3(micros_per(cpu, received)))
        .num("caller_thread_cpu_ms", caller_cpu.as_millis() as u64)
        .num(
            "background_cpu_ms",
            cpu.saturating_sub(caller_cpu).as_millis() as u64,
        )
        .num("server_cpu_ms", server_cpu.as_millis() as u64)
        .num(
            "server_cpu_us_per_event",
            round3(micros_per(server_cpu, received)),
        )
        .raw("odp_stats", &stats_json(&stats))
        .print();
}

/// Sends `events` events without a refusal: when the queue is nearly full, waits (1 ms at a
/// time) until it has drained to `RESUME_AT`, as a producer honouring backpressure would, so
/// the waiting costs a few wake-ups per thousand events rather than one per few events.
fn send_without_refusals(client: &Client, events: u64) {
    let pause_at = DEFAULT_ODP_QUEUE_CAPACITY as u64 - CHECK_EVERY;
    for id in 0..events {
        if id % CHECK_EVERY == 0 && client.odp_stats().queued >= pause_at {
            while client.odp_stats().queued > RESUME_AT {
                thread::sleep(Duration::from_millis(1));
            }
        }
        client
            .send_odp_event(purchase_event(id))
            .expect("the queue has room");
    }
}

fn peak_rss_with_slow_server() {
    let server = BenchServer::start(SLOW_SERVER_LATENCY);
    let client = server.client(|builder| builder);
    thread::sleep(Duration::from_millis(200));
    let idle_rss = support::status_kib("VmRSS");
    let peak_was_reset = support::reset_peak_rss();
    let start = Instant::now();
    let (mut accepted, mut queue_full, mut other) = (0u64, 0u64, 0u64);
    for id in 0..RSS_SENDS {
        match client.send_odp_event(purchase_event(id)) {
            Ok(()) => accepted += 1,
            Err(SendOdpEventError::QueueFull) => queue_full += 1,
            Err(_) => other += 1,
        }
    }
    let send_loop = start.elapsed();
    let peak = support::status_kib("VmHWM");
    let rss_after_sends = support::status_kib("VmRSS");
    let stats = client.odp_stats();
    let close = client.close(Duration::from_secs(2));
    drop(client);
    let rss_after_close = support::status_kib("VmRSS");
    JsonLine::default()
        .text("bench", "odp_delivery")
        .text("sdk", "rust")
        .text(
            "scenario",
            "rss, 1 s latency, 1,000,000 sends, default queue",
        )
        .num("sends", RSS_SENDS)
        .num("accepted", accepted)
        .num("refused_queue_full", queue_full)
        .num("refused_other", other)
        .num(
            "send_loop_ns_per_call",
            round3(nanos_per(send_loop, RSS_SENDS)),
        )
        .num("idle_rss_kib", idle_rss)
        .num("peak_rss_kib", peak)
        .num("peak_above_idle_kib", peak.saturating_sub(idle_rss))
        .num("peak_reset_to_idle", u64::from(peak_was_reset))
        .num("rss_after_sends_kib", rss_after_sends)
        .num("rss_after_close_kib", rss_after_close)
        .raw("odp_stats_after_sends", &stats_json(&stats))
        .num("undelivered_at_close", close.odp_events.undelivered)
        .print();
}

/// The server's count of received events once it reaches `expected` or stops growing for 2 s
/// (it may answer a request a moment before counting its events).
fn wait_for_server(server: &BenchServer, expected: u64) -> u64 {
    let mut received = server.odp_events_received();
    let mut last_growth = Instant::now();
    while received < expected && last_growth.elapsed() < Duration::from_secs(2) {
        thread::sleep(Duration::from_millis(20));
        let now = server.odp_events_received();
        if now > received {
            last_growth = Instant::now();
        }
        received = now;
    }
    received
}

fn thread_cpu(stat_path: &str) -> Duration {
    support::cpu_from_stat(&std::fs::read_to_string(stat_path).unwrap_or_default())
}

fn stats_json(stats: &DeliveryStats) -> String {
    format!(
        r#"{{"queued":{},"sent":{},"retried":{},"failed":{},"dropped":{}}}"#,
        stats.queued, stats.sent, stats.retried, stats.failed, stats.dropped
    )
}

fn micros_per(time: Duration, count: u64) -> f64 {
    time.as_secs_f64() * 1e6 / count.max(1) as f64
}

fn nanos_per(time: Duration, count: u64) -> f64 {
    time.as_secs_f64() * 1e9 / count.max(1) as f64
}
