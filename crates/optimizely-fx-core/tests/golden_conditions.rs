//! The 242 audience-condition cases: each flag of `conditions-datafile.json` has a rule that
//! matches when the condition is true (`pos`), one for `not` of it (`neg`), and Everyone Else
//! (`unk`), so the decided variation tells the three-valued result.

mod decide_support;

use decide_support::{Configs, golden_cases, user_from_case};
use optimizely_fx_core::decide::{DecideOptions, decide};
use serde_json::Value;

fn variation_for(expected: &Value) -> &'static str {
    match expected {
        Value::Bool(true) => "pos",
        Value::Bool(false) => "neg",
        _ => "unk",
    }
}

#[test]
fn every_condition_case_matches() {
    let cases = golden_cases("conditions-cases.json");
    assert_eq!(cases.len(), 242, "conditions-cases.json case count");
    let mut configs = Configs::default();
    let config = configs.get("conditions-datafile.json");
    let mut failures = Vec::new();
    for case in &cases {
        let flag = case["flag"].as_str().unwrap();
        let mut case_with_user = case.clone();
        case_with_user["user_id"] = Value::from("user1");
        let user = user_from_case(&case_with_user, "user_id");
        let decision = decide(
            config,
            &user,
            flag,
            DecideOptions::DISABLE_DECISION_EVENT,
            None,
        );
        let wanted = variation_for(&case["expected"]);
        if decision.variation_key.as_deref() != Some(wanted) {
            failures.push(format!(
                "case {} flag {flag} attributes {} segments {}: expected {wanted}, got {:?}",
                case["case"],
                case["attributes"],
                case.get("qualified_segments").unwrap_or(&Value::Null),
                decision.variation_key
            ));
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {} condition cases differ:\n{}",
        failures.len(),
        cases.len(),
        failures.join("\n")
    );
}
