//! The whole decide golden corpus: `decideAll([DISABLE_DECISION_EVENT])` for 3,818 user cases
//! over the fixture datafiles, 12,704 flag decisions, as produced by the official SDKs.

mod decide_support;

use decide_support::{Configs, decision_tuple, golden_cases, json_eq, user_from_case};
use optimizely_fx_core::decide::{DecideOptions, decide_all};
use serde_json::Value;

#[test]
fn every_golden_decision_matches() {
    let cases = golden_cases("decide-golden.json");
    assert_eq!(cases.len(), 3_818, "decide-golden.json case count");
    let mut configs = Configs::default();
    let (mut checked, mut failures) = (0usize, Vec::new());
    for case in &cases {
        let datafile = case["datafile"].as_str().unwrap();
        let config = configs.get(datafile);
        let user = user_from_case(case, "user_id");
        let decisions = decide_all(config, &user, DecideOptions::DISABLE_DECISION_EVENT, None);
        let expected = case["decisions"].as_object().unwrap();
        assert_eq!(
            decisions.len(),
            expected.len(),
            "flag count differs for {datafile}"
        );
        for decision in &decisions {
            checked += 1;
            let actual = decision_tuple(decision);
            let wanted = expected.get(&decision.flag_key).unwrap_or(&Value::Null);
            if !json_eq(&actual, wanted) {
                failures.push(format!(
                    "datafile {datafile} user {:?} attributes {} segments {} flag {}\n  expected {wanted}\n  actual   {actual}",
                    case["user_id"],
                    case["attributes"],
                    case.get("qualified_segments").unwrap_or(&Value::Null),
                    decision.flag_key
                ));
            }
        }
    }
    assert_eq!(checked, 12_704, "decision count");
    assert!(
        failures.is_empty(),
        "{} of {checked} golden decisions differ:\n{}",
        failures.len(),
        failures
            .iter()
            .take(25)
            .cloned()
            .collect::<Vec<_>>()
            .join("\n")
    );
}
