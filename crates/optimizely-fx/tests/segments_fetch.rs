//! `Client::fetch_qualified_segments` against the dev server on 127.0.0.1: the exact request,
//! every kind of answer of the GraphQL endpoint, and the refusals before any request.

mod segments_support;

use std::time::Duration;

use optimizely_fx::http::HttpError;
use optimizely_fx::{Client, FetchSegmentsError, SegmentsFetchFailure};
use optimizely_fx_devserver::{Endpoint, Fault};
use segments_support::*;

fn status_fault(status: u16, body: Option<&str>) -> Fault {
    Fault::Status {
        status,
        times: 1,
        retry_after: None,
        body: body.map(str::to_owned),
    }
}

fn failure(result: Result<Vec<String>, FetchSegmentsError>) -> SegmentsFetchFailure {
    match result {
        Err(FetchSegmentsError::FetchFailed(failure)) => failure,
        other => panic!("expected a failed fetch, got {other:?}"),
    }
}

fn odp_client() -> (optimizely_fx_devserver::DevServerHandle, Client) {
    let server = server_with(&odp_datafile());
    let client = ready(builder(&server));
    (server, client)
}

#[test]
fn the_request_is_the_variables_form_posted_to_v3_graphql_with_the_api_key() {
    let (server, client) = odp_client();
    server.set_segments("tester-101", strings(&["odp-segment-3", "odp-segment-1"]));

    let segments = client.fetch_qualified_segments("tester-101", &[]).unwrap();

    assert_eq!(segments, strings(&["odp-segment-1", "odp-segment-3"]));
    let requests = server.requests(Endpoint::OdpGraphql);
    assert_eq!(requests.len(), 1);
    let request = &requests[0];
    assert_eq!(request.method, "POST");
    assert_eq!(request.path, "/v3/graphql");
    assert_eq!(request.header("content-type"), Some("application/json"));
    assert_eq!(request.header_values("x-api-key"), [API_KEY]);
    assert_eq!(
        request.body_text(),
        Some(
            r#"{"query":"query($userId: String, $audiences: [String]) {customer(fs_user_id: $userId) {audiences(subset: $audiences) {edges {node {name state}}}}}","variables":{"userId":"tester-101","audiences":["odp-segment-1","odp-segment-2","odp-segment-3"]}}"#
        )
    );
    assert_eq!(request.status, Some(200));
}

#[test]
fn user_ids_are_escaped_in_the_variables() {
    let (server, client) = odp_client();
    let user = "quote\"back\\slash {customer(vuid: \"x\")}";
    server.set_segments(user, strings(&["odp-segment-2"]));

    assert_eq!(
        client.fetch_qualified_segments(user, &[]),
        Ok(strings(&["odp-segment-2"]))
    );
    let body = server.requests(Endpoint::OdpGraphql)[0]
        .body_json()
        .unwrap();
    assert_eq!(body["variables"]["userId"], user);
}

#[test]
fn a_user_qualified_for_nothing_gets_an_empty_list() {
    let (server, client) = odp_client();
    server.set_segments("nobody-special", vec![]);
    assert_eq!(
        client.fetch_qualified_segments("nobody-special", &[]),
        Ok(vec![])
    );
}

#[test]
fn empty_edges_are_an_empty_list() {
    let (server, client) = odp_client();
    let body = r#"{"data":{"customer":{"audiences":{"edges":[]}}}}"#;
    server.inject_fault(Endpoint::OdpGraphql, status_fault(200, Some(body)));
    assert_eq!(client.fetch_qualified_segments("u-empty", &[]), Ok(vec![]));
}

#[test]
fn an_unknown_user_is_an_invalid_identifier_logged_once_at_warn() {
    let (_server, client) = odp_client();

    let result = client.fetch_qualified_segments("never-seen-by-odp", &[]);

    let error = result.clone().unwrap_err();
    assert_eq!(
        error.to_string(),
        "Audience segments fetch failed (invalid identifier)"
    );
    assert_eq!(failure(result), SegmentsFetchFailure::InvalidIdentifier);
    let warned = my_logged(log::Level::Warn, "Audience segments fetch failed");
    assert_eq!(
        warned,
        ["Audience segments fetch failed (invalid identifier)"]
    );
    assert!(my_logged(log::Level::Error, "Audience segments fetch failed").is_empty());
}

#[test]
fn another_graphql_error_is_named_by_its_classification_and_logged_once_at_error() {
    let (server, client) = odp_client();
    let body = r#"{"errors":[{"message":"boom","locations":[{"line":1,"column":1}],"extensions":{"classification":"DataFetchingException"}}],"data":{"customer":null}}"#;
    server.inject_fault(Endpoint::OdpGraphql, status_fault(200, Some(body)));

    let result = client.fetch_qualified_segments("u1", &[]);

    assert_eq!(
        result.clone().unwrap_err().to_string(),
        "Audience segments fetch failed (DataFetchingException)"
    );
    assert_eq!(
        failure(result),
        SegmentsFetchFailure::Classification("DataFetchingException".into())
    );
    assert_eq!(
        my_logged(log::Level::Error, "Audience segments fetch failed"),
        ["Audience segments fetch failed (DataFetchingException)"]
    );
}

#[test]
fn a_body_that_is_not_json_is_a_decode_error() {
    let (server, client) = odp_client();
    server.set_segments("u1", strings(&["odp-segment-1"]));
    server.inject_fault(Endpoint::OdpGraphql, Fault::MalformedBody { times: 1 });

    let result = client.fetch_qualified_segments("u1", &[]);

    assert_eq!(
        result.clone().unwrap_err().to_string(),
        "Audience segments fetch failed (decode error)"
    );
    assert_eq!(failure(result), SegmentsFetchFailure::Decode);
}

#[test]
fn answers_of_the_wrong_shape_are_decode_errors() {
    let (server, client) = odp_client();
    let bodies = [
        r#"{"data":{}}"#,
        r#"{"data":{"customer":{"audiences":{}}}}"#,
        r#"{"data":{"customer":{"audiences":{"edges":{}}}}}"#,
        r#"{"errors":["not an object"]}"#,
        r#"[]"#,
    ];
    for body in bodies {
        server.inject_fault(Endpoint::OdpGraphql, status_fault(200, Some(body)));
        let result = client.fetch_qualified_segments("u1", &[]);
        assert_eq!(failure(result), SegmentsFetchFailure::Decode, "{body}");
    }
}

#[test]
fn a_status_other_than_2xx_is_reported_by_its_code() {
    let (server, client) = odp_client();
    server.set_segments("u1", strings(&["odp-segment-1"]));
    for status in [403, 500, 404] {
        server.inject_fault(Endpoint::OdpGraphql, status_fault(status, None));
        let result = client.fetch_qualified_segments("u1", &[]);
        assert_eq!(
            result.clone().unwrap_err().to_string(),
            format!("Audience segments fetch failed ({status})")
        );
        assert_eq!(failure(result), SegmentsFetchFailure::Status(status));
    }
    assert_eq!(
        my_logged(log::Level::Error, "Audience segments fetch failed").len(),
        3,
        "each failure logged once"
    );
}

#[test]
fn a_wrong_api_key_is_refused_by_odp_and_never_shown() {
    let server = server_with(&odp_datafile());
    let datafile = odp_datafile().replace("W4WzcEs-ABgXorzY7h1LCQ", "stale-pk-Q7w");
    // A client given the datafile directly keeps the fixture's host; point it at the server
    // but keep a key the server does not accept.
    let datafile = datafile.replace("https://api.zaius.com", &server.url());
    let client = Client::builder().datafile(datafile).build().unwrap();
    server.set_segments("u1", strings(&["odp-segment-1"]));

    let error = client.fetch_qualified_segments("u1", &[]).unwrap_err();

    assert_eq!(error.to_string(), "Audience segments fetch failed (401)");
    assert!(!format!("{error:?}").contains("stale-pk-Q7w"));
    let requests = server.requests(Endpoint::OdpGraphql);
    assert_eq!(requests[0].header("x-api-key"), Some("stale-pk-Q7w"));
    for line in my_log_lines() {
        assert!(!line.message.contains("stale-pk-Q7w"), "{line:?}");
    }
}

#[test]
fn a_dropped_connection_is_a_network_error() {
    let (server, client) = odp_client();
    server.inject_fault(Endpoint::OdpGraphql, Fault::DropConnection { times: 1 });

    let result = client.fetch_qualified_segments("u1", &[]);

    assert_eq!(
        result.clone().unwrap_err().to_string(),
        "Audience segments fetch failed (network error)"
    );
    assert!(matches!(failure(result), SegmentsFetchFailure::Network(_)));
    assert_eq!(
        my_logged(log::Level::Error, "Audience segments fetch failed"),
        ["Audience segments fetch failed (network error)"]
    );
}

#[test]
fn a_server_that_is_gone_is_a_network_error() {
    let (server, client) = odp_client();
    server.shutdown();
    let result = client.fetch_qualified_segments("u1", &[]);
    assert!(matches!(failure(result), SegmentsFetchFailure::Network(_)));
}

#[test]
fn a_server_that_never_answers_times_out_as_a_network_error() {
    let server = server_with(&odp_datafile());
    let client = ready(builder(&server).segments_request_timeout(Duration::from_millis(300)));
    server.inject_fault(Endpoint::OdpGraphql, Fault::Hang { times: 1 });

    let result = client.fetch_qualified_segments("u1", &[]);

    assert_eq!(
        failure(result),
        SegmentsFetchFailure::Network(HttpError::Timeout)
    );
}

#[test]
fn a_zero_request_timeout_falls_back_to_the_default_with_a_warning() {
    let server = server_with(&odp_datafile());
    let client = ready(builder(&server).segments_request_timeout(Duration::ZERO));
    assert_eq!(
        my_logged(log::Level::Warn, "segments_request_timeout").len(),
        1
    );
    server.set_segments("u1", strings(&["odp-segment-2"]));
    assert_eq!(
        client.fetch_qualified_segments("u1", &[]),
        Ok(strings(&["odp-segment-2"]))
    );
}

#[test]
fn no_segments_to_check_answers_empty_without_a_request_or_the_cache() {
    let server = server_with(&fixture(
        "js-test_data.odpIntegratedConfigWithoutSegments.json",
    ));
    let cache = std::sync::Arc::new(CountingCache::default());
    let client = ready(builder(&server).segments_cache(cache.clone()));
    server.set_segments("u1", strings(&["odp-segment-1"]));

    for options in [&[][..], &[optimizely_fx::SegmentOption::ResetCache]] {
        assert_eq!(client.fetch_qualified_segments("u1", options), Ok(vec![]));
    }

    assert_eq!(graphql_requests(&server), 0);
    assert_eq!(cache.calls(), 0);
}

#[test]
fn before_the_first_datafile_the_sdk_is_not_ready() {
    let server = server_with(&odp_datafile());
    // An SDK key the server has no datafile for: the client never becomes ready.
    let client = Client::builder()
        .sdk_key("no-such-key")
        .datafile_url_template(server.datafile_url_template())
        .build()
        .unwrap();

    let error = client.fetch_qualified_segments("u1", &[]).unwrap_err();

    assert_eq!(error, FetchSegmentsError::SdkNotReady);
    assert_eq!(graphql_requests(&server), 0);
    client.close(Duration::from_secs(1));
}

#[test]
fn odp_disabled_refuses_without_a_request() {
    let server = server_with(&odp_datafile());
    server.set_segments("u1", strings(&["odp-segment-1"]));
    let client = ready(builder(&server).odp_disabled(true));

    let error = client.fetch_qualified_segments("u1", &[]).unwrap_err();

    assert_eq!(error, FetchSegmentsError::OdpNotEnabled);
    assert_eq!(error.to_string(), "ODP is not enabled");
    assert_eq!(graphql_requests(&server), 0);
}

#[test]
fn a_datafile_without_odp_is_not_integrated() {
    let server = server_with(&fixture("rs-sandbox.json"));
    let client = ready(builder(&server));

    let error = client.fetch_qualified_segments("u1", &[]).unwrap_err();

    assert_eq!(error, FetchSegmentsError::OdpNotIntegrated);
    assert_eq!(graphql_requests(&server), 0);
}

#[test]
fn refusals_are_not_logged_above_debug_when_odp_is_off() {
    let server = server_with(&fixture("rs-sandbox.json"));
    let client = ready(builder(&server));
    let _ = client.fetch_qualified_segments("u1", &[]);
    let disabled = ready(builder(&server).odp_disabled(true));
    let _ = disabled.fetch_qualified_segments("u1", &[]);

    let loud: Vec<_> = my_log_lines()
        .into_iter()
        .filter(|line| line.target.contains("segments") && line.level < log::Level::Debug)
        .collect();
    assert!(loud.is_empty(), "{loud:?}");
}
