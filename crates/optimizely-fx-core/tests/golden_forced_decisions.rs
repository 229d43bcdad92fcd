//! The 177 forced-decision cases: flag-level and rule-level forced decisions, valid and
//! invalid variation keys, on experiment and delivery rules.

mod decide_support;

use decide_support::{Configs, decision_tuple, golden_cases, json_eq, user_from_case};
use optimizely_fx_core::decide::{DecideOptions, ForcedDecisionKey, decide};

#[test]
fn every_forced_decision_case_matches() {
    let cases = golden_cases("forced-decisions-golden.json");
    assert_eq!(cases.len(), 177, "forced-decisions-golden.json case count");
    let mut configs = Configs::default();
    let mut failures = Vec::new();
    for case in &cases {
        let config = configs.get(case["datafile"].as_str().unwrap());
        let mut user = user_from_case(case, "user_id");
        for forced in case["forced"].as_array().unwrap() {
            let flag_key = forced["flagKey"].as_str().unwrap();
            let key = match forced.get("ruleKey").and_then(|k| k.as_str()) {
                Some(rule_key) => ForcedDecisionKey::rule(flag_key, rule_key),
                None => ForcedDecisionKey::flag(flag_key),
            };
            user.forced_decisions
                .set(key, forced["variationKey"].as_str().unwrap());
        }
        let flag = case["flag"].as_str().unwrap();
        let decision = decide(
            config,
            &user,
            flag,
            DecideOptions::DISABLE_DECISION_EVENT,
            None,
        );
        let actual = decision_tuple(&decision);
        if !json_eq(&actual, &case["expected"]) {
            failures.push(format!("{case}\n  actual {actual}"));
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {} forced-decision cases differ:\n{}",
        failures.len(),
        cases.len(),
        failures.join("\n")
    );
}
