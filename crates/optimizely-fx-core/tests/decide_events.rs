//! Impression and conversion payloads beyond the golden corpus: region endpoints, bot
//! filtering, attribute pruning, tags, and grouping of events into batches.

use optimizely_fx_core::ProjectConfig;
use optimizely_fx_core::decide::{AttributeValue, Attributes, DecideOptions, UserData, decide};
use optimizely_fx_core::diagnostics::LogLine;
use optimizely_fx_core::event::{
    EventBatch, EventContext, LOGX_EU_ENDPOINT, LOGX_US_ENDPOINT, batch_events, conversion_event,
    impression_event,
};
use serde_json::{Value, json};
use std::sync::Arc;

fn datafile(extra: Value) -> ProjectConfig {
    let mut base = json!({
        "version": "4", "accountId": "acc", "projectId": "proj", "revision": "9",
        "attributes": [{"id": "a1", "key": "plan"}, {"id": "a2", "key": "$opt_reserved"}],
        "events": [{"id": "e1", "key": "purchase", "experimentIds": []}],
        "experiments": [{"id": "11", "key": "exp", "status": "Running", "layerId": "", "audienceIds": [],
            "variations": [{"id": "var_a", "key": "a", "featureEnabled": true, "variables": []}],
            "trafficAllocation": [{"entityId": "var_a", "endOfRange": 10000}], "forcedVariations": {}}],
        "featureFlags": [{"id": "f", "key": "flag", "rolloutId": "", "experimentIds": ["11"], "variables": []}]
    });
    for (k, v) in extra.as_object().unwrap() {
        base[k] = v.clone();
    }
    ProjectConfig::parse(&base.to_string()).unwrap()
}

fn attributes() -> Attributes {
    [
        ("plan", AttributeValue::from("gold")),
        ("unknown", AttributeValue::from("x")),
        ("$opt_user_agent", AttributeValue::from("agent")),
        ("$opt_reserved", AttributeValue::Int(4)),
        ("nothing", AttributeValue::Null),
        ("huge", AttributeValue::Float(1e300)),
    ]
    .into_iter()
    .collect()
}

#[test]
fn impression_without_bot_filtering_and_eu_endpoint() {
    let config = datafile(json!({"region": "EU", "anonymizeIP": false}));
    let context = Arc::new(EventContext::from_config(&config, "1.2.3"));
    let user = UserData::with_attributes("u1", attributes());
    let decision = decide(&config, &user, "flag", DecideOptions::NONE, None);
    assert!(decision.send_impression);
    let mut log: Vec<LogLine> = Vec::new();
    let event = impression_event(
        &config, &context, &user, &decision, "uuid-1", 1234, &mut log,
    );
    let mut batch = EventBatch::new(context);
    batch.push(event).unwrap();
    assert_eq!(batch.endpoint(), LOGX_EU_ENDPOINT);
    let body: Value = serde_json::from_str(&batch.to_json()).unwrap();
    assert_eq!(body, batch.to_value());
    assert_eq!(
        body,
        json!({
            "account_id": "acc", "project_id": "proj", "revision": "9",
            "client_name": "rust-sdk", "client_version": "1.2.3",
            "anonymize_ip": false, "enrich_decisions": true,
            "visitors": [{
                "snapshots": [{
                    "decisions": [{"campaign_id": "11", "experiment_id": "11", "variation_id": null,
                        "metadata": {"flag_key": "flag", "rule_key": "exp", "rule_type": "feature-test",
                                     "variation_key": "a", "enabled": true}}],
                    "events": [{"entity_id": "11", "key": "campaign_activated", "timestamp": 1234, "uuid": "uuid-1"}]
                }],
                "visitor_id": "u1",
                "attributes": [
                    {"entity_id": "a1", "key": "plan", "type": "custom", "value": "gold"},
                    {"entity_id": "$opt_user_agent", "key": "$opt_user_agent", "type": "custom", "value": "agent"},
                    {"entity_id": "a2", "key": "$opt_reserved", "type": "custom", "value": 4}
                ]
            }]
        })
    );
    let messages: Vec<&str> = log.iter().map(|l| l.message.as_str()).collect();
    assert!(messages.contains(
        &"Unrecognized attribute unknown provided. Pruning before sending event to Optimizely."
    ));
    assert!(messages.contains(&"Attribute $opt_reserved unexpectedly has reserved prefix $opt_; using attribute ID instead of reserved attribute name."));
}

#[test]
fn conversion_tags_revenue_and_value() {
    let config = datafile(json!({"botFiltering": true}));
    let context = Arc::new(EventContext::from_config(&config, "1.2.3"));
    let tags = json!({"revenue": "4200", "value": "2.5", "dropped": null, "kept": {"a": 1}});
    let event = conversion_event(
        &config,
        &context,
        "u1",
        &Attributes::new(),
        "purchase",
        tags.as_object().cloned(),
        "uuid-2",
        5,
        &mut (),
    )
    .unwrap();
    let batch = &batch_events([event])[0];
    assert_eq!(batch.endpoint(), LOGX_US_ENDPOINT);
    let visitor = &batch.to_value()["visitors"][0];
    assert_eq!(
        visitor["snapshots"][0],
        json!({"events": [{"entity_id": "e1", "key": "purchase", "timestamp": 5, "uuid": "uuid-2",
            "tags": {"revenue": "4200", "value": "2.5", "kept": {"a": 1}}, "revenue": 4200, "value": 2.5}]})
    );
    assert_eq!(
        visitor["attributes"],
        json!([{"entity_id": "$opt_bot_filtering", "key": "$opt_bot_filtering", "type": "custom", "value": true}])
    );

    let err = conversion_event(
        &config,
        &context,
        "u1",
        &Attributes::new(),
        "nope",
        None,
        "u",
        0,
        &mut (),
    )
    .unwrap_err();
    assert_eq!(err.to_string(), "Event key nope is not in datafile.");
}

#[test]
fn events_are_batched_while_the_context_stays_the_same() {
    let config = datafile(json!({}));
    let newer = datafile(json!({"revision": "10"}));
    let first = Arc::new(EventContext::from_config(&config, "1.0.0"));
    let equal_copy = Arc::new(EventContext::from_config(&config, "1.0.0"));
    let second = Arc::new(EventContext::from_config(&newer, "1.0.0"));
    let track = |context: &Arc<EventContext>, user: &str| {
        conversion_event(
            &config,
            context,
            user,
            &Attributes::new(),
            "purchase",
            None,
            "id",
            0,
            &mut (),
        )
        .unwrap()
    };
    let batches = batch_events([
        track(&first, "a"),
        track(&equal_copy, "b"),
        track(&second, "c"),
        track(&first, "d"),
    ]);
    let visitors: Vec<Vec<&str>> = batches
        .iter()
        .map(|b| b.visitors.iter().map(|v| v.visitor_id.as_str()).collect())
        .collect();
    assert_eq!(visitors, [vec!["a", "b"], vec!["c"], vec!["d"]]);
    assert_eq!(batches[1].to_value()["revision"], "10");
    let mut batch = EventBatch::new(first);
    assert!(batch.push(track(&second, "e")).is_err());
}
