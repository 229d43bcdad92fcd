//! `optimizely-fx send-odp-event` against an in-process dev server.

mod common;

use std::process::Output;

use common::{json_lines, run_against, temp_file};
use optimizely_fx_devserver::{DevServer, DevServerConfig, DevServerHandle, Endpoint, Fault};

const DATAFILE: &str = include_str!("../../../tests/fixtures/datafiles/go-odp-test-datafile.json");

fn server() -> DevServerHandle {
    DevServer::start(DevServerConfig::default().datafile("odp-key", DATAFILE)).unwrap()
}

fn run(server: &DevServerHandle, extra: &[&str]) -> Output {
    run_against(server, "send-odp-event", "odp-key", extra)
}

#[test]
fn one_event_from_flags_is_sent_and_reported() {
    let server = server();
    let output = run(
        &server,
        &[
            "--action",
            "purchased",
            "--type",
            "custom",
            "--identifier",
            "FS-USER-ID=u1",
            "--identifier",
            "email=u1@example.com",
            "--data",
            "count=2",
            "--data",
            "price=9.5",
            "--data",
            "gift=true",
            "--data",
            "coupon=null",
            "--data",
            "note=plain text",
        ],
    );
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let lines = json_lines(&output);
    assert_eq!(lines[0], serde_json::json!({"line": 1, "accepted": true}));
    assert_eq!(lines[1]["summary"]["delivered"], 1);
    let events = server.odp_events();
    assert_eq!(events.len(), 1);
    let event = &events[0];
    assert_eq!(event["type"], "custom");
    assert_eq!(event["identifiers"]["fs_user_id"], "u1");
    assert_eq!(event["data"]["count"], 2);
    assert_eq!(event["data"]["price"], 9.5);
    assert_eq!(event["data"]["gift"], true);
    assert!(event["data"]["coupon"].is_null());
    assert_eq!(event["data"]["note"], "plain text");
}

#[test]
fn a_jsonl_file_reports_each_line_and_fails_when_any_line_is_refused() {
    let server = server();
    let path = temp_file(
        "mixed.jsonl",
        "{\"action\":\"a\",\"identifiers\":{\"fs_user_id\":\"x\"},\"data\":{\"n\":1}}\n\
         \n\
         {\"action\":\"\",\"identifiers\":{\"k\":\"v\"}}\n\
         not json\n\
         {\"action\":\"b\",\"identifiers\":{\"k\":\"v\"},\"data\":{\"list\":[1]}}\n\
         {\"action\":\"c\"}\n\
         {\"action\":\"d\",\"type\":\"t\",\"identifiers\":{\"k\":\"v\"}}\n",
    );
    let output = run(&server, &["--events", path.to_str().unwrap()]);
    assert_eq!(output.status.code(), Some(1));
    let lines = json_lines(&output);
    let accepted: Vec<(u64, bool)> = lines[..lines.len() - 1]
        .iter()
        .map(|l| {
            (
                l["line"].as_u64().unwrap(),
                l["accepted"].as_bool().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        accepted,
        [
            (1, true),
            (3, false),
            (4, false),
            (5, false),
            (6, false),
            (7, true)
        ]
    );
    assert!(lines[1]["error"].as_str().unwrap().contains("action"));
    assert!(lines[2]["error"].as_str().unwrap().contains("invalid JSON"));
    assert!(
        lines[3]["error"]
            .as_str()
            .unwrap()
            .contains("ODP data is not valid")
    );
    assert!(lines[4]["error"].as_str().unwrap().contains("identifiers"));
    let summary = &lines[lines.len() - 1]["summary"];
    assert_eq!(summary["accepted"], 2);
    assert_eq!(summary["refused"], 4);
    assert_eq!(summary["delivered"], 2);
    assert_eq!(server.odp_events().len(), 2);
}

#[test]
fn a_clean_file_exits_zero_after_delivering_everything() {
    let server = server();
    let text: String = (0..250)
        .map(|i| format!("{{\"action\":\"viewed\",\"identifiers\":{{\"fs_user_id\":\"u{i}\"}}}}\n"))
        .collect();
    let path = temp_file("clean.jsonl", &text);
    let output = run(&server, &["--events", path.to_str().unwrap()]);
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert_eq!(server.odp_events().len(), 250);
    let lines = json_lines(&output);
    assert_eq!(lines.last().unwrap()["summary"]["delivered"], 250);
}

#[test]
fn undelivered_events_make_the_command_fail() {
    let server = server();
    server.inject_fault(Endpoint::OdpEvents, Fault::Hang { times: u32::MAX });
    let output = run(
        &server,
        &[
            "--action",
            "a",
            "--identifier",
            "k=v",
            "--flush-timeout",
            "0.5",
        ],
    );
    assert_eq!(output.status.code(), Some(1));
    let lines = json_lines(&output);
    assert_eq!(lines[0]["accepted"], true);
    assert_eq!(lines[1]["summary"]["undelivered"], 1);
}

#[test]
fn bad_arguments_are_usage_errors() {
    let server = server();
    let missing_file = run(&server, &["--events", "/no/such/file.jsonl"]);
    assert_eq!(missing_file.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&missing_file.stderr).contains("/no/such/file.jsonl"));
    let both = run(&server, &["--action", "a", "--events", "x.jsonl"]);
    assert_eq!(both.status.code(), Some(2));
    let bad_identifier = run(&server, &["--action", "a", "--identifier", "novalue"]);
    assert_eq!(bad_identifier.status.code(), Some(2));
}
