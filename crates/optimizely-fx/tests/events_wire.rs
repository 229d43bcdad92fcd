//! What reaches the event endpoint (the dev server's `/v1/events`): impression and conversion
//! payloads compared to the JavaScript SDK's (events-golden.json), when impressions are sent,
//! and `track_event` with its tags and refusals.

mod decide_support;

use std::time::Duration;

use decide_support::*;
use optimizely_fx::{
    AttributeValue, Attributes, Client, ClientBuilder, DecideOption, DecisionContext, EventTags,
    ForcedDecision, TrackError,
};
use optimizely_fx_devserver::DevServerHandle;
use serde_json::{Value, json};

/// Events wait for close (no size or interval flush), so one case gives one delivery.
fn batching_builder(datafile: &str, server: &DevServerHandle) -> ClientBuilder {
    builder(datafile, server)
        .event_batch_size(1000)
        .event_flush_interval(Duration::from_secs(3600))
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

fn run_case(client: &Client, case: &Value) {
    let user_id = case["user_id"].as_str().unwrap();
    let mut user = client.create_user_context(user_id, attributes_of(case));
    match case["kind"].as_str().unwrap() {
        "decideAll" => {
            user.decide_all(&[]);
        }
        "forcedFlag" => {
            let config = client.config().unwrap();
            let flag = config.flags().next().unwrap();
            let variation = config.variation(flag.variations()[0]).key().to_owned();
            user.set_forced_decision(
                &DecisionContext::flag(flag.key()),
                &ForcedDecision::new(variation),
            );
            user.decide(flag.key(), &[]);
        }
        "track" => {
            let tags = EventTags::try_from(case["tags"].clone()).unwrap();
            user.track_event(case["event"].as_str().unwrap(), tags)
                .expect("golden event keys exist");
        }
        other => panic!("unknown kind {other}"),
    }
}

/// The golden LogEvents as one header and the visitors of all of them, in order.
fn expected_header_and_visitors(case: &Value) -> (Option<Value>, Vec<Value>) {
    let log_events = case["expected_js"].as_array().unwrap();
    let mut header = None;
    let mut visitors = Vec::new();
    for log_event in log_events {
        assert_eq!(log_event["http_verb"], "POST");
        let params = &log_event["params"];
        let mut this_header = params.as_object().unwrap().clone();
        this_header.remove("visitors");
        header.get_or_insert(Value::Object(this_header));
        visitors.extend(params["visitors"].as_array().unwrap().iter().cloned());
    }
    (header, visitors)
}

#[test]
fn every_golden_event_payload_arrives_batched_at_the_endpoint() {
    let server = server(None);
    let cases = golden_cases("events-golden.json");
    assert_eq!(cases.len(), 72);
    let mut compared_visitors = 0;
    for case in &cases {
        server.reset();
        let datafile = datafile(case["datafile"].as_str().unwrap());
        let client = batching_builder(&datafile, &server).build().unwrap();
        run_case(&client, case);
        let report = client.close(PATIENCE);
        assert_eq!(report.events.undelivered, 0, "{case}");
        let batches = server.log_event_batches();
        let (expected_header, expected_visitors) = expected_header_and_visitors(case);
        let actual_visitors: Vec<Value> = visitors(&batches).into_iter().map(normalised).collect();
        assert_eq!(actual_visitors, expected_visitors, "{case}");
        assert!(batches.len() <= 1, "one batch per case: {batches:?}");
        if let Some(batch) = batches.first() {
            assert_eq!(Some(batch_header(batch)), expected_header, "{case}");
        }
        compared_visitors += actual_visitors.len();
    }
    assert!(
        compared_visitors > 72,
        "visitors compared: {compared_visitors}"
    );
}

fn decide_datafile(send_flag_decisions: bool) -> String {
    let mut json: Value = serde_json::from_str(&datafile("go-decide-test-datafile.json")).unwrap();
    json["sendFlagDecisions"] = json!(send_flag_decisions);
    json.to_string()
}

fn impressions_by_flag(server: &DevServerHandle) -> Vec<(String, String)> {
    visitors(&server.log_event_batches())
        .iter()
        .map(|visitor| {
            let metadata = &visitor["snapshots"][0]["decisions"][0]["metadata"];
            (
                metadata["flag_key"].as_str().unwrap().to_owned(),
                metadata["rule_type"].as_str().unwrap().to_owned(),
            )
        })
        .collect()
}

#[test]
fn rollout_and_empty_decisions_are_sent_only_with_send_flag_decisions() {
    let server = server(None);
    let client = batching_builder(&decide_datafile(true), &server)
        .build()
        .unwrap();
    client
        .create_user_context("user1", Attributes::new())
        .decide_all(&[]);
    client.close(PATIENCE);
    assert_eq!(
        impressions_by_flag(&server),
        [
            ("feature_1".to_owned(), "rollout".to_owned()),
            ("feature_2".to_owned(), "feature-test".to_owned()),
            ("feature_3".to_owned(), "rollout".to_owned()),
        ]
    );

    server.reset();
    let client = batching_builder(&decide_datafile(false), &server)
        .build()
        .unwrap();
    let decisions = client
        .create_user_context("user1", Attributes::new())
        .decide_all(&[]);
    assert_eq!(decisions.len(), 3);
    client.close(PATIENCE);
    assert_eq!(
        impressions_by_flag(&server),
        [("feature_2".to_owned(), "feature-test".to_owned())]
    );
}

#[test]
fn disable_decision_event_sends_nothing_for_that_call() {
    let server = server(None);
    let client = batching_builder(&decide_datafile(true), &server)
        .build()
        .unwrap();
    let user = client.create_user_context("user1", Attributes::new());
    user.decide_all(&[DecideOption::DisableDecisionEvent]);
    user.decide("feature_2", &[DecideOption::DisableDecisionEvent]);
    user.decide_for_keys(&["feature_1"], &[DecideOption::DisableDecisionEvent]);
    user.decide("feature_2", &[]);
    user.decide("no_such_flag", &[]);
    let report = client.close(PATIENCE);
    assert_eq!(report.events.stats.sent, 1, "{report:?}");
    assert_eq!(
        impressions_by_flag(&server),
        [("feature_2".to_owned(), "feature-test".to_owned())]
    );
}

#[test]
fn track_sends_tags_revenue_and_value() {
    let server = server(None);
    let client = batching_builder(&datafile("go-decide-test-datafile.json"), &server)
        .build()
        .unwrap();
    let user = client.create_user_context("buyer", [("gender", "f"), ("unknown", "x")]);
    user.track_event(
        "event1",
        [
            ("revenue", json!("4200")),
            ("value", json!(3.5)),
            ("category", json!("shoes")),
            ("gone", Value::Null),
        ],
    )
    .unwrap();
    client
        .track_event("event1", "direct", [("gender", "m")], ())
        .unwrap();
    client.close(PATIENCE);
    let visitors: Vec<Value> = visitors(&server.log_event_batches())
        .into_iter()
        .map(normalised)
        .collect();
    assert_eq!(visitors.len(), 2);
    assert_eq!(
        visitors[0],
        json!({
            "snapshots": [{"events": [{
                "entity_id": "10404198134", "key": "event1", "timestamp": 0, "uuid": "<uuid>",
                "tags": {"revenue": "4200", "value": 3.5, "category": "shoes"},
                "value": 3.5, "revenue": 4200
            }]}],
            "visitor_id": "buyer",
            "attributes": [
                {"entity_id": "10401066117", "key": "gender", "type": "custom", "value": "f"},
                {"entity_id": "$opt_bot_filtering", "key": "$opt_bot_filtering", "type": "custom", "value": true}
            ]
        })
    );
    assert_eq!(visitors[1]["visitor_id"], "direct");
    assert!(
        visitors[1]["snapshots"][0]["events"][0]
            .get("tags")
            .is_none()
    );
    assert!(!my_logged(log::Level::Warn, "Unrecognized attribute unknown provided.").is_empty());
}

#[test]
fn track_refusals_are_errors_and_send_nothing() {
    let server = server(None);
    let client = batching_builder(&datafile("go-decide-test-datafile.json"), &server)
        .build()
        .unwrap();
    let unknown = client.track_event("no_such_event", "u1", Attributes::new(), ());
    assert!(
        matches!(unknown, Err(TrackError::UnknownEventKey(_))),
        "{unknown:?}"
    );
    assert_eq!(
        unknown.unwrap_err().to_string(),
        "Event key no_such_event is not in datafile."
    );
    assert_eq!(
        my_logged(
            log::Level::Warn,
            "Event key no_such_event is not in datafile."
        )
        .len(),
        1
    );
    assert_eq!(
        my_logged(log::Level::Warn, "Not tracking user u1.").len(),
        1
    );
    assert_eq!(client.event_stats().queued, 0);
    client.close(PATIENCE);
    assert_eq!(
        client.track_event("event1", "u1", Attributes::new(), ()),
        Err(TrackError::Closed)
    );
    assert_eq!(server.log_event_batches_received(), 0);

    let not_ready = polling_builder(&server).build().unwrap();
    assert_eq!(
        not_ready.track_event("event1", "u1", Attributes::new(), ()),
        Err(TrackError::SdkNotReady)
    );
    assert_eq!(
        my_logged(
            log::Level::Error,
            "No project config available. Failing track."
        )
        .len(),
        1
    );
    not_ready.close(PATIENCE);
}

#[test]
fn impressions_follow_the_user_context_attributes() {
    let server = server(None);
    let client = batching_builder(&datafile("go-decide-test-datafile.json"), &server)
        .build()
        .unwrap();
    let mut user = client.create_user_context("user1", [("gender", "f")]);
    user.set_attribute("$opt_user_agent", "agent/1");
    let decision = user.decide("feature_1", &[]);
    assert_eq!(decision.rule_key.as_deref(), Some("exp_with_audience"));
    client.close(PATIENCE);
    let visitor = normalised(visitors(&server.log_event_batches())[0].clone());
    assert_eq!(
        visitor,
        json!({
            "snapshots": [{
                "decisions": [{
                    "campaign_id": "10420273888", "experiment_id": "10390977673",
                    "variation_id": "10389729780",
                    "metadata": {"flag_key": "feature_1", "rule_key": "exp_with_audience",
                        "rule_type": "feature-test", "variation_key": "a", "enabled": true}
                }],
                "events": [{"entity_id": "10420273888", "timestamp": 0, "key": "campaign_activated", "uuid": "<uuid>"}]
            }],
            "visitor_id": "user1",
            "attributes": [
                {"entity_id": "10401066117", "key": "gender", "type": "custom", "value": "f"},
                {"entity_id": "$opt_user_agent", "key": "$opt_user_agent", "type": "custom", "value": "agent/1"},
                {"entity_id": "$opt_bot_filtering", "key": "$opt_bot_filtering", "type": "custom", "value": true}
            ]
        })
    );
}
