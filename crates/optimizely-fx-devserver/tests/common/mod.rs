//! Shared helpers for the integration tests: a real HTTP client (ureq) against a started server.
// Each test file uses a different subset of these helpers.
#![allow(dead_code)]

use std::time::Duration;

use serde_json::Value;

/// Upper bound for any single request in the tests (never a timing assertion).
pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(20);
/// Upper bound for "eventually" waits.
pub const EVENTUALLY: Duration = Duration::from_secs(20);

pub const ODP_KEY: &str = "odp-key";

/// What came back from the server.
#[derive(Debug)]
pub struct Reply {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: String,
}

impl Reply {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    pub fn json(&self) -> Value {
        serde_json::from_str(&self.body)
            .unwrap_or_else(|e| panic!("body is not JSON ({e}): {}", self.body))
    }
}

/// A client that returns 4xx/5xx as replies and gives up after `timeout`.
pub fn agent_with_timeout(timeout: Duration) -> ureq::Agent {
    ureq::Agent::config_builder()
        .http_status_as_error(false)
        .timeout_global(Some(timeout))
        .max_idle_connections(0)
        .build()
        .into()
}

pub fn agent() -> ureq::Agent {
    agent_with_timeout(REQUEST_TIMEOUT)
}

/// Sends one request with a fresh connection.
pub fn try_send(
    agent: &ureq::Agent,
    method: &str,
    url: &str,
    headers: &[(&str, &str)],
    body: Option<&[u8]>,
) -> Result<Reply, ureq::Error> {
    let mut builder = ureq::http::Request::builder().method(method).uri(url);
    for (name, value) in headers {
        builder = builder.header(*name, *value);
    }
    let mut response = match body {
        Some(body) => agent.run(builder.body(body.to_vec()).unwrap())?,
        None => agent.run(builder.body(()).unwrap())?,
    };
    let status = response.status().as_u16();
    let headers = response
        .headers()
        .iter()
        .map(|(n, v)| (n.as_str().to_owned(), v.to_str().unwrap_or("").to_owned()))
        .collect();
    let body = response.body_mut().read_to_string()?;
    Ok(Reply {
        status,
        headers,
        body,
    })
}

pub fn send(method: &str, url: &str, headers: &[(&str, &str)], body: Option<&[u8]>) -> Reply {
    try_send(&agent(), method, url, headers, body)
        .unwrap_or_else(|e| panic!("{method} {url} failed: {e}"))
}

pub fn get(url: &str) -> Reply {
    send("GET", url, &[], None)
}

pub fn get_with(url: &str, headers: &[(&str, &str)]) -> Reply {
    send("GET", url, headers, None)
}

pub fn post_json(url: &str, headers: &[(&str, &str)], body: &str) -> Reply {
    let mut all = vec![("content-type", "application/json")];
    all.extend_from_slice(headers);
    send("POST", url, &all, Some(body.as_bytes()))
}

/// POST to the ODP Events API with the test API key.
pub fn post_odp_events(base: &str, body: &str) -> Reply {
    post_json(
        &format!("{base}/v3/events"),
        &[("x-api-key", ODP_KEY)],
        body,
    )
}

/// POST to the ODP GraphQL API with the test API key.
pub fn post_graphql(base: &str, body: &str) -> Reply {
    post_json(
        &format!("{base}/v3/graphql"),
        &[("x-api-key", ODP_KEY)],
        body,
    )
}

/// A valid ODP event for user `user` with action `action`.
pub fn odp_event(user: &str, action: &str) -> Value {
    serde_json::json!({
        "type": "fullstack",
        "action": action,
        "identifiers": { "fs_user_id": user },
        "data": { "idempotence_id": format!("{user}-{action}"), "data_source_type": "sdk",
                  "data_source": "rust-sdk", "data_source_version": "0.1.0", "n": 1.5, "none": null }
    })
}

/// A valid `/v1/events` impression batch for `visitor`.
pub fn impression_batch(visitor: &str) -> Value {
    serde_json::json!({
        "account_id": "12001", "project_id": "111001", "revision": "1",
        "client_name": "rust-sdk", "client_version": "0.1.0",
        "anonymize_ip": false, "enrich_decisions": true,
        "visitors": [{
            "visitor_id": visitor,
            "attributes": [{"entity_id": "111094", "key": "house", "type": "custom", "value": "Gryffindor"}],
            "snapshots": [{
                "decisions": [{"campaign_id": "111182", "experiment_id": "111127", "variation_id": "111128",
                    "metadata": {"flag_key": "flag", "rule_key": "exp", "rule_type": "feature-test",
                                 "variation_key": "control", "enabled": true}}],
                "events": [{"entity_id": "111182", "key": "campaign_activated",
                            "timestamp": 1_700_000_000_000_u64, "uuid": "6a0e6a74-0d2e-4d33-8a3f-4a7c1e6c0a11"}]
            }]
        }]
    })
}

/// A directory under the system temp dir, removed when dropped.
pub struct TempDir(std::path::PathBuf);

impl TempDir {
    pub fn new(name: &str) -> TempDir {
        use std::sync::atomic::{AtomicU32, Ordering};
        static NEXT: AtomicU32 = AtomicU32::new(0);
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .subsec_nanos();
        let unique = format!(
            "optimizely-fx-devserver-{name}-{}-{nanos}-{}",
            std::process::id(),
            NEXT.fetch_add(1, Ordering::Relaxed)
        );
        let path = std::env::temp_dir().join(unique);
        std::fs::create_dir_all(&path).unwrap();
        TempDir(path)
    }

    pub fn join(&self, name: &str) -> std::path::PathBuf {
        self.0.join(name)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// An ODP event with the given type, action, identifiers and data.
pub fn odp_event_with(event_type: &str, action: &str, identifiers: Value, data: Value) -> Value {
    serde_json::json!({
        "type": event_type,
        "action": action,
        "identifiers": identifiers,
        "data": data,
    })
}

/// Sends `events` to `/v3/events` and checks they were accepted.
pub fn send_odp_events(base: &str, events: &[Value]) {
    let body = Value::Array(events.to_vec()).to_string();
    let reply = post_odp_events(base, &body);
    assert_eq!(reply.status, 202, "{}", reply.body);
}

/// The segment query in the variables form, for identifier `kind` = `value`.
pub fn segment_query(kind: &str, value: &str, segments: &[&str]) -> String {
    serde_json::json!({
        "query": format!("query($userId: String, $audiences: [String]) {{customer({kind}: $userId) {{audiences(subset: $audiences) {{edges {{node {{name state}}}}}}}}}}"),
        "variables": {"userId": value, "audiences": segments},
    })
    .to_string()
}

/// The segments GraphQL says the user qualifies for among `segments`, or `None` for the
/// invalid-identifier answer.
pub fn qualified_via_graphql(
    base: &str,
    kind: &str,
    value: &str,
    segments: &[&str],
) -> Option<Vec<String>> {
    let reply = post_graphql(base, &segment_query(kind, value, segments));
    assert_eq!(reply.status, 200, "{}", reply.body);
    let answer = reply.json();
    if answer["errors"][0]["extensions"]["code"] == "INVALID_IDENTIFIER_EXCEPTION" {
        return None;
    }
    let edges = answer["data"]["customer"]["audiences"]["edges"]
        .as_array()
        .unwrap_or_else(|| panic!("no edges in {answer}"))
        .clone();
    Some(
        edges
            .iter()
            .filter(|edge| edge["node"]["state"] == "qualified")
            .map(|edge| edge["node"]["name"].as_str().unwrap().to_owned())
            .collect(),
    )
}
