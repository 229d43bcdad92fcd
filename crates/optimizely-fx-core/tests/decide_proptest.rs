//! Property tests: decide never panics, whatever the attributes, on every fixture datafile;
//! audience conditions of any JSON shape compile and evaluate without panicking.

mod decide_support;

use decide_support::{DATAFILE_DIR, GOLDEN_DIR};
use optimizely_fx_core::ProjectConfig;
use optimizely_fx_core::decide::{
    AttributeValue, Attributes, DecideOptions, Decider, ForcedDecisionKey, UserData, UserProfile,
};
use optimizely_fx_core::diagnostics::LogLine;
use proptest::prelude::*;
use serde_json::{Value, json};
use std::sync::OnceLock;

/// Every fixture datafile that parses, with the attribute names its audiences use.
fn fixtures() -> &'static [(String, ProjectConfig, Vec<String>)] {
    static FIXTURES: OnceLock<Vec<(String, ProjectConfig, Vec<String>)>> = OnceLock::new();
    FIXTURES.get_or_init(|| {
        let mut paths: Vec<_> = std::fs::read_dir(DATAFILE_DIR)
            .unwrap()
            .map(|e| e.unwrap().path())
            .filter(|p| p.extension().is_some_and(|e| e == "json"))
            .collect();
        paths.push(format!("{GOLDEN_DIR}/conditions-datafile.json").into());
        paths.sort();
        paths
            .into_iter()
            .filter_map(|path| {
                let config = ProjectConfig::parse(&std::fs::read_to_string(&path).unwrap()).ok()?;
                let mut names: Vec<String> = config
                    .audiences()
                    .flat_map(|a| a.conditions().leaves())
                    .filter_map(|leaf| leaf.name().map(str::to_owned))
                    .collect();
                names.sort();
                names.dedup();
                names.push("$opt_bucketing_id".to_owned());
                Some((path.display().to_string(), config, names))
            })
            .collect()
    })
}

fn attribute_value() -> impl Strategy<Value = AttributeValue> {
    prop_oneof![
        any::<String>().prop_map(AttributeValue::String),
        "[0-9]{1,2}(\\.[0-9]{1,2}){0,3}(-[a-z]{1,4})?".prop_map(AttributeValue::String),
        any::<i64>().prop_map(AttributeValue::Int),
        (-100i64..100).prop_map(AttributeValue::Int),
        any::<f64>().prop_map(AttributeValue::Float),
        any::<bool>().prop_map(AttributeValue::Bool),
        Just(AttributeValue::Null),
    ]
}

fn options() -> impl Strategy<Value = DecideOptions> {
    (any::<bool>(), any::<bool>(), any::<bool>(), any::<bool>()).prop_map(|(a, b, c, d)| {
        let mut options = DecideOptions::NONE;
        for (on, option) in [
            (a, DecideOptions::INCLUDE_REASONS),
            (b, DecideOptions::ENABLED_FLAGS_ONLY),
            (c, DecideOptions::EXCLUDE_VARIABLES),
            (d, DecideOptions::IGNORE_USER_PROFILE_SERVICE),
        ] {
            if on {
                options |= option;
            }
        }
        options
    })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn decide_never_panics_on_fixtures(
        fixture in any::<prop::sample::Index>(),
        user_id in any::<String>(),
        picks in prop::collection::vec((any::<prop::sample::Index>(), attribute_value()), 0..8),
        extra in prop::collection::vec((any::<String>(), attribute_value()), 0..3),
        segments in prop::option::of(prop::collection::vec("[a-z0-9-]{0,12}", 0..4)),
        forced in prop::option::of((any::<prop::sample::Index>(), any::<prop::sample::Index>(), any::<bool>())),
        options in options(),
    ) {
        let (_, config, names) = &fixtures()[fixture.index(fixtures().len())];
        let mut attributes = Attributes::new();
        for (name, value) in picks {
            attributes.insert(names[name.index(names.len())].clone(), value);
        }
        for (name, value) in extra {
            attributes.insert(name, value);
        }
        let mut user = UserData::with_attributes(user_id.clone(), attributes);
        user.qualified_segments = segments;
        if let (Some((flag, variation, rule_level)), false) = (forced, config.flag_count() == 0) {
            let flag = config.flags().nth(flag.index(config.flag_count())).unwrap();
            let rule = flag.rules().next().map(|r| config.experiment(r).key().to_owned());
            let key = match (rule_level, rule) {
                (true, Some(rule)) => ForcedDecisionKey::rule(flag.key(), rule),
                _ => ForcedDecisionKey::flag(flag.key()),
            };
            let variations = flag.variations();
            let variation_key = if variations.is_empty() { "none".to_owned() } else {
                config.variation(variations[variation.index(variations.len())]).key().to_owned()
            };
            user.forced_decisions.set(key, variation_key);
        }
        let mut profile = UserProfile::new(user_id);
        let mut log: Vec<LogLine> = Vec::new();
        let decisions = Decider::new(config, &user).options(options).profile(Some(&mut profile)).log(&mut log).decide_all();
        prop_assert!(decisions.len() <= config.flag_count());
    }
}

fn json_leaf_value() -> impl Strategy<Value = Value> {
    prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(Value::from),
        any::<f64>()
            .prop_map(|x| serde_json::Number::from_f64(x).map_or(Value::Null, Value::Number)),
        "[a-z0-9.+-]{0,8}".prop_map(Value::String),
        Just(json!([1, "x"])),
        Just(json!({"a": 1})),
    ]
}

fn condition_leaf() -> impl Strategy<Value = Value> {
    let types = prop_oneof![
        Just("custom_attribute"),
        Just("third_party_dimension"),
        Just("weird")
    ];
    let matches = prop_oneof![
        Just(None),
        Just(Some("exact")),
        Just(Some("exists")),
        Just(Some("substring")),
        Just(Some("gt")),
        Just(Some("ge")),
        Just(Some("lt")),
        Just(Some("le")),
        Just(Some("semver_eq")),
        Just(Some("semver_gt")),
        Just(Some("semver_ge")),
        Just(Some("semver_lt")),
        Just(Some("semver_le")),
        Just(Some("qualified")),
        Just(Some("nope")),
    ];
    let names = prop_oneof![Just("a"), Just("b"), Just("c")];
    prop_oneof![
        4 => (types, matches, names, json_leaf_value()).prop_map(|(t, m, n, v)| {
            let mut leaf = json!({"type": t, "name": n, "value": v});
            if let Some(m) = m {
                leaf["match"] = json!(m);
            }
            leaf
        }),
        1 => json_leaf_value(),
    ]
}

fn condition_tree() -> impl Strategy<Value = Value> {
    condition_leaf().prop_recursive(5, 40, 5, |inner| {
        let operator = prop_oneof![
            Just(json!("and")),
            Just(json!("or")),
            Just(json!("not")),
            Just(json!("other"))
        ];
        (
            prop::option::of(operator),
            prop::collection::vec(inner, 0..5),
        )
            .prop_map(|(op, items)| {
                let mut array: Vec<Value> = op.into_iter().collect();
                array.extend(items);
                Value::Array(array)
            })
    })
}

fn attribute_for_conditions() -> impl Strategy<Value = AttributeValue> {
    prop_oneof![
        "[a-z0-9.+-]{0,8}".prop_map(AttributeValue::String),
        any::<i64>().prop_map(AttributeValue::Int),
        any::<f64>().prop_map(AttributeValue::Float),
        any::<bool>().prop_map(AttributeValue::Bool),
        Just(AttributeValue::Null),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn arbitrary_conditions_compile_and_evaluate(
        conditions in condition_tree(),
        audience_conditions in prop::option::of(condition_tree()),
        legacy in "[\\[\\]{}\",:a-z0-9 ]{0,40}",
        attributes in prop::collection::vec((prop_oneof![Just("a"), Just("b"), Just("c")], attribute_for_conditions()), 0..4),
        segments in prop::option::of(prop::collection::vec("[a-z0-9.+-]{0,8}", 0..3)),
    ) {
        let mut rule = json!({"id": "r1", "key": "r1", "status": "Running", "layerId": "l",
            "audienceIds": ["typed", "legacy", "missing"],
            "variations": [{"id": "v1", "key": "on", "featureEnabled": true}],
            "trafficAllocation": [{"entityId": "v1", "endOfRange": 10000}]});
        if let Some(tree) = audience_conditions {
            rule["audienceConditions"] = tree;
        }
        let datafile = json!({
            "version": "4", "accountId": "1", "projectId": "2", "revision": "3",
            "typedAudiences": [{"id": "typed", "name": "t", "conditions": conditions}],
            "audiences": [{"id": "legacy", "name": "l", "conditions": legacy}],
            "rollouts": [{"id": "ro", "experiments": [rule]}],
            "featureFlags": [{"id": "f", "key": "f", "rolloutId": "ro", "experimentIds": [], "variables": []}]
        });
        // Odd conditions are accepted (they evaluate to unknown), never a reason to reject.
        let parsed = ProjectConfig::parse(&datafile.to_string());
        prop_assert!(parsed.is_ok(), "{:?}", parsed.err());
        if let Ok(config) = parsed {
            let mut user = UserData::with_attributes("u", attributes.into_iter().collect::<Attributes>());
            user.qualified_segments = segments;
            let mut log: Vec<LogLine> = Vec::new();
            let decision = Decider::new(&config, &user)
                .options(DecideOptions::INCLUDE_REASONS)
                .log(&mut log)
                .decide("f");
            prop_assert_eq!(decision.flag_key, "f");
            prop_assert!(decision.reasons.len() >= 2);
        }
    }
}
