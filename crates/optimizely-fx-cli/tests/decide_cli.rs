//! `optimizely-fx decide`, run as a user would run it, against fixture datafiles and an
//! in-process dev server.

use std::path::{Path, PathBuf};
use std::process::Output;

mod common;

use common::{fixture, json_lines, run, stderr};
use optimizely_fx_devserver::{DevServer, DevServerConfig, DevServerHandle};
use serde_json::{Value, json};

fn users_file(name: &str, text: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("ofx-decide-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join(name);
    std::fs::write(&path, text).unwrap();
    path
}

fn decide(datafile: &str, users: &Path, extra: &[&str]) -> Output {
    let datafile = fixture(datafile);
    let users = users.to_string_lossy().into_owned();
    let mut args = vec!["decide", "--datafile", &datafile, "--users", &users];
    args.extend_from_slice(extra);
    run(&args)
}

fn keys(line: &Value) -> Vec<&str> {
    line.as_object()
        .unwrap()
        .keys()
        .map(String::as_str)
        .collect()
}

#[test]
fn every_flag_for_every_user_in_input_and_datafile_order() {
    let users = users_file(
        "order.jsonl",
        "{\"user_id\": \"user1\"}\n\n{\"user_id\": \"user2\", \"attributes\": {\"gender\": \"f\", \"age\": 30, \"beta\": true, \"x\": null}}\n",
    );
    let output = decide("go-decide-test-datafile.json", &users, &[]);
    assert!(output.status.success(), "{}", stderr(&output));
    let lines = json_lines(&output);
    let pairs: Vec<(&str, &str)> = lines
        .iter()
        .map(|l| {
            (
                l["user_id"].as_str().unwrap(),
                l["flag_key"].as_str().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        pairs,
        [
            ("user1", "feature_1"),
            ("user1", "feature_2"),
            ("user1", "feature_3"),
            ("user2", "feature_1"),
            ("user2", "feature_2"),
            ("user2", "feature_3"),
        ]
    );
    assert_eq!(
        keys(&lines[0]),
        [
            "user_id",
            "flag_key",
            "enabled",
            "variation_key",
            "rule_key",
            "variables"
        ]
    );
    assert_eq!(
        lines[2],
        json!({"user_id": "user1", "flag_key": "feature_3", "enabled": false,
               "variation_key": null, "rule_key": null, "variables": {}})
    );
    assert_eq!(lines[3]["variation_key"], "a");
    assert_eq!(lines[3]["rule_key"], "exp_with_audience");
    assert_eq!(lines[3]["variables"]["i_42"], 42);
    assert_eq!(lines[3]["variables"]["j_1"], json!({"value": 1}));
    assert_eq!(lines[4]["variation_key"], "variation_with_traffic");
}

#[test]
fn flags_and_options_shape_the_output() {
    let users = users_file("options.jsonl", "{\"user_id\": \"user1\"}\n");
    let output = decide(
        "go-decide-test-datafile.json",
        &users,
        &[
            "--flags",
            "feature_2,feature_1",
            "--option",
            "INCLUDE_REASONS",
            "--option",
            "EXCLUDE_VARIABLES",
        ],
    );
    assert!(output.status.success(), "{}", stderr(&output));
    let explained = json_lines(&output);
    let flags: Vec<&str> = explained
        .iter()
        .map(|l| l["flag_key"].as_str().unwrap())
        .collect();
    assert_eq!(flags, ["feature_2", "feature_1"]);
    for line in &explained {
        assert_eq!(line["variables"], json!({}));
        assert!(!line["reasons"].as_array().unwrap().is_empty(), "{line}");
    }

    let output = decide(
        "go-decide-test-datafile.json",
        &users,
        &["--option", "ENABLED_FLAGS_ONLY"],
    );
    assert!(output.status.success(), "{}", stderr(&output));
    let enabled_only = json_lines(&output);
    assert!(!enabled_only.is_empty());
    assert!(enabled_only.iter().all(|l| l["enabled"] == true));
    assert!(enabled_only.iter().all(|l| l.get("reasons").is_none()));
}

#[test]
fn segments_from_the_input_are_the_users_qualified_segments() {
    let users = users_file(
        "segments.jsonl",
        concat!(
            "{\"user_id\": \"a\", \"segments\": [\"odp-segment-1\"]}\n",
            "{\"user_id\": \"b\", \"segments\": [\"odp-segment-2\"]}\n",
            "{\"user_id\": \"c\", \"segments\": []}\n",
            "{\"user_id\": \"d\"}\n",
        ),
    );
    let output = decide("go-odp-test-datafile.json", &users, &[]);
    assert!(output.status.success(), "{}", stderr(&output));
    let variations: Vec<String> = json_lines(&output)
        .iter()
        .map(|l| l["variation_key"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(
        variations,
        [
            "variation-a",
            "rollout-variation-on",
            "rollout-variation-off",
            "rollout-variation-off"
        ]
    );
}

fn odp_server() -> DevServerHandle {
    let datafile = std::fs::read_to_string(fixture("go-odp-test-datafile.json")).unwrap();
    DevServer::start(
        DevServerConfig::default()
            .datafile("cli-decide-key", datafile)
            .odp_api_key("cli-odp-key"),
    )
    .unwrap()
}

fn decide_from_server(server: &DevServerHandle, users: &Path, extra: &[&str]) -> Output {
    let template = server.datafile_url_template();
    let endpoint = server.event_endpoint();
    let users = users.to_string_lossy().into_owned();
    let mut args = vec![
        "decide",
        "--sdk-key",
        "cli-decide-key",
        "--datafile-url-template",
        &template,
        "--event-endpoint",
        &endpoint,
        "--users",
        &users,
    ];
    args.extend_from_slice(extra);
    run(&args)
}

#[test]
fn fetch_segments_asks_odp_instead_of_reading_the_input() {
    let server = odp_server();
    server.set_segments("fetched-a", vec!["odp-segment-1".to_owned()]);
    server.set_segments("fetched-b", vec!["odp-segment-2".to_owned()]);
    let users = users_file(
        "fetch.jsonl",
        concat!(
            "{\"user_id\": \"fetched-a\", \"segments\": [\"odp-segment-2\"]}\n",
            "{\"user_id\": \"fetched-b\"}\n",
            "{\"user_id\": \"unknown-to-odp\", \"segments\": [\"odp-segment-1\"]}\n",
        ),
    );
    let output = decide_from_server(&server, &users, &["--fetch-segments"]);
    assert!(output.status.success(), "{}", stderr(&output));
    let variations: Vec<Value> = json_lines(&output)
        .iter()
        .map(|l| l["variation_key"].clone())
        .collect();
    assert_eq!(
        variations,
        [
            json!("variation-a"),
            json!("rollout-variation-on"),
            json!("rollout-variation-off")
        ]
    );
    assert!(
        stderr(&output).contains("line 3: Audience segments fetch failed (invalid identifier)"),
        "{}",
        stderr(&output)
    );
    assert_eq!(
        server.log_event_batches_received(),
        0,
        "no events without --send-events"
    );
}

#[test]
fn send_events_delivers_the_impressions_before_exiting() {
    let server = odp_server();
    let users = users_file(
        "events.jsonl",
        "{\"user_id\": \"e1\", \"segments\": [\"odp-segment-1\"]}\n{\"user_id\": \"e2\"}\n",
    );
    let output = decide_from_server(&server, &users, &["--send-events"]);
    assert!(output.status.success(), "{}", stderr(&output));
    assert_eq!(json_lines(&output).len(), 2);
    let visitors: Vec<Value> = server
        .log_event_batches()
        .iter()
        .flat_map(|b| b["visitors"].as_array().unwrap().clone())
        .collect();
    let ids: Vec<&str> = visitors
        .iter()
        .map(|v| v["visitor_id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, ["e1", "e2"]);
    assert!(
        stderr(&output).contains("events: 2 delivered"),
        "{}",
        stderr(&output)
    );
}

#[test]
fn a_bad_line_is_reported_with_its_number() {
    let cases = [
        (
            "{\"user_id\": \"ok\"}\n{not json}\n",
            "line 2: invalid JSON",
        ),
        (
            "{\"user_id\": \"ok\"}\n\n{\"attributes\": {}}\n",
            "line 3: missing \"user_id\"",
        ),
        ("{\"user_id\": 7}\n", "line 1: \"user_id\" must be a string"),
        (
            "{\"user_id\": \"u\", \"attributes\": [1]}\n",
            "line 1: \"attributes\" must be an object",
        ),
        (
            "{\"user_id\": \"u\", \"attributes\": {\"list\": [1]}}\n",
            "line 1: attribute \"list\" must be a string, number, boolean or null",
        ),
        (
            "{\"user_id\": \"u\", \"segments\": [1]}\n",
            "line 1: \"segments\" must be an array of strings",
        ),
        ("[]\n", "line 1: expected a JSON object"),
    ];
    for (index, (text, message)) in cases.iter().enumerate() {
        let users = users_file(&format!("bad-{index}.jsonl"), text);
        let output = decide("go-decide-test-datafile.json", &users, &[]);
        assert!(!output.status.success(), "{text}");
        assert!(
            stderr(&output).contains(message),
            "{text}: {}",
            stderr(&output)
        );
    }
}

#[test]
fn unknown_flags_options_and_files_are_refused() {
    let users = users_file("refused.jsonl", "{\"user_id\": \"u\"}\n");
    let unknown_flag = decide(
        "go-decide-test-datafile.json",
        &users,
        &["--flags", "feature_1,nope"],
    );
    assert!(!unknown_flag.status.success());
    assert!(stderr(&unknown_flag).contains("flag \"nope\" is not in the datafile"));
    assert!(json_lines(&unknown_flag).is_empty());

    let unknown_option = decide(
        "go-decide-test-datafile.json",
        &users,
        &["--option", "EVERYTHING"],
    );
    assert!(!unknown_option.status.success());
    assert!(
        stderr(&unknown_option).contains("Unrecognized decide option EVERYTHING provided."),
        "{}",
        stderr(&unknown_option)
    );

    let missing = decide(
        "go-decide-test-datafile.json",
        Path::new("/nonexistent/users.jsonl"),
        &[],
    );
    assert!(!missing.status.success());
    assert!(stderr(&missing).contains("cannot read /nonexistent/users.jsonl"));
}
