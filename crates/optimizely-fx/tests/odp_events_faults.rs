//! ODP event delivery through faults and datafile changes, against real dev servers:
//! retries, kept batches, rejections, rate limits, timeouts, refused connections, a new ODP
//! host or key, a removed integration, and close against a server that never answers.

mod odp_events_support;

use std::time::{Duration, Instant};

use odp_events_support::*;
use optimizely_fx::{Client, OdpEvent, SendOdpEventError};
use optimizely_fx_devserver::{Endpoint, Fault};

fn event(user: &str) -> OdpEvent {
    OdpEvent::new("purchased").identifier("fs_user_id", user)
}

fn status(status: u16, times: u32) -> Fault {
    Fault::Status {
        status,
        times,
        retry_after: None,
        body: None,
    }
}

fn delivered_users(server: &optimizely_fx_devserver::DevServerHandle) -> Vec<String> {
    server
        .odp_events()
        .iter()
        .map(|e| e["identifiers"]["fs_user_id"].as_str().unwrap().to_owned())
        .collect()
}

#[test]
fn two_server_errors_then_success_deliver_once_and_lose_nothing() {
    let server = server_with(&odp_datafile());
    server.inject_fault(Endpoint::OdpEvents, status(500, 2));
    let client = ready(builder(&server));
    client.send_odp_event(event("u1")).unwrap();
    assert!(client.flush(PATIENCE));
    assert_eq!(delivered_users(&server), ["u1"]);
    let statuses: Vec<_> = odp_requests(&server).iter().map(|r| r.status).collect();
    assert_eq!(statuses, [Some(500), Some(500), Some(202)]);
    let stats = client.odp_stats();
    assert_eq!((stats.sent, stats.failed, stats.queued), (1, 0, 0));
    assert!(stats.retried >= 2);
}

#[test]
fn a_batch_failing_every_attempt_is_kept_and_delivered_by_a_later_flush() {
    let server = server_with(&odp_datafile());
    server.inject_fault(Endpoint::OdpEvents, status(503, 3));
    let client = ready(builder(&server).odp_event_flush_interval(Duration::from_secs(60)));
    client.send_odp_event(event("kept")).unwrap();
    client.flush(PATIENCE);
    assert_eq!(
        odp_requests(&server).len(),
        3,
        "three attempts in the first flush"
    );
    assert!(server.odp_events().is_empty());
    assert_eq!(
        client.odp_stats().queued,
        1,
        "kept at the head of the queue"
    );

    assert!(client.flush(PATIENCE));
    assert_eq!(delivered_users(&server), ["kept"]);
    assert_eq!(client.odp_stats().queued, 0);
}

#[test]
fn a_bad_request_is_dropped_and_logged_once_with_the_server_message() {
    let server = server_with(&odp_datafile());
    server.inject_fault(
        Endpoint::OdpEvents,
        Fault::Status {
            status: 400,
            times: 1,
            retry_after: None,
            body: Some(r#"{"title":"Bad Request","detail":{"invalids":[{"event":0,"message":"missing 'vip' field"}]}}"#.into()),
        },
    );
    let client = ready(builder(&server));
    client.send_odp_event(event("rejected")).unwrap();
    assert!(client.flush(PATIENCE));
    client.send_odp_event(event("accepted")).unwrap();
    assert!(client.flush(PATIENCE));

    assert_eq!(odp_requests(&server).len(), 2, "a 400 is not retried");
    assert_eq!(delivered_users(&server), ["accepted"]);
    let stats = client.odp_stats();
    assert_eq!((stats.sent, stats.failed), (1, 1));
    let lines = lines_containing("missing 'vip' field");
    assert_eq!(lines.len(), 1, "{lines:?}");
    assert!(lines[0].level <= log::Level::Warn);
}

#[test]
fn too_many_requests_is_retried_honouring_retry_after() {
    let server = server_with(&odp_datafile());
    server.inject_fault(
        Endpoint::OdpEvents,
        Fault::Status {
            status: 429,
            times: 1,
            retry_after: Some(1),
            body: None,
        },
    );
    let client = ready(builder(&server));
    client.send_odp_event(event("limited")).unwrap();
    assert!(client.flush(PATIENCE));
    assert_eq!(delivered_users(&server), ["limited"]);
    let requests = odp_requests(&server);
    assert_eq!(requests.len(), 2);
    assert_eq!(requests[0].status, Some(429));
}

#[test]
fn a_request_timeout_is_retried() {
    let server = server_with(&odp_datafile());
    server.inject_fault(Endpoint::OdpEvents, Fault::Hang { times: 1 });
    let client = ready(builder(&server).odp_event_request_timeout(Duration::from_millis(300)));
    client.send_odp_event(event("slow")).unwrap();
    assert!(client.flush(PATIENCE));
    assert_eq!(delivered_users(&server), ["slow"]);
    assert!(client.odp_stats().retried >= 1);
}

#[test]
fn dropped_connections_are_retried() {
    let server = server_with(&odp_datafile());
    server.inject_fault(Endpoint::OdpEvents, Fault::DropConnection { times: 2 });
    let client = ready(builder(&server));
    client.send_odp_event(event("dropped")).unwrap();
    assert!(client.flush(PATIENCE));
    assert_eq!(delivered_users(&server), ["dropped"]);
}

#[test]
fn a_refused_connection_keeps_the_events_queued() {
    let config_server = plain_server("unused");
    let closed_port = {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        listener.local_addr().unwrap().port()
    };
    let host = format!("http://127.0.0.1:{closed_port}");
    config_server.set_datafile(SDK_KEY, datafile_pointing_at(&host, "k", "1"));
    let client = ready(builder(&config_server));
    client.send_odp_event(event("nowhere")).unwrap();
    client.flush(PATIENCE);
    let stats = client.odp_stats();
    assert_eq!(stats.queued, 1, "kept for a later flush");
    assert!(stats.retried >= 1);
    let report = client.close(Duration::from_millis(500));
    assert_eq!(report.odp_events.undelivered, 1);
}

#[test]
fn a_new_host_and_key_apply_after_the_events_queued_before_them() {
    let first = plain_server("key-one");
    let second = plain_server("key-two");
    let cdn = plain_server("unused");
    cdn.set_datafile(SDK_KEY, datafile_pointing_at(&first.url(), "key-one", "1"));
    let client = ready(
        builder(&cdn)
            .polling_interval(Duration::from_millis(50))
            .odp_event_flush_interval(Duration::from_secs(60)),
    );
    client.send_odp_event(event("before-1")).unwrap();
    client.send_odp_event(event("before-2")).unwrap();

    cdn.set_datafile(SDK_KEY, datafile_pointing_at(&second.url(), "key-two", "2"));
    eventually("the client adopts revision 2", || {
        client.config().unwrap().revision() == "2"
    });
    client.send_odp_event(event("after")).unwrap();
    assert!(client.flush(PATIENCE));

    assert_eq!(delivered_users(&first), ["before-1", "before-2"]);
    assert_eq!(delivered_users(&second), ["after"]);
    assert!(
        odp_requests(&first)
            .iter()
            .all(|r| r.header("x-api-key") == Some("key-one"))
    );
    assert!(
        odp_requests(&second)
            .iter()
            .all(|r| r.header("x-api-key") == Some("key-two"))
    );
}

#[test]
fn a_datafile_without_odp_stops_odp_after_flushing_to_the_old_host() {
    let odp = plain_server("key-one");
    let cdn = plain_server("unused");
    cdn.set_datafile(SDK_KEY, datafile_pointing_at(&odp.url(), "key-one", "1"));
    let client = ready(
        builder(&cdn)
            .polling_interval(Duration::from_millis(50))
            .odp_event_flush_interval(Duration::from_secs(60)),
    );
    client.send_odp_event(event("queued")).unwrap();
    cdn.set_datafile(SDK_KEY, datafile_without_odp("2"));
    eventually("the client adopts revision 2", || {
        client.config().unwrap().revision() == "2"
    });
    assert_eq!(
        client.send_odp_event(event("refused")),
        Err(SendOdpEventError::OdpNotIntegrated)
    );
    assert!(client.flush(PATIENCE));
    assert_eq!(delivered_users(&odp), ["queued"]);
}

#[test]
fn close_against_a_server_that_never_answers_returns_in_time_and_reports() {
    let server = server_with(&odp_datafile());
    server.inject_fault(Endpoint::OdpEvents, Fault::Hang { times: u32::MAX });
    let client: Client = ready(
        builder(&server)
            .odp_event_request_timeout(Duration::from_secs(30))
            .odp_event_flush_interval(Duration::from_secs(60)),
    );
    for i in 0..7 {
        client.send_odp_event(event(&format!("u{i}"))).unwrap();
    }
    let started = Instant::now();
    let report = client.close(Duration::from_millis(400));
    // Generous bound: the point is that close does not wait for the 30 s request timeout.
    assert!(started.elapsed() < Duration::from_secs(20));
    assert_eq!(report.odp_events.undelivered, 7);
    assert!(report.odp_events.timed_out);
    assert_eq!(client.odp_stats().queued, 0);
}

#[test]
fn close_delivers_what_is_queued() {
    let server = server_with(&odp_datafile());
    let client = ready(builder(&server).odp_event_flush_interval(Duration::from_secs(60)));
    for i in 0..3 {
        client.send_odp_event(event(&format!("u{i}"))).unwrap();
    }
    let report = client.close(PATIENCE);
    assert_eq!(report.odp_events.undelivered, 0);
    assert_eq!(report.odp_events.stats.sent, 3);
    assert_eq!(delivered_users(&server).len(), 3);
}
