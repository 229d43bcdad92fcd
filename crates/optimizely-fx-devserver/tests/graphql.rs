//! `POST /v3/graphql` (ODP segments), both request forms of the official SDKs.

mod common;

use common::{ODP_KEY, post_graphql, post_json};
use optimizely_fx_devserver::{DevServer, DevServerConfig, DevServerHandle, Endpoint};
use serde_json::{Value, json};

/// The Go/Python form: query with variables.
const VARIABLES_FORM: &str = r#"{"query":"query($userId: String, $audiences: [String]) {customer(fs_user_id: $userId) {audiences(subset: $audiences) {edges {node {name state}}}}}","variables":{"audiences":["a","b"],"userId":"tester-101"}}"#;
/// The JavaScript form, byte for byte: values inlined into the query text.
const INLINED_FORM: &str = r#"{"query" : "query {customer(fs_user_id : \"tester-101\") {audiences(subset: [\"a\",\"b\"]) {edges {node {name state}}}}}"}"#;

fn server() -> DevServerHandle {
    DevServer::start(
        DevServerConfig::default()
            .odp_api_key(ODP_KEY)
            .segments("tester-101", vec!["a".to_owned(), "c".to_owned()]),
    )
    .unwrap()
}

fn a_qualified_b_not() -> Value {
    json!({"data": {"customer": {"audiences": {"edges": [
        {"node": {"name": "a", "state": "qualified"}},
        {"node": {"name": "b", "state": "not_qualified"}},
    ]}}}})
}

#[test]
fn answers_the_variables_form() {
    let server = server();
    let reply = post_graphql(&server.url(), VARIABLES_FORM);
    assert_eq!(reply.status, 200);
    assert_eq!(reply.header("content-type"), Some("application/json"));
    assert_eq!(reply.json(), a_qualified_b_not());
    let recorded = server.requests(Endpoint::OdpGraphql);
    assert_eq!(recorded[0].body_text(), Some(VARIABLES_FORM));
    assert_eq!(recorded[0].status, Some(200));
}

#[test]
fn answers_the_inlined_form() {
    let server = server();
    let reply = post_graphql(&server.url(), INLINED_FORM);
    assert_eq!(reply.status, 200);
    assert_eq!(reply.json(), a_qualified_b_not());
}

#[test]
fn answers_the_python_form_with_vuid_and_keeps_requested_order() {
    let server = server();
    server.set_segments("vuid_123", vec!["z".to_owned()]);
    let body = json!({
        "query": "query($userId: String, $audiences: [String]) {customer(vuid: $userId) {audiences(subset: $audiences) {edges {node {name state}}}}}",
        "variables": {"userId": "vuid_123", "audiences": ["y", "z", "x"]},
    });
    let reply = post_graphql(&server.url(), &body.to_string());
    assert_eq!(
        reply.json(),
        json!({"data": {"customer": {"audiences": {"edges": [
            {"node": {"name": "y", "state": "not_qualified"}},
            {"node": {"name": "z", "state": "qualified"}},
            {"node": {"name": "x", "state": "not_qualified"}},
        ]}}}})
    );
}

#[test]
fn segments_can_change_at_runtime() {
    let server = server();
    server.set_segments("tester-101", vec!["b".to_owned()]);
    let edges = post_graphql(&server.url(), VARIABLES_FORM).json()["data"]["customer"]["audiences"]
        ["edges"]
        .clone();
    assert_eq!(edges[0]["node"]["state"], "not_qualified");
    assert_eq!(edges[1]["node"]["state"], "qualified");

    server.set_segments("tester-101", Vec::new());
    let edges =
        post_graphql(&server.url(), INLINED_FORM).json()["data"]["customer"]["audiences"]["edges"]
            .clone();
    assert_eq!(edges[0]["node"]["state"], "not_qualified");
    assert_eq!(edges[1]["node"]["state"], "not_qualified");
}

#[test]
fn unknown_user_gets_the_invalid_identifier_error() {
    let server = server();
    let body = VARIABLES_FORM.replace("tester-101", "nobody");
    let reply = post_graphql(&server.url(), &body);
    assert_eq!(reply.status, 200);
    let answer = reply.json();
    assert_eq!(
        answer,
        json!({
            "errors": [{
                "message": "Exception while fetching data (/customer) : java.lang.RuntimeException: could not resolve _fs_user_id = nobody",
                "locations": [{"line": 1, "column": 47}],
                "path": ["customer"],
                "extensions": {"code": "INVALID_IDENTIFIER_EXCEPTION", "classification": "DataFetchingException"},
            }],
            "data": {"customer": null},
        })
    );

    assert!(server.remove_segments("tester-101"));
    let reply = post_graphql(&server.url(), INLINED_FORM);
    assert_eq!(
        reply.json()["errors"][0]["extensions"]["code"],
        "INVALID_IDENTIFIER_EXCEPTION"
    );
}

#[test]
fn missing_or_wrong_api_key_is_unauthorized() {
    let server = server();
    let url = format!("{}/v3/graphql", server.url());
    assert_eq!(post_json(&url, &[], VARIABLES_FORM).status, 401);
    let wrong = post_json(&url, &[("x-api-key", "nope")], VARIABLES_FORM);
    assert_eq!(wrong.status, 401);
    assert_eq!(wrong.json()["title"], "Unauthorized");
}

#[test]
fn queries_it_cannot_understand_get_400_with_errors() {
    let server = server();
    let cases = [
        ("not json", "InvalidSyntax"),
        (r#"{"variables":{}}"#, "InvalidSyntax"),
        (
            r#"{"query":"query {customer(fs_user_id: \"u\" {"}"#,
            "InvalidSyntax",
        ),
        (r#"{"query":"mutation { customer }"}"#, "InvalidSyntax"),
        (r#"{"query":"{ shop { name } }"}"#, "ValidationError"),
        (
            r#"{"query":"{ customer(email: \"x\") { audiences { edges { node { name } } } } }"}"#,
            "ValidationError",
        ),
        (
            r#"{"query":"query($u: String) { customer(fs_user_id: $u) { audiences { edges { node { name } } } } }"}"#,
            "ValidationError",
        ),
    ];
    for (body, classification) in cases {
        let reply = post_graphql(&server.url(), body);
        assert_eq!(reply.status, 400, "{body}");
        let error = &reply.json()["errors"][0];
        assert!(
            error["message"].as_str().is_some_and(|m| !m.is_empty()),
            "{body}"
        );
        assert!(error["locations"].is_array(), "{body}");
        assert_eq!(
            error["extensions"]["classification"], classification,
            "{body}"
        );
    }
}
