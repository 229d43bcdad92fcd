//! ODP event delivery over real HTTP against the dev server on 127.0.0.1.
//! No timing assertions: waits are "eventually" with a generous upper bound.

use std::net::TcpListener;
use std::sync::Arc;
use std::thread;
use std::time::Duration;

use optimizely_fx_core::odp::{OdpEvent, WireOdpEvent};
use optimizely_fx_devserver::{DevServer, DevServerConfig, DevServerHandle, Endpoint, Fault};
use serde_json::Value;

use super::*;
use crate::dispatch::test_log::{all_lines, capture_logs, logged};
use crate::http::UreqTransport;

const EVENTUALLY: Duration = Duration::from_secs(60);
const KEY: &str = "odp-test-key-7f3a9c";

fn server() -> DevServerHandle {
    DevServer::start(DevServerConfig::default().odp_api_key(KEY)).unwrap()
}

/// Settings that never flush on a timer during a test.
fn settings() -> OdpEventSettings {
    OdpEventSettings {
        flush_interval: Duration::from_secs(3600),
        ..OdpEventSettings::default()
    }
}

fn manager(settings: OdpEventSettings) -> OdpEventManager {
    OdpEventManager::new(settings, Arc::new(UreqTransport::default()))
}

fn integrated(server: &DevServerHandle, settings: OdpEventSettings) -> OdpEventManager {
    let manager = manager(settings);
    manager.update_config(Some((&server.url(), KEY)));
    manager
}

fn event(n: u32) -> WireOdpEvent {
    OdpEvent::new("purchased")
        .identifier("fs_user_id", format!("user-{n}"))
        .data("n", n)
        .into_wire(uuid::Uuid::new_v4().as_u128(), env!("CARGO_PKG_VERSION"))
        .unwrap()
}

fn send_events(manager: &OdpEventManager, range: std::ops::Range<u32>) -> Vec<WireOdpEvent> {
    range
        .map(|n| {
            let event = event(n);
            manager.enqueue(event.clone()).unwrap();
            event
        })
        .collect()
}

fn as_json(events: &[WireOdpEvent]) -> Vec<Value> {
    events
        .iter()
        .map(|event| serde_json::to_value(event).unwrap())
        .collect()
}

fn status_fault(status: u16, times: u32) -> Fault {
    Fault::Status {
        status,
        times,
        retry_after: None,
        body: None,
    }
}

#[test]
fn events_are_posted_as_a_json_array_with_the_api_key() {
    let server = server();
    let manager = integrated(&server, settings());
    let events = send_events(&manager, 0..2);

    assert!(manager.flush(EVENTUALLY));

    let requests = server.requests(Endpoint::OdpEvents);
    assert_eq!(requests.len(), 1);
    let request = &requests[0];
    assert_eq!(request.method, "POST");
    assert_eq!(request.path, "/v3/events");
    assert_eq!(request.header("content-type"), Some("application/json"));
    assert_eq!(request.header("x-api-key"), Some(KEY));
    assert_eq!(request.body_json(), Some(Value::Array(as_json(&events))));
    assert_eq!(request.status, Some(202));
    assert_eq!(sorted(server.odp_events()), sorted(as_json(&events)));
    let first = &server.odp_events()[0];
    assert_eq!(first["type"], "fullstack");
    assert_eq!(first["identifiers"]["fs_user_id"], "user-0");
    assert_eq!(first["data"]["data_source"], "rust-sdk");
}

#[test]
fn twenty_five_events_in_batches_of_ten_make_three_requests() {
    let server = server();
    let manager = integrated(&server, settings());
    let events = send_events(&manager, 0..25);

    assert!(manager.flush(EVENTUALLY));

    let sizes: Vec<usize> = server
        .requests(Endpoint::OdpEvents)
        .iter()
        .map(|request| request.body_json().unwrap().as_array().unwrap().len())
        .collect();
    assert_eq!(sizes.len(), 3, "{sizes:?}");
    assert_eq!(
        sizes.iter().filter(|&&size| size == 10).count(),
        2,
        "{sizes:?}"
    );
    assert_eq!(sizes.iter().sum::<usize>(), 25);
    let mut received = server.odp_events();
    received.sort_by_key(|event| event["data"]["n"].as_u64());
    assert_eq!(received, as_json(&events));
    assert_eq!(manager.stats().sent, 25);
}

#[test]
fn two_server_errors_then_success_delivers_once_and_loses_nothing() {
    let server = server();
    server.inject_fault(Endpoint::OdpEvents, status_fault(500, 2));
    let manager = integrated(&server, settings());
    let events = send_events(&manager, 0..10);

    assert!(manager.flush(EVENTUALLY));

    assert_eq!(
        server.odp_events(),
        as_json(&events),
        "delivered exactly once"
    );
    let statuses: Vec<Option<u16>> = server
        .requests(Endpoint::OdpEvents)
        .iter()
        .map(|request| request.status)
        .collect();
    assert_eq!(statuses, vec![Some(500), Some(500), Some(202)]);
    let stats = manager.stats();
    assert_eq!(
        (stats.sent, stats.retried, stats.failed, stats.queued),
        (10, 20, 0, 0)
    );
}

#[test]
fn an_outage_longer_than_the_attempts_keeps_events_for_a_later_flush() {
    capture_logs();
    let server = server();
    server.inject_fault(Endpoint::OdpEvents, status_fault(503, 3));
    let manager = integrated(&server, settings());
    let events = send_events(&manager, 0..10);

    assert!(
        manager.flush(EVENTUALLY),
        "the flush settles: attempts exhausted"
    );
    let stats = manager.stats();
    assert_eq!((stats.sent, stats.queued, stats.failed), (0, 10, 0));
    assert!(server.odp_events().is_empty());

    assert!(manager.flush(EVENTUALLY));

    assert_eq!(sorted(server.odp_events()), sorted(as_json(&events)));
    assert_eq!(server.requests(Endpoint::OdpEvents).len(), 4);
    assert_eq!(manager.stats().sent, 10);
    assert!(all_lines().iter().all(|(_, line)| !line.contains(KEY)));
}

#[test]
fn a_400_drops_the_batch_and_logs_the_servers_message_once() {
    capture_logs();
    let server = server();
    let body = r#"{"title":"Bad Request","status":400,"detail":{"invalids":[{"event":0,"message":"missing 'type' field 5d1e"}]}}"#;
    server.inject_fault(
        Endpoint::OdpEvents,
        Fault::Status {
            status: 400,
            times: 1,
            retry_after: None,
            body: Some(body.to_owned()),
        },
    );
    let manager = integrated(&server, settings());
    send_events(&manager, 0..3);

    assert!(manager.flush(EVENTUALLY));

    let stats = manager.stats();
    assert_eq!(
        (stats.failed, stats.sent, stats.queued, stats.retried),
        (3, 0, 0, 0)
    );
    assert_eq!(server.requests(Endpoint::OdpEvents).len(), 1, "not retried");
    let errors = logged(log::Level::Error, "missing 'type' field 5d1e");
    assert_eq!(errors.len(), 1, "{errors:?}");
    assert!(
        errors[0].starts_with("ODP event send failed (400: "),
        "{}",
        errors[0]
    );
    assert!(!errors[0].contains(KEY));
}

#[test]
fn a_429_with_retry_after_is_retried() {
    let server = server();
    server.inject_fault(
        Endpoint::OdpEvents,
        Fault::Status {
            status: 429,
            times: 1,
            retry_after: Some(1),
            body: None,
        },
    );
    let manager = integrated(&server, settings());
    let events = send_events(&manager, 0..10);

    assert!(manager.flush(EVENTUALLY));

    assert_eq!(sorted(server.odp_events()), sorted(as_json(&events)));
    assert_eq!(server.requests(Endpoint::OdpEvents).len(), 2);
    assert_eq!(manager.stats().retried, 10);
}

#[test]
fn a_request_that_times_out_is_retried() {
    let server = server();
    server.inject_fault(Endpoint::OdpEvents, Fault::Hang { times: 1 });
    let manager = integrated(
        &server,
        OdpEventSettings {
            request_timeout: Duration::from_millis(300),
            ..settings()
        },
    );
    let events = send_events(&manager, 0..10);

    assert!(manager.flush(EVENTUALLY));

    assert_eq!(sorted(server.odp_events()), sorted(as_json(&events)));
    let stats = manager.stats();
    assert_eq!((stats.sent, stats.retried), (10, 10));
}

#[test]
fn connection_refused_keeps_the_events_and_never_logs_the_key() {
    capture_logs();
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let closed_port = format!("http://{}", listener.local_addr().unwrap());
    drop(listener);
    let manager = manager(settings());
    manager.update_config(Some((&closed_port, KEY)));
    send_events(&manager, 0..4);

    assert!(manager.flush(EVENTUALLY));

    let stats = manager.stats();
    assert_eq!((stats.queued, stats.sent, stats.retried), (4, 0, 12));
    assert!(!logged(log::Level::Warn, "ODP event send failed (connection failed").is_empty());
    assert!(all_lines().iter().all(|(_, line)| !line.contains(KEY)));
    let report = manager.close(EVENTUALLY);
    assert_eq!(report.undelivered, 4);
}

#[test]
fn close_against_a_server_that_never_answers_returns_and_reports_undelivered() {
    let server = server();
    server.inject_fault(Endpoint::OdpEvents, Fault::Hang { times: u32::MAX });
    let manager = Arc::new(integrated(
        &server,
        OdpEventSettings {
            request_timeout: Duration::from_secs(30),
            ..settings()
        },
    ));
    send_events(&manager, 0..15);

    let closing = manager.clone();
    let (done, report) = crossbeam_channel::bounded(1);
    thread::spawn(move || {
        done.send(closing.close(Duration::from_millis(300)))
            .unwrap()
    });
    let report = report.recv_timeout(EVENTUALLY).expect("close returned");

    assert_eq!(report.undelivered, 15);
    assert!(report.timed_out);
    assert_eq!(manager.enqueue(event(99)), Err(EnqueueError::Closed));
    server.shutdown();
}

#[test]
fn events_queued_before_a_config_change_go_to_the_old_endpoint() {
    let old = server();
    let new = DevServer::start(DevServerConfig::default().odp_api_key("new-key")).unwrap();
    let manager = integrated(&old, settings());
    let before = send_events(&manager, 0..3);

    manager.update_config(Some((&new.url(), "new-key")));
    let after = send_events(&manager, 3..5);
    assert!(manager.flush(EVENTUALLY));

    // Batches may be in flight at once, so compare regardless of arrival order.
    assert_eq!(sorted(old.odp_events()), sorted(as_json(&before)));
    assert_eq!(sorted(new.odp_events()), sorted(as_json(&after)));
    assert!(
        old.requests(Endpoint::OdpEvents)
            .iter()
            .all(|r| r.header("x-api-key") == Some(KEY))
    );
    assert!(
        new.requests(Endpoint::OdpEvents)
            .iter()
            .all(|r| r.header("x-api-key") == Some("new-key"))
    );
}

#[test]
fn a_key_change_on_the_same_host_is_a_new_endpoint() {
    let server = server();
    let manager = integrated(&server, settings());
    send_events(&manager, 0..2);
    manager.update_config(Some((&server.url(), "rotated-key")));
    send_events(&manager, 2..3);
    assert!(manager.flush(EVENTUALLY));

    let mut keys: Vec<Option<String>> = server
        .requests(Endpoint::OdpEvents)
        .iter()
        .map(|request| request.header("x-api-key").map(str::to_owned))
        .collect();
    keys.sort();
    assert_eq!(
        keys,
        vec![Some(KEY.to_owned()), Some("rotated-key".to_owned())]
    );
    assert_eq!(
        server.odp_events().len(),
        2,
        "the rotated key is refused by this server"
    );
}

#[test]
fn an_unchanged_endpoint_is_a_no_op() {
    let server = server();
    let manager = integrated(&server, settings());
    let before = manager.endpoint().unwrap();
    manager.update_config(Some((&server.url(), KEY)));
    let after = manager.endpoint().unwrap();
    assert!(Arc::ptr_eq(&before, &after));
}

#[test]
fn de_integration_flushes_queued_events_and_refuses_new_ones() {
    let server = server();
    let manager = integrated(&server, settings());
    let events = send_events(&manager, 0..3);

    manager.update_config(None);

    assert_eq!(manager.enqueue(event(9)), Err(EnqueueError::NoTarget));
    let received = server.wait_for_odp_events(3, EVENTUALLY);
    assert_eq!(received, as_json(&events));
    assert_eq!(manager.close(EVENTUALLY).undelivered, 0);
}

#[test]
fn without_an_integration_odp_is_inert() {
    let manager = manager(settings());
    manager.update_config(None);

    assert!(manager.dispatcher.get().is_none(), "no worker started");
    assert_eq!(manager.enqueue(event(1)), Err(EnqueueError::NoTarget));
    assert!(manager.flush(Duration::from_millis(10)));
    assert_eq!(manager.stats(), DeliveryStats::default());
    assert_eq!(
        manager.close(Duration::from_millis(10)),
        QueueReport::default()
    );
    assert_eq!(manager.enqueue(event(2)), Err(EnqueueError::Closed));
    manager.update_config(Some(("http://127.0.0.1:9", KEY)));
    assert!(
        manager.dispatcher.get().is_none(),
        "a closed manager stays inert"
    );
}

#[test]
fn the_interval_delivers_without_an_explicit_flush() {
    let server = server();
    let manager = integrated(
        &server,
        OdpEventSettings {
            flush_interval: Duration::from_millis(20),
            ..settings()
        },
    );
    let events = send_events(&manager, 0..3);
    assert_eq!(server.wait_for_odp_events(3, EVENTUALLY), as_json(&events));
}

#[test]
fn close_delivers_what_is_queued() {
    let server = server();
    let manager = integrated(&server, settings());
    let events = send_events(&manager, 0..7);

    let report = manager.close(EVENTUALLY);

    assert_eq!(report.undelivered, 0);
    assert_eq!(report.stats.sent, 7);
    assert_eq!(sorted(server.odp_events()), sorted(as_json(&events)));
}

#[test]
fn a_full_queue_refuses_events() {
    let server = server();
    let manager = integrated(
        &server,
        OdpEventSettings {
            queue_capacity: 3,
            ..settings()
        },
    );
    send_events(&manager, 0..3);
    assert_eq!(manager.enqueue(event(3)), Err(EnqueueError::Full));
    assert_eq!(manager.stats().dropped, 1);
    assert!(manager.flush(EVENTUALLY));
    assert_eq!(server.odp_events().len(), 3);
}

fn sorted(mut events: Vec<serde_json::Value>) -> Vec<serde_json::Value> {
    events.sort_by_key(|event| event["data"]["n"].as_i64());
    events
}
