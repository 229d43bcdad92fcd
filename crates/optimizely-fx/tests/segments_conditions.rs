//! The `qualified` condition cases of the golden corpus, with the segments fetched from ODP
//! (the dev server) instead of set by hand: fetch, then decide.

mod segments_support;

use optimizely_fx::{DecideOption, SegmentOption};
use segments_support::*;

const CASES: &str = include_str!("../../../tests/fixtures/golden/conditions-cases.json");
const DATAFILE: &str = include_str!("../../../tests/fixtures/golden/conditions-datafile.json");

#[test]
fn golden_qualified_cases_decide_the_same_after_a_real_fetch() {
    let cases: serde_json::Value = serde_json::from_str(CASES).unwrap();
    let qualified: Vec<&serde_json::Value> = cases["cases"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|case| case.get("qualified_segments").is_some())
        .collect();
    assert!(!qualified.is_empty());

    let server = server_with(DATAFILE);
    let client = ready(builder(&server));
    let used = client
        .config()
        .unwrap()
        .odp()
        .unwrap()
        .segments_to_check
        .clone();
    assert!(!used.is_empty());
    for case in qualified {
        let segments: Vec<String> =
            serde_json::from_value(case["qualified_segments"].clone()).unwrap();
        server.set_segments("user1", segments.clone());
        let mut user = client.create_user_context("user1", Vec::<(String, String)>::new());
        user.fetch_qualified_segments(&[SegmentOption::IgnoreCache])
            .unwrap_or_else(|e| panic!("fetch for {case}: {e}"));
        // ODP answers only about the segments the datafile's audiences use, in that order.
        let wanted: Vec<String> = used
            .iter()
            .filter(|segment| segments.contains(segment))
            .cloned()
            .collect();
        assert_eq!(user.qualified_segments(), Some(wanted), "{case}");

        let flag = case["flag"].as_str().unwrap();
        let decision = user.decide(flag, &[DecideOption::DisableDecisionEvent]);
        let expected = match case["expected"].as_bool() {
            Some(true) => "pos",
            Some(false) => "neg",
            None => "unk",
        };
        assert_eq!(decision.variation_key.as_deref(), Some(expected), "{case}");
    }
}
