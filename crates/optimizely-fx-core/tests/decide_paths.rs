//! Decide paths and their reason texts on a synthetic datafile: experiment rules (audience,
//! whitelist, status, CMAB), delivery rules with the jump to "Everyone Else", forced
//! decisions, holdouts, mutual-exclusion groups, sticky bucketing, options and errors.

use optimizely_fx_core::ProjectConfig;
use optimizely_fx_core::bucketing::bucket_value;
use optimizely_fx_core::decide::{
    AttributeValue, Attributes, DecideOptions, Decider, Decision, DecisionSource,
    ForcedDecisionKey, UserData, UserProfile, decide, decide_all, decide_for_keys,
};
use optimizely_fx_core::diagnostics::{LogLevel, LogLine};
use serde_json::{Value, json};

fn variation(id: &str, key: &str, enabled: bool, vars: Value) -> Value {
    json!({"id": id, "key": key, "featureEnabled": enabled, "variables": vars})
}

fn rule(id: &str, key: &str, audiences: &[&str], variations: Value, allocation: Value) -> Value {
    json!({"id": id, "key": key, "status": "Running", "layerId": format!("layer_{id}"),
           "audienceIds": audiences, "variations": variations, "trafficAllocation": allocation,
           "forcedVariations": {}})
}

/// Flag `f`: experiment `exp` (age >= 18, 100% → `treatment`), then delivery rules
/// `td1` (country == us, 0% traffic), `td2` (country == ca, 100%) and Everyone Else `ee`.
fn base_datafile() -> Value {
    let mut exp = rule(
        "100",
        "exp",
        &["adult"],
        json!([
            variation("1001", "control", false, json!([])),
            variation(
                "1002",
                "treatment",
                true,
                json!([{"id": "v1", "value": "from treatment"}])
            )
        ]),
        json!([{"entityId": "1002", "endOfRange": 10000}]),
    );
    exp["forcedVariations"] = json!({"vip": "control", "ghost": "missing_variation"});
    json!({
        "version": "4", "accountId": "acc", "projectId": "proj", "revision": "7",
        "botFiltering": false, "sendFlagDecisions": false,
        "attributes": [{"id": "attr_age", "key": "age"}, {"id": "attr_country", "key": "country"}],
        "events": [{"id": "ev1", "key": "purchase", "experimentIds": ["100"]}],
        "typedAudiences": [
            {"id": "adult", "name": "adult", "conditions": ["and", {"type": "custom_attribute", "name": "age", "match": "ge", "value": 18}]},
            {"id": "us", "name": "us", "conditions": ["and", {"type": "custom_attribute", "name": "country", "match": "exact", "value": "us"}]},
            {"id": "ca", "name": "ca", "conditions": ["and", {"type": "custom_attribute", "name": "country", "match": "exact", "value": "ca"}]}
        ],
        "experiments": [exp],
        "rollouts": [{"id": "r1", "experiments": [
            rule("201", "td1", &["us"], json!([variation("2011", "td1_on", true, json!([]))]), json!([{"entityId": "2011", "endOfRange": 0}])),
            rule("202", "td2", &["ca"], json!([variation("2021", "td2_on", true, json!([]))]), json!([{"entityId": "2021", "endOfRange": 10000}])),
            rule("203", "ee", &[], json!([variation("2031", "ee_off", false, json!([]))]), json!([{"entityId": "2031", "endOfRange": 10000}]))
        ]}],
        "featureFlags": [
            {"id": "f1", "key": "f", "rolloutId": "r1", "experimentIds": ["100"],
             "variables": [{"id": "v1", "key": "message", "type": "string", "defaultValue": "default"},
                           {"id": "v2", "key": "count", "type": "integer", "defaultValue": "3"},
                           {"id": "v3", "key": "broken", "type": "integer", "defaultValue": "3.5"}]},
            {"id": "f2", "key": "plain", "rolloutId": "", "experimentIds": [], "variables": []}
        ]
    })
}

fn config_from(datafile: &Value) -> ProjectConfig {
    ProjectConfig::parse(&datafile.to_string()).unwrap()
}

fn user(id: &str, attributes: &[(&str, AttributeValue)]) -> UserData {
    UserData::with_attributes(id, attributes.iter().cloned().collect::<Attributes>())
}

fn with_reasons(config: &ProjectConfig, user: &UserData, flag: &str) -> Decision {
    decide(config, user, flag, DecideOptions::INCLUDE_REASONS, None)
}

fn int(i: i64) -> AttributeValue {
    AttributeValue::Int(i)
}

fn text(s: &str) -> AttributeValue {
    AttributeValue::String(s.to_owned())
}

#[test]
fn experiment_rule_match_reasons() {
    let config = config_from(&base_datafile());
    let decision = with_reasons(&config, &user("u2", &[("age", int(30))]), "f");
    assert_eq!(decision.variation_key.as_deref(), Some("treatment"));
    assert_eq!(decision.rule_key.as_deref(), Some("exp"));
    assert_eq!(decision.source, DecisionSource::FeatureTest);
    assert_eq!(decision.experiment_id(&config), Some("100"));
    assert_eq!(decision.variation_id(&config), Some("1002"));
    assert_eq!(decision.campaign_id(&config), Some("layer_100"));
    let other = config_from(&base_datafile());
    assert_eq!(
        decision.experiment_id(&other),
        None,
        "ids are read from the deciding config only"
    );
    assert!(decision.enabled && decision.send_impression);
    assert_eq!(
        decision.variables.to_json(),
        json!({"message": "from treatment", "count": 3, "broken": null})
    );
    assert_eq!(
        decision.reasons,
        [
            "Evaluating audiences for experiment \"exp\": [\"adult\"].".to_owned(),
            "Audiences for experiment exp collectively evaluated to TRUE.".to_owned(),
            format!(
                "Assigned bucket {} to user with bucketing ID u2.",
                bucket_value("u2", "100")
            ),
            "User u2 is in variation treatment of experiment exp.".to_owned(),
        ]
    );
}

#[test]
fn delivery_rules_jump_to_everyone_else_on_a_traffic_miss() {
    let config = config_from(&base_datafile());
    // td1 matches (us) but has no traffic: td2 (which would match nothing anyway) is skipped.
    let decision = with_reasons(
        &config,
        &user("u1", &[("age", int(10)), ("country", text("us"))]),
        "f",
    );
    assert_eq!(decision.variation_key.as_deref(), Some("ee_off"));
    assert_eq!(decision.rule_key.as_deref(), Some("ee"));
    assert_eq!(decision.source, DecisionSource::Rollout);
    assert!(!decision.enabled);
    assert!(
        !decision.send_impression,
        "rollout without sendFlagDecisions"
    );
    assert_eq!(
        decision.variables.to_json(),
        json!({"message": "default", "count": 3, "broken": null})
    );
    assert_eq!(
        decision.reasons,
        [
            "Evaluating audiences for experiment \"exp\": [\"adult\"].".to_owned(),
            "Audiences for experiment exp collectively evaluated to FALSE.".to_owned(),
            "User u1 does not meet conditions to be in experiment exp.".to_owned(),
            "Evaluating audiences for rule \"1\": [\"us\"].".to_owned(),
            "Audiences for rule 1 collectively evaluated to TRUE.".to_owned(),
            "User u1 meets conditions for targeting rule 1.".to_owned(),
            format!("Assigned bucket {} to user with bucketing ID u1.", bucket_value("u1", "201")),
            "User u1 not bucketed into targeting rule 1 due to traffic allocation. Trying everyone rule.".to_owned(),
            "Evaluating audiences for rule \"Everyone Else\": [].".to_owned(),
            "Audiences for rule Everyone Else collectively evaluated to TRUE.".to_owned(),
            "User u1 meets conditions for targeting rule Everyone Else.".to_owned(),
            format!("Assigned bucket {} to user with bucketing ID u1.", bucket_value("u1", "203")),
            "User u1 bucketed into targeting rule Everyone Else.".to_owned(),
            "User u1 is in rollout of feature f.".to_owned(),
        ]
    );
}

#[test]
fn delivery_rule_audience_miss_goes_to_the_next_rule() {
    let config = config_from(&base_datafile());
    let decision = with_reasons(&config, &user("u3", &[("country", text("ca"))]), "f");
    assert_eq!(decision.rule_key.as_deref(), Some("td2"));
    assert!(
        decision
            .reasons
            .contains(&"User u3 does not meet conditions for targeting rule 1.".to_owned())
    );
    assert!(
        decision
            .reasons
            .contains(&"User u3 bucketed into targeting rule 2.".to_owned())
    );
}

#[test]
fn whitelist_and_status() {
    let mut datafile = base_datafile();
    let config = config_from(&datafile);
    let decision = with_reasons(&config, &user("vip", &[]), "f");
    assert_eq!(decision.variation_key.as_deref(), Some("control"));
    assert!(
        decision
            .reasons
            .contains(&"User vip is forced in variation control.".to_owned())
    );
    let decision = with_reasons(&config, &user("ghost", &[("age", int(40))]), "f");
    assert_eq!(decision.variation_key.as_deref(), Some("treatment"));
    assert_eq!(
        decision.reasons[0],
        "Variation key missing_variation is not in datafile. Not activating user ghost."
    );

    datafile["experiments"][0]["status"] = json!("Paused");
    let config = config_from(&datafile);
    let decision = with_reasons(&config, &user("vip", &[("age", int(40))]), "f");
    assert_eq!(decision.rule_key.as_deref(), Some("ee"));
    assert_eq!(decision.reasons[0], "Experiment exp is not running.");
}

#[test]
fn cmab_rules_are_skipped_with_a_reason() {
    let mut datafile = base_datafile();
    datafile["experiments"][0]["cmab"] =
        json!({"attributeIds": ["attr_age"], "trafficAllocation": 10000});
    let config = config_from(&datafile);
    let decision = with_reasons(&config, &user("u2", &[("age", int(30))]), "f");
    assert_eq!(decision.rule_key.as_deref(), Some("ee"));
    assert!(
        decision
            .reasons
            .contains(&"CMAB is not supported in sync mode.".to_owned()),
        "{:?}",
        decision.reasons
    );
    assert!(
        decision
            .reasons
            .contains(&"User u2 is in no variation of experiment exp.".to_owned())
    );
}

#[test]
fn forced_decisions_flag_and_rule_level() {
    let config = config_from(&base_datafile());
    let mut u = user("u9", &[]);
    u.forced_decisions
        .set(ForcedDecisionKey::flag("f"), "td2_on");
    let decision = with_reasons(&config, &u, "f");
    assert_eq!(decision.variation_key.as_deref(), Some("td2_on"));
    assert_eq!(decision.rule_key, None);
    assert_eq!(decision.experiment_id(&config), None);
    assert_eq!(decision.campaign_id(&config), None);
    assert!(decision.variation_id(&config).is_some());
    assert_eq!(decision.source, DecisionSource::FeatureTest);
    assert!(decision.send_impression);
    assert_eq!(
        decision.reasons,
        ["Variation (td2_on) is mapped to flag (f) and user (u9) in the forced decision map."]
    );

    u.forced_decisions.set(ForcedDecisionKey::flag("f"), "nope");
    u.forced_decisions
        .set(ForcedDecisionKey::rule("f", "exp"), "control");
    let decision = with_reasons(&config, &u, "f");
    assert_eq!(decision.variation_key.as_deref(), Some("control"));
    assert_eq!(decision.rule_key.as_deref(), Some("exp"));
    assert_eq!(
        decision.reasons,
        [
            "Invalid variation is mapped to flag (f) and user (u9) in the forced decision map.",
            "Variation (control) is mapped to flag (f), rule (exp) and user (u9) in the forced decision map.",
        ]
    );

    assert!(u.forced_decisions.remove("f", Some("exp")));
    assert!(!u.forced_decisions.remove("f", Some("exp")));
    u.forced_decisions
        .set(ForcedDecisionKey::rule("f", "td2"), "td2_on");
    let decision = with_reasons(&config, &u, "f");
    assert_eq!(decision.rule_key.as_deref(), Some("td2"));
    assert_eq!(decision.source, DecisionSource::Rollout);
    assert!(decision.reasons.contains(&"Variation (td2_on) is mapped to flag (f), rule (td2) and user (u9) in the forced decision map.".to_owned()));
}

#[test]
fn global_and_local_holdouts() {
    let holdout = |id: &str, key: &str, var_id: &str| {
        json!({"id": id, "key": key, "status": "Running", "audienceIds": [],
               "variations": [{"id": var_id, "key": format!("{key}_off"), "featureEnabled": false, "variables": []}],
               "trafficAllocation": [{"entityId": var_id, "endOfRange": 10000}]})
    };
    let mut datafile = base_datafile();
    let mut local = holdout("h2", "local_ho", "h2v");
    local["includedRules"] = json!(["202"]);
    datafile["localHoldouts"] = json!([local]);
    let config = config_from(&datafile);
    // The local holdout covers delivery rule td2 only, and is checked before its audience.
    let decision = with_reasons(&config, &user("u2", &[("age", int(30))]), "f");
    assert_eq!(decision.rule_key.as_deref(), Some("exp"));
    let decision = with_reasons(&config, &user("u3", &[]), "f");
    assert_eq!(decision.rule_key.as_deref(), Some("local_ho"));
    assert_eq!(decision.source, DecisionSource::Holdout);
    assert_eq!(decision.variation_key.as_deref(), Some("local_ho_off"));
    assert!(decision.send_impression);

    let mut paused = holdout("h1", "global_ho", "h1v");
    paused["status"] = json!("Draft");
    datafile["holdouts"] = json!([paused, holdout("h3", "global_ho_2", "h3v")]);
    let config = config_from(&datafile);
    let decision = with_reasons(&config, &user("u2", &[]), "plain");
    assert_eq!(decision.rule_key.as_deref(), Some("global_ho_2"));
    assert_eq!(
        decision.reasons,
        [
            "Holdout global_ho is not running.".to_owned(),
            "Evaluating audiences for experiment \"global_ho_2\": [].".to_owned(),
            "Audiences for experiment global_ho_2 collectively evaluated to TRUE.".to_owned(),
            "User u2 meets conditions for holdout global_ho_2.".to_owned(),
            format!(
                "Assigned bucket {} to user with bucketing ID u2.",
                bucket_value("u2", "h3")
            ),
            "User u2 is in variation global_ho_2_off of holdout global_ho_2.".to_owned(),
        ]
    );
}

#[test]
fn mutually_exclusive_group_buckets_into_one_experiment() {
    let mut datafile = base_datafile();
    let member = |id: &str, key: &str, var_id: &str| {
        let mut e = rule(
            id,
            key,
            &[],
            json!([variation(var_id, &format!("{key}_on"), true, json!([]))]),
            json!([{"entityId": var_id, "endOfRange": 10000}]),
        );
        e["forcedVariations"] = json!({});
        e
    };
    datafile["groups"] = json!([{"id": "g1", "policy": "random",
        "trafficAllocation": [{"entityId": "301", "endOfRange": 5000}, {"entityId": "302", "endOfRange": 10000}],
        "experiments": [member("301", "g_a", "3011"), member("302", "g_b", "3021")]}]);
    datafile["featureFlags"][1]["experimentIds"] = json!(["301", "302"]);
    let config = config_from(&datafile);
    for i in 0..40 {
        let id = format!("user{i}");
        let decision = with_reasons(&config, &user(&id, &[]), "plain");
        let expected = if bucket_value(&id, "g1") < 5000 {
            "g_a"
        } else {
            "g_b"
        };
        assert_eq!(decision.rule_key.as_deref(), Some(expected), "{id}");
        let other = if expected == "g_a" { "g_b" } else { "g_a" };
        if expected == "g_b" {
            assert!(decision.reasons.contains(&format!(
                "User {id} is not in experiment {other} of group g1."
            )));
        }
        assert!(decision.reasons.contains(&format!(
            "User {id} is in experiment {expected} of group g1."
        )));
    }
}

#[test]
fn sticky_bucketing_with_a_user_profile() {
    let config = config_from(&base_datafile());
    // A stored variation wins even when the audience would not match.
    let mut profile = UserProfile::new("u1");
    profile
        .experiment_bucket_map
        .insert("100".into(), "1001".into());
    let decision = decide(
        &config,
        &user("u1", &[]),
        "f",
        DecideOptions::INCLUDE_REASONS,
        Some(&mut profile),
    );
    assert_eq!(decision.variation_key.as_deref(), Some("control"));
    assert!(decision.reasons.contains(&"Returning previously activated variation \"control\" of experiment \"exp\" for user \"u1\" from user profile.".to_owned()));
    assert!(!profile.is_updated());

    // Ignored on request.
    let decision = decide(
        &config,
        &user("u1", &[]),
        "f",
        DecideOptions::IGNORE_USER_PROFILE_SERVICE,
        Some(&mut profile),
    );
    assert_eq!(decision.rule_key.as_deref(), Some("ee"));

    // A new bucketing decision is recorded.
    let mut fresh = UserProfile::new("u2");
    let decision = decide(
        &config,
        &user("u2", &[("age", int(30))]),
        "f",
        DecideOptions::NONE,
        Some(&mut fresh),
    );
    assert_eq!(decision.variation_key.as_deref(), Some("treatment"));
    assert!(fresh.is_updated());
    assert_eq!(fresh.variation_for("100"), Some("1002"));
    fresh.mark_saved();
    assert!(!fresh.is_updated());

    // A stored variation that no longer exists is logged and the user is bucketed again.
    let mut stale = UserProfile::new("u2");
    stale
        .experiment_bucket_map
        .insert("100".into(), "gone".into());
    let mut log: Vec<LogLine> = Vec::new();
    let decision = Decider::new(&config, &user("u2", &[("age", int(30))]))
        .profile(Some(&mut stale))
        .log(&mut log)
        .decide("f");
    assert_eq!(decision.variation_key.as_deref(), Some("treatment"));
    assert!(log.iter().any(|l| l.message == "User u2 was previously bucketed into variation with ID gone for experiment exp, but no matching variation was found."));
    assert_eq!(stale.variation_for("100"), Some("1002"));
}

#[test]
fn bucketing_id_attribute() {
    let config = config_from(&base_datafile());
    let decision = with_reasons(
        &config,
        &user(
            "u1",
            &[("age", int(30)), ("$opt_bucketing_id", text("b-7"))],
        ),
        "f",
    );
    assert!(decision.reasons.contains(&format!(
        "Assigned bucket {} to user with bucketing ID u1.",
        bucket_value("b-7", "100")
    )));
    let mut log: Vec<LogLine> = Vec::new();
    Decider::new(&config, &user("u1", &[("$opt_bucketing_id", int(5))]))
        .log(&mut log)
        .decide("f");
    assert!(log.iter().any(|l| l.level == LogLevel::Warn
        && l.message == "BucketingID attribute is not a string. Defaulted to userId"));
}

#[test]
fn options_and_errors() {
    let mut datafile = base_datafile();
    datafile["sendFlagDecisions"] = json!(true);
    let config = config_from(&datafile);
    let adult = user("u2", &[("age", int(30))]);

    let decision = decide(&config, &adult, "f", DecideOptions::EXCLUDE_VARIABLES, None);
    assert!(decision.variables.is_empty() && decision.reasons.is_empty());
    let decision = decide(
        &config,
        &adult,
        "f",
        DecideOptions::DISABLE_DECISION_EVENT,
        None,
    );
    assert!(!decision.send_impression);

    // With sendFlagDecisions even "no decision" sends an impression (source rollout).
    let nothing = decide(&config, &adult, "plain", DecideOptions::NONE, None);
    assert_eq!(
        (nothing.variation_key.clone(), nothing.rule_key.clone()),
        (None, None)
    );
    assert_eq!(nothing.source, DecisionSource::Rollout);
    assert!(nothing.send_impression);

    // ENABLED_FLAGS_ONLY filters decide_all / decide_for_keys, not decide.
    let all = decide_all(&config, &adult, DecideOptions::ENABLED_FLAGS_ONLY, None);
    assert_eq!(
        all.iter().map(|d| d.flag_key.as_str()).collect::<Vec<_>>(),
        ["f"]
    );
    let single = decide(
        &config,
        &adult,
        "plain",
        DecideOptions::ENABLED_FLAGS_ONLY,
        None,
    );
    assert_eq!(single.flag_key, "plain");

    let keys = decide_for_keys(
        &config,
        &adult,
        &["plain", "nope", "f", "plain"],
        DecideOptions::NONE,
        None,
    );
    assert_eq!(
        keys.iter().map(|d| d.flag_key.as_str()).collect::<Vec<_>>(),
        ["plain", "nope", "f"]
    );
    assert_eq!(keys[1].reasons, ["No flag was found for key \"nope\"."]);
    assert!(!keys[1].enabled && keys[1].variation_key.is_none() && !keys[1].send_impression);
    assert!(keys[1].is_error() && !keys[0].is_error());

    let mut log: Vec<LogLine> = Vec::new();
    let unknown = Decider::new(&config, &adult).log(&mut log).decide("nope");
    assert_eq!(unknown.reasons, ["No flag was found for key \"nope\"."]);
    assert_eq!(
        log,
        [LogLine {
            level: LogLevel::Error,
            message: "Feature nope is not in datafile.".into()
        }]
    );

    let not_ready = Decision::sdk_not_ready("f");
    assert_eq!(
        not_ready.reasons,
        ["Optimizely SDK not configured properly yet."]
    );
    assert!(not_ready.variables.is_empty() && !not_ready.enabled);

    let plain = with_reasons(&config, &adult, "plain");
    assert_eq!(
        plain.reasons,
        [
            "Feature plain is not attached to any experiments.",
            "There is no rollout of feature plain.",
            "User u2 is not in rollout of feature plain."
        ]
    );
}

#[test]
fn decide_options_parse_official_names() {
    assert_eq!(
        DecideOptions::parse_all(["DISABLE_DECISION_EVENT", "INCLUDE_REASONS"]),
        Ok(DecideOptions::DISABLE_DECISION_EVENT | DecideOptions::INCLUDE_REASONS)
    );
    let err = DecideOptions::parse("include_reasons").unwrap_err();
    assert_eq!(
        err.to_string(),
        "Unrecognized decide option include_reasons provided."
    );
    let all = DecideOptions::parse_all([
        "ENABLED_FLAGS_ONLY",
        "IGNORE_USER_PROFILE_SERVICE",
        "EXCLUDE_VARIABLES",
        "IGNORE_CMAB_CACHE",
        "RESET_CMAB_CACHE",
        "INVALIDATE_USER_CMAB_CACHE",
    ])
    .unwrap();
    assert_eq!(all.names().count(), 6);
}

#[test]
fn attributes_keep_insertion_order_and_replace_in_place() {
    let mut attributes = Attributes::new();
    attributes.insert("b", 1);
    attributes.insert("a", "x");
    attributes.insert("b", true);
    assert_eq!(
        attributes.iter().map(|(k, _)| k).collect::<Vec<_>>(),
        ["b", "a"]
    );
    assert_eq!(attributes.get("b"), Some(&AttributeValue::Bool(true)));
    assert_eq!(AttributeValue::from_json(&json!([1])), None);
    assert_eq!(
        AttributeValue::from_json(&json!(1.5)),
        Some(AttributeValue::Float(1.5))
    );
    assert_eq!(
        AttributeValue::from_json(&json!(u64::MAX)),
        Some(AttributeValue::Float(u64::MAX as f64))
    );
}

#[test]
fn variables_are_cast_once_per_flag_and_shared() {
    let config = config_from(&base_datafile());
    let mut log: Vec<LogLine> = Vec::new();
    let adult = user("u2", &[("age", int(30))]);
    let first = Decider::new(&config, &adult).log(&mut log).decide("f");
    assert!(
        log.iter().any(|l| l.level == LogLevel::Error
            && l.message == "Unable to cast value 3.5 to type integer, returning null."),
        "{log:?}"
    );
    let second = decide(&config, &adult, "f", DecideOptions::NONE, None);
    assert_eq!(first.variables, second.variables);
    assert_eq!(
        second.variables.get("message"),
        Some(&json!("from treatment"))
    );
    let minor = decide(
        &config,
        &user("u1", &[("age", int(3))]),
        "f",
        DecideOptions::NONE,
        None,
    );
    assert_eq!(minor.variables.get("message"), Some(&json!("default")));
    assert_eq!(
        minor.variables.iter().map(|(k, _)| k).collect::<Vec<_>>(),
        ["message", "count", "broken"]
    );
    assert_eq!(
        serde_json::to_value(&minor.variables).unwrap(),
        json!({"message": "default", "count": 3, "broken": null})
    );
}
