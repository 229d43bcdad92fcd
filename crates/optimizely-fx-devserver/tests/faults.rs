//! Injected faults: status, latency, dropped connections, malformed bodies, hangs.

mod common;

use std::thread;
use std::time::{Duration, Instant};

use common::{
    ODP_KEY, agent_with_timeout, get, impression_batch, odp_event, post_graphql, post_json,
    post_odp_events, try_send,
};
use optimizely_fx_devserver::{DevServer, DevServerConfig, DevServerHandle, Endpoint, Fault};
use serde_json::json;

const DATAFILE: &str = r#"{"version":"4","revision":"7"}"#;

fn server() -> DevServerHandle {
    DevServer::start(
        DevServerConfig::default()
            .odp_api_key(ODP_KEY)
            .datafile("k", DATAFILE)
            .segments("u", vec!["a".to_owned()]),
    )
    .unwrap()
}

fn events_body(action: &str) -> String {
    json!([odp_event("u", action)]).to_string()
}

fn statuses(server: &DevServerHandle, endpoint: Endpoint) -> Vec<Option<u16>> {
    server.requests(endpoint).iter().map(|r| r.status).collect()
}

#[test]
fn status_fault_answers_n_times_then_normally() {
    let server = server();
    server.inject_fault(
        Endpoint::OdpEvents,
        Fault::Status {
            status: 503,
            times: 2,
            retry_after: Some(7),
            body: None,
        },
    );
    for attempt in ["first", "second"] {
        let reply = post_odp_events(&server.url(), &events_body(attempt));
        assert_eq!(reply.status, 503);
        assert_eq!(reply.header("retry-after"), Some("7"));
        assert!(reply.json()["error"].is_string());
    }
    let reply = post_odp_events(&server.url(), &events_body("third"));
    assert_eq!(reply.status, 202);
    assert_eq!(reply.header("retry-after"), None);

    let stored = server.odp_events();
    assert_eq!(stored.len(), 1);
    assert_eq!(stored[0]["action"], "third");
    assert_eq!(
        statuses(&server, Endpoint::OdpEvents),
        [Some(503), Some(503), Some(202)]
    );
}

#[test]
fn status_fault_with_custom_body_and_only_on_its_endpoint() {
    let server = server();
    server.inject_fault(
        Endpoint::Events,
        Fault::Status {
            status: 429,
            times: 1,
            retry_after: None,
            body: Some("slow down".into()),
        },
    );
    // Other endpoints are unaffected.
    assert_eq!(
        get(&format!("{}/datafiles/k.json", server.url())).status,
        200
    );
    assert_eq!(
        post_odp_events(&server.url(), &events_body("x")).status,
        202
    );

    let reply = post_json(
        &server.event_endpoint(),
        &[],
        &impression_batch("v").to_string(),
    );
    assert_eq!(reply.status, 429);
    assert_eq!(reply.body, "slow down");
    assert!(server.log_event_batches().is_empty());
    let reply = post_json(
        &server.event_endpoint(),
        &[],
        &impression_batch("v").to_string(),
    );
    assert_eq!(reply.status, 204);
}

#[test]
fn queued_faults_apply_in_order() {
    let server = server();
    let url = format!("{}/datafiles/k.json", server.url());
    server.inject_fault(
        Endpoint::Datafile,
        Fault::Status {
            status: 500,
            times: 1,
            retry_after: None,
            body: None,
        },
    );
    server.inject_fault(Endpoint::Datafile, Fault::MalformedBody { times: 1 });
    assert_eq!(get(&url).status, 500);
    let malformed = get(&url);
    assert_eq!(malformed.status, 200);
    assert!(serde_json::from_str::<serde_json::Value>(&malformed.body).is_err());
    assert_eq!(get(&url).body, DATAFILE);
}

#[test]
fn latency_fault_delays_but_answers() {
    let server = server();
    server.inject_fault(
        Endpoint::OdpGraphql,
        Fault::Latency {
            delay: Duration::from_millis(200),
            times: 1,
        },
    );
    let body = json!({"query": "{ customer(fs_user_id: \"u\") { audiences(subset: [\"a\"]) { edges { node { name state } } } } }"});
    let reply = post_graphql(&server.url(), &body.to_string());
    assert_eq!(reply.status, 200);
    assert_eq!(
        reply.json()["data"]["customer"]["audiences"]["edges"][0]["node"]["state"],
        "qualified"
    );
    assert_eq!(statuses(&server, Endpoint::OdpGraphql), [Some(200)]);
}

#[test]
fn latency_until_cleared_applies_to_concurrent_requests() {
    let server = server();
    server.inject_fault(
        Endpoint::OdpEvents,
        Fault::Latency {
            delay: Duration::from_millis(300),
            times: u32::MAX,
        },
    );
    let base = server.url();
    let workers: Vec<_> = (0..6)
        .map(|n| {
            let base = base.clone();
            thread::spawn(move || post_odp_events(&base, &events_body(&format!("a{n}"))).status)
        })
        .collect();
    for worker in workers {
        assert_eq!(worker.join().unwrap(), 202);
    }
    assert_eq!(server.odp_events().len(), 6);
    server.clear_faults();
    assert_eq!(post_odp_events(&base, &events_body("after")).status, 202);
    assert_eq!(server.requests(Endpoint::OdpEvents).len(), 7);
}

#[test]
fn drop_connection_fault_is_a_client_error() {
    let server = server();
    server.inject_fault(Endpoint::Events, Fault::DropConnection { times: 1 });
    let body = impression_batch("v").to_string();
    let agent = agent_with_timeout(Duration::from_secs(20));
    let headers = [("content-type", "application/json")];
    let first = try_send(
        &agent,
        "POST",
        &server.event_endpoint(),
        &headers,
        Some(body.as_bytes()),
    );
    assert!(first.is_err(), "{first:?}");
    assert!(server.log_event_batches().is_empty());

    let second = try_send(
        &agent,
        "POST",
        &server.event_endpoint(),
        &headers,
        Some(body.as_bytes()),
    );
    assert_eq!(second.unwrap().status, 204);
    assert_eq!(statuses(&server, Endpoint::Events), [None, Some(204)]);
}

#[test]
fn malformed_body_fault_answers_200_with_invalid_json() {
    let server = server();
    server.inject_fault(Endpoint::OdpEvents, Fault::MalformedBody { times: 1 });
    let reply = post_odp_events(&server.url(), &events_body("x"));
    assert_eq!(reply.status, 200);
    assert!(serde_json::from_str::<serde_json::Value>(&reply.body).is_err());
    assert!(server.odp_events().is_empty());
}

#[test]
fn hang_fault_times_the_client_out_and_shutdown_still_returns() {
    let server = server();
    server.inject_fault(Endpoint::Datafile, Fault::Hang { times: 1 });
    let agent = agent_with_timeout(Duration::from_millis(500));
    let url = format!("{}/datafiles/k.json", server.url());
    let reply = try_send(&agent, "GET", &url, &[], None);
    assert!(reply.is_err(), "{reply:?}");
    let recorded = server.requests(Endpoint::Datafile);
    assert_eq!(recorded.len(), 1);
    assert_eq!(recorded[0].status, None);

    // A second hung request is still open while the server shuts down.
    server.inject_fault(Endpoint::Datafile, Fault::Hang { times: 1 });
    let waiting = {
        let url = url.clone();
        thread::spawn(move || {
            try_send(
                &agent_with_timeout(Duration::from_secs(60)),
                "GET",
                &url,
                &[],
                None,
            )
        })
    };
    let deadline = Instant::now() + common::EVENTUALLY;
    while server.requests(Endpoint::Datafile).len() < 2 && Instant::now() < deadline {
        thread::sleep(Duration::from_millis(10));
    }
    assert_eq!(server.requests(Endpoint::Datafile).len(), 2);
    server.shutdown();
    assert!(waiting.join().unwrap().is_err());
}

#[test]
fn cleared_faults_no_longer_apply() {
    let server = server();
    server.inject_fault(Endpoint::OdpEvents, Fault::DropConnection { times: 5 });
    server.inject_fault(
        Endpoint::Datafile,
        Fault::Status {
            status: 500,
            times: u32::MAX,
            retry_after: None,
            body: None,
        },
    );
    server.clear_faults();
    assert_eq!(
        post_odp_events(&server.url(), &events_body("x")).status,
        202
    );
    assert_eq!(
        get(&format!("{}/datafiles/k.json", server.url())).status,
        200
    );
}

#[test]
fn unusable_status_fault_is_ignored() {
    let server = server();
    server.inject_fault(
        Endpoint::OdpEvents,
        Fault::Status {
            status: 42,
            times: 1,
            retry_after: None,
            body: None,
        },
    );
    assert_eq!(
        post_odp_events(&server.url(), &events_body("x")).status,
        202
    );
}
