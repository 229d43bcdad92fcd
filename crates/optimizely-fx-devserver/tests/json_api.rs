//! The JSON API behind the inspector: datafile revisions, recent events, malformed input.

mod common;

use common::{ODP_KEY, get, odp_event_with, post_odp_events, send, send_odp_events};
use optimizely_fx_devserver::{DevServer, DevServerConfig, DevServerError};
use serde_json::json;

const V1: &str = r#"{"version":"4","revision":"1"}"#;

#[test]
fn datafile_revisions_are_listed_and_readable() {
    let server = DevServer::start(DevServerConfig::default().datafile("key", V1)).unwrap();
    server.set_datafile("key", "not json");
    server.set_datafile("other", V1);
    assert!(server.remove_datafile("other"));

    let listed = get(&format!("{}/_dev/datafiles", server.url())).json();
    let datafiles = listed["datafiles"].as_array().unwrap();
    assert_eq!(datafiles.len(), 2);
    let key = &datafiles[0];
    assert_eq!(key["sdk_key"], "key");
    assert_eq!(key["served"], true);
    assert_eq!(key["current_revision"], 2);
    let revisions = key["revisions"].as_array().unwrap();
    assert_eq!(revisions.len(), 2);
    assert_eq!(revisions[0]["revision"], 2);
    assert_eq!(revisions[0]["datafile_revision"], serde_json::Value::Null);
    assert_eq!(revisions[0]["bytes"], 8);
    assert_eq!(revisions[1]["datafile_revision"], "1");
    assert!(revisions[1]["stored_at"].as_str().unwrap().ends_with('Z'));
    assert_eq!(datafiles[1]["sdk_key"], "other");
    assert_eq!(datafiles[1]["served"], false);

    let base = format!("{}/_dev/datafiles/key", server.url());
    assert_eq!(get(&base).body, "not json");
    assert_eq!(get(&format!("{base}?revision=1")).body, V1);
    assert_eq!(get(&format!("{base}?revision=9")).status, 404);
    assert_eq!(get(&format!("{base}?revision=x")).status, 400);
    assert_eq!(
        get(&format!("{}/_dev/datafiles/other", server.url())).status,
        404
    );

    let revisions = server.datafile_revisions("key");
    assert_eq!(revisions.len(), 2);
    assert!(revisions[1].current && !revisions[0].current);
    assert!(revisions[1].last_modified > revisions[0].last_modified);
}

#[test]
fn recent_events_are_listed_newest_first_with_their_user() {
    let server = DevServer::start(DevServerConfig::default().odp_api_key(ODP_KEY)).unwrap();
    let events: Vec<_> = (0..5)
        .map(|n| odp_event_with("t", &format!("a{n}"), json!({"fs_user_id": "u"}), json!({})))
        .collect();
    send_odp_events(&server.url(), &events);

    let recent = get(&format!("{}/_dev/odp/events/recent?limit=2", server.url())).json();
    assert_eq!(recent["received"], 5);
    let listed = recent["events"].as_array().unwrap();
    assert_eq!(listed.len(), 2);
    assert_eq!(listed[0]["event"], events[4]);
    assert_eq!(listed[1]["event"], events[3]);
    assert_eq!(listed[0]["user"], listed[1]["user"]);
    assert!(listed[0]["user"].is_u64());

    let limited = get(&format!("{}/_dev/odp/events?limit=2", server.url())).json();
    assert_eq!(limited["events"], json!([events[3], events[4]]));
    for bad in ["limit=0", "limit=abc", "limit=100000"] {
        let reply = get(&format!("{}/_dev/odp/events/recent?{bad}", server.url()));
        assert_eq!(reply.status, 400, "{bad}");
        assert!(reply.json()["error"].as_str().unwrap().contains("limit"));
    }
}

#[test]
fn malformed_input_gets_400_and_the_server_keeps_serving() {
    let server = DevServer::start(
        DevServerConfig::default()
            .odp_api_key(ODP_KEY)
            .max_body_bytes(4096),
    )
    .unwrap();
    let invalid_utf8: &[u8] = &[0xff, 0xfe, b'[', 0x80];
    for body in [invalid_utf8, b"", b"[{\"type\":", b"{\"a\":1}", b"[1,2]"] {
        let reply = send(
            "POST",
            &format!("{}/v3/events", server.url()),
            &[("x-api-key", ODP_KEY), ("content-type", "application/json")],
            Some(body),
        );
        assert_eq!(reply.status, 400, "{body:?}");
    }
    assert_eq!(
        send(
            "PUT",
            &format!("{}/_dev/segments/u", server.url()),
            &[],
            Some(invalid_utf8)
        )
        .status,
        400
    );
    assert_eq!(
        send(
            "PUT",
            &format!("{}/_dev/datafiles/k", server.url()),
            &[],
            Some(invalid_utf8)
        )
        .status,
        400
    );
    let too_big = "x".repeat(5000);
    let reply = post_odp_events(&server.url(), &too_big);
    assert_eq!(reply.status, 413);
    let rule = format!("{{\"description\":\"{too_big}\"}}");
    let reply = send(
        "PUT",
        &format!("{}/_dev/segments/rules/s", server.url()),
        &[],
        Some(rule.as_bytes()),
    );
    assert_eq!(reply.status, 413);
    assert_eq!(get(&format!("{}/_dev/health", server.url())).status, 200);
    assert!(server.odp_events().is_empty());
}

#[test]
fn listing_routes_only_answer_get() {
    let server = DevServer::start(DevServerConfig::default()).unwrap();
    for path in ["users", "segments", "datafiles", "odp/events/recent"] {
        let reply = send("POST", &format!("{}/_dev/{path}", server.url()), &[], None);
        assert_eq!(reply.status, 405, "{path}");
        assert_eq!(reply.header("allow"), Some("GET"), "{path}");
    }
}

#[test]
fn a_non_loopback_address_needs_an_explicit_allowance() {
    let everywhere = "0.0.0.0".parse().unwrap();
    match DevServer::start(DevServerConfig::default().bind(everywhere)) {
        Err(error @ DevServerError::NonLoopback { .. }) => {
            assert!(error.to_string().contains("allow_non_loopback"), "{error}");
        }
        other => panic!("expected a refusal, got {other:?}"),
    }
    let other_loopback = "127.0.0.1".parse().unwrap();
    let server = DevServer::start(DevServerConfig::default().bind(other_loopback)).unwrap();
    assert!(server.addr().ip().is_loopback());
}
