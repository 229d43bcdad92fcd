//! `POST /v3/events` (ODP Events API).

mod common;

use common::{ODP_KEY, odp_event, post_json, post_odp_events, send};
use optimizely_fx_devserver::{DevServer, DevServerConfig, DevServerHandle, Endpoint};
use serde_json::{Value, json};

fn server() -> DevServerHandle {
    DevServer::start(DevServerConfig::default().odp_api_key(ODP_KEY)).unwrap()
}

fn assert_rfc3339_utc(timestamp: &Value) {
    let text = timestamp.as_str().expect("timestamp is a string");
    let bytes = text.as_bytes();
    assert!(text.ends_with('Z') && bytes.len() >= 20, "{text}");
    assert_eq!(
        (bytes[4], bytes[7], bytes[10], bytes[13], bytes[16]),
        (b'-', b'-', b'T', b':', b':'),
        "{text}"
    );
}

#[test]
fn accepts_valid_events_and_stores_each_one_in_order() {
    let server = server();
    let first = json!([odp_event("u1", "identified"), odp_event("u1", "purchase")]);
    let reply = post_odp_events(&server.url(), &first.to_string());
    assert_eq!(reply.status, 202);
    let body = reply.json();
    assert_eq!(body["title"], "Accepted");
    assert_eq!(body["status"], 202);
    assert_rfc3339_utc(&body["timestamp"]);

    let second = json!([odp_event("u2", "viewed")]);
    assert_eq!(
        post_odp_events(&server.url(), &second.to_string()).status,
        202
    );

    let stored = server.odp_events();
    assert_eq!(
        stored,
        vec![first[0].clone(), first[1].clone(), second[0].clone()]
    );
    assert_eq!(server.odp_events_received(), 3);

    let requests = server.requests(Endpoint::OdpEvents);
    assert_eq!(requests.len(), 2);
    assert_eq!(requests[0].header("x-api-key"), Some(ODP_KEY));
    assert_eq!(requests[0].header("content-type"), Some("application/json"));
    assert_eq!(requests[0].body_json(), Some(first));
    assert_eq!(requests[1].status, Some(202));
}

#[test]
fn empty_batch_is_accepted() {
    let server = server();
    assert_eq!(post_odp_events(&server.url(), "[]").status, 202);
    assert!(server.odp_events().is_empty());
}

#[test]
fn missing_or_wrong_api_key_is_unauthorized() {
    let server = server();
    let url = format!("{}/v3/events", server.url());
    let body = json!([odp_event("u", "a")]).to_string();

    let missing = post_json(&url, &[], &body);
    assert_eq!(missing.status, 401);
    assert_eq!(missing.json()["title"], "Unauthorized");
    assert_eq!(missing.json()["status"], 401);

    let wrong = post_json(&url, &[("x-api-key", "wrong")], &body);
    assert_eq!(wrong.status, 401);
    assert!(!wrong.body.contains(ODP_KEY));

    assert!(server.odp_events().is_empty());
    let statuses: Vec<_> = server
        .requests(Endpoint::OdpEvents)
        .iter()
        .map(|r| r.status)
        .collect();
    assert_eq!(statuses, [Some(401), Some(401)]);
}

#[test]
fn default_api_key_is_dev_odp_key() {
    let server = DevServer::start(DevServerConfig::default()).unwrap();
    let url = format!("{}/v3/events", server.url());
    let body = json!([odp_event("u", "a")]).to_string();
    assert_eq!(
        post_json(&url, &[("x-api-key", "dev-odp-key")], &body).status,
        202
    );
    assert_eq!(
        post_json(&url, &[("x-api-key", ODP_KEY)], &body).status,
        401
    );
}

#[test]
fn invalid_events_are_listed_and_nothing_is_stored() {
    let server = server();
    let mut missing_type = odp_event("u", "a");
    missing_type.as_object_mut().unwrap().remove("type");
    let mut empty_identifiers = odp_event("u", "b");
    empty_identifiers["identifiers"] = json!({});
    let mut empty_action = odp_event("u", "c");
    empty_action["action"] = json!("");
    let batch = json!([
        odp_event("u", "ok"),
        missing_type,
        empty_identifiers,
        empty_action
    ]);

    let reply = post_odp_events(&server.url(), &batch.to_string());
    assert_eq!(reply.status, 400);
    let body = reply.json();
    assert_eq!(body["title"], "Bad Request");
    assert_eq!(body["status"], 400);
    assert_rfc3339_utc(&body["timestamp"]);
    assert_eq!(
        body["detail"]["invalids"],
        json!([
            {"event": 1, "message": "missing 'type' field"},
            {"event": 2, "message": "'identifiers' field must not be empty"},
            {"event": 3, "message": "'action' field must be a non-empty string"},
        ])
    );
    assert!(server.odp_events().is_empty());
    assert_eq!(server.requests(Endpoint::OdpEvents)[0].status, Some(400));
}

#[test]
fn non_array_and_invalid_json_bodies_are_bad_requests() {
    let server = server();
    let object = post_odp_events(&server.url(), &odp_event("u", "a").to_string());
    assert_eq!(object.status, 400);
    assert_eq!(object.json()["title"], "Bad Request");
    assert!(
        object.json()["detail"]["message"]
            .as_str()
            .unwrap()
            .contains("JSON array")
    );

    let broken = post_odp_events(&server.url(), "[{\"type\":");
    assert_eq!(broken.status, 400);
    assert!(
        broken.json()["detail"]["message"]
            .as_str()
            .unwrap()
            .contains("not valid JSON")
    );
    assert!(server.odp_events().is_empty());
}

#[test]
fn wrong_method_is_refused() {
    let server = server();
    let reply = send("GET", &format!("{}/v3/events", server.url()), &[], None);
    assert_eq!(reply.status, 405);
    assert_eq!(reply.header("allow"), Some("POST"));
}

#[test]
fn oversized_body_is_refused_with_413() {
    let server = DevServer::start(
        DevServerConfig::default()
            .odp_api_key(ODP_KEY)
            .max_body_bytes(1024),
    )
    .unwrap();
    let events: Vec<Value> = (0..50)
        .map(|n| odp_event(&format!("user-{n}"), "a"))
        .collect();
    let body = Value::from(events).to_string();
    assert!(body.len() > 1024);
    let reply = post_odp_events(&server.url(), &body);
    assert_eq!(reply.status, 413);
    assert!(server.odp_events().is_empty());
    let recorded = server.requests(Endpoint::OdpEvents);
    assert_eq!(recorded[0].status, Some(413));
    assert!(recorded[0].body.is_empty());

    let small = json!([odp_event("u", "a")]).to_string();
    assert_eq!(post_odp_events(&server.url(), &small).status, 202);
}

#[test]
fn concurrent_batches_are_all_stored_while_the_database_is_read() {
    const SENDERS: usize = 4;
    const BATCHES: usize = 20;
    const EVENTS_PER_BATCH: usize = 10;
    let server = server();
    let base = server.url();
    let reading = std::sync::atomic::AtomicBool::new(true);
    std::thread::scope(|scope| {
        // Reads take the database on the blocking pool, so some batches find it busy.
        scope.spawn(|| {
            while reading.load(std::sync::atomic::Ordering::Relaxed) {
                assert_eq!(common::get(&format!("{base}/_dev/users")).status, 200);
            }
        });
        let senders: Vec<_> = (0..SENDERS)
            .map(|sender| {
                let base = &base;
                scope.spawn(move || {
                    for batch in 0..BATCHES {
                        let events: Vec<Value> = (0..EVENTS_PER_BATCH)
                            .map(|n| odp_event(&format!("u-{sender}-{batch}-{n}"), "viewed"))
                            .collect();
                        let body = Value::Array(events).to_string();
                        assert_eq!(post_odp_events(base, &body).status, 202);
                    }
                })
            })
            .collect();
        for sender in senders {
            sender.join().unwrap();
        }
        reading.store(false, std::sync::atomic::Ordering::Relaxed);
    });
    let expected = SENDERS * BATCHES * EVENTS_PER_BATCH;
    assert_eq!(server.odp_events().len(), expected);
    assert_eq!(server.odp_events_received(), expected as u64);
    let users = server.users();
    assert_eq!(users.len(), expected);
    assert!(users.iter().all(|user| user.events == 1));
    let mut ids: Vec<Option<u64>> = users.iter().map(|user| user.id).collect();
    ids.sort_unstable();
    ids.dedup();
    assert_eq!(ids.len(), expected, "every user has its own number");
}
