//! The event worker thread starts with the first impression or conversion, not before. Alone in
//! its test binary, so no other test's threads are counted.

mod decide_support;

use decide_support::*;
use optimizely_fx::{Attributes, DecideOption};

/// Threads of this process whose (15-character, truncated) name starts like the event
/// worker's and its sender threads' (`optimizely-fx-events`, `optimizely-fx-events-send`).
fn event_threads() -> usize {
    let tasks = std::fs::read_dir("/proc/self/task").expect("Linux /proc");
    tasks
        .flatten()
        .filter(|task| {
            std::fs::read_to_string(task.path().join("comm"))
                .is_ok_and(|comm| "optimizely-fx-events".starts_with(comm.trim()))
        })
        .count()
}

#[test]
fn the_worker_starts_with_the_first_event() {
    let server = server(None);
    let client = builder(&datafile("go-decide-test-datafile.json"), &server)
        .build()
        .unwrap();
    let user = client.create_user_context("user1", Attributes::new());
    user.decide_all(&[DecideOption::DisableDecisionEvent]);
    assert_eq!(event_threads(), 0, "no event thread before the first event");
    assert_eq!(client.event_stats(), Default::default());

    user.decide("feature_2", &[]);
    // A new thread names itself once it runs: wait for that.
    eventually("the worker runs", || event_threads() >= 1);
    assert!(client.flush(PATIENCE));
    assert_eq!(client.event_stats().sent, 1);
    client.close(PATIENCE);
    eventually("the worker and senders end after close", || {
        event_threads() == 0
    });
}
