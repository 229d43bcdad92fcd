//! The 72 event payloads recorded from the JavaScript SDK with a forwarding event processor
//! (one batch per event): impressions of a decideAll, of a flag-level forced decision, and
//! conversions with various tags. uuid, timestamp and client fields are normalised as the
//! golden README says; where the Python SDK differs (`python_sdk`), `expected_js` is followed.

mod decide_support;

use decide_support::{Configs, golden_cases, json_eq, user_from_case};
use optimizely_fx_core::ProjectConfig;
use optimizely_fx_core::decide::UserData;
use optimizely_fx_core::decide::{DecideOptions, ForcedDecisionKey, decide, decide_all};
use optimizely_fx_core::event::{
    CLIENT_NAME, EventBatch, EventContext, UserEvent, conversion_event, impression_event,
};
use serde_json::{Value, json};
use std::sync::Arc;

const CLIENT_VERSION: &str = "9.9.9-test";

fn impressions(
    config: &ProjectConfig,
    context: &Arc<EventContext>,
    user: &UserData,
    decisions: &[optimizely_fx_core::decide::Decision],
) -> Vec<UserEvent> {
    decisions
        .iter()
        .filter(|d| d.send_impression)
        .map(|d| impression_event(config, context, user, d, "<uuid>", 0, &mut ()))
        .collect()
}

fn events_for_case(config: &ProjectConfig, case: &Value) -> Vec<UserEvent> {
    let context = Arc::new(EventContext::from_config(config, CLIENT_VERSION));
    let mut user = user_from_case(case, "user_id");
    match case["kind"].as_str().unwrap() {
        "decideAll" => {
            let decisions = decide_all(config, &user, DecideOptions::NONE, None);
            impressions(config, &context, &user, &decisions)
        }
        "forcedFlag" => {
            let flag = config.flags().next().unwrap();
            let variation = config.variation(flag.variations()[0]).key().to_owned();
            user.forced_decisions
                .set(ForcedDecisionKey::flag(flag.key()), variation);
            let decision = decide(config, &user, flag.key(), DecideOptions::NONE, None);
            impressions(config, &context, &user, &[decision])
        }
        "track" => {
            let tags = case["tags"].as_object().cloned();
            let event = conversion_event(
                config,
                &context,
                &user.user_id,
                &user.attributes,
                case["event"].as_str().unwrap(),
                tags,
                "<uuid>",
                0,
                &mut (),
            )
            .expect("golden event keys exist");
            vec![event]
        }
        other => panic!("unknown kind {other}"),
    }
}

/// What the forwarding processor hands the dispatcher: one LogEvent per event.
fn log_event(event: UserEvent) -> Value {
    let mut batch = EventBatch::new(Arc::clone(&event.context));
    batch.push(event).unwrap();
    let mut params = batch.to_value();
    assert_eq!(params["client_name"], CLIENT_NAME);
    assert_eq!(params["client_version"], CLIENT_VERSION);
    params["client_name"] = json!("<client_name>");
    params["client_version"] = json!("<client_version>");
    json!({"url": batch.endpoint(), "http_verb": "POST", "params": params})
}

#[test]
fn every_event_payload_matches() {
    let cases = golden_cases("events-golden.json");
    assert_eq!(cases.len(), 72, "events-golden.json case count");
    let mut configs = Configs::default();
    let mut failures = Vec::new();
    let mut payloads = 0;
    for case in &cases {
        let config = configs.get(case["datafile"].as_str().unwrap());
        let actual: Vec<Value> = events_for_case(config, case)
            .into_iter()
            .map(log_event)
            .collect();
        let expected = &case["expected_js"];
        payloads += actual.len();
        if !json_eq(&Value::Array(actual.clone()), expected) {
            let mut case_without_expectation = case.clone();
            if let Some(map) = case_without_expectation.as_object_mut() {
                map.remove("expected_js");
                map.remove("python_sdk");
            }
            failures.push(format!(
                "case {case_without_expectation}\n  expected {expected}\n  actual   {}",
                Value::Array(actual)
            ));
        }
    }
    assert!(payloads > 72, "payloads compared: {payloads}");
    assert!(
        failures.is_empty(),
        "{} of {} event cases differ:\n{}",
        failures.len(),
        cases.len(),
        failures.join("\n")
    );
}
