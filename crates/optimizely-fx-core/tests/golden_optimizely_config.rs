//! OptimizelyConfig against the expected outputs shipped with the Go SDK's tests, plus the
//! audience-expression serialisation rules.

mod decide_support;

use decide_support::{DATAFILE_DIR, json_eq};
use optimizely_fx_core::ProjectConfig;
use optimizely_fx_core::optimizely_config::OptimizelyConfig;
use serde_json::{Value, json};

/// Audience `conditions` are JSON text whose key order differs between SDKs: compare parsed.
fn normalise(mut view: Value) -> Value {
    if let Some(audiences) = view["audiences"].as_array_mut() {
        for audience in audiences {
            let text = audience["conditions"]
                .as_str()
                .unwrap_or_default()
                .to_owned();
            audience["conditions"] = serde_json::from_str(&text).unwrap_or(Value::String(text));
        }
    }
    view
}

#[test]
fn matches_the_expected_outputs() {
    for name in [
        "go-optimizely_config",
        "go-similar_exp_keys",
        "go-similar_rule_keys_bucketing",
    ] {
        let datafile =
            std::fs::read_to_string(format!("{DATAFILE_DIR}/{name}_datafile.json")).unwrap();
        let expected: Value = serde_json::from_str(
            &std::fs::read_to_string(format!("{DATAFILE_DIR}/{name}_expected.json")).unwrap(),
        )
        .unwrap();
        let config = ProjectConfig::parse(&datafile).unwrap();
        let actual = serde_json::to_value(OptimizelyConfig::new(&config)).unwrap();
        let (actual, expected) = (normalise(actual), normalise(expected));
        assert!(
            json_eq(&actual, &expected),
            "{name}\nexpected {expected:#}\nactual   {actual:#}"
        );
    }
}

/// The serialisation vectors of the JavaScript SDK's tests, on its typed-audiences datafile.
#[test]
fn audience_expressions() {
    let cases: [(Value, &str); 13] = [
        (
            json!(["or", "3468206642", "3988293898"]),
            r#""exactString" OR "substringString""#,
        ),
        (
            json!(["or", "3468206642", "3988293898", "3468206646"]),
            r#""exactString" OR "substringString" OR "exactNumber""#,
        ),
        (json!(["not", "3468206642"]), r#"NOT "exactString""#),
        (json!(["or", "3468206642"]), r#""exactString""#),
        (json!(["and", "3468206642"]), r#""exactString""#),
        (json!(["3468206642"]), r#""exactString""#),
        (
            json!(["3468206642", "3988293898"]),
            r#""exactString" OR "substringString""#,
        ),
        (
            json!(["and", ["or", "3468206642", "3988293898"], "3468206646"]),
            r#"("exactString" OR "substringString") AND "exactNumber""#,
        ),
        (
            json!([
                "and",
                ["or", "3468206642", ["and", "3988293898", "3468206646"]],
                ["and", "3988293899", ["or", "3468206647", "3468206643"]]
            ]),
            r#"("exactString" OR ("substringString" AND "exactNumber")) AND ("exists" AND ("gtNumber" OR "exactBoolean"))"#,
        ),
        (json!(["and", "and"]), ""),
        (
            json!(["not", ["and", "3468206642", "3988293898"]]),
            r#"NOT ("exactString" AND "substringString")"#,
        ),
        (json!([]), ""),
        (
            json!(["or", "3468206642", "999999999"]),
            r#""exactString" OR "999999999""#,
        ),
    ];
    let text = std::fs::read_to_string(format!(
        "{DATAFILE_DIR}/js-test_data.typedAudiencesConfig.json"
    ))
    .unwrap();
    let mut datafile: Value = serde_json::from_str(&text).unwrap();
    datafile["experiments"] = cases
        .iter()
        .enumerate()
        .map(|(i, (conditions, _))| {
            json!({"id": format!("e{i}"), "key": format!("e{i}"), "status": "Running", "layerId": "l",
                   "audienceIds": [], "audienceConditions": conditions, "variations": [], "trafficAllocation": []})
        })
        .collect();
    datafile["groups"] = json!([]);
    datafile["featureFlags"] = json!([]);
    let config = ProjectConfig::parse(&datafile.to_string()).unwrap();
    let view = OptimizelyConfig::new(&config);
    for (i, (conditions, expected)) in cases.iter().enumerate() {
        assert_eq!(
            view.experiments_map[&format!("e{i}")].audiences,
            *expected,
            "{conditions}"
        );
    }
}

#[test]
fn javascript_expectations_on_its_feature_datafile() {
    let text = std::fs::read_to_string(format!(
        "{DATAFILE_DIR}/js-test_data.configWithFeatures.json"
    ))
    .unwrap();
    let config = ProjectConfig::parse(&text).unwrap();
    let view = OptimizelyConfig::new(&config);
    assert_eq!(view.features_map.len(), 9);
    assert_eq!(
        view.experiments_map.len(),
        12,
        "all experiments except delivery rules"
    );
    let rules = &view.features_map["test_feature"].delivery_rules;
    assert_eq!(
        rules.iter().map(|r| r.id.as_str()).collect::<Vec<_>>(),
        ["594031", "594037"]
    );
    let enabled = &rules[0].variations_map["594032"];
    assert!(enabled.feature_enabled);
    let value = |name: &str| enabled.variables_map[name].value.as_str();
    assert_eq!(
        (value("lasers"), value("message")),
        ("395", "Hello audience")
    );
    assert_eq!(enabled.variables_map["message_info"].variable_type, "json");
    assert_eq!(
        view.features_map["test_feature"].variables_map["lasers"].value,
        "400"
    );

    let text = std::fs::read_to_string(format!(
        "{DATAFILE_DIR}/js-test_data.duplicateExperimentKeyConfig.json"
    ))
    .unwrap();
    let datafile: Value = serde_json::from_str(&text).unwrap();
    let config = ProjectConfig::parse(&text).unwrap();
    let view = OptimizelyConfig::new(&config);
    let experiments = datafile["experiments"].as_array().unwrap();
    assert_eq!(
        view.experiments_map["experiment_rule"].id,
        experiments[experiments.len() - 1]["id"]
    );
}
