//! `optimizely-fx segments` against an in-process dev server.

mod common;

use std::process::Output;

use common::{json_lines, run_against};
use optimizely_fx_devserver::{DevServer, DevServerConfig, DevServerHandle, Endpoint, Fault};

const DATAFILE: &str = include_str!("../../../tests/fixtures/datafiles/go-odp-test-datafile.json");

fn server() -> DevServerHandle {
    DevServer::start(DevServerConfig::default().datafile("seg-key", DATAFILE)).unwrap()
}

fn run(server: &DevServerHandle, extra: &[&str]) -> Output {
    run_against(server, "segments", "seg-key", extra)
}

#[test]
fn prints_the_qualified_segments_and_the_decision_made_with_them() {
    let server = server();
    server.set_segments("tester", vec!["odp-segment-2".into()]);
    let output = run(
        &server,
        &["--user-id", "tester", "--decide", "flag-segment"],
    );
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let lines = json_lines(&output);
    assert_eq!(lines[0], serde_json::json!(["odp-segment-2"]));
    assert_eq!(lines[1]["flag_key"], "flag-segment");
    assert_eq!(lines[1]["variation_key"], "rollout-variation-on");
    assert!(
        server.log_event_batches().is_empty(),
        "no impression is sent"
    );
}

#[test]
fn a_user_in_no_segment_gets_an_empty_list() {
    let server = server();
    server.set_segments("nobody-special", vec![]);
    let output = run(
        &server,
        &["--user-id", "nobody-special", "--option", "IGNORE_CACHE"],
    );
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert_eq!(json_lines(&output)[0], serde_json::json!([]));
}

#[test]
fn an_unknown_user_is_an_error() {
    let server = server();
    let output = run(&server, &["--user-id", "stranger"]);
    assert_eq!(output.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("Audience segments fetch failed (invalid identifier)"),
        "{stderr}"
    );
}

#[test]
fn a_server_error_is_reported_with_its_status() {
    let server = server();
    server.inject_fault(
        Endpoint::OdpGraphql,
        Fault::Status {
            status: 503,
            times: 1,
            retry_after: None,
            body: None,
        },
    );
    let output = run(&server, &["--user-id", "tester"]);
    assert_eq!(output.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&output.stderr).contains("(503)"));
}

#[test]
fn bad_arguments_are_usage_errors() {
    let server = server();
    let bad_option = run(&server, &["--user-id", "u", "--option", "NOT_AN_OPTION"]);
    assert_eq!(bad_option.status.code(), Some(2));
    let missing_user = run(&server, &[]);
    assert_eq!(missing_user.status.code(), Some(2));
}
