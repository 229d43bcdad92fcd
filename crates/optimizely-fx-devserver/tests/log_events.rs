//! `POST /v1/events` (impression and conversion batches).

mod common;

use common::{impression_batch, post_json, send};
use optimizely_fx_devserver::{DevServer, DevServerConfig, Endpoint};
use serde_json::json;

#[test]
fn valid_batches_get_204_and_are_stored() {
    let server = DevServer::start(DevServerConfig::default()).unwrap();
    assert_eq!(
        server.event_endpoint(),
        format!("{}/v1/events", server.url())
    );

    let impression = impression_batch("user-1");
    let reply = post_json(&server.event_endpoint(), &[], &impression.to_string());
    assert_eq!(reply.status, 204);
    assert_eq!(reply.body, "");

    let mut conversion = impression_batch("user-2");
    conversion["visitors"][0]["snapshots"][0] = json!({"events": [{
        "entity_id": "111095", "key": "purchase", "timestamp": 1_700_000_000_001_u64,
        "uuid": "0b9f0d7e-3a4c-4a53-9d9e-2c9c5f3b7d10", "revenue": 4200, "value": 1.5,
        "tags": {"revenue": 4200, "value": 1.5, "category": "shoes"}}]});
    assert_eq!(
        post_json(&server.event_endpoint(), &[], &conversion.to_string()).status,
        204
    );

    assert_eq!(server.log_event_batches(), vec![impression, conversion]);
    assert_eq!(server.log_event_batches_received(), 2);
    assert_eq!(server.requests(Endpoint::Events).len(), 2);
}

#[test]
fn malformed_batches_get_400_naming_the_first_problem() {
    let server = DevServer::start(DevServerConfig::default()).unwrap();
    let url = server.event_endpoint();

    let not_json = post_json(&url, &[], "{\"account_id\":");
    assert_eq!(not_json.status, 400);
    assert!(
        not_json.json()["error"]
            .as_str()
            .unwrap()
            .contains("not valid JSON")
    );

    let mut no_visitors = impression_batch("u");
    no_visitors.as_object_mut().unwrap().remove("visitors");
    let reply = post_json(&url, &[], &no_visitors.to_string());
    assert_eq!(reply.status, 400);
    assert_eq!(reply.json()["error"], "missing 'visitors'");

    let mut bad_flag = impression_batch("u");
    bad_flag["enrich_decisions"] = json!("yes");
    let reply = post_json(&url, &[], &bad_flag.to_string());
    assert_eq!(
        reply.json()["error"],
        "'enrich_decisions' must be a boolean"
    );

    let mut bad_events = impression_batch("u");
    bad_events["visitors"][0]["snapshots"][0]["events"] = json!({});
    let reply = post_json(&url, &[], &bad_events.to_string());
    assert_eq!(reply.status, 400);
    assert_eq!(
        reply.json()["error"],
        "'visitors[0].snapshots[0].events' must be an array"
    );

    let reply = post_json(&url, &[], "[]");
    assert_eq!(reply.status, 400);

    assert!(server.log_event_batches().is_empty());
    let statuses: Vec<_> = server
        .requests(Endpoint::Events)
        .iter()
        .map(|r| r.status)
        .collect();
    assert_eq!(statuses, [Some(400); 5]);
}

#[test]
fn wrong_method_is_refused() {
    let server = DevServer::start(DevServerConfig::default()).unwrap();
    assert_eq!(send("GET", &server.event_endpoint(), &[], None).status, 405);
}
