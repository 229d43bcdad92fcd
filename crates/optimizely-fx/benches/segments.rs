//! Cost of `Client::fetch_qualified_segments`:
//!
//! * `segments_cache_hit/{vec,shared}_{1,2}_threads`: answers from the built-in cache (1,000
//!   users cached, 2 segments each), through `fetch_qualified_segments` (a `Vec<String>` copy
//!   of the cached list) and `fetch_qualified_segments_shared` (the cached list itself). With
//!   two threads both call it at once on the same client; the reported time is the wall time
//!   per call each thread sees.
//! * `segments_dev_server/fetch`: cache off, every call a GraphQL request to the dev server on
//!   127.0.0.1 (criterion also prints fetches per second).
//!
//! Run: `cargo bench -p optimizely-fx --bench segments`

use std::hint::black_box;
use std::sync::{Arc, Barrier};
use std::thread;
use std::time::{Duration, Instant};

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use optimizely_fx::Client;
use optimizely_fx_devserver::{DevServer, DevServerConfig, DevServerHandle};

const SDK_KEY: &str = "bench";
const USERS: usize = 1_000;

fn datafile() -> String {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../tests/fixtures/datafiles/go-odp-test-datafile.json"
    );
    std::fs::read_to_string(path).expect("fixture is readable")
}

fn server() -> DevServerHandle {
    let config = DevServerConfig::default().datafile(SDK_KEY, datafile());
    let server = DevServer::start(config).expect("dev server starts");
    for user in 0..USERS {
        let segments = vec!["odp-segment-1".to_owned(), "odp-segment-3".to_owned()];
        server.set_segments(user_name(user), segments);
    }
    server
}

fn user_name(user: usize) -> String {
    format!("bench-user-{user}")
}

fn client(server: &DevServerHandle, cache_size: usize) -> Client {
    let client = Client::builder()
        .sdk_key(SDK_KEY)
        .datafile_url_template(server.datafile_url_template())
        .polling_interval(Duration::ZERO)
        .segments_cache_size(cache_size)
        .build()
        .expect("client builds");
    client
        .wait_until_ready(Duration::from_secs(30))
        .expect("client becomes ready");
    client
}

/// Calls `fetch` `iters` times on each of `threads` threads started together; returns the
/// longest thread's time.
fn timed_on_threads(threads: usize, iters: u64, fetch: &(dyn Fn(u64) + Sync)) -> Duration {
    let start = Barrier::new(threads);
    thread::scope(|scope| {
        let handles: Vec<_> = (0..threads)
            .map(|_| {
                scope.spawn(|| {
                    start.wait();
                    let began = Instant::now();
                    for i in 0..iters {
                        fetch(i);
                    }
                    began.elapsed()
                })
            })
            .collect();
        handles
            .into_iter()
            .map(|handle| handle.join().expect("bench thread"))
            .max()
            .unwrap_or_default()
    })
}

fn cache_hits(c: &mut Criterion) {
    let server = server();
    let client = client(&server, 10_000);
    let users: Arc<Vec<String>> = Arc::new((0..USERS).map(user_name).collect());
    for user in users.iter() {
        client
            .fetch_qualified_segments(user, &[])
            .expect("warm-up fetch");
    }
    let copied = |i: u64| {
        let user = &users[i as usize % USERS];
        black_box(client.fetch_qualified_segments(black_box(user), &[])).expect("cache hit");
    };
    let shared = |i: u64| {
        let user = &users[i as usize % USERS];
        black_box(client.fetch_qualified_segments_shared(black_box(user), &[])).expect("cache hit");
    };
    let mut group = c.benchmark_group("segments_cache_hit");
    for threads in [1, 2] {
        group.bench_function(format!("vec_{threads}_threads"), |b| {
            b.iter_custom(|iters| timed_on_threads(threads, iters, &copied));
        });
        group.bench_function(format!("shared_{threads}_threads"), |b| {
            b.iter_custom(|iters| timed_on_threads(threads, iters, &shared));
        });
    }
    group.finish();
}

fn dev_server_fetches(c: &mut Criterion) {
    let server = server();
    let client = client(&server, 0);
    let mut group = c.benchmark_group("segments_dev_server");
    group.throughput(Throughput::Elements(1));
    group.sample_size(20);
    group.measurement_time(Duration::from_secs(5));
    let mut i = 0;
    group.bench_function("fetch", |b| {
        b.iter(|| {
            i += 1;
            let user = user_name(i % USERS);
            black_box(client.fetch_qualified_segments(&user, &[])).expect("fetch");
        });
    });
    group.finish();
}

criterion_group!(benches, cache_hits, dev_server_fetches);
criterion_main!(benches);
