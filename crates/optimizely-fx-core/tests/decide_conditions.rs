//! Each audience match rule and each UNKNOWN reason with its log text, through the public
//! condition evaluator (audiences of a datafile, a user, a collecting log sink).

use optimizely_fx_core::ProjectConfig;
use optimizely_fx_core::condition_eval::evaluate_conditions;
use optimizely_fx_core::decide::{AttributeValue, Attributes, UserData};
use optimizely_fx_core::diagnostics::{LogLevel, LogLine};
use serde_json::{Value, json};

/// Evaluates one leaf condition (wrapped in an audience) for `attributes`.
fn eval_with_log(
    leaf: Value,
    attributes: &[(&str, AttributeValue)],
    segments: Option<&[&str]>,
) -> (Option<bool>, Vec<LogLine>) {
    let datafile = json!({
        "version": "4", "accountId": "1", "projectId": "2", "revision": "3",
        "typedAudiences": [{"id": "a", "name": "a", "conditions": ["and", leaf]}]
    });
    let config = ProjectConfig::parse(&datafile.to_string()).unwrap();
    let audience = config.audience(config.audience_by_id("a").unwrap());
    let attributes: Attributes = attributes.iter().cloned().collect();
    let mut user = UserData::with_attributes("u", attributes);
    user.qualified_segments = segments.map(|s| s.iter().map(|s| s.to_string()).collect());
    let mut log = Vec::new();
    let result = evaluate_conditions(audience.conditions(), &user, &mut log);
    (result, log)
}

fn eval(leaf: Value, attributes: &[(&str, AttributeValue)]) -> Option<bool> {
    eval_with_log(leaf, attributes, None).0
}

fn leaf(name: &str, match_type: &str, value: Value) -> Value {
    json!({"type": "custom_attribute", "name": name, "match": match_type, "value": value})
}

fn s(v: &str) -> AttributeValue {
    AttributeValue::String(v.to_owned())
}

#[test]
fn exact_strings_numbers_and_booleans() {
    let string = leaf("k", "exact", json!("abc"));
    assert_eq!(eval(string.clone(), &[("k", s("abc"))]), Some(true));
    assert_eq!(eval(string.clone(), &[("k", s("ABC"))]), Some(false));
    assert_eq!(eval(string, &[("k", AttributeValue::Int(1))]), None);
    let number = leaf("k", "exact", json!(5));
    assert_eq!(
        eval(number.clone(), &[("k", AttributeValue::Float(5.0))]),
        Some(true)
    );
    assert_eq!(
        eval(number.clone(), &[("k", AttributeValue::Int(5))]),
        Some(true)
    );
    assert_eq!(
        eval(number.clone(), &[("k", AttributeValue::Int(6))]),
        Some(false)
    );
    assert_eq!(eval(number, &[("k", AttributeValue::Bool(true))]), None);
    let boolean = leaf("k", "exact", json!(false));
    assert_eq!(
        eval(boolean.clone(), &[("k", AttributeValue::Bool(false))]),
        Some(true)
    );
    assert_eq!(eval(boolean, &[("k", AttributeValue::Int(0))]), None);
    // No match field: exact.
    let implicit = json!({"type": "custom_attribute", "name": "k", "value": "x"});
    assert_eq!(eval(implicit, &[("k", s("x"))]), Some(true));
}

#[test]
fn exists_is_never_unknown() {
    let exists = json!({"type": "custom_attribute", "name": "k", "match": "exists"});
    assert_eq!(eval(exists.clone(), &[("k", s(""))]), Some(true));
    assert_eq!(
        eval(exists.clone(), &[("k", AttributeValue::Bool(false))]),
        Some(true)
    );
    assert_eq!(
        eval(exists.clone(), &[("k", AttributeValue::Null)]),
        Some(false)
    );
    assert_eq!(eval(exists, &[]), Some(false));
}

#[test]
fn substring_and_numeric_comparisons() {
    assert_eq!(
        eval(leaf("k", "substring", json!("bc")), &[("k", s("abcd"))]),
        Some(true)
    );
    assert_eq!(
        eval(leaf("k", "substring", json!("x")), &[("k", s("abcd"))]),
        Some(false)
    );
    assert_eq!(
        eval(
            leaf("k", "substring", json!("1")),
            &[("k", AttributeValue::Int(1))]
        ),
        None
    );
    let cases = [
        ("gt", 11, true),
        ("gt", 10, false),
        ("ge", 10, true),
        ("ge", 9, false),
        ("lt", 9, true),
        ("lt", 10, false),
        ("le", 10, true),
        ("le", 11, false),
    ];
    for (match_type, user, expected) in cases {
        assert_eq!(
            eval(
                leaf("n", match_type, json!(10)),
                &[("n", AttributeValue::Int(user))]
            ),
            Some(expected),
            "{match_type} {user}"
        );
    }
    assert_eq!(
        eval(
            leaf("n", "gt", json!(10)),
            &[("n", AttributeValue::Float(10.5))]
        ),
        Some(true)
    );
    assert_eq!(
        eval(
            leaf("n", "lt", json!(1.5)),
            &[("n", AttributeValue::Int(1))]
        ),
        Some(true)
    );
    assert_eq!(eval(leaf("n", "gt", json!(10)), &[("n", s("11"))]), None);
}

#[test]
fn semver_matches() {
    let eq = leaf("v", "semver_eq", json!("2.0"));
    assert_eq!(eval(eq.clone(), &[("v", s("2.0.1"))]), Some(true));
    assert_eq!(eval(eq.clone(), &[("v", s("2.1"))]), Some(false));
    assert_eq!(eval(eq, &[("v", AttributeValue::Int(2))]), None);
    assert_eq!(
        eval(leaf("v", "semver_gt", json!("2.0")), &[("v", s("2.1"))]),
        Some(true)
    );
    assert_eq!(
        eval(leaf("v", "semver_ge", json!("2.0")), &[("v", s("2.0"))]),
        Some(true)
    );
    assert_eq!(
        eval(
            leaf("v", "semver_lt", json!("2.0")),
            &[("v", s("2.0.0-beta"))]
        ),
        Some(true)
    );
    assert_eq!(
        eval(leaf("v", "semver_le", json!("2.0")), &[("v", s("2.1"))]),
        Some(false)
    );
    let (result, log) = eval_with_log(
        leaf("v", "semver_eq", json!("2.0")),
        &[("v", s("2.x"))],
        None,
    );
    assert_eq!(result, None);
    assert!(log.iter().any(|l| l.level == LogLevel::Warn && l.message == "Audience condition 2.x uses an unknown match type. You may need to upgrade to a newer release of the Optimizely SDK."), "{log:?}");
}

#[test]
fn qualified_segments() {
    let q = json!({"type": "third_party_dimension", "name": "odp.audiences", "match": "qualified", "value": "seg1"});
    assert_eq!(
        eval_with_log(q.clone(), &[], Some(&["seg1", "seg2"])).0,
        Some(true)
    );
    assert_eq!(
        eval_with_log(q.clone(), &[], Some(&["seg2"])).0,
        Some(false)
    );
    assert_eq!(eval_with_log(q.clone(), &[], Some(&[])).0, Some(false));
    assert_eq!(eval_with_log(q, &[], None).0, Some(false));
    // A third-party dimension without match is a segment test.
    let implicit =
        json!({"type": "third_party_dimension", "name": "odp.audiences", "value": "seg1"});
    assert_eq!(eval_with_log(implicit, &[], Some(&["seg1"])).0, Some(true));
}

fn single_log(leaf: Value, attributes: &[(&str, AttributeValue)]) -> LogLine {
    let (result, log) = eval_with_log(leaf, attributes, None);
    assert_eq!(result, None);
    assert_eq!(log.len(), 1, "{log:?}");
    log.into_iter().next().unwrap()
}

#[test]
fn unknown_results_log_the_official_texts() {
    let string = leaf("k", "exact", json!("abc"));
    let json_text = r#"{"type":"custom_attribute","name":"k","match":"exact","value":"abc"}"#;

    let line = single_log(string.clone(), &[]);
    assert_eq!(line.level, LogLevel::Debug);
    assert_eq!(
        line.message,
        format!(
            "Audience condition {json_text} evaluated to UNKNOWN because no value was passed for user attribute \"k\"."
        )
    );

    let line = single_log(string.clone(), &[("k", AttributeValue::Null)]);
    assert_eq!(line.level, LogLevel::Debug);
    assert_eq!(
        line.message,
        format!(
            "Audience condition {json_text} evaluated to UNKNOWN because a null value was passed for user attribute \"k\"."
        )
    );

    let line = single_log(string, &[("k", AttributeValue::Bool(true))]);
    assert_eq!(line.level, LogLevel::Warn);
    assert_eq!(
        line.message,
        format!(
            "Audience condition {json_text} evaluated to UNKNOWN because a value of type \"boolean\" was passed for user attribute \"k\"."
        )
    );

    let line = single_log(
        leaf("n", "gt", json!(1)),
        &[("n", AttributeValue::Int(1 << 54))],
    );
    assert_eq!(line.level, LogLevel::Warn);
    assert!(
        line.message.ends_with(
            "because the number value for user attribute \"n\" is not in the range [-2^53, +2^53]."
        ),
        "{}",
        line.message
    );

    let line = single_log(
        leaf("n", "gt", json!("1")),
        &[("n", AttributeValue::Int(2))],
    );
    assert_eq!(line.level, LogLevel::Warn);
    assert!(
        line.message
            .ends_with("evaluated to UNKNOWN because the condition value is not supported."),
        "{}",
        line.message
    );

    let line = single_log(
        leaf("n", "exact", json!(9_007_199_254_740_994u64)),
        &[("n", AttributeValue::Int(1))],
    );
    assert!(
        line.message
            .ends_with("because the condition value is not supported."),
        "{}",
        line.message
    );

    let line = single_log(leaf("k", "regex", json!("a")), &[("k", s("a"))]);
    assert_eq!(line.level, LogLevel::Warn);
    assert!(line.message.ends_with("uses an unknown match type. You may need to upgrade to a newer release of the Optimizely SDK."), "{}", line.message);

    let line = single_log(
        json!({"type": "browser", "name": "k", "value": "a"}),
        &[("k", s("a"))],
    );
    assert_eq!(line.level, LogLevel::Warn);
    assert!(line.message.ends_with("has an unknown condition type. You may need to upgrade to a newer release of the Optimizely SDK."), "{}", line.message);
}

#[test]
fn numbers_beyond_two_to_the_53_are_unknown() {
    let big = 9_007_199_254_740_992i64;
    assert_eq!(
        eval(
            leaf("n", "ge", json!(0)),
            &[("n", AttributeValue::Int(big))]
        ),
        Some(true)
    );
    assert_eq!(
        eval(
            leaf("n", "ge", json!(0)),
            &[("n", AttributeValue::Int(big + 1))]
        ),
        None
    );
    assert_eq!(
        eval(
            leaf("n", "ge", json!(0)),
            &[("n", AttributeValue::Float(f64::NAN))]
        ),
        None
    );
    assert_eq!(
        eval(
            leaf("n", "ge", json!(0)),
            &[("n", AttributeValue::Float(f64::INFINITY))]
        ),
        None
    );
}

#[test]
fn three_valued_trees() {
    let t = leaf("t", "exact", json!(true));
    let f = leaf("f", "exact", json!(true));
    let unknown = leaf("missing", "exact", json!(true));
    let attributes = [
        ("t", AttributeValue::Bool(true)),
        ("f", AttributeValue::Bool(false)),
    ];
    let tree = |v: Value| eval(v, &attributes);
    assert_eq!(tree(json!(["and", t, unknown])), None);
    assert_eq!(tree(json!(["and", f, unknown])), Some(false));
    assert_eq!(tree(json!(["or", t, unknown])), Some(true));
    assert_eq!(tree(json!(["or", f, unknown])), None);
    assert_eq!(tree(json!(["not", unknown])), None);
    assert_eq!(tree(json!(["not", f])), Some(true));
    assert_eq!(tree(json!(["not", ["and", unknown, f]])), Some(true));
    assert_eq!(tree(json!(["not", f, t])), Some(true));
    assert_eq!(tree(json!(["not"])), None);
    assert_eq!(tree(json!(["and"])), Some(true));
    assert_eq!(tree(json!(["or"])), Some(false));
    assert_eq!(tree(json!([t, f])), Some(true));
}
