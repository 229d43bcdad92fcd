//! `optimizely-fx bench decide`: one JSON line whose counts match the SDK's own decisions.

use std::collections::BTreeMap;
use std::process::{Command, Output};

use optimizely_fx::{Attributes, Client, DecideOption};
use serde_json::Value;

const DATAFILE: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../../tests/fixtures/datafiles/rs-sandbox.json"
);

fn bench(args: &[&str]) -> Output {
    let mut all = vec!["bench", "decide", "--datafile", DATAFILE];
    all.extend_from_slice(args);
    Command::new(env!("CARGO_BIN_EXE_optimizely-fx"))
        .args(&all)
        .output()
        .expect("the binary runs")
}

/// How many of `user0..user{n-1}` get each variation, decided through the SDK directly.
fn expected_histogram(flag: &str, n: u64) -> (BTreeMap<String, u64>, u64) {
    let client = Client::builder()
        .datafile(std::fs::read_to_string(DATAFILE).unwrap())
        .default_decide_options(&[DecideOption::DisableDecisionEvent])
        .build()
        .unwrap();
    let mut variations = BTreeMap::new();
    let mut none = 0;
    for i in 0..n {
        let decision = client
            .create_user_context(format!("user{i}"), Attributes::new())
            .decide(flag, &[]);
        match decision.variation_key {
            Some(key) => *variations.entry(key).or_insert(0) += 1,
            None => none += 1,
        }
    }
    (variations, none)
}

#[test]
fn one_json_line_with_rates_and_the_variation_histogram() {
    let output = bench(&["--flag", "a_b_test", "--n", "3000"]);
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let stdout = String::from_utf8_lossy(&output.stdout);
    let lines: Vec<&str> = stdout.lines().collect();
    assert_eq!(lines.len(), 1, "{stdout}");
    let report: Value = serde_json::from_str(lines[0]).unwrap();
    assert_eq!(report["n"], 3000);
    assert_eq!(report["flag"], "a_b_test");
    for field in ["elapsed_s", "decisions_per_s", "ns_per_decision", "init_s"] {
        let value = report[field]
            .as_f64()
            .unwrap_or_else(|| panic!("{field} in {report}"));
        assert!(value > 0.0, "{field} = {value}");
    }
    let elapsed = report["elapsed_s"].as_f64().unwrap();
    let rate = report["decisions_per_s"].as_f64().unwrap();
    assert!(
        (rate * elapsed - 3000.0).abs() < 1.0,
        "rate and elapsed agree"
    );
    let (variations, none) = expected_histogram("a_b_test", 3000);
    let reported: BTreeMap<String, u64> =
        serde_json::from_value(report["variations"].clone()).unwrap();
    assert_eq!(reported, variations);
    assert_eq!(report["no_variation"], none);
    assert!(
        variations.len() > 1,
        "users spread over variations: {variations:?}"
    );
}

#[test]
fn an_unknown_flag_or_zero_decisions_is_an_error() {
    let unknown = bench(&["--flag", "no_such_flag", "--n", "10"]);
    assert!(!unknown.status.success());
    assert!(
        String::from_utf8_lossy(&unknown.stderr)
            .contains("flag \"no_such_flag\" is not in the datafile")
    );
    assert!(unknown.stdout.is_empty());
    let zero = bench(&["--flag", "a_b_test", "--n", "0"]);
    assert!(!zero.status.success());
}
