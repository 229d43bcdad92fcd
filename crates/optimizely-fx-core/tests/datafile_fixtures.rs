//! Parsing the official SDKs' fixture datafiles and checking the derived data.

use optimizely_fx_core::condition::{AudienceRef, Condition};
use optimizely_fx_core::config::{ExperimentOrigin, Region, VariableType};
use optimizely_fx_core::{DatafileError, DatafileVersion, ProjectConfig};
use std::path::{Path, PathBuf};

const FIXTURES: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../../tests/fixtures/datafiles"
);

const MUST_BE_REJECTED: [&str; 3] = [
    "js-test_data.unsupportedVersionConfig.json",
    "py-base.config_dict_with_unsupported_version.json",
    "js-test_data.odpIntegratedConfigWithoutKey.json",
];

fn read(name: &str) -> String {
    let path = Path::new(FIXTURES).join(name);
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

fn load(name: &str) -> ProjectConfig {
    ProjectConfig::parse(&read(name)).unwrap_or_else(|e| panic!("{name}: {e}"))
}

/// Datafiles among the fixtures (the `*_expected.json` files are OptimizelyConfig outputs).
fn datafile_fixtures() -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(FIXTURES)
        .unwrap()
        .map(|entry| entry.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "json"))
        .filter(|p| !p.to_string_lossy().ends_with("_expected.json"))
        .collect();
    files.sort();
    files
}

#[test]
fn every_fixture_datafile_parses_except_the_rejected_ones() {
    let files = datafile_fixtures();
    assert!(files.len() >= 25, "fixtures missing: {files:?}");
    for path in files {
        let name = path.file_name().unwrap().to_string_lossy().into_owned();
        let result = ProjectConfig::parse(&read(&name));
        if MUST_BE_REJECTED.contains(&name.as_str()) {
            assert!(result.is_err(), "{name} must be rejected");
        } else {
            let config = result.unwrap_or_else(|e| panic!("{name}: {e}"));
            assert_eq!(config.datafile(), read(&name), "{name}: original text kept");
        }
    }
}

#[test]
fn version_5_datafiles_are_rejected_with_the_version_error() {
    for name in [
        "js-test_data.unsupportedVersionConfig.json",
        "py-base.config_dict_with_unsupported_version.json",
    ] {
        let err = ProjectConfig::parse(&read(name)).unwrap_err();
        assert_eq!(
            err,
            DatafileError::UnsupportedVersion {
                version: "5".into()
            }
        );
        assert_eq!(
            err.to_string(),
            "This version of the Rust SDK does not support the given datafile version: 5"
        );
    }
}

#[test]
fn an_integration_without_key_is_rejected_without_leaking_the_public_key() {
    let err =
        ProjectConfig::parse(&read("js-test_data.odpIntegratedConfigWithoutKey.json")).unwrap_err();
    assert_eq!(err, DatafileError::MissingIntegrationKey);
    let message = err.to_string();
    assert_eq!(
        message,
        "Integration key missing from datafile. All integrations should include a key."
    );
    assert!(!format!("{err:?}{message}").contains("W4WzcEs"));
}

#[test]
fn versions_and_counts_match_the_datafiles() {
    // (file, version, flags, non-rollout experiments, audiences without the placeholder)
    let cases = [
        ("go-100_entities.json", DatafileVersion::V4, 100, 100, 88),
        (
            "go-decide-test-datafile.json",
            DatafileVersion::V4,
            3,
            4,
            10,
        ),
        (
            "go-typed_audience_datafile.json",
            DatafileVersion::V4,
            4,
            4,
            10,
        ),
        ("js-test_data.config.json", DatafileVersion::V2, 0, 7, 1),
        (
            "js-test_data.configWithFeatures.json",
            DatafileVersion::V4,
            9,
            12,
            2,
        ),
        (
            "js-test_data.mutexFeatureTestsConfig.json",
            DatafileVersion::V4,
            1,
            2,
            0,
        ),
        (
            "py-base.config_dict_with_features.json",
            DatafileVersion::V4,
            6,
            10,
            3,
        ),
        ("rs-sandbox_rev548.json", DatafileVersion::V4, 16, 11, 7),
    ];
    for (name, version, flags, experiments, audiences) in cases {
        let config = load(name);
        assert_eq!(config.version(), version, "{name}");
        assert_eq!(config.flag_count(), flags, "{name} flags");
        assert_eq!(config.experiment_count(), experiments, "{name} experiments");
        assert_eq!(config.audience_count(), audiences, "{name} audiences");
    }
    assert_eq!(DatafileVersion::V2.to_string(), "2");
    assert_eq!(DatafileVersion::V3.to_string(), "3");
    assert_eq!(DatafileVersion::V4.to_string(), "4");
}

#[test]
fn project_level_fields_are_read() {
    let config = load("go-decide-test-datafile.json");
    assert!(config.anonymize_ip());
    assert_eq!(config.bot_filtering(), Some(true));
    assert!(config.send_flag_decisions());
    assert!(config.sdk_key().is_some());
    assert!(config.environment_key().is_some());
    assert_eq!(config.region(), Region::Us);

    let sandbox = load("rs-sandbox.json");
    assert_eq!(sandbox.region(), Region::Us);
    assert_eq!(sandbox.revision(), "21");

    let v2 = load("js-test_data.config.json");
    assert_eq!(v2.bot_filtering(), None);
    assert!(!v2.send_flag_decisions());
    assert_eq!(v2.sdk_key(), None);
    assert_eq!(v2.environment_key(), None);
}

#[test]
fn odp_segments_to_check_follow_the_go_rule() {
    let expected = ["odp-segment-1", "odp-segment-2", "odp-segment-3"];
    for name in [
        "js-test_data.odpIntegratedConfigWithSegments.json",
        "go-odp-test-datafile.json",
        "py-base.config_dict_with_audience_segments.json",
    ] {
        let config = load(name);
        let odp = config.odp().unwrap_or_else(|| panic!("{name}: integrated"));
        assert_eq!(odp.segments_to_check, expected, "{name}");
        assert_eq!(odp.host, "https://api.zaius.com", "{name}");
        assert_eq!(odp.public_key, "W4WzcEs-ABgXorzY7h1LCQ", "{name}");
    }
}

#[test]
fn the_first_odp_integration_wins_and_non_odp_ones_are_ignored() {
    let config = load("js-test_data.odpIntegratedConfigWithSegments.json");
    let odp = config.odp().unwrap();
    assert_eq!(odp.pixel_url.as_deref(), Some("https://jumbe.zaius.com"));

    let without_segments = load("js-test_data.odpIntegratedConfigWithoutSegments.json");
    assert!(without_segments.odp().unwrap().segments_to_check.is_empty());

    let decide = load("go-decide-test-datafile.json");
    assert!(decide.odp().is_some());
    assert_eq!(decide.odp().unwrap().pixel_url, None);

    for name in ["js-test_data.decideConfig.json", "go-100_entities.json"] {
        assert!(load(name).odp().is_none(), "{name}");
    }
}

#[test]
fn typed_audiences_override_legacy_ones_with_the_same_id() {
    let config = load("go-typed_audience_datafile.json");
    let index = config.audience_by_id("3988293898").unwrap();
    let audience = config.audience(index);
    assert!(audience.is_typed());
    assert_eq!(audience.name(), "substringString");
    assert!(audience.conditions_json().contains("Slytherin"));
    // Typed audiences come first; legacy ones follow, placeholder included but not counted.
    let first_legacy = config.audiences().position(|a| !a.is_typed());
    assert!(first_legacy.is_some());
    assert!(
        config
            .audiences()
            .skip(first_legacy.unwrap())
            .all(|a| !a.is_typed())
    );
}

#[test]
fn experiment_audience_conditions_resolve_audience_ids() {
    let config = load("go-typed_audience_datafile.json");
    let experiment = config.experiment(
        config
            .experiment_by_key("audience_combinations_experiment")
            .unwrap(),
    );
    let targeting = experiment.audiences();
    assert_eq!(
        targeting.json(),
        r#"["and",["or","3468206642","3988293898"],["or","3988293899","3468206646","3468206647","3468206644","3468206643"]]"#
    );
    let Some(Condition::And(operands)) = targeting.tree().map(|t| t.condition()) else {
        panic!("expected an and: {:?}", targeting.tree());
    };
    assert_eq!(operands.len(), 2);
    let leaves = targeting.tree().unwrap().leaves();
    assert_eq!(leaves.len(), 7);
    for leaf in leaves {
        assert!(matches!(leaf, AudienceRef::Known(_)), "unresolved {leaf:?}");
    }
    // audienceIds as an implicit or when audienceConditions is absent.
    let plain = config.experiment(
        config
            .experiment_by_key("typed_audience_experiment")
            .unwrap(),
    );
    assert!(matches!(
        plain.audiences().tree().map(|t| t.condition()),
        Some(Condition::Or(ids)) if ids.len() == 7
    ));
}

#[test]
fn numeric_ids_are_read_as_decimal_strings() {
    let config = load("js-test_data.mutexFeatureTestsConfig.json");
    let variation = config.variation_by_id("17155031309").unwrap();
    assert_eq!(config.variation(variation).key(), "variation_1");
    let experiment = config.experiment(config.experiment_by_key("f_test2").unwrap());
    let first_range = experiment.traffic_allocation().get(0).unwrap();
    assert_eq!(first_range.entity_id(), "17155031309");
    assert_eq!(first_range.target(), Some(variation));
    assert_eq!(first_range.end_of_range(), 5000);
}

#[test]
fn random_groups_are_mutually_exclusive_and_overlapping_ones_are_ignored() {
    let config = load("js-test_data.mutexFeatureTestsConfig.json");
    let group_index = config.group_by_id("17142090293").unwrap();
    let group = config.group(group_index);
    assert!(group.is_mutually_exclusive());
    for key in ["f_test1", "f_test2"] {
        let experiment = config.experiment(config.experiment_by_key(key).unwrap());
        assert_eq!(experiment.mutex_group(), Some(group_index), "{key}");
        assert_eq!(experiment.origin(), ExperimentOrigin::Group(group_index));
    }
    let targets: Vec<_> = group
        .traffic_allocation()
        .iter()
        .map(|r| config.experiment(r.target().unwrap()).key().to_owned())
        .collect();
    assert_eq!(targets, ["f_test2", "f_test1"]);

    let v2 = load("js-test_data.config.json");
    let overlapping = v2
        .groups()
        .find(|g| g.policy() == "overlapping")
        .expect("an overlapping group");
    for &member in overlapping.experiments() {
        assert_eq!(v2.experiment(member).mutex_group(), None);
    }
    let random = v2.groups().find(|g| g.is_mutually_exclusive()).unwrap();
    for &member in random.experiments() {
        assert!(v2.experiment(member).mutex_group().is_some());
    }
}

#[test]
fn flag_rules_are_experiment_rules_then_delivery_rules() {
    let config = load("go-decide-test-datafile.json");
    for flag in config.flags() {
        let experiment_rules: Vec<_> = flag
            .experiment_rules()
            .filter_map(|r| r.experiment())
            .collect();
        let delivery_rules = flag
            .rollout()
            .map(|r| config.rollout(r).rules().to_vec())
            .unwrap_or_default();
        let expected: Vec<_> = experiment_rules
            .iter()
            .chain(&delivery_rules)
            .copied()
            .collect();
        assert_eq!(flag.rules().collect::<Vec<_>>(), expected, "{}", flag.key());
        for &rule in flag
            .experiment_rules()
            .filter_map(|r| r.experiment())
            .collect::<Vec<_>>()
            .iter()
        {
            assert!(
                config
                    .experiment(rule)
                    .flags()
                    .contains(&config.flag_by_key(flag.key()).unwrap())
            );
        }
        // Flag variations are unique by id and cover every rule's variations.
        let ids: Vec<_> = flag
            .variations()
            .iter()
            .map(|&v| config.variation(v).id())
            .collect();
        let mut unique = ids.clone();
        unique.sort();
        unique.dedup();
        assert_eq!(unique.len(), ids.len(), "{}", flag.key());
        for rule in flag.rules() {
            for &v in config.experiment(rule).variations() {
                assert!(ids.contains(&config.variation(v).id()));
            }
        }
    }
}

#[test]
fn variables_get_their_types_and_legacy_json_becomes_json() {
    let config = load("py-base.config_dict_with_features.json");
    let json_like = config
        .flags()
        .flat_map(|f| f.variables())
        .filter(|v| v.variable_type() == VariableType::Json)
        .count();
    assert!(json_like >= 2, "native json and string+subType json");

    let decide = load("go-decide-test-datafile.json");
    let other: Vec<_> = decide
        .flags()
        .flat_map(|f| f.variables())
        .filter(|v| matches!(v.variable_type(), VariableType::Other(_)))
        .map(|v| v.variable_type().as_str().to_owned())
        .collect();
    assert_eq!(other, ["invalid"]);
}

#[test]
fn delivery_rules_and_whitelists_are_indexed() {
    let config = load("py-base.config_dict_with_features.json");
    let whitelisted = config
        .experiments()
        .find(|e| e.has_forced_variations())
        .expect("a whitelist");
    for forced in whitelisted.forced_variations() {
        let user = forced.user_id();
        let variation = forced.variation().unwrap_or_else(|| panic!("{user}"));
        assert_eq!(config.variation(variation).key(), forced.variation_key());
        assert_eq!(whitelisted.forced_variation(user), Some(forced));
    }
    let rules = config
        .experiments()
        .filter(|e| e.is_delivery_rule())
        .count();
    assert_eq!(
        rules,
        config.experiments().len() - config.experiment_count()
    );
}

#[test]
fn global_holdouts_are_indexed_with_their_variations() {
    let config = load("py-test_decision_service_holdout.config_dict_with_holdouts.json");
    let keys: Vec<_> = config
        .global_holdouts()
        .iter()
        .map(|&h| config.holdout(h).key())
        .collect();
    assert_eq!(keys, ["test_holdout", "excluded_holdout"]);
    let holdout = config.holdout(config.global_holdouts()[0]);
    assert!(holdout.is_running());
    assert!(holdout.audiences().matches_everyone());
    let variation = config.variation_by_id("holdout_var_1").unwrap();
    assert_eq!(
        holdout.traffic_allocation().get(0).unwrap().target(),
        Some(variation)
    );
    assert_eq!(config.variation(variation).key(), "holdout_control");
}

#[test]
fn attributes_and_events_are_indexed_by_key() {
    let config = load("js-test_data.config.json");
    assert_eq!(config.events().len(), 7);
    for event in config.events() {
        assert_eq!(config.event_by_key(event.key()).unwrap().id(), event.id());
    }
    for attribute in config.attributes() {
        assert_eq!(
            config.attribute_by_key(attribute.key()).unwrap().id(),
            attribute.id()
        );
        assert_eq!(
            config.attribute_by_id(attribute.id()).unwrap().key(),
            attribute.key()
        );
    }
    assert!(config.event_by_key("no such event").is_none());
}

#[test]
fn the_config_is_send_and_sync() {
    fn assert_send_sync<T: Send + Sync + 'static>() {}
    assert_send_sync::<ProjectConfig>();
    assert_send_sync::<DatafileError>();
}

#[test]
fn the_synthetic_conditions_datafile_parses_with_its_single_segment() {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../tests/fixtures/golden/conditions-datafile.json"
    );
    let config = ProjectConfig::parse(&std::fs::read_to_string(path).unwrap()).unwrap();
    assert_eq!(config.flag_count(), 50);
    assert_eq!(config.audience_count(), 50);
    assert_eq!(config.odp().unwrap().segments_to_check, ["seg1"]);
}
