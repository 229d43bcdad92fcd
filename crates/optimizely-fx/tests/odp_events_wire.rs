//! `send_odp_event` end to end against the dev server: the exact wire format, batching,
//! every refusal in order, and the public key kept out of logs. (ODP staying inert where it
//! is not used has a binary of its own: `odp_events_inert.rs`.)

mod odp_events_support;

use std::collections::HashSet;
use std::time::Duration;

use odp_events_support::*;
use optimizely_fx::{OdpEvent, OdpValue, SendOdpEventError};
use optimizely_fx_devserver::{Endpoint, Fault};

const UNTIL_FLUSHED: Duration = Duration::from_secs(60);

#[test]
fn the_request_carries_exactly_the_official_body_and_headers() {
    let server = server_with(&odp_datafile());
    let client = ready(builder(&server));
    client
        .send_odp_event(
            OdpEvent::new("purchased")
                .identifier("FS-USER-ID", "user123")
                .identifier("email", "user123@example.com")
                .data("count", 1)
                .data("price", 9.5)
                .data("gift", true)
                .data("coupon", None::<String>)
                .data("data_source", "checkout-service"),
        )
        .unwrap();
    assert!(client.flush(PATIENCE));

    let requests = odp_requests(&server);
    assert_eq!(requests.len(), 1);
    let request = &requests[0];
    assert_eq!(request.method, "POST");
    assert_eq!(request.path, "/v3/events");
    assert_eq!(request.header("x-api-key"), Some(API_KEY));
    assert_eq!(request.header("content-type"), Some("application/json"));
    assert_eq!(request.status, Some(202));

    let body: serde_json::Value = serde_json::from_slice(&request.body).unwrap();
    let events = body.as_array().expect("the body is a JSON array");
    assert_eq!(events.len(), 1);
    let event = events[0].as_object().unwrap();
    let keys: Vec<&str> = event.keys().map(String::as_str).collect();
    assert_eq!(keys, ["type", "action", "identifiers", "data"]);
    assert_eq!(event["type"], "fullstack");
    assert_eq!(event["action"], "purchased");
    assert_eq!(
        event["identifiers"],
        serde_json::json!({"fs_user_id": "user123", "email": "user123@example.com"})
    );
    let data = event["data"].as_object().unwrap();
    let idempotence_id = data["idempotence_id"].as_str().unwrap();
    let uuid = uuid::Uuid::parse_str(idempotence_id).expect("a UUID");
    assert_eq!(uuid.get_version_num(), 4);
    assert_eq!(data["data_source_type"], "sdk");
    assert_eq!(
        data["data_source"], "checkout-service",
        "the caller overrides"
    );
    assert_eq!(data["data_source_version"], env!("CARGO_PKG_VERSION"));
    assert_eq!(data["count"], 1);
    assert_eq!(data["price"], 9.5);
    assert_eq!(data["gift"], true);
    assert!(data["coupon"].is_null());
    assert_eq!(data.len(), 8);
    client.close(PATIENCE);
}

#[test]
fn a_custom_type_is_kept_and_every_event_gets_its_own_idempotence_id() {
    let server = server_with(&odp_datafile());
    let client = ready(builder(&server));
    for _ in 0..3 {
        client
            .send_odp_event(
                OdpEvent::new("a")
                    .event_type("custom")
                    .identifier("vuid", "v1"),
            )
            .unwrap();
    }
    client
        .send_odp_event(OdpEvent::new("a").event_type("").identifier("vuid", "v1"))
        .unwrap();
    assert!(client.flush(PATIENCE));
    let events = server.odp_events();
    assert_eq!(events.len(), 4);
    let types: Vec<&str> = events.iter().map(|e| e["type"].as_str().unwrap()).collect();
    assert_eq!(types, ["custom", "custom", "custom", "fullstack"]);
    let ids: HashSet<&str> = events
        .iter()
        .map(|e| e["data"]["idempotence_id"].as_str().unwrap())
        .collect();
    assert_eq!(ids.len(), 4);
}

#[test]
fn twenty_five_events_with_batch_size_ten_make_three_requests() {
    let server = server_with(&odp_datafile());
    let client = ready(
        builder(&server)
            .odp_event_batch_size(10)
            .odp_event_flush_interval(UNTIL_FLUSHED),
    );
    for i in 0..25 {
        client
            .send_odp_event(OdpEvent::new("viewed").identifier("fs_user_id", format!("u{i}")))
            .unwrap();
    }
    server.wait_for_requests(Endpoint::OdpEvents, 2, PATIENCE);
    assert!(client.flush(PATIENCE));
    let sizes: Vec<usize> = odp_requests(&server)
        .iter()
        .map(|r| r.body_json().unwrap().as_array().unwrap().len())
        .collect();
    assert_eq!(sizes, [10, 10, 5]);
    // Up to four requests are in flight at once, so batches may arrive in any order.
    let mut users: Vec<String> = server
        .odp_events()
        .iter()
        .map(|e| e["identifiers"]["fs_user_id"].as_str().unwrap().to_owned())
        .collect();
    users.sort_by_key(|u| u[1..].parse::<u32>().unwrap());
    let expected: Vec<String> = (0..25).map(|i| format!("u{i}")).collect();
    assert_eq!(users, expected, "none lost or repeated");
    assert_eq!(client.odp_stats().sent, 25);
}

#[test]
fn a_partial_batch_goes_out_when_the_flush_interval_passes() {
    let server = server_with(&odp_datafile());
    let client = ready(
        builder(&server)
            .odp_event_batch_size(100)
            .odp_event_flush_interval(Duration::from_millis(50)),
    );
    client
        .send_odp_event(OdpEvent::new("a").identifier("fs_user_id", "u"))
        .unwrap();
    let events = server.wait_for_odp_events(1, PATIENCE);
    assert_eq!(events.len(), 1, "sent by the interval, without flush()");
}

#[test]
fn a_zero_flush_interval_sends_each_event_at_once() {
    let server = server_with(&odp_datafile());
    let client = ready(builder(&server).odp_event_flush_interval(Duration::ZERO));
    for i in 0..3 {
        client
            .send_odp_event(OdpEvent::new("a").identifier("fs_user_id", format!("u{i}")))
            .unwrap();
        server.wait_for_odp_events(i + 1, PATIENCE);
    }
    assert_eq!(server.odp_events().len(), 3);
}

#[test]
fn refused_before_the_sdk_is_ready() {
    let server = server_with(&odp_datafile());
    server.inject_fault(Endpoint::Datafile, Fault::Hang { times: u32::MAX });
    let client = builder(&server).build().unwrap();
    let refused = client.send_odp_event(OdpEvent::new("a").identifier("k", "v"));
    assert_eq!(refused, Err(SendOdpEventError::SdkNotReady));
    client.close(Duration::from_millis(100));
}

#[test]
fn refused_when_odp_is_disabled_before_any_other_check() {
    let server = server_with(&odp_datafile());
    let client = ready(builder(&server).odp_disabled(true));
    let refused = client.send_odp_event(OdpEvent::new("").data("x", f64::NAN));
    assert_eq!(refused, Err(SendOdpEventError::OdpNotEnabled));
    assert!(client.flush(PATIENCE));
    assert!(odp_requests(&server).is_empty());
}

#[test]
fn refused_when_the_datafile_has_no_odp_integration() {
    let server = server_with(&plain_datafile());
    let client = ready(builder(&server));
    let refused = client.send_odp_event(OdpEvent::new("").data("x", f64::NAN));
    assert_eq!(refused, Err(SendOdpEventError::OdpNotIntegrated));
}

#[test]
fn invalid_events_are_refused_in_order_and_nothing_is_sent() {
    use optimizely_fx_core::odp::OdpEventError;

    let server = server_with(&odp_datafile());
    let client = ready(builder(&server));
    let refused = |event: OdpEvent| client.send_odp_event(event).unwrap_err();

    assert_eq!(
        refused(OdpEvent::new("").data("x", f64::NAN)),
        SendOdpEventError::Invalid(OdpEventError::InvalidAction)
    );
    assert_eq!(
        refused(OdpEvent::new("a").data("x", f64::NAN)),
        SendOdpEventError::Invalid(OdpEventError::MissingIdentifiers)
    );
    for bad in [
        OdpValue::Float(f64::NAN),
        OdpValue::Float(f64::INFINITY),
        OdpValue::Float(f64::NEG_INFINITY),
        OdpValue::Float(1e300),
        OdpValue::Integer(9_007_199_254_740_993),
        OdpValue::from(u64::MAX),
    ] {
        let error = refused(
            OdpEvent::new("a")
                .identifier("k", "v")
                .data("fine", 1)
                .data("bad", bad.clone()),
        );
        assert!(
            matches!(&error, SendOdpEventError::Invalid(OdpEventError::InvalidData { key, .. }) if key == "bad"),
            "{bad:?} gave {error:?}"
        );
        assert!(
            error.to_string().contains("ODP data is not valid"),
            "{error}"
        );
    }
    assert!(client.flush(PATIENCE));
    assert!(odp_requests(&server).is_empty());
    assert_eq!(client.odp_stats().sent, 0);
}

#[test]
fn a_full_queue_refuses_and_counts_and_warns_once_per_run_of_drops() {
    let server = server_with(&odp_datafile());
    server.inject_fault(Endpoint::OdpEvents, Fault::Hang { times: u32::MAX });
    let client = ready(
        builder(&server)
            .odp_event_queue_capacity(5)
            .odp_event_batch_size(100)
            .odp_event_flush_interval(UNTIL_FLUSHED)
            .odp_event_request_timeout(Duration::from_secs(30)),
    );
    for i in 0..5 {
        client
            .send_odp_event(OdpEvent::new("a").identifier("fs_user_id", format!("ok{i}")))
            .unwrap();
    }
    for i in 0..3 {
        assert_eq!(
            client.send_odp_event(OdpEvent::new("a").identifier("fs_user_id", format!("x{i}"))),
            Err(SendOdpEventError::QueueFull)
        );
    }
    let stats = client.odp_stats();
    assert_eq!(stats.dropped, 3);
    assert_eq!(stats.queued, 5);
    let warnings: Vec<_> = my_log_lines()
        .into_iter()
        .filter(|line| line.level == log::Level::Warn)
        .collect();
    assert_eq!(warnings.len(), 1, "{warnings:?}");
    let report = client.close(Duration::from_millis(300));
    assert_eq!(report.odp_events.undelivered, 5);
}

#[test]
fn refused_after_close() {
    let server = server_with(&odp_datafile());
    let client = ready(builder(&server));
    client.close(PATIENCE);
    assert_eq!(
        client.send_odp_event(OdpEvent::new("a").identifier("k", "v")),
        Err(SendOdpEventError::Closed)
    );
}

#[test]
fn many_threads_sending_at_once_lose_and_duplicate_nothing() {
    let server = server_with(&odp_datafile());
    let client = ready(builder(&server).odp_event_flush_interval(Duration::from_millis(20)));
    let threads: Vec<_> = (0..8)
        .map(|t| {
            let client = client.clone();
            std::thread::spawn(move || {
                for i in 0..500 {
                    client
                        .send_odp_event(
                            OdpEvent::new("load").identifier("fs_user_id", format!("t{t}-{i}")),
                        )
                        .unwrap();
                }
            })
        })
        .collect();
    for thread in threads {
        thread.join().unwrap();
    }
    assert!(client.flush(PATIENCE));
    let events = server.wait_for_odp_events(4000, PATIENCE);
    let users: HashSet<String> = events
        .iter()
        .map(|e| e["identifiers"]["fs_user_id"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(events.len(), 4000);
    assert_eq!(users.len(), 4000);
    let stats = client.odp_stats();
    assert_eq!((stats.sent, stats.dropped, stats.queued), (4000, 0, 0));
}

#[test]
fn the_public_key_never_appears_in_logs_or_errors() {
    let server = server_with(&odp_datafile());
    server.inject_fault(
        Endpoint::OdpEvents,
        Fault::Status {
            status: 400,
            times: 1,
            retry_after: None,
            body: None,
        },
    );
    let client = ready(builder(&server));
    client
        .send_odp_event(OdpEvent::new("a").identifier("k", "v"))
        .unwrap();
    assert!(client.flush(PATIENCE));
    let _ = client.send_odp_event(OdpEvent::new("").identifier("k", "v"));
    assert!(format!("{client:?}").find(API_KEY).is_none());
    let leaks = lines_containing(API_KEY);
    assert!(leaks.is_empty(), "{leaks:?}");
}
