//! Delivery of impression and conversion events by the batching worker: batch size, flush
//! interval, flush and close (covering the ODP queue too), revisions, server faults.

mod decide_support;

use std::time::Duration;

use decide_support::*;
use optimizely_fx::{Attributes, Client, OdpEvent};
use optimizely_fx_devserver::{DevServerHandle, Endpoint, Fault};
use serde_json::Value;

const HOUR: Duration = Duration::from_secs(3600);

fn decide_client(server: &DevServerHandle, batch: usize, interval: Duration) -> Client {
    builder(&datafile("go-decide-test-datafile.json"), server)
        .event_batch_size(batch)
        .event_flush_interval(interval)
        .build()
        .unwrap()
}

fn track(client: &Client, user: &str) {
    client
        .track_event("event1", user, Attributes::new(), ())
        .unwrap();
}

fn visitor_counts(batches: &[Value]) -> Vec<usize> {
    batches
        .iter()
        .map(|b| b["visitors"].as_array().map_or(0, Vec::len))
        .collect()
}

fn visitor_ids(batches: &[Value]) -> Vec<String> {
    visitors(batches)
        .iter()
        .map(|v| v["visitor_id"].as_str().unwrap().to_owned())
        .collect()
}

#[test]
fn a_full_batch_is_sent_at_once_and_the_rest_at_close() {
    let server = server(None);
    let client = decide_client(&server, 3, HOUR);
    for i in 0..7 {
        track(&client, &format!("u{i}"));
    }
    let batches = server.wait_for_log_event_batches(2, PATIENCE);
    assert_eq!(visitor_counts(&batches), [3, 3]);
    eventually("two batches counted as sent", || {
        client.event_stats().sent == 6
    });
    assert_eq!(client.event_stats().queued, 1);
    let report = client.close(PATIENCE);
    assert_eq!(report.events.undelivered, 0);
    assert_eq!(report.events.stats.sent, 7);
    // Batches travel in parallel: compare them in a fixed order.
    let mut batches: Vec<Vec<String>> = server
        .log_event_batches()
        .iter()
        .map(|b| visitor_ids(std::slice::from_ref(b)))
        .collect();
    batches.sort();
    assert_eq!(
        batches,
        [
            strings(&["u0", "u1", "u2"]),
            strings(&["u3", "u4", "u5"]),
            strings(&["u6"])
        ]
    );
}

#[test]
fn a_partial_batch_is_sent_when_the_flush_interval_passes() {
    let server = server(None);
    let client = decide_client(&server, 100, Duration::from_millis(50));
    track(&client, "a");
    track(&client, "b");
    let batches = server.wait_for_log_event_batches(1, PATIENCE);
    assert_eq!(
        visitor_ids(&batches),
        ["a", "b"],
        "sent without flush or close"
    );
    eventually("stats count the delivery", || {
        client.event_stats().sent == 2
    });
    client.close(PATIENCE);
}

#[test]
fn flush_and_close_cover_odp_events_and_impressions() {
    let server = server(Some(&datafile("go-odp-test-datafile.json")));
    let client = ready(
        polling_builder(&server)
            .event_flush_interval(HOUR)
            .odp_event_flush_interval(HOUR),
    );
    let odp_event = || {
        OdpEvent::new("purchased")
            .identifier("fs_user_id", "user-1")
            .data("count", 1)
    };
    client.send_odp_event(odp_event()).unwrap();
    let user = client.create_user_context("user-1", Attributes::new());
    user.decide("flag-segment", &[]);
    assert!(client.flush(PATIENCE), "both queues flushed in time");
    assert_eq!(server.odp_events().len(), 1);
    assert_eq!(visitor_ids(&server.log_event_batches()), ["user-1"]);

    client.send_odp_event(odp_event()).unwrap();
    user.decide("flag-segment", &[]);
    user.decide("flag-segment", &[]);
    let report = client.close(PATIENCE);
    assert_eq!(report.odp_events.undelivered, 0);
    assert_eq!(report.odp_events.stats.sent, 2);
    assert_eq!(report.events.undelivered, 0);
    assert_eq!(report.events.stats.sent, 3);
    assert_eq!(server.odp_events().len(), 2);
    assert_eq!(visitor_ids(&server.log_event_batches()), ["user-1"; 3]);
}

#[test]
fn events_of_a_new_datafile_revision_go_in_their_own_batch() {
    let original = datafile("go-decide-test-datafile.json");
    let server = server(Some(&original));
    let client = ready(
        polling_builder(&server)
            .polling_interval(Duration::from_millis(50))
            .event_flush_interval(HOUR),
    );
    track(&client, "before");
    let mut newer: Value = serde_json::from_str(&original).unwrap();
    newer["revision"] = "242".into();
    server.set_datafile(SDK_KEY, newer.to_string());
    eventually("the new revision is in use", || {
        client.config().is_some_and(|c| c.revision() == "242")
    });
    track(&client, "after");
    client.close(PATIENCE);
    // Two batches may be in flight at once: their arrival order is not fixed.
    let mut batches: Vec<(String, Vec<String>)> = server
        .log_event_batches()
        .iter()
        .map(|b| {
            let revision = b["revision"].as_str().unwrap().to_owned();
            (revision, visitor_ids(std::slice::from_ref(b)))
        })
        .collect();
    batches.sort();
    assert_eq!(
        batches,
        [
            ("241".to_owned(), strings(&["before"])),
            ("242".to_owned(), strings(&["after"])),
        ]
    );
}

#[test]
fn a_server_error_is_retried_until_the_batch_is_delivered() {
    let server = server(None);
    server.inject_fault(
        Endpoint::Events,
        Fault::Status {
            status: 500,
            times: 1,
            retry_after: None,
            body: None,
        },
    );
    let client = decide_client(&server, 10, HOUR);
    track(&client, "retried");
    assert!(client.flush(PATIENCE));
    let batches = server.log_event_batches();
    assert_eq!(visitor_ids(&batches), ["retried"]);
    let stats = client.event_stats();
    assert_eq!(
        (stats.sent, stats.retried, stats.failed),
        (1, 1, 0),
        "{stats:?}"
    );
    assert_eq!(server.requests(Endpoint::Events).len(), 2);
    client.close(PATIENCE);
}

#[test]
fn a_rejected_batch_is_dropped_and_later_events_still_go() {
    let server = server(None);
    server.inject_fault(
        Endpoint::Events,
        Fault::Status {
            status: 400,
            times: 1,
            retry_after: None,
            body: Some(r#"{"error":"bad batch"}"#.to_owned()),
        },
    );
    let client = decide_client(&server, 10, HOUR);
    track(&client, "rejected");
    assert!(client.flush(PATIENCE));
    let stats = client.event_stats();
    assert_eq!(
        (stats.sent, stats.failed, stats.queued),
        (0, 1, 0),
        "{stats:?}"
    );
    assert_eq!(
        server.requests(Endpoint::Events).len(),
        1,
        "4xx is not retried"
    );
    assert!(
        !logged_anywhere(log::Level::Error, "400: {\"error\":\"bad batch\"}").is_empty(),
        "the server's message is logged"
    );
    track(&client, "accepted");
    let report = client.close(PATIENCE);
    assert_eq!(report.events.stats.sent, 1);
    assert_eq!(visitor_ids(&server.log_event_batches()), ["accepted"]);
}

#[test]
fn a_full_queue_drops_new_events_and_counts_them() {
    let server = server(None);
    server.inject_fault(
        Endpoint::Events,
        Fault::Status {
            status: 503,
            times: u32::MAX,
            retry_after: None,
            body: None,
        },
    );
    let client = builder(&datafile("go-decide-test-datafile.json"), &server)
        .event_batch_size(1)
        .event_queue_capacity(2)
        .event_flush_interval(HOUR)
        .build()
        .unwrap();
    let mut refused = 0;
    for i in 0..5 {
        if client
            .track_event("event1", &format!("u{i}"), Attributes::new(), ())
            .is_err()
        {
            refused += 1;
        }
    }
    assert_eq!(refused, 3);
    assert_eq!(client.event_stats().dropped, 3);
    let report = client.close(Duration::from_millis(500));
    assert_eq!(report.events.undelivered, 2, "{report:?}");
    assert_eq!(server.log_event_batches_received(), 0);
}

#[test]
fn flush_and_close_accept_any_timeout() {
    let server = server(None);
    let client = decide_client(&server, 10, HOUR);
    track(&client, "patient");
    assert!(client.flush(Duration::MAX));
    let report = client.close(Duration::MAX);
    assert_eq!(report.events.stats.sent, 1);
}
