//! What the fuzz targets share: using a parsed datafile the way the SDK does.

use optimizely_fx_core::ProjectConfig;
use optimizely_fx_core::decide::{
    AttributeValue, Attributes, DecideOptions, Decider, ForcedDecisionKey, UserData, UserProfile,
};
use optimizely_fx_core::diagnostics::LogLine;
use optimizely_fx_core::event::{EventContext, batch_events, conversion_event, impression_event};
use optimizely_fx_core::optimizely_config::OptimizelyConfig;
use serde_json::{Map, json};
use std::sync::Arc;

/// Decides every flag for a few users (with and without reasons, with a forced decision and a
/// user profile), builds `OptimizelyConfig`, and builds and serialises the impression and
/// conversion events.
pub fn exercise(config: &ProjectConfig) {
    let _ = OptimizelyConfig::new(config);
    for (index, user) in users(config).iter().enumerate() {
        use_config_for(config, user, index);
    }
}

/// Users whose attributes hit every audience leaf with a value of each kind, one kind per user.
fn users(config: &ProjectConfig) -> Vec<UserData> {
    let names: Vec<String> = config
        .audiences()
        .flat_map(|a| a.conditions().leaves())
        .filter_map(|leaf| leaf.name().map(str::to_owned))
        .chain(["$opt_bucketing_id".to_owned()])
        .collect();
    let values = [
        AttributeValue::String("1.2.3-beta".to_owned()),
        AttributeValue::Int(42),
        AttributeValue::Float(-0.5),
        AttributeValue::Bool(true),
        AttributeValue::Null,
    ];
    values
        .into_iter()
        .enumerate()
        .map(|(i, value)| {
            let mut attributes = Attributes::new();
            for name in &names {
                attributes.insert(name.clone(), value.clone());
            }
            let mut user = UserData::with_attributes(format!("user{i}"), attributes);
            user.qualified_segments = Some(vec!["segment".to_owned()]);
            user
        })
        .collect()
}

fn use_config_for(config: &ProjectConfig, user: &UserData, index: usize) {
    let mut user = user.clone();
    let even = index.is_multiple_of(2);
    if let Some(flag) = config.flags().nth(index) {
        let variation = flag
            .variations()
            .first()
            .map(|v| config.variation(*v).key());
        let rule = flag.rules().next().map(|r| config.experiment(r).key());
        let key = match rule {
            Some(rule) if even => ForcedDecisionKey::rule(flag.key(), rule),
            _ => ForcedDecisionKey::flag(flag.key()),
        };
        user.forced_decisions
            .set(key, variation.unwrap_or("missing"));
    }
    let mut profile = UserProfile::new(user.user_id.clone());
    let mut log: Vec<LogLine> = Vec::new();
    let options = if even {
        DecideOptions::INCLUDE_REASONS
    } else {
        DecideOptions::NONE
    };
    let decisions = Decider::new(config, &user)
        .options(options)
        .profile(Some(&mut profile))
        .log(&mut log)
        .decide_all();
    // Again with the profile the first pass filled, which takes the saved-variation path.
    let _ = Decider::new(config, &user)
        .options(options)
        .profile(Some(&mut profile))
        .log(&mut log)
        .decide_for_keys(
            &["missing flag"]
                .into_iter()
                .chain(config.flags().map(|f| f.key()))
                .collect::<Vec<_>>(),
        );

    let context = Arc::new(EventContext::from_config(config, "0.0.0"));
    let mut events: Vec<_> = decisions
        .iter()
        .filter(|d| d.send_impression)
        .map(|d| impression_event(config, &context, &user, d, "uuid", 1, &mut log))
        .collect();
    let tags: Map<String, serde_json::Value> = json!({"revenue": 42, "value": 1.5, "other": null})
        .as_object()
        .cloned()
        .unwrap();
    events.extend(config.events().filter_map(|event| {
        conversion_event(
            config,
            &context,
            &user.user_id,
            &user.attributes,
            event.key(),
            Some(tags.clone()),
            "uuid",
            1,
            &mut log,
        )
        .ok()
    }));
    for batch in batch_events(events) {
        let _ = batch.to_json();
    }
}
