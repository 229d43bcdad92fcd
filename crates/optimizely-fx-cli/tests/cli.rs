//! The `optimizely-fx` binary, run as a user would run it.

mod common;

use common::{fixture, run, stderr, stdout};
use optimizely_fx_devserver::{DevServer, DevServerConfig};

#[test]
fn inspect_a_datafile_file_as_json() {
    let path = fixture("go-odp-test-datafile.json");
    let output = run(&["datafile", "inspect", "--datafile", &path, "--json"]);
    assert!(output.status.success(), "{}", stderr(&output));
    let summary: serde_json::Value = serde_json::from_str(&stdout(&output)).unwrap();
    assert_eq!(summary["revision"], "101");
    assert_eq!(summary["flags"], 1);
    assert_eq!(summary["odp"]["integrated"], true);
    assert_eq!(summary["odp"]["host"], "https://api.zaius.com");
    assert_eq!(
        summary["odp"]["segments"],
        serde_json::json!(["odp-segment-1", "odp-segment-2", "odp-segment-3"])
    );
    assert!(!stdout(&output).contains("W4WzcEs-ABgXorzY7h1LCQ"));
}

#[test]
fn inspect_text_output_redacts_the_public_key() {
    let path = fixture("js-test_data.odpIntegratedConfigWithSegments.json");
    let output = run(&["datafile", "inspect", "--datafile", &path]);
    assert!(output.status.success(), "{}", stderr(&output));
    let text = stdout(&output);
    assert!(text.contains("integrated (host"), "{text}");
    assert!(text.contains("<redacted>"));
    assert!(!text.contains("W4WzcEs-ABgXorzY7h1LCQ"));
}

#[test]
fn inspect_a_datafile_without_odp() {
    let path = fixture("js-test_data.decideConfig.json");
    let output = run(&["datafile", "inspect", "--datafile", &path, "--json"]);
    assert!(output.status.success(), "{}", stderr(&output));
    let summary: serde_json::Value = serde_json::from_str(&stdout(&output)).unwrap();
    assert_eq!(summary["odp"]["integrated"], false);
}

#[test]
fn inspect_by_sdk_key_against_the_dev_server() {
    let json = std::fs::read_to_string(fixture("go-decide-test-datafile.json")).unwrap();
    let server = DevServer::start(DevServerConfig::default().datafile("cli-key", json)).unwrap();
    let template = server.datafile_url_template();
    let output = run(&[
        "datafile",
        "inspect",
        "--sdk-key",
        "cli-key",
        "--datafile-url-template",
        &template,
        "--json",
    ]);
    assert!(output.status.success(), "{}", stderr(&output));
    let summary: serde_json::Value = serde_json::from_str(&stdout(&output)).unwrap();
    assert_eq!(summary["flags"], 3);
}

#[test]
fn unknown_sdk_key_fails_with_a_message() {
    let server = DevServer::start(DevServerConfig::default()).unwrap();
    let template = server.datafile_url_template();
    let output = run(&[
        "datafile",
        "inspect",
        "--sdk-key",
        "missing",
        "--datafile-url-template",
        &template,
        "--ready-timeout",
        "1",
    ]);
    assert_eq!(output.status.code(), Some(1));
    assert!(
        stderr(&output).contains("error: client not ready"),
        "{}",
        stderr(&output)
    );
}

#[test]
fn missing_file_is_an_error() {
    let output = run(&[
        "datafile",
        "inspect",
        "--datafile",
        "/no/such/datafile.json",
    ]);
    assert_eq!(output.status.code(), Some(1));
    assert!(stderr(&output).contains("/no/such/datafile.json"));
}

#[test]
fn bad_json_is_an_error() {
    let dir = std::env::temp_dir().join(format!("ofx-cli-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("bad.json");
    std::fs::write(&path, "{\"version\": ").unwrap();
    let output = run(&["datafile", "inspect", "--datafile", path.to_str().unwrap()]);
    assert_eq!(output.status.code(), Some(1));
    assert!(stderr(&output).contains("malformed"), "{}", stderr(&output));
}

#[test]
fn unsupported_version_is_an_error() {
    let path = fixture("js-test_data.unsupportedVersionConfig.json");
    let output = run(&["datafile", "inspect", "--datafile", &path]);
    assert_eq!(output.status.code(), Some(1));
    assert!(stderr(&output).contains("version"), "{}", stderr(&output));
}

#[test]
fn unknown_flag_and_missing_source_are_usage_errors() {
    let output = run(&["datafile", "inspect", "--bogus"]);
    assert_eq!(output.status.code(), Some(2));
    assert!(stderr(&output).contains("--bogus"));
    let output = run(&["datafile", "inspect"]);
    assert_eq!(output.status.code(), Some(2));
    let output = run(&[
        "datafile",
        "inspect",
        "--datafile",
        "a.json",
        "--sdk-key",
        "k",
    ]);
    assert_eq!(output.status.code(), Some(2));
}

#[test]
fn demo_runs_offline_and_exits_zero() {
    let output = run(&["demo"]);
    assert!(output.status.success(), "{}", stderr(&output));
    let text = stdout(&output);
    assert!(text.contains("revision 1: 3 flags"), "{text}");
    assert!(
        text.contains("vip_banner: enabled=false variation=off"),
        "off before the events: {text}"
    );
    assert!(
        text.contains("alice qualifies for [\"frequent_buyers\"]"),
        "{text}"
    );
    assert!(
        text.contains("vip_banner: enabled=true variation=on rule=frequent_buyers_rule"),
        "on after the fetch: {text}"
    );
    assert!(text.contains("ODP events: 3"), "{text}");
    assert!(text.contains("impressions: 4"), "{text}");
    assert!(text.contains("conversions: 1"), "{text}");
}
