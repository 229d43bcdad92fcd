//! `/_dev/...` inspection and control routes, driven over HTTP.

mod common;

use common::{
    ODP_KEY, get, impression_batch, odp_event, post_graphql, post_json, post_odp_events, send,
};
use optimizely_fx_devserver::{DevServer, DevServerConfig, DevServerHandle, Endpoint};
use serde_json::json;

fn server() -> DevServerHandle {
    DevServer::start(DevServerConfig::default().odp_api_key(ODP_KEY)).unwrap()
}

#[test]
fn health_answers_ok() {
    let server = server();
    let reply = get(&format!("{}/_dev/health", server.url()));
    assert_eq!(reply.status, 200);
    assert_eq!(reply.json(), json!({"status": "ok"}));
}

#[test]
fn datafiles_can_be_put_and_deleted() {
    let server = server();
    let control = format!("{}/_dev/datafiles/my%20key", server.url());
    let served = format!("{}/datafiles/my%20key.json", server.url());
    assert_eq!(get(&served).status, 404);

    let reply = send("PUT", &control, &[], Some(br#"{"revision":"1"}"#));
    assert_eq!(reply.status, 200);
    assert_eq!(reply.json()["sdk_key"], "my key");
    let stamp = reply.json()["last_modified"].as_str().unwrap().to_owned();
    let fetched = get(&served);
    assert_eq!(fetched.body, r#"{"revision":"1"}"#);
    assert_eq!(fetched.header("last-modified"), Some(stamp.as_str()));

    assert_eq!(send("DELETE", &control, &[], None).status, 204);
    assert_eq!(get(&served).status, 404);
    assert_eq!(send("DELETE", &control, &[], None).status, 404);
}

#[test]
fn segments_can_be_put_and_deleted() {
    let server = server();
    let control = format!("{}/_dev/segments/user-7", server.url());
    let query = json!({
        "query": "query($userId: String, $audiences: [String]) {customer(fs_user_id: $userId) {audiences(subset: $audiences) {edges {node {name state}}}}}",
        "variables": {"userId": "user-7", "audiences": ["s1"]},
    })
    .to_string();
    let before = post_graphql(&server.url(), &query).json();
    assert_eq!(
        before["errors"][0]["extensions"]["code"],
        "INVALID_IDENTIFIER_EXCEPTION"
    );

    assert_eq!(
        send("PUT", &control, &[], Some(br#"["s1","s2"]"#)).status,
        204
    );
    let after = post_graphql(&server.url(), &query).json();
    assert_eq!(
        after["data"]["customer"]["audiences"]["edges"][0]["node"]["state"],
        "qualified"
    );

    assert_eq!(
        send("PUT", &control, &[], Some(br#"{"s1":true}"#)).status,
        400
    );
    assert_eq!(send("DELETE", &control, &[], None).status, 204);
    let gone = post_graphql(&server.url(), &query).json();
    assert_eq!(
        gone["errors"][0]["extensions"]["code"],
        "INVALID_IDENTIFIER_EXCEPTION"
    );
}

#[test]
fn faults_can_be_posted_and_cleared() {
    let server = server();
    let faults = format!("{}/_dev/faults", server.url());
    let fault = json!({"endpoint": "odp_events", "kind": "status", "status": 500, "times": 2, "retry_after": 3});
    assert_eq!(post_json(&faults, &[], &fault.to_string()).status, 204);
    let events = json!([odp_event("u", "a")]).to_string();
    let reply = post_odp_events(&server.url(), &events);
    assert_eq!(reply.status, 500);
    assert_eq!(reply.header("retry-after"), Some("3"));

    assert_eq!(send("DELETE", &faults, &[], None).status, 204);
    assert_eq!(post_odp_events(&server.url(), &events).status, 202);

    let drop_next = json!({"endpoint": "events", "kind": "drop_connection"});
    assert_eq!(post_json(&faults, &[], &drop_next.to_string()).status, 204);
    let agent = common::agent();
    let batch = impression_batch("v").to_string();
    assert!(
        common::try_send(
            &agent,
            "POST",
            &server.event_endpoint(),
            &[],
            Some(batch.as_bytes())
        )
        .is_err()
    );

    for bad in [
        json!({"endpoint": "nowhere", "kind": "hang"}),
        json!({"endpoint": "events", "kind": "status"}),
        json!({"endpoint": "events", "kind": "status", "status": 1000}),
        json!({"endpoint": "events", "kind": "teleport"}),
    ] {
        let reply = post_json(&faults, &[], &bad.to_string());
        assert_eq!(reply.status, 400, "{bad}");
        assert!(reply.json()["error"].is_string());
    }
}

#[test]
fn stored_events_and_requests_can_be_inspected_and_reset() {
    let server = server();
    let events = json!([odp_event("u1", "a"), odp_event("u2", "b")]);
    assert_eq!(
        post_odp_events(&server.url(), &events.to_string()).status,
        202
    );
    let batch = impression_batch("v");
    assert_eq!(
        post_json(&server.event_endpoint(), &[], &batch.to_string()).status,
        204
    );

    let odp = get(&format!("{}/_dev/odp/events", server.url())).json();
    assert_eq!(odp, json!({"received": 2, "events": events}));
    let batches = get(&format!("{}/_dev/events", server.url())).json();
    assert_eq!(batches, json!({"received": 1, "batches": [batch]}));

    let requests = get(&format!(
        "{}/_dev/requests?endpoint=odp_events",
        server.url()
    ));
    assert_eq!(requests.status, 200);
    assert!(
        !requests.body.contains(ODP_KEY),
        "header values must not be shown"
    );
    let summary = &requests.json()["requests"][0];
    assert_eq!(summary["method"], "POST");
    assert_eq!(summary["path"], "/v3/events");
    assert_eq!(summary["status"], 202);
    assert_eq!(summary["body_bytes"], events.to_string().len());
    assert!(
        summary["header_names"]
            .as_array()
            .unwrap()
            .contains(&json!("x-api-key"))
    );

    let missing = get(&format!("{}/_dev/requests", server.url()));
    assert_eq!(missing.status, 400);
    let unknown = get(&format!("{}/_dev/requests?endpoint=nope", server.url()));
    assert_eq!(unknown.status, 400);

    assert_eq!(
        send("POST", &format!("{}/_dev/reset", server.url()), &[], None).status,
        204
    );
    assert!(server.odp_events().is_empty());
    assert!(server.log_event_batches().is_empty());
    assert!(server.requests(Endpoint::OdpEvents).is_empty());
    let odp = get(&format!("{}/_dev/odp/events", server.url())).json();
    assert_eq!(odp, json!({"received": 0, "events": []}));
}

#[test]
fn unknown_routes_answer_404_and_wrong_methods_405() {
    let server = server();
    let reply = get(&format!("{}/nothing/here", server.url()));
    assert_eq!(reply.status, 404);
    assert!(reply.json()["error"].is_string());
    assert_eq!(get(&format!("{}/_dev/nothing", server.url())).status, 404);

    let reply = send("POST", &format!("{}/_dev/health", server.url()), &[], None);
    assert_eq!(reply.status, 405);
    assert_eq!(reply.header("allow"), Some("GET"));
    assert_eq!(
        send("GET", &format!("{}/_dev/reset", server.url()), &[], None).status,
        405
    );
}
