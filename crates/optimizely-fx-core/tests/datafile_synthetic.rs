//! Datafiles built in the tests: rejection rules, condition compilation, feature-rollout
//! injection, local holdouts, size and nesting limits.

mod support {
    pub mod generate;
}

use optimizely_fx_core::condition::{
    AudienceRef, Condition, ConditionLeaf, ConditionTree, ConditionType, ConditionValue,
    LeafCondition, LeafKind, MAX_CONDITION_DEPTH, MatchType,
};
use optimizely_fx_core::config::Region;
use optimizely_fx_core::datafile::MAX_JSON_DEPTH;
use optimizely_fx_core::{DatafileError, DatafileVersion, DatafileWarning, ProjectConfig};
use serde_json::{Value, json};

fn base() -> Value {
    json!({"version": "4", "accountId": "1", "projectId": "2", "revision": "3"})
}

fn with(mut datafile: Value, field: &str, value: Value) -> Value {
    datafile[field] = value;
    datafile
}

fn parse(datafile: &Value) -> Result<ProjectConfig, DatafileError> {
    ProjectConfig::parse(&datafile.to_string())
}

fn parse_ok(datafile: &Value) -> ProjectConfig {
    parse(datafile).unwrap_or_else(|e| panic!("{e}"))
}

fn experiment(id: &str, key: &str, variations: &[(&str, &str)]) -> Value {
    let allocation: Vec<Value> = variations
        .iter()
        .map(|(id, _)| json!({"entityId": id, "endOfRange": 5000}))
        .collect();
    let variations: Vec<Value> = variations
        .iter()
        .map(|(id, key)| json!({"id": id, "key": key, "featureEnabled": true}))
        .collect();
    json!({
        "id": id, "key": key, "status": "Running", "layerId": format!("layer-{id}"),
        "audienceIds": [], "forcedVariations": {},
        "variations": variations, "trafficAllocation": allocation
    })
}

// ----- acceptance and rejection -----

#[test]
fn a_minimal_datafile_has_empty_collections() {
    let config = parse_ok(&base());
    assert_eq!(config.version(), DatafileVersion::V4);
    assert_eq!(config.account_id(), "1");
    assert_eq!(config.project_id(), "2");
    assert_eq!(config.revision(), "3");
    assert_eq!(
        (
            config.flag_count(),
            config.experiment_count(),
            config.audience_count()
        ),
        (0, 0, 0)
    );
    assert!(config.odp().is_none());
    assert!(!config.anonymize_ip());
    assert_eq!(config.bot_filtering(), None);
    assert!(config.warnings().is_empty());
}

#[test]
fn versions_2_and_3_are_accepted_and_others_rejected() {
    for (version, expected) in [("2", DatafileVersion::V2), ("3", DatafileVersion::V3)] {
        let config = parse_ok(&with(base(), "version", json!(version)));
        assert_eq!(config.version(), expected);
    }
    for version in ["1", "5", "", "4.0"] {
        let err = parse(&with(base(), "version", json!(version))).unwrap_err();
        assert_eq!(
            err.to_string(),
            format!(
                "This version of the Rust SDK does not support the given datafile version: {version}"
            )
        );
    }
}

#[test]
fn an_unsupported_version_wins_over_shape_errors() {
    let future = with(with(base(), "version", json!("5")), "experiments", json!(5));
    assert_eq!(
        parse(&future).unwrap_err(),
        DatafileError::UnsupportedVersion {
            version: "5".into()
        }
    );
}

#[test]
fn malformed_json_is_rejected_with_the_parser_position() {
    for text in [
        "",
        "{",
        "not json",
        r#"{"version": "4",}"#,
        r#"{"version": "4""#,
        "[1, 2",
    ] {
        let err = ProjectConfig::parse(text).unwrap_err();
        assert!(
            matches!(err, DatafileError::Malformed { .. }),
            "{text:?}: {err:?}"
        );
        let message = err.to_string();
        assert!(
            message.starts_with("Datafile is invalid because it is malformed."),
            "{message}"
        );
        assert!(message.contains("line 1 column"), "{message}");
    }
}

#[test]
fn wrong_field_types_name_the_property() {
    let cases = [
        (with(base(), "experiments", json!(5)), "experiments"),
        (with(base(), "version", json!(4)), "version"),
        (with(base(), "anonymizeIP", json!("yes")), "anonymizeIP"),
        (
            with(
                base(),
                "experiments",
                json!([{"id": "1", "key": "e", "variations": [
                    {"id": "2", "key": "v", "featureEnabled": "yes"}
                ]}]),
            ),
            "experiments[0].variations[0].featureEnabled",
        ),
        (
            with(
                base(),
                "featureFlags",
                json!([{"id": "1", "key": "f", "experimentIds": [true]}]),
            ),
            "featureFlags[0].experimentIds[0]",
        ),
        (
            with(
                base(),
                "rollouts",
                json!([{"id": "1", "experiments": [{"id": "2", "key": "r",
                    "trafficAllocation": [{"entityId": "3", "endOfRange": "10000"}]}]}]),
            ),
            "rollouts[0].experiments[0].trafficAllocation[0].endOfRange",
        ),
        (
            with(
                base(),
                "experiments",
                json!([{"id": "1", "key": "e", "forcedVariations": {"qa": "a", "dev": false}}]),
            ),
            "experiments[0].forcedVariations.dev",
        ),
        (
            with(
                base(),
                "attributes",
                json!([{"id": "1", "key": "a"}, ["2", {"nested": true}]]),
            ),
            "attributes[1][1]",
        ),
    ];
    for (datafile, path) in cases {
        let err = parse(&datafile).unwrap_err();
        let DatafileError::InvalidProperty { path: found, .. } = &err else {
            panic!("{path}: {err:?}");
        };
        assert_eq!(found, path);
        assert!(
            err.to_string()
                .starts_with(&format!("Datafile is invalid - property {path}: ")),
            "{err}"
        );
    }
}

#[test]
fn missing_required_fields_and_non_objects_are_rejected() {
    let mut no_revision = base();
    no_revision.as_object_mut().unwrap().remove("revision");
    let err = parse(&no_revision).unwrap_err();
    assert!(
        err.to_string().starts_with(
            "Datafile is invalid - property datafile: missing field `revision` at line 1"
        ),
        "{err}"
    );
    for text in ["5", "[]", "null", r#""4""#, r#"["4", "1", "2", "3"]"#] {
        let err = ProjectConfig::parse(text).unwrap_err();
        assert!(
            matches!(err, DatafileError::InvalidProperty { .. }),
            "{text}: {err:?}"
        );
    }
}

#[test]
fn unknown_fields_are_ignored_and_null_collections_are_empty() {
    let datafile = json!({
        "version": "4", "accountId": "1", "projectId": "2", "revision": "3",
        "futureField": {"deep": [1, 2, {"x": null}]},
        "experiments": null, "featureFlags": null, "typedAudiences": null,
        "region": "EU"
    });
    let config = parse_ok(&datafile);
    assert_eq!(config.flag_count(), 0);
    assert_eq!(config.region(), Region::Eu);
    assert_eq!(
        parse_ok(&with(base(), "region", json!("APAC"))).region(),
        Region::Us
    );
}

#[test]
fn integrations_without_key_are_rejected() {
    for integration in [
        json!({"host": "h"}),
        json!({"key": null, "publicKey": "secret"}),
    ] {
        let err = parse(&with(base(), "integrations", json!([integration]))).unwrap_err();
        assert_eq!(err, DatafileError::MissingIntegrationKey);
    }
}

#[test]
fn odp_is_integrated_only_with_a_public_key_and_a_host_on_the_first_odp_entry() {
    let integrated = |integrations: Value| {
        parse_ok(&with(base(), "integrations", integrations))
            .odp()
            .cloned()
    };
    let odp = integrated(json!([
        {"key": "other", "host": "x", "publicKey": "y"},
        {"key": "odp", "host": "https://odp.example", "publicKey": "pk", "pixelUrl": ""}
    ]))
    .unwrap();
    assert_eq!(odp.host, "https://odp.example");
    assert_eq!(odp.public_key, "pk");
    assert_eq!(odp.pixel_url, None);
    assert!(integrated(json!([{"key": "odp", "host": "", "publicKey": "pk"}])).is_none());
    assert!(integrated(json!([{"key": "odp", "host": "h"}])).is_none());
    // Go/Python rule: the first odp entry is used wholesale.
    assert!(
        integrated(json!([
            {"key": "odp", "host": "h"},
            {"key": "odp", "host": "h", "publicKey": "pk"}
        ]))
        .is_none()
    );
}

// ----- numeric ids and traffic allocation -----

#[test]
fn numeric_ids_and_fractional_ranges_are_coerced() {
    let datafile = with(
        with(base(), "revision", json!(17)),
        "experiments",
        json!([{
            "id": 111, "key": "e", "status": "Running", "layerId": 222,
            "audienceIds": [333],
            "variations": [{"id": 444, "key": "v"}, {"id": "555", "key": "w"}],
            "trafficAllocation": [
                {"entityId": 444, "endOfRange": 2500.5},
                {"entityId": "", "endOfRange": 5000},
                {"entityId": "999", "endOfRange": 7000},
                {"entityId": "555", "endOfRange": -3},
                {"entityId": "555", "endOfRange": 1e12}
            ]
        }]),
    );
    let config = parse_ok(&datafile);
    assert_eq!(config.revision(), "17");
    let e = config.experiment(config.experiment_by_id("111").unwrap());
    assert_eq!(e.layer_id(), "222");
    let ranges: Vec<_> = e
        .traffic_allocation()
        .iter()
        .map(|r| {
            (
                r.end_of_range(),
                r.entity_id().to_owned(),
                r.target().is_some(),
            )
        })
        .collect();
    assert_eq!(
        ranges,
        [
            (2501, "444".to_owned(), true),
            (5000, String::new(), false),
            (7000, "999".to_owned(), false),
            (0, "555".to_owned(), true),
            (u32::MAX, "555".to_owned(), true),
        ]
    );
    assert!(
        !config
            .variation(config.variation_by_id("444").unwrap())
            .feature_enabled()
    );
    assert!(matches!(
        e.audiences().tree().unwrap().leaves()[..],
        [AudienceRef::Unknown(id)] if id == "333"
    ));
}

#[test]
fn duplicate_experiment_keys_resolve_to_the_last_one() {
    let datafile = with(
        base(),
        "experiments",
        json!([
            experiment("1", "same", &[("11", "a")]),
            experiment("2", "same", &[("21", "a")])
        ]),
    );
    let config = parse_ok(&datafile);
    let index = config.experiment_by_key("same").unwrap();
    assert_eq!(config.experiment(index).id(), "2");
    assert_eq!(config.experiment_count(), 2);
}

// ----- audiences and conditions -----

fn leaf<'c>(config: &'c ProjectConfig, audience_id: &str) -> LeafCondition<'c> {
    let audience = config.audience(config.audience_by_id(audience_id).unwrap());
    let leaves = audience.conditions().leaves();
    assert_eq!(leaves.len(), 1, "{audience_id}");
    leaves[0]
}

#[test]
fn condition_leaves_are_typed_at_parse_time() {
    let audiences: Vec<Value> = [
        json!({"type": "custom_attribute", "name": "n", "match": "gt", "value": 9007199254740994u64}),
        json!({"type": "custom_attribute", "name": "n", "match": "exact", "value": 2.5}),
        json!({"type": "custom_attribute", "name": "s", "value": "abc"}),
        json!({"type": "third_party_dimension", "name": "odp.audiences", "value": "seg"}),
        json!({"type": "custom_attribute", "name": "s", "match": "qualified", "value": "x"}),
        json!({"type": "third_party_dimension", "name": "odp.audiences", "match": "exact", "value": "x"}),
        json!({"type": "custom_attribute", "name": "s", "match": "regex", "value": "a.*"}),
        json!({"type": "weird_type", "name": "s", "match": "exact", "value": "abc"}),
        json!({"name": "e", "type": "custom_attribute", "match": "exists"}),
        json!({"type": "custom_attribute", "name": "b", "match": "exact", "value": true}),
        json!({"type": "custom_attribute", "name": "v", "match": "semver_ge", "value": "2.0.0-beta"}),
        json!({"type": "custom_attribute", "name": "n", "match": "le", "value": [1, 2]}),
        json!("just a string"),
    ]
    .into_iter()
    .enumerate()
    .map(|(i, leaf)| json!({"id": format!("a{i}"), "name": format!("audience {i}"), "conditions": leaf}))
    .collect();
    let config = parse_ok(&with(base(), "typedAudiences", Value::Array(audiences)));
    let expect = |id: &str, kind: LeafKind, name: Option<&str>, value: ConditionValue<'_>| {
        let leaf = leaf(&config, id);
        assert_eq!(leaf.kind(), kind, "{id}");
        assert_eq!(leaf.name(), name, "{id}");
        assert_eq!(leaf.value(), value, "{id}");
    };
    fn string(s: &str) -> ConditionValue<'_> {
        ConditionValue::String(s)
    }
    expect(
        "a0",
        LeafKind::Match(MatchType::Gt),
        Some("n"),
        ConditionValue::Unsupported,
    );
    expect(
        "a1",
        LeafKind::Match(MatchType::Exact),
        Some("n"),
        ConditionValue::Number(2.5),
    );
    expect(
        "a2",
        LeafKind::Match(MatchType::Exact),
        Some("s"),
        string("abc"),
    );
    expect(
        "a3",
        LeafKind::Match(MatchType::Qualified),
        Some("odp.audiences"),
        string("seg"),
    );
    expect("a4", LeafKind::UnknownMatchType, Some("s"), string("x"));
    expect(
        "a5",
        LeafKind::UnknownMatchType,
        Some("odp.audiences"),
        string("x"),
    );
    expect("a6", LeafKind::UnknownMatchType, Some("s"), string("a.*"));
    expect(
        "a7",
        LeafKind::UnknownConditionType,
        Some("s"),
        string("abc"),
    );
    expect(
        "a8",
        LeafKind::Match(MatchType::Exists),
        Some("e"),
        ConditionValue::Unsupported,
    );
    expect(
        "a9",
        LeafKind::Match(MatchType::Exact),
        Some("b"),
        ConditionValue::Bool(true),
    );
    expect(
        "a10",
        LeafKind::Match(MatchType::SemverGe),
        Some("v"),
        string("2.0.0-beta"),
    );
    expect(
        "a11",
        LeafKind::Match(MatchType::Le),
        Some("n"),
        ConditionValue::Unsupported,
    );
    expect(
        "a12",
        LeafKind::UnknownConditionType,
        None,
        ConditionValue::Unsupported,
    );

    assert_eq!(
        leaf(&config, "a8").json(),
        r#"{"name":"e","type":"custom_attribute","match":"exists"}"#
    );
    assert_eq!(
        leaf(&config, "a3").condition_type(),
        Some(ConditionType::ThirdPartyDimension)
    );
    assert_eq!(leaf(&config, "a7").condition_type(), None);
    assert_eq!(leaf(&config, "a12").json(), r#""just a string""#);
}

fn tree_shape<'c, L: ConditionLeaf<'c>>(tree: ConditionTree<'c, L>) -> String {
    let shapes = |items: optimizely_fx_core::condition::Operands<'c, L>| {
        items.map(tree_shape).collect::<Vec<_>>().join(",")
    };
    match tree.condition() {
        Condition::And(items) => format!("and({})", shapes(items)),
        Condition::Or(items) => format!("or({})", shapes(items)),
        Condition::Not(Some(operand)) => format!("not({})", tree_shape(operand)),
        Condition::Not(None) => "not()".to_owned(),
        Condition::Leaf(_) => "x".to_owned(),
    }
}

#[test]
fn condition_trees_follow_the_operator_rules() {
    let l = json!({"type": "custom_attribute", "name": "t", "value": true});
    let cases = [
        (json!(["and", l, ["or", l, l]]), "and(x,or(x,x))"),
        (json!([l, l]), "or(x,x)"),
        (json!([["and", l], ["or", l]]), "or(and(x),or(x))"),
        (json!(["not", l, l]), "not(x)"),
        (json!(["not"]), "not()"),
        (json!(["and"]), "and()"),
        (json!(["or"]), "or()"),
        (json!([]), "or()"),
        (json!(["unknown-op", l]), "or(x,x)"),
        (l.clone(), "x"),
    ];
    for (i, (conditions, shape)) in cases.iter().enumerate() {
        let audience = json!([{"id": "a", "name": "a", "conditions": conditions}]);
        let config = parse_ok(&with(base(), "typedAudiences", audience));
        let tree = config
            .audience(config.audience_by_id("a").unwrap())
            .conditions();
        assert_eq!(tree_shape(tree), *shape, "case {i}: {conditions}");
    }
}

#[test]
fn legacy_audiences_are_decoded_and_typed_ones_override_them() {
    let datafile = with(
        with(
            base(),
            "audiences",
            json!([
                {"id": "1", "name": "legacy", "conditions": "[\"and\", [\"or\", {\"name\": \"s\", \"type\": \"custom_attribute\", \"value\": \"x\"}]]"},
                {"id": "2", "name": "overridden", "conditions": "[\"or\"]"},
                {"id": "3", "name": "broken", "conditions": "[\"and\", "},
                {"id": "$opt_dummy_audience", "name": "placeholder", "conditions": "[\"or\"]"}
            ]),
        ),
        "typedAudiences",
        json!([{"id": "2", "name": "typed", "conditions": ["and", {"type": "custom_attribute", "name": "n", "match": "lt", "value": 3}]}]),
    );
    let config = parse_ok(&datafile);
    assert_eq!(config.audience_count(), 3);
    assert_eq!(config.audiences().len(), 4);
    let names: Vec<_> = config.audiences().map(|a| a.name()).collect();
    assert_eq!(names, ["typed", "legacy", "broken", "placeholder"]);

    let legacy = leaf(&config, "1");
    assert_eq!(legacy.kind(), LeafKind::Match(MatchType::Exact));
    assert_eq!(
        legacy.json(),
        r#"{"name":"s","type":"custom_attribute","value":"x"}"#
    );
    let typed = config.audience(config.audience_by_id("2").unwrap());
    assert!(typed.is_typed());
    assert_eq!(
        typed.conditions_json(),
        r#"["and",{"type":"custom_attribute","name":"n","match":"lt","value":3}]"#
    );
    let broken = leaf(&config, "3");
    assert_eq!(broken.kind(), LeafKind::Undecodable);
    assert_eq!(
        config.warnings(),
        [DatafileWarning::UndecodableAudienceConditions {
            audience_id: "3".into()
        }]
    );
}

#[test]
fn experiment_targeting_uses_audience_conditions_else_audience_ids() {
    let mut with_conditions = experiment("1", "with_conditions", &[("11", "a")]);
    with_conditions["audienceIds"] = json!(["x"]);
    with_conditions["audienceConditions"] = json!(["and", "x", ["not", "missing"]]);
    let mut empty_conditions = experiment("2", "empty_conditions", &[("21", "a")]);
    empty_conditions["audienceIds"] = json!(["x"]);
    empty_conditions["audienceConditions"] = json!([]);
    let mut null_conditions = experiment("3", "null_conditions", &[("31", "a")]);
    null_conditions["audienceIds"] = json!(["x", "y"]);
    null_conditions["audienceConditions"] = Value::Null;
    let everyone = experiment("4", "everyone", &[("41", "a")]);
    let mut operator_ids = experiment("5", "operator_ids", &[("51", "a")]);
    operator_ids["audienceIds"] = json!(["not", "x"]);
    let datafile = with(
        with(
            base(),
            "typedAudiences",
            json!([{"id": "x", "name": "x", "conditions": ["or"]}]),
        ),
        "experiments",
        json!([
            with_conditions,
            empty_conditions,
            null_conditions,
            everyone,
            operator_ids
        ]),
    );
    let config = parse_ok(&datafile);
    let targeting = |key: &str| {
        config
            .experiment(config.experiment_by_key(key).unwrap())
            .audiences()
    };
    let first = targeting("with_conditions");
    assert_eq!(first.json(), r#"["and","x",["not","missing"]]"#);
    assert_eq!(tree_shape(first.tree().unwrap()), "and(x,not(x))");
    let leaves = first.tree().unwrap().leaves();
    assert_eq!(
        leaves,
        [
            AudienceRef::Known(config.audience_by_id("x").unwrap()),
            AudienceRef::Unknown("missing")
        ]
    );
    assert!(targeting("empty_conditions").matches_everyone());
    let from_ids = targeting("null_conditions");
    assert_eq!(from_ids.json(), r#"["x","y"]"#);
    assert_eq!(tree_shape(from_ids.tree().unwrap()), "or(x,x)");
    let operators = targeting("operator_ids");
    assert_eq!(tree_shape(operators.tree().unwrap()), "not(x)");
    assert_eq!(operators.json(), r#"["not","x"]"#);
    let all = targeting("everyone");
    assert!(all.matches_everyone());
    assert_eq!(all.json(), "[]");
}

#[test]
fn segments_to_check_are_unique_non_empty_strings_typed_audiences_first() {
    let segment = |value: Value| json!({"type": "third_party_dimension", "name": "odp.audiences", "match": "qualified", "value": value});
    let legacy_conditions =
        json!(["or", segment(json!("legacy-seg")), segment(json!("s1"))]).to_string();
    let datafile = json!({
        "version": "4", "accountId": "1", "projectId": "2", "revision": "3",
        "integrations": [{"key": "odp", "host": "h", "publicKey": "k"}],
        "audiences": [
            {"id": "L", "name": "legacy", "conditions": legacy_conditions},
            {"id": "T2", "name": "overridden legacy", "conditions": json!(["or", segment(json!("hidden"))]).to_string()}
        ],
        "typedAudiences": [
            {"id": "T1", "name": "t1", "conditions": ["and", segment(json!("s1")), ["or", segment(json!("s2")), segment(json!(""))]]},
            {"id": "T2", "name": "t2", "conditions": ["or", segment(json!(5)), segment(json!("s2")), segment(json!("s3")),
                {"type": "custom_attribute", "name": "x", "value": "not-a-segment"}]}
        ]
    });
    let config = parse_ok(&datafile);
    assert_eq!(
        config.odp().unwrap().segments_to_check,
        ["s1", "s2", "s3", "legacy-seg"]
    );
}

// ----- feature rollouts and holdouts -----

fn flag(key: &str, experiment_ids: &[&str], rollout_id: &str) -> Value {
    json!({"id": format!("flag-{key}"), "key": key, "rolloutId": rollout_id,
           "experimentIds": experiment_ids, "variables": []})
}

#[test]
fn feature_rollout_rules_get_the_everyone_else_variation() {
    let mut fr = experiment("100", "fr_rule", &[("101", "fr_on")]);
    fr["type"] = json!("fr");
    fr["forcedVariations"] = json!({"qa": "ee_on", "other": "nope"});
    let mut ab = experiment("200", "ab_rule", &[("201", "a"), ("202", "b")]);
    ab["type"] = json!("ab");
    let mut lonely_fr = experiment("300", "fr_without_rollout", &[("301", "on")]);
    lonely_fr["type"] = json!("fr");
    let rollout = json!({"id": "R", "experiments": [
        experiment("400", "targeted", &[("401", "t_on")]),
        experiment("500", "everyone_else", &[("501", "ee_on"), ("502", "ee_off")])
    ]});
    let datafile = json!({
        "version": "4", "accountId": "1", "projectId": "2", "revision": "3",
        "experiments": [fr, ab, lonely_fr],
        "rollouts": [rollout],
        "featureFlags": [flag("f", &["100", "200"], "R"), flag("g", &["300"], "")]
    });
    let config = parse_ok(&datafile);
    let ee = config.variation_by_id("501").unwrap();

    let fr = config.experiment(config.experiment_by_key("fr_rule").unwrap());
    let variation_ids: Vec<_> = fr
        .variations()
        .iter()
        .map(|&v| config.variation(v).id())
        .collect();
    assert_eq!(variation_ids, ["101", "501"]);
    let last = fr.traffic_allocation().last().unwrap();
    assert_eq!(
        (last.end_of_range(), last.entity_id(), last.target()),
        (10_000, "501", Some(ee))
    );
    assert_eq!(fr.traffic_allocation().len(), 2);
    assert_eq!(
        config.experiment_variation_by_key(config.experiment_by_key("fr_rule").unwrap(), "ee_on"),
        Some(ee)
    );
    assert_eq!(fr.forced_variation("qa").unwrap().variation(), Some(ee));
    assert_eq!(fr.forced_variation("other").unwrap().variation(), None);

    let ab = config.experiment(config.experiment_by_key("ab_rule").unwrap());
    assert_eq!(ab.variations().len(), 2);
    assert_eq!(ab.traffic_allocation().len(), 2);
    let lonely = config.experiment(config.experiment_by_key("fr_without_rollout").unwrap());
    assert_eq!(lonely.variations().len(), 1);
    assert_eq!(lonely.traffic_allocation().len(), 1);

    let f = config.flag(config.flag_by_key("f").unwrap());
    let rule_keys: Vec<_> = f.rules().map(|r| config.experiment(r).key()).collect();
    assert_eq!(
        rule_keys,
        ["fr_rule", "ab_rule", "targeted", "everyone_else"]
    );
    let flag_variations: Vec<_> = f
        .variations()
        .iter()
        .map(|&v| config.variation(v).key())
        .collect();
    assert_eq!(
        flag_variations,
        ["fr_on", "ee_on", "a", "b", "t_on", "ee_off"]
    );
    assert_eq!(
        config.flag_variation_by_key(config.flag_by_key("f").unwrap(), "ee_off"),
        config.variation_by_id("502")
    );
    assert_eq!(config.experiment_count(), 3);
}

#[test]
fn a_feature_rollout_rule_listed_by_several_flags_gets_one_range_per_listing() {
    let mut fr = experiment("100", "shared_fr", &[("101", "fr_on")]);
    fr["type"] = json!("fr");
    let mut other_fr = experiment("200", "other_fr", &[("201", "on")]);
    other_fr["type"] = json!("fr");
    let rollout = |id: &str, rule: &str, variation: (&str, &str)| json!({"id": id, "experiments": [experiment(rule, &format!("ee_{id}"), &[variation])]});
    let datafile = json!({
        "version": "4", "accountId": "1", "projectId": "2", "revision": "3",
        "experiments": [fr, other_fr],
        "rollouts": [rollout("R1", "300", ("301", "ee1")), rollout("R2", "400", ("401", "ee2"))],
        "featureFlags": [
            flag("f", &["100", "200", "100"], "R1"),
            flag("g", &["200"], "R2"),
            flag("h", &["100"], "R2")
        ]
    });
    let config = parse_ok(&datafile);
    let allocation = |key: &str| -> Vec<(u32, String)> {
        let rule = config.experiment(config.experiment_by_key(key).unwrap());
        rule.traffic_allocation()
            .iter()
            .map(|range| (range.end_of_range(), range.entity_id().to_owned()))
            .collect()
    };
    let variation_ids = |key: &str| -> Vec<String> {
        let rule = config.experiment(config.experiment_by_key(key).unwrap());
        rule.variations()
            .iter()
            .map(|&v| config.variation(v).id().to_owned())
            .collect()
    };
    let ranges = |list: &[(u32, &str)]| -> Vec<(u32, String)> {
        list.iter().map(|&(end, id)| (end, id.to_owned())).collect()
    };
    assert_eq!(
        allocation("shared_fr"),
        ranges(&[
            (5000, "101"),
            (10_000, "301"),
            (10_000, "301"),
            (10_000, "401")
        ])
    );
    assert_eq!(variation_ids("shared_fr"), ["101", "301", "401"]);
    assert_eq!(
        allocation("other_fr"),
        ranges(&[(5000, "201"), (10_000, "301"), (10_000, "401")])
    );
    assert_eq!(variation_ids("other_fr"), ["201", "301", "401"]);
    assert_eq!(allocation("ee_R1"), ranges(&[(5000, "301")]));
}

#[test]
fn local_holdouts_are_indexed_by_rule_and_global_ones_apply_everywhere() {
    let holdout = |id: &str, status: &str, rules: Value| {
        json!({"id": id, "key": format!("key-{id}"), "status": status, "audienceIds": [],
               "variations": [{"id": format!("{id}-v"), "key": "off", "featureEnabled": false}],
               "trafficAllocation": [{"entityId": format!("{id}-v"), "endOfRange": 1000}],
               "includedRules": rules})
    };
    let datafile = json!({
        "version": "4", "accountId": "1", "projectId": "2", "revision": "3",
        "experiments": [experiment("100", "rule_a", &[("101", "on")]), experiment("200", "rule_b", &[("201", "on")])],
        "featureFlags": [flag("f", &["100", "200"], "")],
        "holdouts": [holdout("g1", "Running", json!(["100"]))],
        "localHoldouts": [
            holdout("l1", "Running", json!(["100", "200"])),
            holdout("l2", "Draft", json!(["200"])),
            holdout("l3", "Running", json!([])),
            holdout("l4", "Running", Value::Null)
        ]
    });
    let config = parse_ok(&datafile);
    let global: Vec<_> = config
        .global_holdouts()
        .iter()
        .map(|&h| config.holdout(h).id())
        .collect();
    assert_eq!(global, ["g1"]);
    let g1 = config.holdout(config.global_holdouts()[0]);
    assert!(g1.included_rules().len() == 0 && !g1.is_local());

    let ids = |rule: &str| -> Vec<String> {
        config
            .rule_holdouts(rule)
            .iter()
            .map(|&h| config.holdout(h).id().to_owned())
            .collect()
    };
    assert_eq!(ids("100"), ["l1"]);
    assert_eq!(ids("200"), ["l1", "l2"]);
    assert!(ids("300").is_empty());
    let rule_b = config.experiment(config.experiment_by_key("rule_b").unwrap());
    assert_eq!(rule_b.local_holdouts(), config.rule_holdouts("200"));
    let l2 = config.holdout(config.rule_holdouts("200")[1]);
    assert!(!l2.is_running() && l2.is_local());
    assert_eq!(
        l2.traffic_allocation().get(0).unwrap().target(),
        config.variation_by_id("l2-v")
    );
    assert!(config.variation_by_id("l3-v").is_none());
    assert_eq!(
        config.warnings(),
        [
            DatafileWarning::LocalHoldoutWithoutRules {
                holdout_key: "key-l3".into()
            },
            DatafileWarning::LocalHoldoutWithoutRules {
                holdout_key: "key-l4".into()
            }
        ]
    );
    assert_eq!(
        config.warnings()[0].to_string(),
        r#"Local holdout "key-l3" is missing or has empty "includedRules"; skipping."#
    );
}

#[test]
fn non_string_variable_values_are_kept_as_absent() {
    let mut rule = experiment("100", "rule", &[("101", "on")]);
    rule["variations"][0]["variables"] =
        json!([{"id": "v1", "value": {"a": 1}}, {"id": "v2", "value": "7"}]);
    let datafile = json!({
        "version": "4", "accountId": "1", "projectId": "2", "revision": "3",
        "experiments": [rule],
        "featureFlags": [{"id": "f", "key": "f", "rolloutId": "", "experimentIds": ["100"], "variables": [
            {"id": "v1", "key": "j", "type": "string", "subType": "json", "defaultValue": {"value": 1}},
            {"id": "v2", "key": "i", "type": "integer", "defaultValue": "1"}
        ]}]
    });
    let config = parse_ok(&datafile);
    let f = config.flag(config.flag_by_key("f").unwrap());
    assert_eq!(f.variable("j").unwrap().default_value(), None);
    assert_eq!(f.variable("i").unwrap().default_value(), Some("1"));
    let on = config.variation(config.variation_by_id("101").unwrap());
    assert_eq!(on.variable_usage("v1").unwrap().value(), None);
    assert_eq!(on.variable_usage("v2").unwrap().value(), Some("7"));
    assert!(on.variable_usage("v3").is_none());
}

#[test]
fn a_repeated_variation_id_resolves_to_the_last_one_and_shares_its_values() {
    let mut first = experiment("100", "first", &[("9", "on")]);
    first["variations"][0]["variables"] = json!([{"id": "v", "value": "first"}]);
    let mut second = experiment("200", "second", &[("9", "on")]);
    second["variations"][0]["variables"] = json!([{"id": "v", "value": "second"}]);
    let config = parse_ok(&with(base(), "experiments", json!([first, second])));
    let winner = config.variation_by_id("9").unwrap();
    let first = config.experiment(config.experiment_by_key("first").unwrap());
    assert_eq!(
        first.traffic_allocation().get(0).unwrap().target(),
        Some(winner)
    );
    assert_ne!(first.variations()[0], winner);
    let own = config.variation(first.variations()[0]);
    assert_eq!(own.variable_usage("v").unwrap().value(), Some("second"));
}

// ----- nesting and size limits -----

fn nested_arrays(depth: usize) -> String {
    format!("{}{}", "[".repeat(depth), "]".repeat(depth))
}

fn datafile_with_typed_conditions(conditions: &str) -> String {
    format!(
        r#"{{"version":"4","accountId":"1","projectId":"2","revision":"3","typedAudiences":[{{"id":"a","name":"a","conditions":{conditions}}}]}}"#
    )
}

#[test]
fn extremely_deep_json_is_rejected_without_overflowing_the_stack() {
    let text = datafile_with_typed_conditions(&nested_arrays(100_000));
    let err = ProjectConfig::parse(&text).unwrap_err();
    assert_eq!(
        err,
        DatafileError::NestingTooDeep {
            path: "typedAudiences[0].conditions".into(),
            limit: MAX_JSON_DEPTH
        }
    );
    assert!(
        err.to_string()
            .contains("nesting is deeper than the supported 127 levels")
    );

    let in_unknown_field = format!(
        r#"{{"version":"4","accountId":"1","projectId":"2","revision":"3","extra":{}}}"#,
        nested_arrays(100_000)
    );
    // Unknown fields are skipped without recursion, so depth does not matter there.
    assert!(ProjectConfig::parse(&in_unknown_field).is_ok());
    let unbalanced = "[".repeat(100_000);
    assert!(ProjectConfig::parse(&unbalanced).is_err());
}

#[test]
fn brackets_inside_strings_do_not_count_as_nesting() {
    // Unterminated on purpose: a syntax error makes the parser check the nesting depth.
    let text = format!(
        r#"{{"version":"4","accountId":"1","projectId":"2","revision":"3","sdkKey":"{}\"{}""#,
        "[".repeat(300),
        "{".repeat(300)
    );
    let err = ProjectConfig::parse(&text).unwrap_err();
    assert!(matches!(err, DatafileError::Malformed { .. }), "{err:?}");
}

#[test]
fn condition_trees_deeper_than_the_limit_are_rejected() {
    let depth = MAX_CONDITION_DEPTH + 1;
    let err =
        ProjectConfig::parse(&datafile_with_typed_conditions(&nested_arrays(depth))).unwrap_err();
    assert_eq!(
        err,
        DatafileError::NestingTooDeep {
            path: "typedAudiences[0].conditions".into(),
            limit: MAX_CONDITION_DEPTH
        }
    );
    let ok = ProjectConfig::parse(&datafile_with_typed_conditions(&nested_arrays(
        MAX_CONDITION_DEPTH,
    )));
    assert!(ok.is_ok(), "{ok:?}");

    let legacy = json!({"version": "4", "accountId": "1", "projectId": "2", "revision": "3",
        "audiences": [{"id": "a", "name": "a", "conditions": nested_arrays(depth)}]});
    assert!(matches!(
        parse(&legacy).unwrap_err(),
        DatafileError::NestingTooDeep { ref path, .. } if path == "audiences[0].conditions"
    ));
    // A legacy string too deep even to decode is an undecodable (unknown) audience.
    let legacy_huge = json!({"version": "4", "accountId": "1", "projectId": "2", "revision": "3",
        "audiences": [{"id": "a", "name": "a", "conditions": nested_arrays(100_000)}]});
    let config = parse_ok(&legacy_huge);
    assert_eq!(leaf(&config, "a").kind(), LeafKind::Undecodable);

    let mut deep_experiment = experiment("1", "e", &[("11", "a")]);
    deep_experiment["audienceConditions"] = serde_json::from_str(&nested_arrays(depth)).unwrap();
    let err = parse(&with(base(), "experiments", json!([deep_experiment]))).unwrap_err();
    assert!(matches!(
        err,
        DatafileError::NestingTooDeep { ref path, .. } if path == "experiments[0].audienceConditions"
    ));
}

#[test]
fn a_generated_datafile_of_several_megabytes_parses() {
    let text = support::generate::generate_datafile(2_500, 1_250);
    assert!(text.len() > 4_000_000, "{} bytes", text.len());
    let config = ProjectConfig::parse(&text).unwrap();
    assert_eq!(config.flag_count(), 2_500);
    assert_eq!(config.experiment_count(), 1_250);
    assert_eq!(config.audience_count(), 40);
    let f = config.flag(config.flag_by_key("flag_0").unwrap());
    assert_eq!(f.rules().count(), 4);
    assert_eq!(f.variables().len(), 4);
}

/// About 50 MB (a few seconds in a debug build).
#[test]
fn a_generated_datafile_of_fifty_megabytes_parses() {
    let text = support::generate::generate_datafile(25_000, 12_500);
    assert!(text.len() > 50_000_000, "{} bytes", text.len());
    let config = ProjectConfig::parse_owned(text).unwrap();
    assert_eq!(config.flag_count(), 25_000);
    assert_eq!(config.experiment_count(), 12_500);
}
