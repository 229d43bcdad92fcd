//! Helpers shared by the golden and decide tests: fixture loading, JSON → user data, and a
//! JSON comparison that treats `10` and `10.0` as the same number (as JavaScript does).

#![allow(dead_code)]

use optimizely_fx_core::ProjectConfig;
use optimizely_fx_core::decide::{AttributeValue, Attributes, Decision, UserData};
use serde_json::Value;
use std::collections::HashMap;

pub const GOLDEN_DIR: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../../tests/fixtures/golden");
pub const DATAFILE_DIR: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../../tests/fixtures/datafiles"
);

pub fn read_golden(name: &str) -> Value {
    let path = format!("{GOLDEN_DIR}/{name}");
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{path}: {e}"))
}

pub fn golden_cases(name: &str) -> Vec<Value> {
    match read_golden(name).get("cases") {
        Some(Value::Array(cases)) => cases.clone(),
        _ => panic!("{name} has no cases array"),
    }
}

pub fn datafile_text(name: &str) -> String {
    let dir = if name == "conditions-datafile.json" {
        GOLDEN_DIR
    } else {
        DATAFILE_DIR
    };
    let path = format!("{dir}/{name}");
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"))
}

/// Parsed configs by datafile name, each parsed once.
#[derive(Default)]
pub struct Configs(HashMap<String, ProjectConfig>);

impl Configs {
    pub fn get(&mut self, name: &str) -> &ProjectConfig {
        self.0.entry(name.to_owned()).or_insert_with(|| {
            ProjectConfig::parse(&datafile_text(name))
                .unwrap_or_else(|e| panic!("datafile {name} rejected: {e}"))
        })
    }
}

/// Attributes from a JSON object, in its order. Arrays and objects have no attribute form
/// (the SDK cannot be given one); they are left out, which evaluates the same way: such a
/// value never matches a condition and is pruned from events.
pub fn attributes(json: &Value) -> Attributes {
    json.as_object()
        .map(|map| {
            map.iter()
                .filter_map(|(k, v)| AttributeValue::from_json(v).map(|v| (k.clone(), v)))
                .collect()
        })
        .unwrap_or_default()
}

pub fn user_from_case(case: &Value, user_id_field: &str) -> UserData {
    let user_id = case[user_id_field].as_str().unwrap_or_default();
    let mut user = UserData::with_attributes(user_id, attributes(&case["attributes"]));
    if let Some(Value::Array(segments)) = case.get("qualified_segments") {
        user.qualified_segments = Some(
            segments
                .iter()
                .filter_map(|s| s.as_str().map(str::to_owned))
                .collect(),
        );
    }
    user
}

/// `[variationKey, enabled, ruleKey, variables]` of a decision.
pub fn decision_tuple(decision: &Decision) -> Value {
    Value::Array(vec![
        decision
            .variation_key
            .clone()
            .map_or(Value::Null, Value::String),
        Value::Bool(decision.enabled),
        decision.rule_key.clone().map_or(Value::Null, Value::String),
        decision.variables.to_json(),
    ])
}

/// JSON equality where numbers compare by value (`10 == 10.0`) and object key order is free.
pub fn json_eq(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::Number(x), Value::Number(y)) => x.as_f64() == y.as_f64(),
        (Value::Array(x), Value::Array(y)) => {
            x.len() == y.len() && x.iter().zip(y).all(|(x, y)| json_eq(x, y))
        }
        (Value::Object(x), Value::Object(y)) => {
            x.len() == y.len()
                && x.iter()
                    .all(|(k, v)| y.get(k).is_some_and(|w| json_eq(v, w)))
        }
        _ => a == b,
    }
}
