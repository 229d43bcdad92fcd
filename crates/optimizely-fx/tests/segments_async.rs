//! `Client::fetch_qualified_segments_async` against the dev server on 127.0.0.1, driven by a
//! current-thread tokio runtime: the executor thread stays free while ODP is slow.

mod segments_support;

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::task::{Context, Poll, Waker};
use std::time::Duration;

use optimizely_fx::{FetchSegmentsError, FetchSegmentsFuture, SegmentOption};
use optimizely_fx_devserver::{Endpoint, Fault};
use segments_support::*;

fn current_thread_runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .build()
        .unwrap()
}

fn poll_once(future: &mut FetchSegmentsFuture) -> Poll<Result<Vec<String>, FetchSegmentsError>> {
    Pin::new(future).poll(&mut Context::from_waker(Waker::noop()))
}

#[test]
fn another_task_keeps_running_while_the_fetch_waits_on_a_slow_server() {
    let server = Arc::new(server_with(&odp_datafile()));
    let client = ready(builder(&server));
    server.inject_fault(
        Endpoint::OdpGraphql,
        Fault::Latency {
            delay: Duration::from_secs(2),
            times: 1,
        },
    );
    let ticks = Arc::new(AtomicUsize::new(0));
    let stop = Arc::new(AtomicBool::new(false));

    let segments = current_thread_runtime().block_on(async {
        let other = {
            let (server, ticks, stop) = (server.clone(), ticks.clone(), stop.clone());
            tokio::spawn(async move {
                // The server looks the user up only after its 2 s delay: this runs first only
                // if the fetch does not hold the (single) executor thread.
                server.set_segments("slow-user", strings(&["odp-segment-2"]));
                while !stop.load(Ordering::SeqCst) {
                    ticks.fetch_add(1, Ordering::SeqCst);
                    tokio::time::sleep(Duration::from_millis(5)).await;
                }
            })
        };
        let segments = client
            .fetch_qualified_segments_async("slow-user", &[])
            .await;
        stop.store(true, Ordering::SeqCst);
        other.await.unwrap();
        segments
    });

    assert_eq!(segments, Ok(strings(&["odp-segment-2"])));
    assert!(ticks.load(Ordering::SeqCst) >= 1);
    assert_eq!(graphql_requests(&server), 1);
}

#[test]
fn cache_hits_and_refusals_are_ready_at_the_first_poll() {
    let server = server_with(&odp_datafile());
    let client = ready(builder(&server));
    server.set_segments("u1", strings(&["odp-segment-1"]));
    assert_eq!(
        client.fetch_qualified_segments("u1", &[]),
        Ok(strings(&["odp-segment-1"]))
    );

    let mut hit = client.fetch_qualified_segments_async("u1", &[]);
    assert_eq!(
        poll_once(&mut hit),
        Poll::Ready(Ok(strings(&["odp-segment-1"])))
    );

    let disabled = ready(builder(&server).odp_disabled(true));
    let mut refused = disabled.fetch_qualified_segments_async("u1", &[]);
    assert_eq!(
        poll_once(&mut refused),
        Poll::Ready(Err(FetchSegmentsError::OdpNotEnabled))
    );
    assert_eq!(graphql_requests(&server), 1);
}

#[test]
fn async_answers_match_the_blocking_ones_and_share_the_cache() {
    let server = server_with(&odp_datafile());
    let client = ready(builder(&server));
    server.set_segments("u1", strings(&["odp-segment-3"]));
    let runtime = current_thread_runtime();

    let first = runtime.block_on(client.fetch_qualified_segments_async("u1", &[]));
    assert_eq!(first, Ok(strings(&["odp-segment-3"])));
    assert_eq!(client.fetch_qualified_segments("u1", &[]), first);
    assert_eq!(graphql_requests(&server), 1);

    server.set_segments("u1", vec![]);
    let ignored = runtime
        .block_on(client.fetch_qualified_segments_async("u1", &[SegmentOption::IgnoreCache]));
    assert_eq!(ignored, Ok(vec![]));

    let unknown = runtime.block_on(client.fetch_qualified_segments_async("nobody", &[]));
    assert_eq!(
        unknown.unwrap_err().to_string(),
        "Audience segments fetch failed (invalid identifier)"
    );
    assert_eq!(graphql_requests(&server), 3);
}

#[test]
fn more_fetches_than_worker_threads_all_complete() {
    const USERS: usize = 40;
    let server = server_with(&odp_datafile());
    let client = ready(builder(&server));
    for user in 0..USERS {
        server.set_segments(format!("user-{user}"), strings(&["odp-segment-1"]));
    }
    server.inject_fault(
        Endpoint::OdpGraphql,
        Fault::Latency {
            delay: Duration::from_millis(100),
            times: u32::MAX,
        },
    );

    let results = current_thread_runtime().block_on(async {
        let tasks: Vec<_> = (0..USERS)
            .map(|user| {
                tokio::spawn(client.fetch_qualified_segments_async(&format!("user-{user}"), &[]))
            })
            .collect();
        let mut results = Vec::new();
        for task in tasks {
            results.push(task.await.unwrap());
        }
        results
    });

    assert!(
        results
            .iter()
            .all(|r| r == &Ok(strings(&["odp-segment-1"]))),
        "{results:?}"
    );
    assert_eq!(graphql_requests(&server), USERS);
}

#[test]
fn dropped_futures_give_their_place_back() {
    let server = server_with(&odp_datafile());
    let client = ready(builder(&server));
    server.set_segments("u1", strings(&["odp-segment-2"]));
    server.inject_fault(
        Endpoint::OdpGraphql,
        Fault::Latency {
            delay: Duration::from_millis(200),
            times: 40,
        },
    );
    // Some of these start a worker, the rest wait in line; all are abandoned.
    let mut abandoned: Vec<_> = (0..40)
        .map(|i| {
            client
                .fetch_qualified_segments_async(&format!("gone-{i}"), &[SegmentOption::IgnoreCache])
        })
        .collect();
    for future in &mut abandoned {
        assert!(poll_once(future).is_pending());
    }
    drop(abandoned);

    let answer =
        current_thread_runtime().block_on(client.fetch_qualified_segments_async("u1", &[]));
    assert_eq!(answer, Ok(strings(&["odp-segment-2"])));
}
