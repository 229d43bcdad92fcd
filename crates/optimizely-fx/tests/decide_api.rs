//! Decide through the public SDK API: golden decisions, options, default options, error
//! decisions, forced decisions and the user context's own data.

mod decide_support;

use std::collections::HashMap;
use std::time::Duration;

use decide_support::*;
use optimizely_fx::{
    AttributeValue, Attributes, Client, DecideOption, Decision, DecisionContext, ForcedDecision,
    UserContext,
};
use serde_json::{Value, json};

const DECIDE_DATAFILE: &str = "go-decide-test-datafile.json";

/// JSON equality that treats `10` and `10.0` as the same number, as JavaScript does.
fn same_json(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::Number(x), Value::Number(y)) => x.as_f64() == y.as_f64(),
        (Value::Array(x), Value::Array(y)) => {
            x.len() == y.len() && x.iter().zip(y).all(|(a, b)| same_json(a, b))
        }
        (Value::Object(x), Value::Object(y)) => {
            x.len() == y.len()
                && x.iter()
                    .all(|(k, v)| y.get(k).is_some_and(|w| same_json(v, w)))
        }
        _ => a == b,
    }
}

/// `[variationKey, enabled, ruleKey, variables]`, as the golden files write decisions.
fn golden_form(decision: &Decision) -> Value {
    json!([
        decision.variation_key,
        decision.enabled,
        decision.rule_key,
        decision.variables.to_json()
    ])
}

fn attributes_of(case: &Value) -> Attributes {
    case["attributes"]
        .as_object()
        .map(|map| {
            map.iter()
                .filter_map(|(k, v)| AttributeValue::from_json(v).map(|v| (k.clone(), v)))
                .collect()
        })
        .unwrap_or_default()
}

/// Clients by datafile name, events disabled by default and sent (if ever) to `server`.
struct Clients<'s> {
    server: &'s optimizely_fx_devserver::DevServerHandle,
    clients: HashMap<String, Client>,
}

impl Clients<'_> {
    fn get(&mut self, name: &str) -> &Client {
        let server = self.server;
        self.clients.entry(name.to_owned()).or_insert_with(|| {
            builder(&datafile(name), server)
                .default_decide_options(&[DecideOption::DisableDecisionEvent])
                .build()
                .expect("fixture datafile builds")
        })
    }
}

#[test]
fn every_golden_decide_all_matches_through_the_client() {
    let server = server(None);
    let mut clients = Clients {
        server: &server,
        clients: HashMap::new(),
    };
    let cases = golden_cases("decide-golden.json");
    assert!(cases.len() > 3000);
    let mut failures = Vec::new();
    let mut compared = 0;
    for case in &cases {
        let client = clients.get(case["datafile"].as_str().unwrap());
        let mut user =
            client.create_user_context(case["user_id"].as_str().unwrap(), attributes_of(case));
        if let Some(segments) = case.get("qualified_segments") {
            let segments = serde_json::from_value(segments.clone()).unwrap();
            user.set_qualified_segments(Some(segments));
        }
        let decisions = user.decide_all(&[]);
        let expected = case["decisions"].as_object().unwrap();
        let actual: serde_json::Map<String, Value> = decisions
            .iter()
            .map(|d| (d.flag_key.clone(), golden_form(d)))
            .collect();
        compared += actual.len();
        if !same_json(
            &Value::Object(actual.clone()),
            &Value::Object(expected.clone()),
        ) {
            failures.push(format!("{case}\n  actual {}", Value::Object(actual)));
        }
    }
    assert!(compared > 12_000, "decisions compared: {compared}");
    assert!(
        failures.is_empty(),
        "{} cases differ:\n{}",
        failures.len(),
        failures[..failures.len().min(3)].join("\n")
    );
    for client in clients.clients.values() {
        client.close(Duration::from_secs(5));
    }
    assert_eq!(
        server.log_event_batches_received(),
        0,
        "events were disabled"
    );
}

#[test]
fn every_golden_forced_decision_matches_through_the_user_context() {
    let server = server(None);
    let mut clients = Clients {
        server: &server,
        clients: HashMap::new(),
    };
    let cases = golden_cases("forced-decisions-golden.json");
    assert_eq!(cases.len(), 177);
    for case in &cases {
        let client = clients.get(case["datafile"].as_str().unwrap());
        let mut user =
            client.create_user_context(case["user_id"].as_str().unwrap(), attributes_of(case));
        for forced in case["forced"].as_array().unwrap() {
            let flag = forced["flagKey"].as_str().unwrap();
            let context = match forced["ruleKey"].as_str() {
                Some(rule) => DecisionContext::rule(flag, rule),
                None => DecisionContext::flag(flag),
            };
            let variation = ForcedDecision::new(forced["variationKey"].as_str().unwrap());
            assert!(user.set_forced_decision(&context, &variation));
            assert_eq!(user.get_forced_decision(&context), Some(variation));
        }
        let decision = user.decide(case["flag"].as_str().unwrap(), &[]);
        assert!(
            same_json(&golden_form(&decision), &case["expected"]),
            "{case}\n  actual {}",
            golden_form(&decision)
        );
    }
}

fn decide_client(server: &optimizely_fx_devserver::DevServerHandle) -> Client {
    builder(&datafile(DECIDE_DATAFILE), server)
        .default_decide_options(&[DecideOption::DisableDecisionEvent])
        .build()
        .unwrap()
}

#[test]
fn enabled_flags_only_is_ignored_by_single_decide_but_filters_batches() {
    let server = server(None);
    let client = decide_client(&server);
    let user = client.create_user_context("user1", Attributes::new());
    // feature_3 has no rules: never enabled.
    let single = user.decide("feature_3", &[DecideOption::EnabledFlagsOnly]);
    assert_eq!(single.flag_key, "feature_3");
    assert!(!single.enabled);

    let all = user.decide_all(&[]);
    assert_eq!(
        all.keys().collect::<Vec<_>>(),
        ["feature_1", "feature_2", "feature_3"]
    );
    let enabled_only = user.decide_all(&[DecideOption::EnabledFlagsOnly]);
    let expected: Vec<&str> = all
        .iter()
        .filter(|d| d.enabled)
        .map(|d| d.flag_key.as_str())
        .collect();
    assert_eq!(enabled_only.keys().collect::<Vec<_>>(), expected);
    assert!(!expected.contains(&"feature_3"));
    let keys = user.decide_for_keys(
        &["feature_3", "feature_1"],
        &[DecideOption::EnabledFlagsOnly],
    );
    assert!(keys.get("feature_3").is_none());
}

#[test]
fn exclude_variables_and_include_reasons() {
    let server = server(None);
    let client = decide_client(&server);
    let user = client.create_user_context("user1", Attributes::new());
    let plain = user.decide("feature_1", &[]);
    assert_eq!(plain.variables.len(), 6, "{:?}", plain.variables);
    assert!(plain.reasons.is_empty());

    let excluded = user.decide("feature_1", &[DecideOption::ExcludeVariables]);
    assert!(excluded.variables.is_empty());
    assert_eq!(excluded.variation_key, plain.variation_key);

    let explained = user.decide("feature_1", &[DecideOption::IncludeReasons]);
    assert!(!explained.reasons.is_empty());
    assert!(
        explained.reasons.iter().any(|r| r.contains("user1")),
        "{:?}",
        explained.reasons
    );
}

#[test]
fn default_options_apply_to_every_call() {
    let server = server(None);
    let client = builder(&datafile(DECIDE_DATAFILE), &server)
        .default_decide_options(&[
            DecideOption::DisableDecisionEvent,
            DecideOption::IncludeReasons,
            DecideOption::ExcludeVariables,
        ])
        .build()
        .unwrap();
    let user = client.create_user_context("user1", Attributes::new());
    for decision in &user.decide_all(&[]) {
        assert!(!decision.reasons.is_empty(), "{}", decision.flag_key);
        assert!(decision.variables.is_empty(), "{}", decision.flag_key);
    }
    let decision = user.decide("feature_1", &[DecideOption::EnabledFlagsOnly]);
    assert!(
        !decision.reasons.is_empty(),
        "defaults are added to the call's options"
    );
    client.close(Duration::from_secs(5));
    assert_eq!(server.log_event_batches_received(), 0);
}

#[test]
fn a_client_without_a_datafile_gives_error_decisions() {
    // The dev server has no datafile for the key: the client never becomes ready.
    let server = server(None);
    let client = polling_builder(&server).build().unwrap();
    let user = client.create_user_context("user1", [("gender", "f")]);
    let decision = user.decide("feature_1", &[]);
    assert_eq!(decision.flag_key, "feature_1");
    assert_eq!(decision.variation_key, None);
    assert!(!decision.enabled);
    assert_eq!(decision.rule_key, None);
    assert!(decision.variables.is_empty());
    assert_eq!(
        decision.reasons,
        ["Optimizely SDK not configured properly yet."]
    );
    assert_eq!(decision.user_context.user_id(), "user1");
    assert!(user.decide_for_keys(&["feature_1"], &[]).is_empty());
    assert!(user.decide_all(&[]).is_empty());
    assert!(
        !my_logged(
            log::Level::Error,
            "No project config available. Failing decide_all."
        )
        .is_empty()
    );
    client.close(Duration::from_secs(5));
    assert_eq!(server.log_event_batches_received(), 0);
}

#[test]
fn unknown_flag_keys_give_error_decisions_with_the_official_reason() {
    let server = server(None);
    let client = decide_client(&server);
    let user = client.create_user_context("user1", Attributes::new());
    let decision = user.decide("no_such_flag", &[]);
    assert_eq!(
        decision.reasons,
        ["No flag was found for key \"no_such_flag\"."]
    );
    assert_eq!(decision.variation_key, None);
    assert!(
        !my_logged(
            log::Level::Error,
            "Feature no_such_flag is not in datafile."
        )
        .is_empty()
    );

    let decisions = user.decide_for_keys(
        &["feature_2", "no_such_flag", "feature_2", "feature_1"],
        &[DecideOption::EnabledFlagsOnly],
    );
    let keys: Vec<&str> = decisions.keys().collect();
    assert_eq!(
        keys[..2],
        ["feature_2", "no_such_flag"],
        "asked order, each key once"
    );
    assert_eq!(
        decisions.get("no_such_flag").unwrap().reasons,
        ["No flag was found for key \"no_such_flag\"."],
        "error decisions survive ENABLED_FLAGS_ONLY and carry their reason"
    );
}

#[test]
fn forced_decisions_are_set_read_removed_and_decided() {
    let server = server(None);
    let client = decide_client(&server);
    let mut user = client.create_user_context("user1", Attributes::new());
    let flag = DecisionContext::flag("feature_1");
    let rule = DecisionContext::rule("feature_1", "exp_with_audience");
    assert_eq!(user.get_forced_decision(&flag), None);
    assert!(!user.remove_forced_decision(&flag), "nothing to remove");

    assert!(user.set_forced_decision(&flag, &ForcedDecision::new("b")));
    assert!(user.set_forced_decision(&rule, &ForcedDecision::new("a")));
    assert_eq!(
        user.get_forced_decision(&flag),
        Some(ForcedDecision::new("b"))
    );
    assert_eq!(
        user.get_forced_decision(&rule),
        Some(ForcedDecision::new("a"))
    );
    let forced = user.decide("feature_1", &[DecideOption::IncludeReasons]);
    assert_eq!(forced.variation_key.as_deref(), Some("b"));
    assert_eq!(
        forced.rule_key, None,
        "a flag-level forced decision has no rule"
    );
    assert!(
        forced
            .reasons
            .iter()
            .any(|r| r.contains("is mapped to flag (feature_1) and user (user1)")),
        "{:?}",
        forced.reasons
    );

    assert!(user.remove_forced_decision(&flag));
    assert!(!user.remove_forced_decision(&flag));
    let by_rule = user.decide("feature_1", &[]);
    assert_eq!(by_rule.variation_key.as_deref(), Some("a"));
    assert_eq!(by_rule.rule_key.as_deref(), Some("exp_with_audience"));

    assert!(user.set_forced_decision(&flag, &ForcedDecision::new("not_a_variation")));
    let invalid = user.decide("feature_1", &[DecideOption::IncludeReasons]);
    assert_eq!(
        invalid.variation_key.as_deref(),
        Some("a"),
        "invalid flag-level variation is skipped"
    );
    assert!(
        invalid
            .reasons
            .iter()
            .any(|r| r.starts_with("Invalid variation is mapped to flag (feature_1)"))
    );

    assert!(user.remove_all_forced_decisions());
    assert_eq!(user.get_forced_decision(&rule), None);
    assert!(user.remove_all_forced_decisions());
}

#[test]
fn each_decision_carries_a_copy_of_the_user_context() {
    let server = server(None);
    let client = decide_client(&server);
    let mut user = client.create_user_context("user1", [("gender", "f")]);
    let decision = user.decide("feature_1", &[]);
    user.set_attribute("gender", "m");
    user.set_forced_decision(
        &DecisionContext::flag("feature_1"),
        &ForcedDecision::new("b"),
    );
    user.set_qualified_segments(Some(vec!["s".to_owned()]));
    let copy = &decision.user_context;
    assert_eq!(
        copy.get_attribute("gender"),
        Some(&AttributeValue::from("f"))
    );
    assert_eq!(
        copy.get_forced_decision(&DecisionContext::flag("feature_1")),
        None
    );
    assert_eq!(copy.qualified_segments(), None);

    let mut clone = user.clone();
    clone.set_attribute("gender", "x");
    assert_eq!(
        user.get_attribute("gender"),
        Some(&AttributeValue::from("m"))
    );
    assert_eq!(
        clone.get_attribute("gender"),
        Some(&AttributeValue::from("x"))
    );
}

#[test]
fn attributes_accept_the_usual_rust_values_and_keep_their_order() {
    let server = server(None);
    let client = decide_client(&server);
    let none: Option<i64> = None;
    let mut user = client.create_user_context(
        String::from("user1"),
        [
            ("s", AttributeValue::from("text")),
            ("owned", AttributeValue::from(String::from("owned"))),
            ("i64", AttributeValue::from(7_i64)),
            ("i32", AttributeValue::from(-3_i32)),
            ("f64", AttributeValue::from(2.5)),
            ("b", AttributeValue::from(true)),
            ("some", AttributeValue::from(Some("x"))),
            ("none", AttributeValue::from(none)),
            ("s", AttributeValue::from("again")),
        ],
    );
    let keys: Vec<&str> = user.attributes().iter().map(|(k, _)| k).collect();
    assert_eq!(
        keys,
        ["s", "owned", "i64", "i32", "f64", "b", "some", "none"]
    );
    assert_eq!(
        user.get_attribute("s"),
        Some(&AttributeValue::from("again"))
    );
    assert_eq!(user.get_attribute("none"), Some(&AttributeValue::Null));
    assert_eq!(user.get_attribute("i32"), Some(&AttributeValue::Int(-3)));
    user.set_attribute("nan", f64::NAN);
    user.set_attribute("", "empty key");
    let _ = user.decide_all(&[]);

    let empty_id = client.create_user_context("", Attributes::new());
    assert_eq!(empty_id.user_id(), "");
    let _ = empty_id.decide_all(&[]);
    let from_map: HashMap<String, bool> = [("beta".to_owned(), true)].into();
    let mapped = client.create_user_context("u", from_map);
    assert_eq!(
        mapped.get_attribute("beta"),
        Some(&AttributeValue::Bool(true))
    );
}

#[test]
fn audience_attributes_change_decisions() {
    let server = server(None);
    let client = decide_client(&server);
    // exp_with_audience targets gender = "f".
    let mut user = client.create_user_context("user1", Attributes::new());
    let without = user.decide("feature_1", &[]);
    assert_ne!(without.rule_key.as_deref(), Some("exp_with_audience"));
    user.set_attribute("gender", "f");
    let with = user.decide("feature_1", &[]);
    assert_eq!(with.rule_key.as_deref(), Some("exp_with_audience"));
}

#[test]
fn decide_steps_are_logged_through_the_log_facade() {
    let server = server(None);
    let client = decide_client(&server);
    let user = client.create_user_context("user-logged", Attributes::new());
    let decision = user.decide("feature_2", &[]);
    assert!(decision.enabled);
    assert!(
        !my_logged(
            log::Level::Info,
            "Feature feature_2 is enabled for user user-logged."
        )
        .is_empty()
    );
}

#[test]
fn contexts_and_decisions_cross_threads() {
    fn shareable<T: Send + Sync + 'static>() {}
    shareable::<UserContext>();
    shareable::<Decision>();
    shareable::<Client>();

    let server = server(None);
    let client = decide_client(&server);
    let user = client.create_user_context("user1", [("gender", "f")]);
    let expected = user.decide("feature_1", &[]).variation_key;
    let handles: Vec<_> = (0..4)
        .map(|_| {
            let user = user.clone();
            std::thread::spawn(move || user.decide("feature_1", &[]).variation_key)
        })
        .collect();
    for handle in handles {
        assert_eq!(handle.join().unwrap(), expected);
    }
}

#[test]
fn decide_option_names_parse_and_print() {
    for option in DecideOption::ALL {
        assert_eq!(option.name().parse::<DecideOption>(), Ok(option));
        assert_eq!(option.to_string(), option.name());
    }
    let error = "include_reasons".parse::<DecideOption>().unwrap_err();
    assert_eq!(
        error.to_string(),
        "Unrecognized decide option include_reasons provided."
    );
}
