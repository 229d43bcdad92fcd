//! `ProjectConfig::parse` never panics, whatever it is given.

use optimizely_fx_core::ProjectConfig;
use proptest::prelude::*;
use serde_json::{Map, Value, json};

fn any_json() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(|n| json!(n)),
        any::<f64>()
            .prop_filter("finite", |x| x.is_finite())
            .prop_map(|x| json!(x)),
        prop_oneof![
            "[a-z0-9_$]{0,8}",
            Just("and".to_owned()),
            Just("or".to_owned()),
            Just("not".to_owned()),
            Just("Running".to_owned()),
            Just("qualified".to_owned()),
            Just("custom_attribute".to_owned()),
            Just("third_party_dimension".to_owned()),
            Just("fr".to_owned()),
            Just("odp".to_owned()),
        ]
        .prop_map(Value::String),
    ];
    leaf.prop_recursive(6, 64, 8, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..8).prop_map(Value::Array),
            prop::collection::vec((field_name(), inner), 0..8)
                .prop_map(|fields| Value::Object(fields.into_iter().collect::<Map<_, _>>())),
        ]
    })
}

/// Field names of the datafile schema, so random objects often look like real entities.
fn field_name() -> impl Strategy<Value = String> {
    prop_oneof![
        Just("id"),
        Just("key"),
        Just("status"),
        Just("layerId"),
        Just("variations"),
        Just("trafficAllocation"),
        Just("entityId"),
        Just("endOfRange"),
        Just("audienceIds"),
        Just("audienceConditions"),
        Just("forcedVariations"),
        Just("featureEnabled"),
        Just("variables"),
        Just("value"),
        Just("type"),
        Just("match"),
        Just("name"),
        Just("conditions"),
        Just("experiments"),
        Just("experimentIds"),
        Just("rolloutId"),
        Just("policy"),
        Just("includedRules"),
        Just("defaultValue"),
        Just("subType"),
        Just("publicKey"),
        Just("host"),
    ]
    .prop_map(str::to_owned)
}

const TOP_LEVEL_FIELDS: [&str; 14] = [
    "experiments",
    "groups",
    "featureFlags",
    "rollouts",
    "audiences",
    "typedAudiences",
    "attributes",
    "events",
    "integrations",
    "holdouts",
    "localHoldouts",
    "botFiltering",
    "region",
    "version",
];

/// A valid-looking datafile whose fields are replaced by random JSON.
fn mutated_datafile() -> impl Strategy<Value = String> {
    let fields = prop::collection::vec(
        (
            prop::sample::select(TOP_LEVEL_FIELDS.as_slice()),
            any_json(),
        ),
        0..6,
    );
    fields.prop_map(|fields| {
        let mut datafile =
            json!({"version": "4", "accountId": "1", "projectId": "2", "revision": "3"});
        for (field, value) in fields {
            // Wrap in an array half the time so entity-shaped objects reach entity parsing.
            let value = match value {
                Value::Object(_) if field != "version" => Value::Array(vec![value]),
                other => other,
            };
            datafile[field] = value;
        }
        datafile.to_string()
    })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn arbitrary_text_never_panics(text in "\\PC{0,200}") {
        let _ = ProjectConfig::parse(&text);
    }

    #[test]
    fn json_ish_text_never_panics(text in r#"[\[\]{}",:0-9a-z\\ .eE+-]{0,200}"#) {
        let _ = ProjectConfig::parse(&text);
    }

    #[test]
    fn arbitrary_json_values_never_panic(value in any_json()) {
        let _ = ProjectConfig::parse(&value.to_string());
    }

    #[test]
    fn mutated_datafiles_never_panic(text in mutated_datafile()) {
        if let Ok(config) = ProjectConfig::parse(&text) {
            // Every index handed out resolves.
            for flag in config.flags() {
                for rule in flag.rules() {
                    let _ = config.experiment(rule);
                }
                for &variation in flag.variations() {
                    let _ = config.variation(variation);
                }
            }
            for experiment in config.experiments() {
                for range in experiment.traffic_allocation().iter() {
                    if let Some(v) = range.target() {
                        let _ = config.variation(v);
                    }
                }
            }
        }
    }
}
